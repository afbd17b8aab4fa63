/**
 * `pnpm bench --scale day|week|month|year` (issue 14, part 6), cheaply: the command line, the
 * chart's page part, and the server-side generator on one day (its row counts are the seeds'
 * typical day, and every row passes the migrations' constraints). The year itself is a
 * benchmark (`pnpm bench --scale year`), not a test.
 */
import { describe, expect, it } from 'vitest'
import pg from 'pg'
import { parseBenchArgs } from '../harness/cli/bench.ts'
import { DAY_MS, planTelemetry, spansUpTo, loadTelemetry } from '../harness/data/telemetry/index.ts'
import { generateOnServer } from '../harness/data/telemetry/server.ts'
import { growthSection } from '../harness/reports/growth-html.ts'
import { migrate } from '../bench/context.ts'
import { availableEngines, skipWith, useEngine } from './support/engines.ts'

describe('bench --scale SPAN', () => {
  it('takes a span of typical data, or a number; anything else is a usage error naming both', () => {
    expect(parseBenchArgs({ _: [], scale: 'year' })).toMatchObject({ span: 'year', scale: 1 })
    expect(parseBenchArgs({ _: [], scale: '2' })).toMatchObject({ scale: 2 })
    expect(() => parseBenchArgs({ _: [], scale: 'decade' })).toThrow(/--scale needs a positive number/)
    expect(spansUpTo('year')).toEqual(['day', 'week', 'month', 'year'])
    expect(spansUpTo('week')).toEqual(['day', 'week'])
  })

  it('bench.html plots each p95 against the rows, the limits drawn, every label escaped', () => {
    const q = (p95: number) => ({ label: '<b>q</b>', kind: 'dashboard', p50: p95 / 2, p95, p99: p95, n: 30, resultRows: 1 })
    const html = growthSection({
      metric: 'factory_telemetry.metric_hist',
      points: [
        { span: 'day', days: 1, rows: { 'factory_telemetry.metric_hist': 103_680 }, buildRows: 112_000, buildMs: 5000, compressedChunks: 0, compressMs: 0, analyzeMs: 1, queries: { a: q(4) } },
        { span: 'year', days: 365, rows: { 'factory_telemetry.metric_hist': 37_843_200 }, buildRows: 40e6, buildMs: 2.9e6, compressedChunks: 900, compressMs: 200_000, analyzeMs: 1, queries: { a: q(140) } },
      ],
    })
    expect(html).toMatch(/<svg viewBox/)
    expect(html).toMatch(/dashboard limit 100 ms/)
    expect(html).toContain('&lt;b&gt;q&lt;/b&gt;')
    expect(html).not.toContain('<b>q</b>')
    expect(html).toMatch(/<td class="num over">140<\/td>/)
    expect(html).toContain('37,843,200')
  })
})

const engines = await availableEngines(['native'])
if (!engines.length) it('the server-side generator', (ctx) => skipWith(ctx, 'needs the native engine (PostgreSQL 15 + TimescaleDB), absent here'))

describe.each(engines)('the server-side generator on the $name engine', (c) => {
  const started = useEngine(c)
  it('one day: the seeds’ typical rows per table, every constraint of the migrations met', async () => {
    const engine = started()
    const db = await engine.createDatabase('spans_day')
    const client = new pg.Client({ connectionString: db.url })
    await client.connect()
    try {
      await migrate(client)
      const end = new Date(Math.floor(Date.now() / DAY_MS) * DAY_MS)
      // The reference data as the bench loads it: the newest day by the JavaScript generator.
      await loadTelemetry(client, { seed: 3, days: 1, end, hz: 0.005 })
      const plan = planTelemetry({ seed: 3, days: 1, end })
      const g = await generateOnServer(client, plan, { from: plan.start - DAY_MS, to: plan.start })
      expect(g.rows['factory_telemetry.metric_hist']).toBe(4320 * 24)
      expect(g.rows['factory_telemetry.oee_calculations']).toBe(1440 * 2)
      expect(g.rows['factory_telemetry.energy_consumption']).toBe(1440 * 4)
      expect(g.rows['factory_telemetry.fault_event']).toBeGreaterThan(100)
      expect(g.rows['factory_telemetry.fault_event']).toBeLessThan(320)
      expect(g.rows['factory_telemetry.production_kpis']).toBe(2 * 3)
      const range = await client.query<{ lo: Date; hi: Date; bad: string }>(`SELECT min(ts) AS lo, max(ts) AS hi, count(*) FILTER (WHERE quality < 192)::text AS bad FROM factory_telemetry.metric_hist WHERE ts < $1`, [new Date(plan.start)])
      expect(range.rows[0]!.lo.getTime()).toBe(plan.start - DAY_MS)
      expect(range.rows[0]!.hi.getTime()).toBe(plan.start - 20_000)
      // Counters only grow within a metric.
      const back = await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM (SELECT value_int - lag(value_int) OVER (PARTITION BY metric_def_id ORDER BY ts) AS d FROM factory_telemetry.metric_hist WHERE value_int IS NOT NULL AND ts < $1) x WHERE d < 0`, [new Date(plan.start)])
      expect(back.rows[0]!.n).toBe('0')
    } finally {
      await client.end()
      await db.drop()
    }
  }, 120_000)
})
