/**
 * Fault injection and failures mid-migration, on every engine present (support/engines.ts).
 *
 * The fault-injection stage is able to fail: a `--! no-transaction` file that commits halfway and
 * is not safe to re-run fails the stage, naming the file, the boundary and the error. Its pass on
 * the nine MS5.0 migrations (every statement boundary, each file's fault points named) is asserted
 * on every engine by suites/verify.test.ts's full run, which runs this very stage on them; it is
 * not run a second time here.
 *
 * Where the engine has them (else skipped, saying why): a real CREATE INDEX CONCURRENTLY; real
 * concurrent sessions (the runner's backend terminated from a second session mid-statement,
 * lock_timeout against a table another session holds); timeouts that fire (statement_timeout).
 * Each time: a clear code and message, nothing changed, and a run afterwards applies.
 */
import os from 'node:os'
import type pg from 'pg'
import { beforeAll, describe, expect, it } from 'vitest'
import type { StartedEngine } from '../harness/engines/types.ts'
import { connect } from '../harness/runner/connect.ts'
import { FileMigrationProvider } from '../harness/runner/discover.ts'
import { lockKey } from '../harness/runner/lock.ts'
import { Migrator } from '../harness/runner/migrator.ts'
import { dataDigests } from '../harness/validation/data-digest.ts'
import { diffSnapshots, snapshot } from '../harness/validation/fingerprint/index.ts'
import { runVerify, STAGES, type VerifyReport } from '../harness/verify/pipeline.ts'
import type { VerifyContext } from '../harness/verify/stage.ts'
import { planLanes } from '../harness/verify/stages/fault-injection.ts'
import { cli } from './support/cli.ts'
import { copyDir, edit, MIGRATIONS, PLAIN, write } from './support/dirs.ts'
import { availableEngines, needs, needsTimeouts, onlyOn, useEngine } from './support/engines.ts'

const STAGE_IDS = ['replay', 'fault-injection']
const stages = STAGES.filter((s) => STAGE_IDS.includes(s.id))
const stage = (r: VerifyReport, id: string) => r.stages.find((s) => s.id === id)!
const cases = await availableEngines()

/** The plain set without its CONCURRENTLY file (which the embedded engine cannot run), plus a 003 of the test's own. */
function plainWith003(up: string, down?: string): string {
  const dir = copyDir(PLAIN, (f) => !f.startsWith('003'))
  write(dir, '003_nickname.sql', up)
  if (down !== undefined) write(dir, '003_nickname.down.sql', down)
  return dir
}

describe('fault injection in lanes: where the migrations are cut', () => {
  // A server engine (several sessions) or one whose databases run in threads of the harness (embedded).
  const engineWith = (parallel: boolean, server = parallel) => ({ capabilities: { concurrentConnections: server, parallelDatabases: parallel } }) as unknown as StartedEngine
  // heavyStages 0: a core to spare whatever the machine (coresToSpare); the machine's cores all busy: none.
  const ctxFor = async (parallel: boolean, focus?: string[], heavyStages = 0, server = parallel) => ({ engine: engineWith(parallel, server), migrations: await new FileMigrationProvider(MIGRATIONS).getMigrations(), heavyStages, ...(focus ? { focus: new Set(focus) } : {}) }) as unknown as VerifyContext

  it('cuts the nine migrations into two contiguous lanes that cover each exactly once, where the estimated work evens out', async () => {
    const ctx = await ctxFor(true)
    const lanes = planLanes(ctx)
    expect(lanes.length).toBe(2)
    expect(lanes[0]!.from).toBe(0)
    expect(lanes[0]!.to).toBe(lanes[1]!.from)
    expect(lanes[1]!.to).toBe(ctx.migrations.length)
    // Replay's times move the cut: a first migration that replays slowly is proven alone.
    const slowFirst = ctx.migrations.map((m, i) => ({ label: m.name, ms: i === 0 ? 5_000 : 10 }))
    expect(planLanes(ctx, slowFirst)).toEqual([{ from: 0, to: 1 }, { from: 1, to: ctx.migrations.length }])
  })

  it('one lane where databases cannot work side by side, where the run\'s heavy stages already take every core of the harness\'s own threads, or where fewer than two migrations are proven (--changed)', async () => {
    expect(planLanes(await ctxFor(false))).toEqual([{ from: 0, to: 9 }])
    expect(planLanes(await ctxFor(true, undefined, os.availableParallelism(), false))).toEqual([{ from: 0, to: 9 }])
    // A server engine works in its own processes: two lanes even with every core counted busy.
    expect(planLanes(await ctxFor(true, undefined, os.availableParallelism(), true))).toHaveLength(2)
    expect(planLanes(await ctxFor(true, ['009_database_optimization']))).toEqual([{ from: 0, to: 9 }])
    // Two proven: each lane proves one of them.
    const two = planLanes(await ctxFor(true, ['002_plc_equipment_management', '009_database_optimization']))
    expect(two.length).toBe(2)
    expect(two[1]!.from).toBeGreaterThan(1)
    expect(two[1]!.from).toBeLessThan(9)
  })
})

