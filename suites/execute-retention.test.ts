/**
 * `pnpm execute` against a database at version 8 whose metric_hist holds rows older than 90 days:
 * migration 009 adds a 90-day retention policy, whose first run deletes them. Pre-migration
 * validation counts them read-only (rows and chunks per table, the cutoff), names them and
 * refuses — nothing changed, no backup — unless --accept-retention-deletes is given; with the
 * flag the run migrates and the acknowledgement and the counts are in the log and the report,
 * and the policy's first run then deletes exactly what was counted. --dry-run shows the counts.
 * On every TimescaleDB engine available here; the command line on one with real connections.
 */
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import type pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadJobTemplates } from '../harness/data/job-data.ts'
import { compareStates, formatComparison } from '../harness/backup/compare.ts'
import { captureState, type DatabaseState } from '../harness/backup/state.ts'
import { handleTarget } from '../harness/engines/target.ts'
import { exitCodeOf } from '../harness/cli/execute.ts'
import type { DatabaseHandle, StartedEngine } from '../harness/engines/types.ts'
import { execute } from '../harness/execute/execute.ts'
import { connect } from '../harness/runner/connect.ts'
import { FileMigrationProvider } from '../harness/runner/discover.ts'
import { Migrator } from '../harness/runner/migrator.ts'
import { cli } from './support/cli.ts'
import { emptyDir, MIGRATIONS } from './support/dirs.ts'
import { engineCases, needs } from './support/engines.ts'

const LONG = 900_000
const DAY_US = 86_400_000_000
const LOG = { schema: 'factory_telemetry', table: 'migration_log' }
const cases = (await engineCases()).filter((c) => c.available)

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = await connect(url)
  try {
    return await fn(c)
  } finally {
    await c.end()
  }
}

/** Old rows the test inserts: 2 metrics × days 85…130 before today's UTC midnight × (midnight −1 µs, midnight, +1 µs, noon). */
const OLD_DAYS = { from: 85, to: 130 }
const OFFSETS_US = [-1, 0, 1, 12 * 3_600_000_000]

/** What the 90-day policy deletes of those rows, by the test's own arithmetic: rows in 1-day chunks that end before now - 90 days. */
function expectedDeletion(midnightUs: number, nowUs: number): { rows: number; chunks: number } {
  const cutoff = nowUs - 90 * DAY_US
  const chunks = new Set<number>()
  let rows = 0
  for (let g = OLD_DAYS.from; g <= OLD_DAYS.to; g++) {
    for (const o of OFFSETS_US) {
      const ts = midnightUs - g * DAY_US + o
      const start = Math.floor(ts / DAY_US) * DAY_US
      if (start + DAY_US <= cutoff) {
        rows += 2
        chunks.add(start)
      }
    }
  }
  return { rows, chunks: chunks.size }
}

