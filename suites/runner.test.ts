/**
 * The production runner against real engines: every engine present here (embedded, native,
 * container), the nine MS5.0 migrations where the engine has TimescaleDB, the small plain set
 * everywhere; tests that need real concurrent sessions or CREATE INDEX CONCURRENTLY skip an
 * engine without them, saying why. PostgreSQL without TimescaleDB is made on purpose (see
 * support/engines.ts) whatever this machine has. No mocks: every assertion reads the database.
 */
import { rmSync } from 'node:fs'
import path from 'node:path'
import type pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { DatabaseHandle, StartedEngine } from '../harness/engines/types.ts'
import { connect } from '../harness/runner/connect.ts'
import { FileMigrationProvider } from '../harness/runner/discover.ts'
import { lockKey } from '../harness/runner/lock.ts'
import { Migrator, type MigratorOptions } from '../harness/runner/migrator.ts'
import { validateExpected } from '../harness/validation/expected.ts'
import { diffSnapshots, snapshot } from '../harness/validation/fingerprint/index.ts'
import { loadManifest, type Manifest } from '../harness/manifest/manifest.ts'
import { copyDir, edit, MIGRATIONS, PLAIN, write } from './support/dirs.ts'
import { availableEngines, needs, useEngine, withoutTimescale } from './support/engines.ts'

const cases = await availableEngines()

interface Session {
  db: DatabaseHandle
  client: pg.Client
  close(): Promise<void>
}