/**
 * The runner and the stage on a server are the same code on native and container (the container
 * engine's server is native's PostgreSQL 15 + TimescaleDB in an image); on container the stage's
 * pass over MS5.0 is asserted on verify's one full run (suites/verify.test.ts). Two CI runs saw
 * connections to the container's port stall in this suite (a reconnect timing out, a case hung
 * past 120 s), never reproduced alone: kept to embedded and native, saying so.
 */
const faultCases = onlyOn(
  cases,
  ['embedded', 'native'],
  (name) => `fault injection and failures mid-migration on the ${name} engine`,
  (name) => `fault injection's cases run on embedded and native only (the same code path; the ${name} engine's server is native's, and verify's full run on ${name} proves the stage over MS5.0)`,
)

describe.each(faultCases)('fault injection and failures mid-migration on the $name engine', (c) => {
  const started = useEngine(c)
  let engine: StartedEngine
  beforeAll(() => {
    engine = started()
  })

  it('is able to fail: a non-transactional file that commits halfway and cannot be re-run fails the stage, naming file, boundary and error', async () => {
    const dir = plainWith003(
      '--! no-transaction\n-- Adds a column and backfills it; each statement commits on its own.\nALTER TABLE app.accounts ADD COLUMN nickname TEXT;\nUPDATE app.accounts SET nickname = split_part(email, \'@\', 1);\n',
      'ALTER TABLE app.accounts DROP COLUMN IF EXISTS nickname;\n',
    )
    const r = await runVerify(engine, { dir }, stages)
    const fi = stage(r, 'fault-injection')
    expect(fi.verdict).toBe('failed')
    expect(fi.summary).toBe(
      '003_nickname.sql is non-transactional and does not recover: after a failure after statement 1 of 2, re-running up fails at 003_nickname.sql:3:37 (SQLSTATE 42701) (after 5 fault points passed)',
    )
    const details = fi.details.join('\n')
    expect(details).toMatch(/the statements before stay applied, and the re-run starts the file from the top: every statement must be idempotent/)
    expect(details).toMatch(/003_nickname\.sql:3:37: ERROR 42701: column "nickname" of relation "accounts" already exists/)
    expect(details).toMatch(/hint: The column already exists: use ADD COLUMN IF NOT EXISTS/)
    // The transactional files before it passed, and said so.
    expect(details).toMatch(/001_accounts\.sql: 2 fault points, each rolled back to version 0/)
    expect(r.ok).toBe(false)
  })

  it('two databases side by side prove exactly what one does: the same fault points, seeded rows and per-file evidence', async (t) => {
    // Run alone (replay and this stage), the stage has a core to spare on any machine with two.
    if (os.availableParallelism() < 2) t.skip(`skipped: this machine has ${os.availableParallelism()} core; lanes need a second`)
    const migrations = await new FileMigrationProvider(MIGRATIONS).getMigrations()
    // The same engine with its parallel databases hidden: the stage then runs in one database.
    const alone = Object.assign(Object.create(engine) as StartedEngine, { capabilities: { ...engine.capabilities, concurrentConnections: false, parallelDatabases: false } })
    const [two, one] = [await runVerify(engine, { dir: MIGRATIONS }, stages), await runVerify(alone, { dir: MIGRATIONS }, stages)]
    const [a, b] = [stage(two, 'fault-injection'), stage(one, 'fault-injection')]
    expect(a.verdict, a.details.join('\n')).toBe('passed')
    expect(b.verdict, b.details.join('\n')).toBe('passed')
    expect(a.summary).toMatch(/; in 2 databases side by side: 001_init_telemetry…\S+ \| \S+…009_database_optimization\)$/)
    expect(b.summary).not.toMatch(/side by side/)
    for (const k of ['faultPoints', 'faultPointsNotExercised', 'seededRows']) expect(a.counts?.[k], k).toBe(b.counts?.[k])
    expect(a.counts?.faultPoints).toBe(migrations.reduce((n, m) => n + m.up.statements.length, 0))
    const timeless = (d: string[]) => d.map((l) => l.replace(/; \d+ ms\)$/, ')'))
    expect(timeless(a.details)).toEqual(timeless(b.details))
  }, 180_000)

  it('is able to fail on data: a non-idempotent INSERT runs twice when a non-transactional file is re-run', async () => {
    const dir = plainWith003(
      "--! no-transaction\nCREATE TABLE IF NOT EXISTS app.audit (id BIGSERIAL PRIMARY KEY, note TEXT NOT NULL);\nINSERT INTO app.audit (note) VALUES ('accounts migrated');\nCREATE INDEX IF NOT EXISTS audit_note_idx ON app.audit (note);\n",
      'DROP TABLE IF EXISTS app.audit;\n',
    )
    const r = await runVerify(engine, { dir }, stages)
    const fi = stage(r, 'fault-injection')
    expect(fi.verdict).toBe('failed')
    expect(fi.summary).toMatch(/^003_nickname\.sql is non-transactional and recovers to different data: after a failure after statement 2 of 3 and a re-run, the data differs from a clean run \(statements 1…2 ran twice\)/)
    expect(fi.details).toContain('~ table app.audit: 1 rows → 2 rows')
  })

  it('an idempotent non-transactional file passes: statements before the failure stay, the re-run recovers to a clean run; without a down file one boundary is exercised and the summary says so', async () => {
    const up = "--! no-transaction\nALTER TABLE app.accounts ADD COLUMN IF NOT EXISTS nickname TEXT;\nUPDATE app.accounts SET nickname = split_part(email, '@', 1) WHERE nickname IS NULL;\nCREATE INDEX IF NOT EXISTS accounts_nickname_idx ON app.accounts (nickname);\n"
    const withDown = await runVerify(engine, { dir: plainWith003(up, 'DROP INDEX IF EXISTS app.accounts_nickname_idx;\nALTER TABLE app.accounts DROP COLUMN IF EXISTS nickname;\n') }, stages)
    const fi = stage(withDown, 'fault-injection')
    expect(fi.verdict, `${fi.summary}\n${fi.details.join('\n')}`).toBe('passed')
    expect(fi.summary).toMatch(/^\d+ fault points in 3 migrations/)
    const details = fi.details.join('\n')
    expect(details).toMatch(/003_nickname\.sql: non-transactional, 3 fault points with recovery checked against a clean run/)
    expect(details).toMatch(/after statement 1: statements 1…1 stay applied \(2 schema differences: ~ column order app\.accounts: .*; \+ column app\.accounts\.nickname text\); re-run recovers/)
    expect(details).toMatch(/after statement 3: statements 1…3 stay applied \(3 schema differences: .*\+ index app\.accounts_nickname_idx/)

    const noDown = await runVerify(engine, { dir: plainWith003(up) }, stages)
    const fi2 = stage(noDown, 'fault-injection')
    expect(fi2.verdict, fi2.details.join('\n')).toBe('passed')
    expect(fi2.summary).toMatch(/; 2 not exercised \(see details\)$/)
    expect(fi2.details.join('\n')).toMatch(/only 1 of 3 boundaries exercised: no 003_nickname\.down\.sql to return to version 2 between injections/)
  })

  /** What must not change: the schema of app and its data (the log table apart). */
  async function state(url: string) {
    const c = await connect(url)
    try {
      await c.query(`SET lock_timeout = '10s'`)
      return { schema: await snapshot(c, ['app']), data: await dataDigests(c, ['app'], ['app.migration_log']), log: (await c.query(`SELECT migration_name, status FROM app.migration_log ORDER BY id`)).rows }
    } finally {
      await c.end()
    }
  }

  async function lockHolders(c: pg.ClientBase): Promise<number> {
    const k = BigInt(lockKey('"app"."migration_log"'))
    return (
      // Advisory locks are per database: another database's runner (another case) is not this one's.
      await c.query(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) AND classid::bigint = $1 AND objid::bigint = $2`, [Number((k >> 32n) & 0xffffffffn), Number(k & 0xffffffffn)])
    ).rows[0].n
  }

  it('the stage passes on the plain set with a real CREATE INDEX CONCURRENTLY: the index stays after the failure, the re-run recovers to a clean run', async (ctx) => {
    needs(ctx, engine, 'nonTransactionalIndexBuilds', 'fault injection around a real CREATE INDEX CONCURRENTLY')
    const r = await runVerify(engine, { dir: PLAIN }, stages)
    const fi = stage(r, 'fault-injection')
    expect(fi.verdict, `${fi.summary}\n${fi.details.join('\n')}`).toBe('passed')
    expect(fi.details.join('\n')).toMatch(/003_orders_placed_idx\.sql: non-transactional, 1 fault point with recovery checked against a clean run:\n {4}after statement 1: statements 1…1 stay applied \(1 schema difference: \+ index app\.orders_placed_idx: CREATE INDEX orders_placed_idx ON app\.orders USING btree \(placed_at\)\); re-run recovers/)
  })

  it('connection loss: a second session terminates the runner mid-statement → CONNECTION_FAILED, schema unchanged, and a new runner applies it', async (ctx) => {
    needs(ctx, engine, 'concurrentConnections', 'terminating the runner from a second session')
    const db = await engine.createDatabase('killed')
    const dir = copyDir(PLAIN)
    edit(dir, '002_orders.sql', (s) => s.replace('pg_sleep(0.2)', 'pg_sleep(5)'))
    const env = { DATABASE_URL: db.url }
    const killer = await connect(db.url, { applicationName: 'killer' })
    try {
      expect((await cli(['migrate', 'up', '--to', '1', '--dir', dir], env)).code).toBe(0)
      const before = await state(db.url)
      const running = cli(['migrate', 'up', '--dir', dir], env)
      let pid: number | undefined
      const deadline = Date.now() + 60_000
      while (!pid && Date.now() < deadline) {
        const r = await killer.query(`SELECT pid FROM pg_stat_activity WHERE application_name = 'pgverify-migrate up' AND state = 'active' AND query LIKE '%pg_sleep(5)%'`)
        pid = r.rows[0]?.pid
        if (!pid) await new Promise((res) => setTimeout(res, 50))
      }
      expect(pid, 'the runner never reached the slow statement').toBeDefined()
      expect((await killer.query(`SELECT pg_terminate_backend($1) AS ok`, [pid])).rows[0].ok).toBe(true)
      const r = await running
      expect(r.code, r.stderr).toBe(6)
      expect(r.stderr).toMatch(
        /error \[CONNECTION_FAILED\] lost the connection to the database \(the server went away\) while running 002_orders\.sql \(statement 3 at 002_orders\.sql:9:1\): terminating connection due to administrator command \[SQLSTATE 57P01\]/,
      )
      expect(r.stderr).toMatch(/what to do: The server rolled 002_orders\.sql back with the session: nothing of it was applied, the database is as it was after 001_accounts\. The file is not at fault/)
      const after = await state(db.url)
      expect(diffSnapshots(before.schema, after.schema)).toEqual([])
      expect(after.data).toEqual(before.data)
      // The failure could not be written (the session was gone): the log is as before, no completed 002.
      expect(after.log).toEqual([{ migration_name: '001_accounts', status: 'completed' }])
      expect(await lockHolders(killer)).toBe(0)
      const again = await cli(['migrate', 'up', '--dir', dir], env)
      expect(again.code, again.stderr).toBe(0)
      expect(again.stdout).toMatch(/applied 2 migrations: version 1 → 3/)
    } finally {
      await killer.end()
      await db.drop()
    }
  })

  it('statement_timeout (SET LOCAL in the file) → SQLSTATE 57014 located, with a hint; nothing changed', async (ctx) => {
    await needsTimeouts(ctx, engine, 'statement_timeout in a migration file')
    const db = await engine.createDatabase('stmt_timeout')
    const dir = copyDir(PLAIN, (f) => !f.startsWith('003'))
    edit(dir, '002_orders.sql', (s) => `SET LOCAL statement_timeout = '300ms';\n${s.replace('pg_sleep(0.2)', 'pg_sleep(3)')}`)
    const env = { DATABASE_URL: db.url }
    try {
      expect((await cli(['migrate', 'up', '--to', '1', '--dir', dir], env)).code).toBe(0)
      const before = await state(db.url)
      const r = await cli(['migrate', 'up', '--dir', dir], env)
      expect(r.code).toBe(1)
      expect(r.stderr).toMatch(/002_orders\.sql:10:1: ERROR 57014: canceling statement due to statement timeout/)
      expect(r.stderr).toMatch(/> 10 \| SELECT pg_sleep\(3\);/)
      expect(r.stderr).toMatch(/hint: The statement was cancelled: statement_timeout ran out/)
      expect(r.stderr).toMatch(/002_orders\.sql was rolled back: the database is as it was after 001_accounts/)
      const after = await state(db.url)
      expect(diffSnapshots(before.schema, after.schema)).toEqual([])
      expect(after.data).toEqual(before.data)
      expect(after.log).toEqual([
        { migration_name: '001_accounts', status: 'completed' },
        { migration_name: '002_orders', status: 'failed' },
      ])
    } finally {
      await db.drop()
    }
  })

  it('statement_timeout as a runner option (statementTimeoutMs) → 57014; the session setting is put back; without it the file applies', async (ctx) => {
    await needsTimeouts(ctx, engine, 'the runner\'s statementTimeoutMs')
    const db = await engine.createDatabase('stmt_timeout_opt')
    const dir = copyDir(PLAIN, (f) => !f.startsWith('003'))
    edit(dir, '002_orders.sql', (s) => s.replace('pg_sleep(0.2)', 'pg_sleep(1)'))
    const client = await connect(db.url)
    try {
      const m = (extra: { statementTimeoutMs?: number } = {}) => new Migrator({ client, provider: new FileMigrationProvider(dir), logSchema: 'app', lockWaitMs: 0, ...extra })
      expect((await m().up({ to: 1 })).error).toBeUndefined()
      const before = await snapshot(client, ['app'])
      const r = await m({ statementTimeoutMs: 200 }).up()
      expect(r.error?.code).toBe('MIGRATION_FAILED')
      const e = r.results.find((x) => x.status === 'failed')!.error!
      expect([e.file, e.line, e.sqlstate, e.statement]).toEqual(['002_orders.sql', 9, '57014', 3])
      expect(e.hint).toMatch(/statement_timeout ran out/)
      expect(diffSnapshots(before, await snapshot(client, ['app']))).toEqual([])
      expect((await client.query(`SELECT current_setting('statement_timeout') AS t`)).rows[0].t).toBe('0')
      expect((await m().up()).error).toBeUndefined()
    } finally {
      await client.end()
      await db.drop()
    }
  })

  it('lock_timeout against a table another session holds → SQLSTATE 55P03 with a hint, nothing changed; applies once the lock is released', async (ctx) => {
    needs(ctx, engine, 'concurrentConnections', 'lock_timeout against a lock held by a second session')
    await needsTimeouts(ctx, engine, 'lock_timeout')
    const db = await engine.createDatabase('lock_timeout')
    const dir = copyDir(PLAIN, (f) => !f.startsWith('003'))
    edit(dir, '002_orders.sql', (s) => `SET LOCAL lock_timeout = '500ms';\n${s}`)
    const env = { DATABASE_URL: db.url }
    const holder = await connect(db.url, { applicationName: 'busy-app' })
    try {
      expect((await cli(['migrate', 'up', '--to', '1', '--dir', dir], env)).code).toBe(0)
      const before = await state(db.url)
      await holder.query('BEGIN')
      await holder.query('LOCK TABLE app.accounts IN ACCESS EXCLUSIVE MODE')
      const t0 = Date.now()
      const r = await cli(['migrate', 'up', '--dir', dir], env)
      expect(r.code, r.stderr).toBe(1)
      expect(r.stderr).toMatch(/002_orders\.sql:2:1: ERROR 55P03: canceling statement due to lock timeout/)
      expect(r.stderr).toMatch(/hint: Lock not available: another session holds a conflicting lock/)
      console.log(`[fault-injection] lock_timeout case: runner gave up and exited in ${Date.now() - t0} ms (lock_timeout 500 ms)`)
      // Reading the data needs the other session's lock gone (the runner has exited by now).
      await holder.query('COMMIT')
      const after = await state(db.url)
      expect(diffSnapshots(before.schema, after.schema)).toEqual([])
      expect(after.data).toEqual(before.data)
      expect(after.log.find((x) => x.migration_name === '002_orders')?.status).toBe('failed')
      const ok = await cli(['migrate', 'up', '--dir', dir], env)
      expect(ok.code, ok.stderr).toBe(0)
      expect(ok.stdout).toMatch(/applied 1 migration: version 1 → 2/)
      expect(ok.stderr).toMatch(/002_orders failed last time|\[1\/1\] 002_orders … ok/)
    } finally {
      await holder.end().catch(() => {})
      await db.drop()
    }
  })
})