describe.each(cases)('execute with a pending retention policy, on the $name engine', ({ provider }) => {
  let engine: StartedEngine
  beforeAll(async () => {
    engine = await provider.start({ log: () => {} })
  }, LONG)
  afterAll(async () => {
    await engine?.stop()
  })

  /** A database at version 8 with generated telemetry (last two days) and metric_hist rows 85…130 days old. */
  async function atVersion8(label: string): Promise<{ db: DatabaseHandle; midnightUs: number; before: DatabaseState; total: number }> {
    const db = await engine.createDatabase(label)
    const midnightUs = Math.floor(Date.now() / 86_400_000) * DAY_US
    await withClient(db.url, async (c) => {
      const r = await new Migrator({ client: c, provider: new FileMigrationProvider(MIGRATIONS), logSchema: 'factory_telemetry', lockWaitMs: 0 }).up({ to: 8 })
      expect(r.error).toBeUndefined()
      await loadJobTemplates(c, { seed: 3 })
      await c.query(
        `INSERT INTO factory_telemetry.metric_hist (metric_def_id, ts, value_real, quality)
         SELECT d.id, to_timestamp($1::float8 / 1000000) - g * interval '1 day' + o * interval '1 microsecond', g, 192
           FROM (SELECT id FROM factory_telemetry.metric_def ORDER BY id LIMIT 2) d, generate_series($2::int, $3::int) g, unnest($4::bigint[]) o`,
        [midnightUs, OLD_DAYS.from, OLD_DAYS.to, OFFSETS_US],
      )
    })
    const before = await withClient(db.url, (c) => captureState(c, { schemas: ['factory_telemetry'], log: LOG }))
    const total = await withClient(db.url, async (c) => Number((await c.query('SELECT count(*) AS n FROM factory_telemetry.metric_hist')).rows[0].n))
    return { db, midnightUs, before, total }
  }

  const expectUnchanged = async (db: DatabaseHandle, before: DatabaseState) => {
    const after = await withClient(db.url, (c) => captureState(c, { schemas: ['factory_telemetry'], log: LOG }))
    const diff = compareStates(before, after)
    expect(diff.differences, formatComparison(diff).join('\n')).toEqual([])
  }

  it('refuses before any change, naming the table, rows, chunks and cutoff; --dry-run shows the same counts', async (ctx) => {
    needs(ctx, engine, 'timescaledb', 'execute with retention')
    const { db, midnightUs, before } = await atVersion8('refused')
    const backupRoot = emptyDir('pgverify-backups-')
    const logDir = emptyDir('pgverify-reports-')
    const r = await execute({ target: handleTarget(engine, db), dir: MIGRATIONS, backupRoot, logDir, lockWaitMs: 0 })
    const want = expectedDeletion(midnightUs, Date.now() * 1000)
    expect(want.rows).toBeGreaterThan(0)
    const check = r.checks.find((c) => c.id === 'retention-deletes')!
    console.log(`[execute on ${engine.name}] ${check.status} ${check.message}\n  what to do: ${check.hint}`)
    expect(check.status).toBe('failed')
    expect(check.message).toMatch(new RegExp(`^the pending retention policies would delete factory_telemetry\\.metric_hist: ${want.rows} rows in ${want.chunks} chunks older than \\d{4}-\\d\\d-\\d\\d [\\d:.]+\\+00 \\(009_database_optimization\\.sql, drop_after 90 days\\)`))
    expect(check.message).toMatch(
      new RegExp(`009_database_optimization\\.sql:\\d+ adds a retention policy on factory_telemetry\\.metric_hist \\(drop_after INTERVAL '90 days'\\): its first run deletes ${want.rows} rows in ${want.chunks} chunks of factory_telemetry\\.metric_hist: every chunk entirely before the cutoff now\\(\\) - 90 days = `),
    )
    expect(check.message).toMatch(/5 other pending retention policies delete nothing now \(factory_telemetry\.fault_event, factory_telemetry\.oee_calculations, factory_telemetry\.downtime_events, factory_telemetry\.energy_consumption, factory_telemetry\.production_kpis\)/)
    expect(check.hint).toMatch(/--accept-retention-deletes/)
    expect(r.outcome).toBe('not-started')
    expect(r.error?.code).toBe('RETENTION_NOT_ACKNOWLEDGED')
    expect(exitCodeOf(r)).toBe(1)
    expect(r.retention).toMatchObject({ deletes: true, acknowledged: false, flag: '--accept-retention-deletes' })
    expect(r.retention!.policies.find((p) => p.resolved === 'factory_telemetry.metric_hist')).toMatchObject({ status: 'would-delete', rows: want.rows, chunks: want.chunks, interval: '90 days', timeColumn: 'ts' })
    expect(readdirSync(backupRoot)).toEqual([])
    const report = readFileSync(r.files.report, 'utf8')
    expect(report).toMatch(/^ {2}WOULD-DELETE 009_database_optimization\.sql:\d+ adds a retention policy on factory_telemetry\.metric_hist/m)
    expect(report).toMatch(/^ {2}NOT ACKNOWLEDGED: refused; --accept-retention-deletes accepts them$/m)
    expect(readFileSync(r.files.log, 'utf8')).toMatch(/\[ERROR\] RETENTION DELETES NOT ACKNOWLEDGED: refusing; run again with --accept-retention-deletes/)
    await expectUnchanged(db, before)

    const dry = await execute({ target: handleTarget(engine, db), dir: MIGRATIONS, backupRoot, logDir, lockWaitMs: 0, dryRun: true })
    expect(dry.checks.find((c) => c.id === 'retention-deletes')?.message).toMatch(new RegExp(`factory_telemetry\\.metric_hist: ${want.rows} rows in ${want.chunks} chunks older than`))
    expect(dry.outcome).toBe('not-started')
    const dryOk = await execute({ target: handleTarget(engine, db), dir: MIGRATIONS, backupRoot, logDir, lockWaitMs: 0, dryRun: true, acceptRetentionDeletes: true })
    expect(dryOk.outcome).toBe('dry-run')
    expect(dryOk.checks.find((c) => c.id === 'retention-deletes')).toMatchObject({ status: 'warning', message: expect.stringMatching(new RegExp(`^ACKNOWLEDGED with --accept-retention-deletes: the pending retention policies will delete factory_telemetry\\.metric_hist: ${want.rows} rows in ${want.chunks} chunks`)) })
    expect(readdirSync(backupRoot)).toEqual([])
    await expectUnchanged(db, before)
    await db.drop()
  }, LONG)

  it('with --accept-retention-deletes: migrates, records the acknowledgement and the counts, and the first run deletes exactly them', async (ctx) => {
    needs(ctx, engine, 'timescaledb', 'execute with retention')
    const { db, midnightUs, total } = await atVersion8('accepted')
    const r = await execute({ target: handleTarget(engine, db), dir: MIGRATIONS, backupRoot: emptyDir('pgverify-backups-'), logDir: emptyDir('pgverify-reports-'), lockWaitMs: 0, acceptRetentionDeletes: true })
    const want = expectedDeletion(midnightUs, Date.now() * 1000)
    expect(r.outcome, `${r.state}\n${r.error?.message}`).toBe('migrated')
    expect(r.retention).toMatchObject({ deletes: true, acknowledged: true })
    const counted = r.retention!.policies.find((p) => p.resolved === 'factory_telemetry.metric_hist')!
    expect({ rows: counted.rows, chunks: counted.chunks }).toEqual(want)
    const log = readFileSync(r.files.log, 'utf8')
    expect(log).toMatch(/\[WARN\] RETENTION DELETES ACKNOWLEDGED \(--accept-retention-deletes given\)/)
    expect(log).toMatch(new RegExp(`\\[WARN\\] {3}retention: 009_database_optimization\\.sql:\\d+ adds a retention policy on factory_telemetry\\.metric_hist \\(drop_after INTERVAL '90 days'\\): its first run deletes ${want.rows} rows in ${want.chunks} chunks`))
    expect(readFileSync(r.files.report, 'utf8')).toMatch(/^ {2}ACKNOWLEDGED with --accept-retention-deletes: these deletions were accepted for this run$/m)
    const json = JSON.parse(readFileSync(r.files.json, 'utf8'))
    expect(json.retention.acknowledged).toBe(true)
    expect(json.checks.find((c: { id: string }) => c.id === 'retention-deletes').status).toBe('warning')

    // The policy 009 registered, run by hand (background workers are off): it deletes what was counted.
    await withClient(db.url, async (c) => {
      const job = (await c.query(`SELECT job_id FROM timescaledb_information.jobs WHERE proc_name = 'policy_retention' AND hypertable_name = 'metric_hist'`)).rows[0].job_id
      const chunks0 = Number((await c.query(`SELECT count(*) AS n FROM timescaledb_information.chunks WHERE hypertable_name = 'metric_hist'`)).rows[0].n)
      expect(Number((await c.query('SELECT count(*) AS n FROM factory_telemetry.metric_hist')).rows[0].n)).toBe(total)
      await c.query(`CALL run_job(${Number(job)})`)
      const rows1 = Number((await c.query('SELECT count(*) AS n FROM factory_telemetry.metric_hist')).rows[0].n)
      const chunks1 = Number((await c.query(`SELECT count(*) AS n FROM timescaledb_information.chunks WHERE hypertable_name = 'metric_hist'`)).rows[0].n)
      expect({ rows: total - rows1, chunks: chunks0 - chunks1 }).toEqual(want)
    })
    await db.drop()
  }, LONG)
})

