/**
 * Admin SQL shared by the server engines (native, container, url): one admin session, version
 * reading, and cheap fresh databases made from template0; and the extensions a caller asks a new
 * database to have (every engine).
 */
import { quoteIdent } from '../util/sql.ts'
import pg from 'pg'
import { connect } from '../runner/connect.ts'
import { serverTrouble } from '../sqlstate.ts'
import type { CreateDatabaseOptions, DatabaseHandle, EngineCapabilities, EngineVersions } from './types.ts'

/**
 * One lazily (re)connected admin session; CREATE/DROP DATABASE cannot run in the target db itself.
 * Callers may ask at the same time (verify's stages make their databases side by side): the
 * queries go one after the other, as a session takes them, never two at once on one client.
 */
export class AdminConnection {
  #client: Promise<pg.Client> | undefined
  #last: Promise<unknown> = Promise.resolve()
  constructor(private readonly url: string) {}

  query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string): Promise<pg.QueryResult<R>> {
    const run = this.#last.catch(() => {}).then(async () => (await this.#connect()).query<R>(sql))
    this.#last = run
    return run
  }

  #connect(): Promise<pg.Client> {
    if (!this.#client) {
      const client = new pg.Client({ connectionString: this.url })
      // The server may go away under us (stop -m immediate); the next call reconnects.
      client.on('error', () => {
        this.#client = undefined
      })
      const p = client.connect().then(() => client)
      p.catch(() => {
        if (this.#client === p) this.#client = undefined
      })
      this.#client = p
    }
    return this.#client
  }

  async close(): Promise<void> {
    const p = this.#client
    this.#client = undefined
    const client = await p?.catch(() => undefined)
    await client?.end().catch(() => {})
  }
}


export function withDatabase(url: string, database: string): string {
  const u = new URL(url)
  u.pathname = `/${encodeURIComponent(database)}`
  return u.toString()
}

/** Reads server/TimescaleDB versions; the license needs the extension loaded, so a scratch db may be used. */
export async function readVersions(admin: AdminConnection, url: string): Promise<EngineVersions> {
  const { rows } = await admin.query<{ pg: string; ts: string | null; lic: string | null }>(
    `select current_setting('server_version') as pg,
            (select default_version from pg_available_extensions where name = 'timescaledb') as ts,
            current_setting('timescaledb.license', true) as lic`,
  )
  const row = rows[0]!
  // "15.18 (Debian 15.18-0+deb12u1)" → "15.18"
  const postgres = /^\d+(\.\d+)?/.exec(row.pg)?.[0] ?? row.pg
  if (!row.ts) return { postgres, timescaledb: 'none', timescaledbLicense: 'none' }
  return { postgres, timescaledb: row.ts, timescaledbLicense: row.lic ?? (await licenseFromScratch(admin, url)) }
}

async function licenseFromScratch(admin: AdminConnection, url: string): Promise<string> {
  const name = `verify_license_probe_${process.pid}_${Date.now()}`
  await admin.query(`CREATE DATABASE ${quoteIdent(name)} TEMPLATE template0`)
  const client = new pg.Client({ connectionString: withDatabase(url, name) })
  try {
    await client.connect()
    await client.query('CREATE EXTENSION IF NOT EXISTS timescaledb')
    // current_setting, not SHOW: SHOW names its column "timescaledb.license", dot included.
    const { rows } = await client.query<{ license: string | null }>(`SELECT current_setting('timescaledb.license', true) AS license`)
    return rows[0]?.license ?? 'none'
  } catch {
    // e.g. not preloaded: TimescaleDB is listed but cannot be created, so no license applies.
    return 'none'
  } finally {
    await client.end().catch(() => {})
    await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`).catch(() => {})
  }
}

export function sanitizeLabel(label: string | undefined): string {
  const s = (label ?? 'db').toLowerCase().replace(/[^a-z0-9_]+/g, '_').replace(/^_+|_+$/g, '').slice(0, 40)
  return s || 'db'
}

/**
 * The extensions a caller asked createDatabase for (CreateDatabaseOptions.extensions), created in
 * the new database `db`; when one cannot be, the database is dropped and the server's error raised.
 */
export async function withExtensions(db: DatabaseHandle, names: readonly string[] = []): Promise<DatabaseHandle> {
  if (!names.length) return db
  try {
    const client = await connect(db.url, { applicationName: 'pgverify create extensions' })
    try {
      for (const name of names) await client.query(`CREATE EXTENSION IF NOT EXISTS ${quoteIdent(name)}`)
    } finally {
      await client.end().catch(() => {})
    }
  } catch (e) {
    await db.drop().catch(() => {})
    throw e
  }
  return db
}

/** createDatabase() for a server engine: template0, because images put extensions into template1. */
export function databaseFactory(admin: AdminConnection, url: string, isStopped: () => boolean): (label?: string, options?: CreateDatabaseOptions) => Promise<DatabaseHandle> {
  let n = 0
  return async (label, options = {}) => {
    const name = `verify_${sanitizeLabel(label)}_${++n}`
    // A server short of disk (or gone) is said as such, not as a bug of the caller's.
    await admin.query(`CREATE DATABASE ${quoteIdent(name)} TEMPLATE ${quoteIdent(options.template ?? 'template0')}`).catch((e: unknown) => {
      throw serverTrouble(e) ?? e
    })
    let dropped: Promise<void> | undefined
    const db: DatabaseHandle = {
      name,
      url: withDatabase(url, name),
      drop() {
        // After the engine stopped there is nothing left to drop.
        dropped ??= isStopped() ? Promise.resolve() : admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`).then(() => {})
        return dropped
      },
    }
    return withExtensions(db, options.template ? [] : options.extensions)
  }
}


/**
 * What a real PostgreSQL server (native or container) can do, given its TimescaleDB and whether
 * its background workers were left to run jobs by themselves.
 */
export function serverCapabilities(versions: EngineVersions, backgroundJobs: boolean): EngineCapabilities {
  // License 'none' despite a listed version means CREATE EXTENSION failed (e.g. not preloaded).
  const timescale = versions.timescaledb !== 'none' && versions.timescaledbLicense !== 'none'
  return {
    concurrentConnections: true,
    timescaledb: timescale,
    timescaledbCompression: versions.timescaledbLicense === 'timescale',
    backgroundWorkers: timescale && backgroundJobs,
    nonTransactionalIndexBuilds: true,
    dumpTool: 'pg_dump',
    physicalSnapshot: false,
    disposable: true,
    parallelDatabases: true,
  }
}