describe.each(cases)('runner on the $name engine', (c) => {
  const started = useEngine(c)
  let engine: StartedEngine
  let manifest: Manifest
  let plainManifest: Manifest
  beforeAll(async () => {
    engine = started()
    manifest = (await loadManifest(MIGRATIONS))!
    plainManifest = (await loadManifest(PLAIN))!
  })

  async function fresh(): Promise<Session> {
    const db = await engine.createDatabase('runner')
    const client = await connect(db.url)
    return {
      db,
      client,
      async close() {
        await client.end().catch(() => {})
        await db.drop()
      },
    }
  }

  const migrator = (client: pg.ClientBase, dir: string, m: Manifest | undefined, extra: Partial<MigratorOptions> = {}) =>
    new Migrator({ client, provider: new FileMigrationProvider(dir), logSchema: m?.schema ?? 'public', requirements: m?.requirements, lockWaitMs: 0, ...extra })

  const tablesIn = async (client: pg.ClientBase, schema: string) =>
    (await client.query<{ t: string }>(`SELECT schemaname || '.' || tablename AS t FROM pg_tables WHERE schemaname = $1 ORDER BY 1`, [schema])).rows.map((r) => r.t)

  it('up creates exactly the manifest tables and hypertables; a second up applies nothing; status shows nine applied with checksums', async (ctx) => {
    needs(ctx, engine, 'timescaledb', 'the nine MS5.0 migrations')
    const s = await fresh()
    try {
      const m = migrator(s.client, MIGRATIONS, manifest)
      const r = await m.up()
      expect(r.error).toBeUndefined()
      expect(r.results.map((x) => x.status)).toEqual(Array(9).fill('passed'))
      expect(await tablesIn(s.client, 'factory_telemetry')).toEqual([...manifest.tables!].sort())
      const hts = (await s.client.query<{ t: string }>(`SELECT hypertable_schema || '.' || hypertable_name AS t FROM timescaledb_information.hypertables ORDER BY 1`)).rows.map((x) => x.t)
      expect(hts).toEqual(manifest.hypertables!.map((h) => h.table).sort())
      const checks = await validateExpected(s.client, manifest, { log: { schema: 'factory_telemetry', table: 'migration_log' }, migrations: await new FileMigrationProvider(MIGRATIONS).getMigrations() })
      expect(checks.filter((c) => !c.ok)).toEqual([])

      const again = await m.up()
      expect(again.error).toBeUndefined()
      expect(again.results).toEqual([])

      const st = await m.status()
      expect(st.current).toBe(9)
      expect(st.migrations.map((x) => x.state)).toEqual(Array(9).fill('applied'))
      for (const x of st.migrations) expect(x.appliedChecksum).toBe(x.checksum)
      const log = (await s.client.query(`SELECT migration_name, status, checksum, execution_time_ms FROM factory_telemetry.migration_log ORDER BY id`)).rows
      expect(log).toHaveLength(9)
      for (const row of log) {
        expect(row.status).toBe('completed')
        expect(row.checksum).toMatch(/^[0-9a-f]{64}$/)
        expect(row.execution_time_ms).toBeGreaterThanOrEqual(0)
      }
    } finally {
      await s.close()
    }
  })

  it("a database made with the bootstrap's extensions is the one the bootstrap makes from empty: up from there gives the same schema, the bootstrap then creates only the log; an unknown extension fails and leaves no database", async (ctx) => {
    needs(ctx, engine, 'timescaledb', 'a database with TimescaleDB made already')
    const versions = async (client: pg.ClientBase) => (await client.query<{ v: string }>(`SELECT extname || ' ' || extversion AS v FROM pg_extension ORDER BY 1`)).rows.map((r) => r.v)
    const sides: { ext: string[]; created: string[]; fp: unknown }[] = []
    // In a thread of its own and in-process: the embedded engine serves both, from its kept cluster.
    for (const extensions of [undefined, ['timescaledb']]) {
      for (const parallel of [false, true]) {
        const db = await engine.createDatabase('ext', { extensions, parallel })
        const client = await connect(db.url)
        try {
          const before = await versions(client)
          expect(before.some((v) => v.startsWith('timescaledb '))).toBe(!!extensions)
          const created: string[] = []
          const r = await migrator(client, MIGRATIONS, manifest, { onEvent: (e) => void (e.type === 'bootstrap' && created.push(...e.created)) }).up()
          expect(r.error).toBeUndefined()
          sides.push({ ext: await versions(client), created, fp: await snapshot(client, [manifest.schema!]) })
        } finally {
          await client.end().catch(() => {})
          await db.drop()
        }
      }
    }
    expect(sides.map((s) => s.created)).toEqual([
      ['extension timescaledb', 'factory_telemetry.migration_log'],
      ['extension timescaledb', 'factory_telemetry.migration_log'],
      ['factory_telemetry.migration_log'],
      ['factory_telemetry.migration_log'],
    ])
    for (const s of sides.slice(1)) {
      expect(s.ext).toEqual(sides[0]!.ext)
      expect(diffSnapshots(sides[0]!.fp as never, s.fp as never)).toEqual([])
    }
    // A server lists its databases: the one that could not get the extension is gone again.
    const databases = async () => {
      const c = await connect(engine.url)
      try {
        return (await c.query<{ n: string }>('SELECT datname AS n FROM pg_database ORDER BY 1')).rows.map((r) => r.n)
      } finally {
        await c.end()
      }
    }
    const server = engine.capabilities.concurrentConnections
    const before = server ? await databases() : []
    await expect(engine.createDatabase('ext', { extensions: ['no_such_extension'] })).rejects.toThrow(/extension "no_such_extension" is not available|could not open extension control file/)
    if (server) expect(await databases()).toEqual(before)
  })

  it('plan, up --to, down --to and status agree', async () => {
    const s = await fresh()
    try {
      const m = migrator(s.client, PLAIN, plainManifest)
      const p = await m.plan()
      expect(p.steps.map((x) => [x.name, x.noTransaction])).toEqual([
        ['001_accounts', false],
        ['002_orders', false],
        ['003_orders_placed_idx', true],
      ])
      expect((await m.up({ to: 2 })).to).toBe(2)
      expect((await m.status()).current).toBe(2)
      expect((await m.plan()).steps.map((x) => x.name)).toEqual(['003_orders_placed_idx'])
      if (engine.capabilities.nonTransactionalIndexBuilds) {
        expect((await m.up()).error).toBeUndefined()
        expect((await m.status()).current).toBe(3)
      }
      const before = await tablesIn(s.client, 'app')
      expect(before).toEqual(['app.accounts', 'app.migration_log', 'app.orders'])
      const d = await m.down({ to: 0 })
      expect(d.error).toBeUndefined()
      expect(await tablesIn(s.client, 'app')).toEqual(['app.migration_log'])
      const rows = (await s.client.query(`SELECT status FROM app.migration_log`)).rows.map((r) => r.status)
      expect(new Set(rows)).toEqual(new Set(['rolled_back']))
      expect((await m.status()).current).toBe(0)
      const targetErr = await m.up({ to: 7 })
      expect(targetErr.error?.code).toBe('MIGRATION_TARGET_UNKNOWN')
    } finally {
      await s.close()
    }
  })

  it('refuses drift, naming the file and both checksums, and accepts it only when asked (logged)', async () => {
    const s = await fresh()
    try {
      const dir = copyDir(PLAIN)
      expect((await migrator(s.client, dir, plainManifest).up({ to: 2 })).error).toBeUndefined()
      const oldSum = (await new FileMigrationProvider(dir).getMigrations())[0]!.up.checksum
      edit(dir, '001_accounts.sql', (t) => t + '\n-- reviewed\n')
      const newSum = (await new FileMigrationProvider(dir).getMigrations())[0]!.up.checksum
      const r = await migrator(s.client, dir, plainManifest).up()
      expect(r.error?.code).toBe('MIGRATION_DRIFT')
      expect(r.error?.message).toContain('001_accounts.sql')
      expect(r.error?.message).toContain(oldSum)
      expect(r.error?.message).toContain(newSum)
      expect((await migrator(s.client, dir, plainManifest).check()).error?.code).toBe('MIGRATION_DRIFT')
      expect((await migrator(s.client, dir, plainManifest).status()).migrations[0]!.state).toBe('drifted')

      const ok = await migrator(s.client, dir, plainManifest, { acceptDrift: ['001'] }).up({ to: 2 })
      expect(ok.error).toBeUndefined()
      expect(ok.warnings.join('\n')).toMatch(/drift accepted for 001_accounts\.sql/)
      const row = (await s.client.query(`SELECT checksum, error_message FROM app.migration_log WHERE migration_name = '001_accounts'`)).rows[0]
      expect(row.checksum).toBe(newSum)
      expect(row.error_message).toContain(`checksum ${oldSum} -> ${newSum}`)
      expect((await migrator(s.client, dir, plainManifest).check()).error).toBeUndefined()
    } finally {
      await s.close()
    }
  })

  it('refuses a deleted applied file and a hand-edited log', async () => {
    const s = await fresh()
    try {
      const dir = copyDir(PLAIN)
      await migrator(s.client, dir, plainManifest).up({ to: 2 })
      rmSync(path.join(dir, '002_orders.sql'))
      rmSync(path.join(dir, '002_orders.down.sql'))
      rmSync(path.join(dir, '003_orders_placed_idx.sql'))
      rmSync(path.join(dir, '003_orders_placed_idx.down.sql'))
      const r = await migrator(s.client, dir, plainManifest).up()
      expect(r.error?.code).toBe('MIGRATION_MISSING_FILE')
      expect(r.error?.message).toContain('002_orders.sql')

      await s.client.query(`UPDATE app.migration_log SET status = 'rolled_back' WHERE migration_name = '001_accounts'`)
      const r2 = await migrator(s.client, PLAIN, plainManifest).up()
      expect(r2.error?.code).toBe('MIGRATION_LOG_CORRUPT')
      expect(r2.error?.message).toMatch(/002_orders is recorded as applied but 001_accounts is not/)
      await s.client.query(`UPDATE app.migration_log SET status = 'done' WHERE migration_name = '001_accounts'`)
      expect((await migrator(s.client, PLAIN, plainManifest).up()).error?.code).toBe('MIGRATION_LOG_CORRUPT')
    } finally {
      await s.close()
    }
  })

  it('a failing migration leaves no trace: schema as before, failure logged, no completed row; a fixed file then applies', async () => {
    const s = await fresh()
    try {
      const dir = copyDir(PLAIN, (f) => !f.startsWith('003'))
      const m = () => migrator(s.client, dir, plainManifest)
      await m().up({ to: 1 })
      const before = await snapshot(s.client, ['app'])
      const rowsBefore = (await s.client.query(`SELECT count(*)::int AS n FROM app.accounts`)).rows[0].n
      // Several statements succeed inside the transaction before the last one fails.
      edit(dir, '002_orders.sql', (t) => `${t}\nINSERT INTO app.accounts (email) VALUES ('a@example.com');\nALTER TABLE app.orders ADD COLUMN note TEXT;\nSELECT * FROM app.no_such_table;\n`)
      const r = await m().up()
      expect(r.error?.code).toBe('MIGRATION_FAILED')
      const err = r.results[0]!.error!
      expect(err.file).toBe('002_orders.sql')
      expect(err.sqlstate).toBe('42P01')
      const lines = (await import('node:fs')).readFileSync(path.join(dir, '002_orders.sql'), 'utf8').split('\n')
      expect(lines[err.line - 1]!.slice(err.column - 1)).toMatch(/^app\.no_such_table/)
      expect(err.snippet.join('\n')).toContain('^')
      expect(diffSnapshots(before, await snapshot(s.client, ['app']))).toEqual([])
      expect((await s.client.query(`SELECT count(*)::int AS n FROM app.accounts`)).rows[0].n).toBe(rowsBefore)
      const log = (await s.client.query(`SELECT status, error_message FROM app.migration_log WHERE migration_name = '002_orders'`)).rows
      expect(log).toHaveLength(1)
      expect(log[0].status).toBe('failed')
      expect(log[0].error_message).toMatch(/002_orders\.sql:\d+:\d+: \[42P01\] relation "app\.no_such_table" does not exist/)
      // The lock was released: a fixed file applies at once (lockWaitMs is 0).
      edit(dir, '002_orders.sql', (t) => t.replace('SELECT * FROM app.no_such_table;', ''))
      const fixed = await m().up()
      expect(fixed.error).toBeUndefined()
      expect((await s.client.query(`SELECT status FROM app.migration_log WHERE migration_name = '002_orders'`)).rows[0].status).toBe('completed')
    } finally {
      await s.close()
    }
  })

  it('fault injection: a failure right after any statement of a migration rolls the whole migration back', async () => {
    const s = await fresh()
    try {
      const dir = copyDir(PLAIN, (f) => !f.startsWith('003'))
      await migrator(s.client, dir, plainManifest).up({ to: 1 })
      const before = await snapshot(s.client, ['app'])
      const statements = (await new FileMigrationProvider(dir).getMigrations())[1]!.up.statements
      for (const target of statements) {
        const r = await migrator(s.client, dir, plainManifest, {
          hooks: {
            afterStatement: (_m, _s, st) => {
              if (st.index === target.index) throw Object.assign(new Error(`injected failure after statement ${st.index + 1}`), { code: 'XX000' })
            },
          },
        }).up()
        expect(r.error?.code, `after statement ${target.index + 1}`).toBe('MIGRATION_FAILED')
        expect(diffSnapshots(before, await snapshot(s.client, ['app'])), `after statement ${target.index + 1}`).toEqual([])
      }
      expect((await migrator(s.client, dir, plainManifest).up()).error).toBeUndefined()
    } finally {
      await s.close()
    }
  })

  it('restores session settings a migration changed (search_path) before the next one', async () => {
    const s = await fresh()
    try {
      const dir = copyDir(PLAIN, (f) => !f.startsWith('003'))
      edit(dir, '001_accounts.sql', (t) => `SET search_path = pg_catalog;\n${t}`)
      const sp = (await s.client.query(`SELECT current_setting('search_path') AS sp`)).rows[0].sp
      expect((await migrator(s.client, dir, plainManifest).up()).error).toBeUndefined()
      expect((await s.client.query(`SELECT current_setting('search_path') AS sp`)).rows[0].sp).toBe(sp)
    } finally {
      await s.close()
    }
  })

  it('a failed migration that changed session settings leaves them as they were (the rollback undoes its SETs)', async () => {
    const s = await fresh()
    try {
      const dir = copyDir(PLAIN, (f) => !f.startsWith('003'))
      write(dir, '003_sets_then_fails.sql', "SET search_path = pg_catalog;\nSELECT set_config('work_mem', '7MB', false);\nSELECT 1 / 0;\n")
      const show = async () => (await s.client.query(`SELECT current_setting('search_path') AS sp, current_setting('work_mem') AS wm`)).rows[0]
      const before = await show()
      const r = await migrator(s.client, dir, plainManifest).up()
      expect(r.error?.code).toBe('MIGRATION_FAILED')
      expect(await show()).toEqual(before)
    } finally {
      await s.close()
    }
  })

  it('reports a syntax error at its exact file:line:column', async () => {
    const s = await fresh()
    try {
      const dir = copyDir(PLAIN, (f) => !f.startsWith('003'))
      write(dir, '003_typo.sql', 'CREATE TABLE IF NOT EXISTS app.t1 (id int);\n\nCREATE TABLE app.t2 (\n  id int,\n  name txet NOT NULL\n);\n')
      const r = await migrator(s.client, dir, plainManifest).up()
      const e = r.results.find((x) => x.status === 'failed')!.error!
      expect([e.file, e.line, e.column, e.sqlstate, e.statement]).toEqual(['003_typo.sql', 5, 8, '42704', 2])
      expect(e.message).toMatch(/type "txet" does not exist/)
    } finally {
      await s.close()
    }
  })

  it('a crowd of 16 concurrent runners applies each migration exactly once', async (ctx) => {
    needs(ctx, engine, 'concurrentConnections', 'a crowd of 16 concurrent runners')
    const db = await engine.createDatabase('crowd')
    const manifest = (await loadManifest(PLAIN))!
    try {
      const runs = await Promise.all(
        Array.from({ length: 16 }, async () => {
          const client = await connect(db.url)
          try {
            const r = await new Migrator({ client, provider: new FileMigrationProvider(PLAIN), logSchema: 'app', requirements: manifest.requirements, lockWaitMs: 60_000 }).up()
            return r
          } finally {
            await client.end()
          }
        }),
      )
      expect(runs.filter((r) => r.error)).toEqual([])
      const applied = runs.flatMap((r) => r.results.filter((x) => x.status === 'passed').map((x) => x.name)).sort()
      expect(applied).toEqual(['001_accounts', '002_orders', '003_orders_placed_idx'])
      const client = await connect(db.url)
      const log = (await client.query(`SELECT migration_name, count(*)::int AS n FROM app.migration_log GROUP BY 1 ORDER BY 1`)).rows
      await client.end()
      expect(log).toEqual([
        { migration_name: '001_accounts', n: 1 },
        { migration_name: '002_orders', n: 1 },
        { migration_name: '003_orders_placed_idx', n: 1 },
      ])
    } finally {
      await db.drop()
    }
  })

  it('fails fast with LOCK_TIMEOUT naming the holder when asked not to wait; the lock dies with a killed session', async (ctx) => {
    needs(ctx, engine, 'concurrentConnections', 'LOCK_TIMEOUT against a second session holding the lock')
    const db = await engine.createDatabase('lock')
    const holder = await connect(db.url, { applicationName: 'other-runner' })
    const runner = await connect(db.url)
    try {
      const m = new Migrator({ client: runner, provider: new FileMigrationProvider(PLAIN), logSchema: 'app', lockWaitMs: 0 })
      const key = lockKey(m.log.qualified)
      await holder.query(`SELECT pg_advisory_lock($1::bigint)`, [key])
      const r = await m.up()
      expect(r.error?.code).toBe('LOCK_TIMEOUT')
      expect(r.error?.message).toMatch(/backend pid \d+ \(other-runner\)/)
      const waited = await new Migrator({ client: runner, provider: new FileMigrationProvider(PLAIN), logSchema: 'app', lockWaitMs: 300 }).up()
      expect(waited.error?.code).toBe('LOCK_TIMEOUT')
      expect(waited.error?.message).toMatch(/for more than 300 ms/)
      // A runner killed while holding the lock: its backend ends, and with it the lock.
      const pid = (await holder.query(`SELECT pg_backend_pid() AS p`)).rows[0].p
      await runner.query(`SELECT pg_terminate_backend($1)`, [pid])
      const ok = await new Migrator({ client: runner, provider: new FileMigrationProvider(PLAIN), logSchema: 'app', lockWaitMs: 5_000 }).up()
      expect(ok.error).toBeUndefined()
    } finally {
      await holder.end().catch(() => {})
      await runner.end().catch(() => {})
      await db.drop()
    }
  })

  it('a non-transactional migration that failed halfway leaves an INVALID index, which the retry drops and rebuilds', async (ctx) => {
    needs(ctx, engine, 'nonTransactionalIndexBuilds', 'an INVALID index left by a failed CREATE UNIQUE INDEX CONCURRENTLY')
    const db = await engine.createDatabase('invalid')
    const client = await connect(db.url)
    try {
      const dir = copyDir(PLAIN)
      const manifest = (await loadManifest(PLAIN))!
      const m = () => new Migrator({ client, provider: new FileMigrationProvider(dir), logSchema: 'app', requirements: manifest.requirements, lockWaitMs: 0 })
      await m().up({ to: 2 })
      // Duplicate emails make a UNIQUE concurrent build fail after the catalog entry exists.
      await client.query(`ALTER TABLE app.accounts DROP CONSTRAINT accounts_email_key`)
      await client.query(`INSERT INTO app.accounts (email) VALUES ('dup@example.com'), ('dup@example.com')`)
      write(dir, '003_orders_placed_idx.sql', '--! no-transaction\nCREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS accounts_email_uq ON app.accounts (email);\n')
      const r = await m().up()
      expect(r.error?.code).toBe('MIGRATION_FAILED')
      expect(r.error?.hint).toMatch(/non-transactional/)
      const invalid = async () => (await client.query(`SELECT i.indisvalid AS v FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'accounts_email_uq'`)).rows
      expect(await invalid()).toEqual([{ v: false }])
      expect((await client.query(`SELECT status FROM app.migration_log WHERE migration_name = '003_orders_placed_idx'`)).rows[0].status).toBe('failed')
      await client.query(`DELETE FROM app.accounts WHERE ctid IN (SELECT ctid FROM app.accounts WHERE email = 'dup@example.com' LIMIT 1)`)
      expect((await m().up()).error).toBeUndefined()
      expect(await invalid()).toEqual([{ v: true }])
    } finally {
      await client.end()
      await db.drop()
    }
  })
})

