/**
 * `pgverify plan --rehearse` (issue 14, part 4): the plumbing, cheaply. The heavy proof (a
 * database ten times the rehearsal's, the estimate against a real run) is `pnpm bench:estimate`,
 * with its figures in reports/estimate-proof.md; here:
 *   - the model: estimates never fall as production grows, never below zero, noise is not scaled;
 *   - the sizes are read read-only (the server says so) and change nothing;
 *   - the command line: usage errors before any engine; the JSON's shape on a small set; the
 *     --size-from password never printed.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import pg from 'pg'
import { estimateMs, fit, noiseFloor, riskOf, blocks } from '../harness/rehearse/model.ts'
import { sizesFromUrl } from '../harness/rehearse/sizes.ts'
import type { PlanEstimate } from '../harness/rehearse/estimate.ts'
import { cli } from './support/cli.ts'
import { emptyDir, write } from './support/dirs.ts'
import { availableEngines, depthOn, skipWith, useEngine } from './support/engines.ts'

describe('the extrapolation model', () => {
  const point = fc.record({ rows: fc.integer({ min: 0, max: 10_000_000 }), ms: fc.double({ min: 0, max: 100_000, noNaN: true }) })
  it('estimates are non-decreasing in the production rows and never negative', () => {
    fc.assert(
      fc.property(point, point, fc.integer({ min: 0, max: 1e9 }), fc.integer({ min: 0, max: 1e9 }), (a, b, r1, r2) => {
        const f = fit(a, b)
        const [lo, hi] = r1 <= r2 ? [r1, r2] : [r2, r1]
        expect(estimateMs(f, lo)).toBeLessThanOrEqual(estimateMs(f, hi))
        expect(estimateMs(f, lo)).toBeGreaterThanOrEqual(0)
      }),
    )
  })
  it('a line through the two rehearsals; noise (under 5 ms or 25 %) is taken as constant', () => {
    const f = fit({ rows: 100_000, ms: 100 }, { rows: 300_000, ms: 300 })
    expect(f.kind).toBe('linear')
    expect(estimateMs(f, 1_000_000)).toBeCloseTo(1000, 6)
    const noise = fit({ rows: 100_000, ms: 2 }, { rows: 300_000, ms: 4 })
    expect(noise).toEqual({ kind: 'constant', interceptMs: 4, msPerRow: 0 })
    expect(estimateMs(noise, 1e9)).toBe(4)
    expect(fit({ rows: 100_000, ms: 100 }, { rows: 300_000, ms: 110 }).kind).toBe('constant')
    // The machine's measured noise raises the bar: 20 ms more is growth on a quiet machine, not on a busy one.
    expect(fit({ rows: 1, ms: 100 }, { rows: 3, ms: 130 }).kind).toBe('linear')
    expect(fit({ rows: 1, ms: 100 }, { rows: 3, ms: 130 }, 40).kind).toBe('constant')
  })
  it('the noise floor: the 90th percentile of how much statements whose data did not grow differ', () => {
    const same = (d: number) => [{ rows: 5, ms: 10 }, { rows: 5, ms: 10 + d }] as [{ rows: number; ms: number }, { rows: number; ms: number }]
    expect(noiseFloor([same(1), same(2)])).toBe(5) // too few to say: the floor
    expect(noiseFloor([...Array.from({ length: 9 }, (_, i) => same(i)), same(30), [{ rows: 1, ms: 0 }, { rows: 9, ms: 900 }]])).toBe(30)
  })
  it('risk: what a lock mode stops, high above the seeds’ limits, low on empty tables', () => {
    expect(blocks('AccessExclusiveLock')).toBe('readers and writers')
    expect(blocks('ShareLock')).toBe('writers')
    expect(blocks('ShareUpdateExclusiveLock')).toBeUndefined()
    expect(blocks('RowExclusiveLock')).toBeUndefined()
    const limits = { insertMs: 500, dashboardMs: 100 }
    const lock = (heldMs: number, rows = 10) => [{ mode: 'ShareLock', relation: 'public.t', stops: 'writers' as const, rows, heldMs }]
    expect(riskOf(lock(2000), limits)).toEqual({ level: 'high', text: 'blocks writers on public.t (Share) for ~2.0 s' })
    expect(riskOf(lock(200), limits).level).toBe('medium')
    expect(riskOf(lock(9000, 0), limits).level).toBe('low')
    expect(riskOf([], limits).level).toBe('low')
  })
})

const engines = await availableEngines(['native'])
const PASSWORD = 'plan-Secret-4471'

function withPassword(url: string): string {
  const u = new URL(url)
  u.password = PASSWORD
  return u.toString()
}

describe('pgverify plan --rehearse (the command line)', () => {
  it('refuses, before any engine, a missing source of sizes, a malformed URL (not echoed) and rehearse options without --rehearse', async () => {
    const none = await cli(['plan', '--rehearse'])
    expect(none.code).toBe(2)
    expect(none.stderr).toMatch(/needs the production sizes: --size-from URL, or "productionRows"/)
    const bad = await cli(['plan', '--rehearse', '--size-from', 'postgres://u:pw-Not-Shown@host:port/db'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/--size-from is not a valid URL/)
    expect(bad.stdout + bad.stderr).not.toContain('pw-Not-Shown')
    const alone = await cli(['plan', '--size-from', 'postgres://h/db'])
    expect(alone.code).toBe(2)
    expect(alone.stderr).toMatch(/--size-from needs --rehearse/)
  })
})

// The end-to-end cases run on native only (CI budget: the model and the reading are engine-independent SQL).
if (!engines.length) it('sizes and plan --rehearse end to end', (ctx) => skipWith(ctx, 'need the native engine (PostgreSQL 15 + TimescaleDB), absent here'))

describe.each(engines)('production sizes and the estimate on the $name engine', (c) => {
  const started = useEngine(c)

  it('reads row counts in a READ ONLY transaction from the statistics, changing nothing', async (ctx) => {
    const engine = started()
    depthOn(ctx, engine, ['native'], 'reading sizes')
    const db = await engine.createDatabase('plan_sizes')
    const client = new pg.Client({ connectionString: db.url })
    await client.connect()
    try {
      await client.query(`CREATE EXTENSION IF NOT EXISTS timescaledb;
        CREATE TABLE public.readings (id bigint PRIMARY KEY, v double precision);
        INSERT INTO public.readings SELECT g, g FROM generate_series(1, 5000) g;
        CREATE TABLE public.never_analysed (id int); INSERT INTO public.never_analysed SELECT generate_series(1, 300);
        CREATE TABLE public.series (ts timestamptz NOT NULL, v int);
        SELECT create_hypertable('public.series', 'ts', chunk_time_interval => interval '1 day');
        INSERT INTO public.series SELECT now() - g * interval '1 minute', g FROM generate_series(1, 4000) g;
        ANALYZE public.readings; ANALYZE public.series;`)
      // The writing session ends (its statistics are flushed as it exits); each look is a new session.
      await client.end()
      await new Promise((r) => setTimeout(r, 500))
      const trace = async () => {
        const c = new pg.Client({ connectionString: db.url })
        await c.connect()
        try {
          return (await c.query(`SELECT sum(n_tup_ins + n_tup_upd + n_tup_del)::text AS w, (SELECT string_agg(relfilenode::text, ',' ORDER BY oid) FROM pg_class WHERE relnamespace = 'public'::regnamespace) AS files FROM pg_stat_user_tables`)).rows[0]
        } finally {
          await c.end()
        }
      }
      const before = await trace()
      expect(Number(before.w)).toBeGreaterThan(9000) // the writes above are counted: a change would show
      const sizes = await sizesFromUrl(withPassword(db.url))
      await new Promise((r) => setTimeout(r, 500))
      expect(await trace()).toEqual(before)
      expect(sizes.readOnly).toBe(true)
      expect(sizes.source).not.toContain(PASSWORD)
      expect(sizes.rows['public.readings']).toBe(5000)
      expect(sizes.rows['public.series']).toBe(4000)
      const never = sizes.tables!.find((t) => t.table === 'public.never_analysed')!
      expect(never.source).toBe('n_live_tup')
      expect(sizes.tables!.find((t) => t.table === 'public.series')!.hypertable).toBe(true)
      expect(Object.keys(sizes.rows).some((t) => t.includes('_hyper_'))).toBe(false)
    } finally {
      await client.end().catch(() => {})
      await db.drop()
    }
  }, 60_000)

  it('plan --rehearse --size-from URL --json: per statement the estimate, the locks and the risk; the password never printed', async (ctx) => {
    const engine = started()
    depthOn(ctx, engine, ['native'], 'plan --rehearse end to end')
    if (!engine.capabilities.concurrentConnections) skipWith(ctx, 'needs concurrent sessions')
    const prod = await engine.createDatabase('plan_production')
    const client = new pg.Client({ connectionString: prod.url })
    await client.connect()
    await client.query(`CREATE TABLE readings (id bigint PRIMARY KEY, device integer NOT NULL, ts timestamptz NOT NULL, value double precision, note text);
      INSERT INTO readings SELECT g, g % 50, now(), g, 'n' || g FROM generate_series(1, 60000) g; ANALYZE readings;`)
    await client.end()
    const dir = emptyDir('pgverify-plan-')
    write(dir, '001_readings.sql', 'CREATE TABLE readings (id bigint PRIMARY KEY, device integer NOT NULL, ts timestamptz NOT NULL, value double precision, note text);\n')
    write(dir, '002_index.sql', '-- a plain index: stops writers while it builds\nCREATE INDEX readings_note_idx ON readings (note);\n')
    const reports = emptyDir('pgverify-plan-reports-')
    try {
      const r = await cli(['plan', '--rehearse', '--size-from', withPassword(prod.url), '--engine', 'native', '--dir', dir, '--only', '2', '--rows', '5000', '--scales', '1,4', '--json', '--reports', reports], {}, 180_000)
      expect(r.stdout + r.stderr).not.toContain(PASSWORD)
      expect([0, 1], r.stderr).toContain(r.code)
      const e = JSON.parse(r.stdout) as PlanEstimate
      expect(e.production.readOnly).toBe(true)
      expect(e.production.source).toMatch(/:\*\*\*@/)
      expect(e.scales.map((s) => s.factor)).toEqual([1, 4])
      expect(e.model).toMatch(/a \+ b·N/)
      expect(e.migrations.map((m) => m.file)).toEqual(['002_index.sql'])
      const m = e.migrations[0]!
      expect(['high', 'medium', 'low']).toContain(m.risk.level)
      const idx = m.statements.find((s) => s.where === '002_index.sql:2:1')!
      expect(idx.touches).toEqual(['public.readings'])
      expect(idx.productionRows).toBe(60_000)
      expect(idx.measured.map((p) => p.rows)).toEqual([5000, 20_000])
      expect(idx.estimatedMs).toBeGreaterThan(0)
      expect(idx.locks).toContainEqual(expect.objectContaining({ mode: 'ShareLock', relation: 'public.readings', stops: 'writers', rows: 60_000 }))
      expect(idx.risk.text).toMatch(/blocks writers on public\.readings \(Share\)/)
      // The blocked time runs to COMMIT: never shorter than the statement itself.
      expect(idx.locks[0]!.heldMs).toBeGreaterThanOrEqual(idx.estimatedMs)
      // (JSON durations are whole milliseconds: the sum of rounded figures may differ by one per statement.)
      expect(Math.abs(m.estimatedMs - m.statements.reduce((s, x) => s + x.estimatedMs, 0))).toBeLessThanOrEqual(m.statements.length)
    } finally {
      await prod.drop()
    }
  }, 200_000)
})

describe('productionRows in pgverify.config.json', () => {
  it('takes schema.table → whole rows, and names a bad key or value', async () => {
    const { validateConfig } = await import('../harness/config/file.ts')
    expect(validateConfig({ productionRows: { 'factory_telemetry.metric_hist': 36_000_000 } }, '/x/pgverify.config.json').productionRows).toEqual({ 'factory_telemetry.metric_hist': 36_000_000 })
    expect(() => validateConfig({ productionRows: { metric_hist: 5 } }, '/x/pgverify.config.json')).toThrow(/"productionRows\.metric_hist" is not a schema-qualified table name/)
    expect(() => validateConfig({ productionRows: { 'a.b': -1 } }, '/x/pgverify.config.json')).toThrow(/"productionRows\.a\.b" must be a whole number/)
  })
})
