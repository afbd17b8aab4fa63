/**
 * Errors the runner returns: the one SQLSTATE/driver-error mapping (harness/sqlstate.ts), the
 * manifest validated once (harness/manifest/), and the Migrator's promise to return results and
 * never throw, against real engines: a bug comes back as INTERNAL (exit 70), a connection that
 * died as CONNECTION_FAILED, never as a failed migration file.
 */
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'
import { beforeAll, describe, expect, it } from 'vitest'
import { EXIT, exitCodeFor } from '../harness/cli/exit-codes.ts'
import type { HarnessError } from '../harness/errors.ts'
import type { StartedEngine } from '../harness/engines/types.ts'
import { declaredDataChanges, loadManifest } from '../harness/manifest/manifest.ts'
import { connect } from '../harness/runner/connect.ts'
import { FileMigrationProvider } from '../harness/runner/discover.ts'
import { Migrator } from '../harness/runner/migrator.ts'
import { errorCodeFor, isConnectionLoss, sqlstateOf } from '../harness/sqlstate.ts'
import { copyDir, emptyDir, MIGRATIONS, PLAIN, write } from './support/dirs.ts'
import { availableEngines, needs, useEngine } from './support/engines.ts'

describe('the one SQLSTATE / driver-error mapping', () => {
  it('a connection that went away is a connection error, whatever shape the driver gives it', () => {
    const lost = [
      { code: '57P01', message: 'terminating connection due to administrator command' },
      { code: '57P02', message: 'terminating connection because of crash of another server process' },
      { code: '57P03', message: 'the database system is shutting down' },
      { code: '08006', message: 'connection failure' },
      { code: '08003', message: 'connection does not exist' },
      { code: 'ECONNRESET', message: 'read ECONNRESET' },
      { code: 'EPIPE', message: 'write EPIPE' },
      { message: 'Connection terminated unexpectedly' },
      { message: 'Client has encountered a connection error and is not queryable' },
      { message: 'Client was closed and is not queryable' },
      // A LocatedError keeps the SQLSTATE as `sqlstate`.
      { sqlstate: '57P01', message: 'terminating connection due to administrator command' },
    ]
    for (const e of lost) {
      expect(isConnectionLoss(e), JSON.stringify(e)).toBe(true)
      expect(errorCodeFor(e, 'session'), JSON.stringify(e)).toBe('CONNECTION_FAILED')
    }
  })

  it('a server error with any other SQLSTATE is the statement’s, even when its message talks about connections', () => {
    for (const code of ['42601', '42P01', '57014', '23505', 'XX000', 'P0001']) {
      const e = { code, message: 'connection closed by the trigger (a message, not a lost session)' }
      expect(isConnectionLoss(e), code).toBe(false)
      expect(errorCodeFor(e, 'session'), code).toBe('MIGRATION_FAILED')
    }
  })

  it('authentication, database and privilege errors have their own codes; anything else while connecting is CONNECTION_FAILED', () => {
    expect(errorCodeFor({ code: '28P01' }, 'connect')).toBe('AUTH_FAILED')
    expect(errorCodeFor({ code: '28000' }, 'connect')).toBe('AUTH_FAILED')
    expect(errorCodeFor({ code: '3D000' }, 'connect')).toBe('DATABASE_NOT_FOUND')
    expect(errorCodeFor({ code: '42501' }, 'connect')).toBe('PERMISSION_DENIED')
    expect(errorCodeFor({ code: '42501' }, 'session')).toBe('PERMISSION_DENIED')
    expect(errorCodeFor({ code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 127.0.0.1:1' }, 'connect')).toBe('CONNECTION_FAILED')
    expect(errorCodeFor({ code: '53300', message: 'sorry, too many clients already' }, 'connect')).toBe('CONNECTION_FAILED')
    expect(errorCodeFor({ code: 'XX000', message: 'extension "timescaledb" must be preloaded' }, 'session')).toBe('TIMESCALEDB_NOT_PRELOADED')
  })

  it('a Node errno is not a SQLSTATE; a plain error is no database error at all (a bug: INTERNAL, exit 70)', () => {
    expect(sqlstateOf({ code: 'EPIPE' })).toBeUndefined()
    expect(sqlstateOf({ code: '42P01' })).toBe('42P01')
    expect(errorCodeFor(new TypeError('x is not a function'), 'session')).toBeUndefined()
    expect(exitCodeFor('INTERNAL')).toBe(EXIT.INTERNAL)
    expect(EXIT.INTERNAL).toBe(70)
  })
})

describe('how long a connection may take (PGCONNECT_TIMEOUT, as for psql)', () => {
  // A server that accepts the TCP connection and never answers: what a stalled host looks like.
  const silent = async (): Promise<{ url: string; close: () => Promise<void> }> => {
    const sockets = new Set<net.Socket>()
    const server = net.createServer((s) => sockets.add(s))
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', res))
    const { port } = server.address() as net.AddressInfo
    return {
      url: `postgres://u:secret@127.0.0.1:${port}/db`,
      close: () => {
        for (const s of sockets) s.destroy()
        return new Promise((res) => server.close(() => res()))
      },
    }
  }
  const withTimeout = async <T>(value: string | undefined, f: () => Promise<T>): Promise<T> => {
    const saved = process.env.PGCONNECT_TIMEOUT
    if (value === undefined) delete process.env.PGCONNECT_TIMEOUT
    else process.env.PGCONNECT_TIMEOUT = value
    try {
      return await f()
    } finally {
      if (saved === undefined) delete process.env.PGCONNECT_TIMEOUT
      else process.env.PGCONNECT_TIMEOUT = saved
    }
  }

  it('gives up after PGCONNECT_TIMEOUT seconds (1 counts as 2, as in libpq), naming the variable in what to do', async () => {
    const s = await silent()
    try {
      const t0 = Date.now()
      const e = (await withTimeout('1', () => connect(s.url)).catch((x) => x)) as HarnessError
      const waited = Date.now() - t0
      expect(e.code).toBe('CONNECTION_FAILED')
      expect(e.message).toMatch(/cannot connect to postgres:\/\/u:\*\*\*@127\.0\.0\.1:\d+\/db: timeout expired/)
      expect(e.message).not.toContain('secret')
      expect(e.hint).toMatch(/PGCONNECT_TIMEOUT/)
      expect(waited).toBeGreaterThanOrEqual(1_900)
      expect(waited).toBeLessThan(9_000)
    } finally {
      await s.close()
    }
  })

  it('a value that is not whole seconds is refused as a usage error, not ignored', async () => {
    const s = await silent()
    try {
      const e = (await withTimeout('10s', () => connect(s.url)).catch((x) => x)) as HarnessError
      expect(e.code).toBe('USAGE')
      expect(e.message).toBe('PGCONNECT_TIMEOUT is "10s", not a whole number of seconds')
      expect(exitCodeFor(e.code)).toBe(EXIT.USAGE)
    } finally {
      await s.close()
    }
  })
})

describe('the manifest, validated once', () => {
  const withManifest = (manifest: unknown, files: string[] = []): string => {
    const dir = emptyDir('pgverify-manifest-')
    write(dir, 'manifest.json', JSON.stringify(manifest, null, 2))
    for (const f of files) write(dir, f, 'SELECT 1;\n')
    return dir
  }
  const refusal = (dir: string) =>
    loadManifest(dir).then(
      () => undefined,
      (e: HarnessError) => e,
    )

  it.each([
    ['schema', { schema: 7 }, /"schema" must be a schema name/],
    ['requirements', { requirements: [] }, /"requirements" must be an object/],
    ['requirements.extensions.timescaledb.minVersion', { requirements: { extensions: { timescaledb: { minVersion: 2.11 } } } }, /"requirements\.extensions\.timescaledb\.minVersion" must be a version string/],
    ['requirements.postgres.minVersion', { requirements: { postgres: { minVersion: 15 } } }, /"requirements\.postgres\.minVersion" must be a version string/],
    ['tables', { tables: 'app.t' }, /"tables" must be an array of qualified names/],
    ['hypertables', { hypertables: [{ table: 'app.t' }] }, /every "hypertables" entry needs "table" and "timeColumn"/],
    ['hypertables[0].chunkInterval', { hypertables: [{ table: 'app.t', timeColumn: 'ts', chunkInterval: 7 }] }, /"hypertables\[0\]\.chunkInterval" must be an interval/],
    ['hypertables[0].compression.segmentBy', { hypertables: [{ table: 'app.t', timeColumn: 'ts', compression: { segmentBy: 'id' } }] }, /"hypertables\[0\]\.compression\.segmentBy" must be an array of column names/],
    ['migrations', { migrations: [] }, /"migrations" must map migration names to their entries/],
    ['migrations[…].creates', { migrations: { '001_a': { creates: 'app.t' } } }, /"migrations\["001_a"\]\.creates" must be an array of qualified names/],
  ])('refuses a bad "%s" with MANIFEST_INVALID naming the key', async (_key, manifest, message) => {
    const e = await refusal(withManifest(manifest))
    expect(e?.code).toBe('MANIFEST_INVALID')
    expect(e?.message).toMatch(message)
    expect(e?.message.startsWith(path.join(os.tmpdir(), 'pgverify-manifest-'))).toBe(true)
  })

  it('types the declared data changes of MS5.0 (008: backfills, inserts, the quarantine deletes; no preconditions) and lists them in version order', async () => {
    const m = (await loadManifest(MIGRATIONS))!
    const declared = declaredDataChanges(m)
    expect(declared.length).toBeGreaterThan(0)
    expect(declared.every((d) => d.migration === '008_fix_critical_schema_issues' && d.version === 8)).toBe(true)
    expect(new Set(declared.map((d) => d.change.kind))).toEqual(new Set(['backfill', 'insert', 'delete']))
    expect(m.dataChangesError).toBeUndefined()
  })

  it('invalid dataChanges are found at load time and refused by their readers, not by loadManifest', async () => {
    const dir = withManifest({ schema: 'app', migrations: { '001_a': { dataChanges: [{ kind: 'rename', table: 'app.t' }] } } }, ['001_a.sql'])
    const m = (await loadManifest(dir))!
    expect(m.schema).toBe('app')
    expect(m.dataChangesError?.code).toBe('MANIFEST_INVALID')
    expect(() => declaredDataChanges(m)).toThrow(/manifest\.json: migrations\["001_a"\]\.dataChanges\[0\]: unknown kind "rename" \(expected backfill, insert, delete, drop, move, requires\)/)
    const orphan = (await loadManifest(withManifest({ migrations: { '002_gone': { dataChanges: [] } } })))!
    expect(() => declaredDataChanges(orphan)).toThrow(/migrations\["002_gone"\]\.dataChanges: no migration file 002_gone\.sql/)
  })
})

const cases = await availableEngines()

describe.each(cases)('the Migrator never throws, on the $name engine', (c) => {
  const started = useEngine(c)
  let engine: StartedEngine
  beforeAll(() => {
    engine = started()
  })

  it('a bug under a public method (a provider that throws a TypeError) comes back as INTERNAL, exit 70', async () => {
    const db = await engine.createDatabase('internal')
    const client = await connect(db.url)
    try {
      const provider = { source: 'a broken provider', getMigrations: async () => (undefined as unknown as { x: () => never }).x() }
      const migrator = new Migrator({ client, provider, logSchema: 'app', lockWaitMs: 0 })
      for (const r of [await migrator.up(), await migrator.down({ to: 0 }), await migrator.status(), await migrator.check(), await migrator.plan()]) {
        expect(r.error?.code).toBe('INTERNAL')
        expect(r.error?.message).toMatch(/^TypeError: /)
        expect(exitCodeFor(r.error!.code)).toBe(70)
      }
      // Nothing was left half-done: the session still works and holds no lock.
      expect((await client.query(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()`)).rows[0].n).toBe(0)
    } finally {
      await client.end().catch(() => {})
      await db.drop()
    }
  })

  it('a session terminated between runs is CONNECTION_FAILED, never a failed migration', async (ctx) => {
    needs(ctx, engine, 'concurrentConnections', 'a second session that terminates the runner’s')
    const db = await engine.createDatabase('terminated')
    const client = await connect(db.url)
    const admin = new pg.Client({ connectionString: db.url })
    await admin.connect()
    try {
      const dir = copyDir(PLAIN)
      const migrator = new Migrator({ client, provider: new FileMigrationProvider(dir), logSchema: 'app', lockWaitMs: 0 })
      expect((await migrator.up({ to: 1 })).error).toBeUndefined()
      const pid = (await client.query<{ pid: number }>(`SELECT pg_backend_pid() AS pid`)).rows[0]!.pid
      await admin.query(`SELECT pg_terminate_backend($1)`, [pid])
      await new Promise((r) => setTimeout(r, 200))
      const r = await migrator.up()
      expect(r.error?.code).toBe('CONNECTION_FAILED')
      expect(r.error?.message).toMatch(/^lost the connection to the database \(the server went away\): /)
      expect(r.results.every((x) => x.status !== 'passed')).toBe(true)
      const log = (await admin.query<{ migration_name: string; status: string }>(`SELECT migration_name, status FROM app.migration_log ORDER BY id`)).rows
      expect(log).toEqual([{ migration_name: '001_accounts', status: 'completed' }])
    } finally {
      await client.end().catch(() => {})
      await admin.end().catch(() => {})
      await db.drop()
    }
  })
})