// PostgreSQL without a usable TimescaleDB, made on purpose: not available (embedded without the
// bundle) and installed but not preloaded (native), whatever this machine has installed.
describe.each(await withoutTimescale())('runner on $label', (s) => {
  let engine: StartedEngine
  beforeAll(async () => {
    engine = await s.start()
    expect(engine.capabilities.timescaledb).toBe(false)
  })
  afterAll(async () => {
    await engine?.stop()
  })

  it('missing TimescaleDB is reported before any change; the database is untouched', async () => {
    const db = await engine.createDatabase('nots')
    // Each look and each run on a connection of its own: TimescaleDB refuses a CREATE EXTENSION
    // without its preload with FATAL, which ends the runner's session (nothing was committed).
    const withClient = async <T>(fn: (c: pg.Client) => Promise<T>): Promise<T> => {
      const c = await connect(db.url)
      try {
        return await fn(c)
      } finally {
        await c.end().catch(() => {})
      }
    }
    const objects = () => withClient(async (c) => (await c.query(`SELECT count(*)::int AS n FROM pg_class`)).rows[0].n + ':' + (await c.query(`SELECT string_agg(nspname, ',' ORDER BY nspname) AS s FROM pg_namespace`)).rows[0].s)
    try {
      const before = await objects()
      const manifest = (await loadManifest(MIGRATIONS))!
      const r = await withClient((client) => new Migrator({ client, provider: new FileMigrationProvider(MIGRATIONS), logSchema: 'factory_telemetry', requirements: manifest.requirements, lockWaitMs: 0 }).up())
      expect(r.error?.code).toBe(s.code)
      expect(r.error?.message).toMatch(s.message)
      expect(r.error?.message).toMatch(/nothing was changed/)
      expect(r.error?.hint).toMatch(/shared_preload_libraries/)
      expect(r.error?.hint).toMatch(s.fix)
      expect(r.results).toEqual([])
      expect(await objects()).toBe(before)
      // Without a manifest the requirement is inferred from the SQL (create_hypertable …).
      const dir = copyDir(MIGRATIONS, (f) => f !== 'manifest.json')
      const r2 = await withClient((client) => new Migrator({ client, provider: new FileMigrationProvider(dir), lockWaitMs: 0 }).up())
      expect(r2.error?.code).toBe(s.code)
      expect(await objects()).toBe(before)
    } finally {
      await db.drop()
    }
  })
})