// The command line, on the first engine with real connections (DATABASE_URL, as in production).
const server = cases.find((c) => c.name !== 'embedded')

describe.runIf(server)('pnpm execute --accept-retention-deletes, the command', () => {
  let engine: StartedEngine
  beforeAll(async () => {
    engine = await server!.provider.start({ log: () => {} })
  }, LONG)
  afterAll(async () => {
    await engine?.stop()
  })

  it('exits 1 naming what would be deleted (also with --dry-run), 0 with the flag, which the help lists', async (ctx) => {
    needs(ctx, engine, 'timescaledb', 'execute with retention')
    const db = await engine.createDatabase('cli')
    await withClient(db.url, async (c) => {
      expect((await new Migrator({ client: c, provider: new FileMigrationProvider(MIGRATIONS), logSchema: 'factory_telemetry', lockWaitMs: 0 }).up({ to: 8 })).error).toBeUndefined()
      await loadJobTemplates(c, { seed: 3 })
      await c.query(`INSERT INTO factory_telemetry.metric_hist (metric_def_id, ts, value_real, quality) SELECT (SELECT id FROM factory_telemetry.metric_def ORDER BY id LIMIT 1), now() - g * interval '1 day', g, 192 FROM generate_series(100, 109) g`)
    })
    const args = ['execute', '--yes', '--dir', MIGRATIONS, '--backup-root', emptyDir('pgverify-backups-'), '--log-dir', emptyDir('pgverify-reports-')]
    const env = { DATABASE_URL: db.url }
    const dry = await cli([...args, '--dry-run'], env, 300_000)
    expect(dry.code).toBe(1)
    expect(dry.stdout).toMatch(/^retention {2}009_database_optimization\.sql:\d+ adds a retention policy on factory_telemetry\.metric_hist \(drop_after INTERVAL '90 days'\): its first run deletes 10 rows in 10 chunks of factory_telemetry\.metric_hist/m)
    expect(dry.stdout).toMatch(/^retention deletes NOT acknowledged: run again with --accept-retention-deletes to accept them$/m)
    expect(dry.stdout).toMatch(/NOT CHANGED: pre-migration validation failed \(retention-deletes\)/)
    const refused = await cli(args, env, 300_000)
    expect(refused.code).toBe(1)
    expect(refused.stdout).toMatch(/what to do: A retention policy starts deleting on its first run/)
    const ok = await cli([...args, '--accept-retention-deletes'], env, 600_000)
    expect(ok.code, ok.stdout + ok.stderr).toBe(0)
    expect(ok.stdout).toMatch(/^retention deletes ACKNOWLEDGED with --accept-retention-deletes \(recorded in the log and report\)$/m)
    expect(ok.stdout).toMatch(/MIGRATED: version 8 → 9/)
    const logDir = args[args.indexOf('--log-dir') + 1]!
    const logs = readdirSync(logDir).filter((f) => f.endsWith('.log')).map((f) => readFileSync(path.join(logDir, f), 'utf8'))
    expect(logs.filter((l) => /RETENTION DELETES ACKNOWLEDGED/.test(l))).toHaveLength(1)
    const help = await cli(['execute', '--help'])
    expect(help.stdout).toMatch(/--accept-retention-deletes\n\s+accept what the pending migrations' retention policies delete/)
    await db.drop()
  }, LONG)
})
