/**
 * The `url` engine: an existing server named by DATABASE_URL (the production case).
 * The harness never drops, resets or migrates-by-surprise that database: `createDatabase()`
 * makes scratch databases next to it (needs CREATEDB) and drops only those on stop().
 */
import { readEnvironment } from '../config/environment.ts'
import { quoteIdent } from '../util/sql.ts'
import { HarnessError } from '../errors.ts'
import { connect } from '../runner/connect.ts'
import { redactUrl } from '../util/redact.ts'
import { AdminConnection, sanitizeLabel, withDatabase, withExtensions } from './admin.ts'
import type { CreateDatabaseOptions, DatabaseHandle, EngineProvider, EngineSettings, EngineStartOptions, EngineVersions, StartedEngine } from './types.ts'


/** Versions of the server behind a URL; the license is unknown until TimescaleDB's library is loaded. */
export async function readServer(url: string): Promise<EngineVersions> {
  const client = await connect(url, { applicationName: 'pgverify-probe' })
  try {
    const r = (
      await client.query<{ pg: string; ts: string | null; inst: string | null; lic: string | null }>(
        `SELECT current_setting('server_version') AS pg,
                (SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb') AS ts,
                (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb') AS inst,
                current_setting('timescaledb.license', true) AS lic`,
      )
    ).rows[0]!
    return {
      postgres: /^\d+(\.\d+)?/.exec(r.pg)?.[0] ?? r.pg,
      timescaledb: r.inst ?? r.ts ?? 'none',
      // A scratch database to load the library would need privileges we may lack.
      timescaledbLicense: r.lic ?? (r.ts ? 'unknown' : 'none'),
    }
  } finally {
    await client.end().catch(() => {})
  }
}

export const urlEngine: EngineProvider = {
  name: 'url',

  async probe(settings: EngineSettings = {}) {
    const url = settings.databaseUrl ?? readEnvironment().databaseUrl
    return url ? { ok: true, reason: `DATABASE_URL is set (${redactUrl(url)})` } : { ok: false, reason: 'DATABASE_URL is not set' }
  },

  async start(options: EngineStartOptions = {}): Promise<StartedEngine> {
    const url = options.databaseUrl ?? readEnvironment().databaseUrl
    if (!url) {
      throw new HarnessError('USAGE', 'the url engine needs DATABASE_URL', { hint: 'export DATABASE_URL=postgres://user@host:5432/dbname (the password is read from the URL or PGPASSWORD, never printed).' })
    }
    const versions = await readServer(url)
    const hasExt = versions.timescaledb !== 'none'
    const admin = new AdminConnection(url)
    const created = new Set<string>()
    let n = 0
    let stopped = false
    ;(options.log ?? ((l: string) => process.stderr.write(l + '\n')))(`url: ${redactUrl(url)} (PostgreSQL ${versions.postgres}, TimescaleDB ${versions.timescaledb})`)
    return {
      name: 'url',
      url,
      versions,
      capabilities: {
        concurrentConnections: true,
        timescaledb: hasExt,
        timescaledbCompression: versions.timescaledbLicense === 'timescale',
        backgroundWorkers: hasExt,
        nonTransactionalIndexBuilds: true,
        dumpTool: 'pg_dump',
        physicalSnapshot: false,
        disposable: false,
        parallelDatabases: true,
      },
      describe: () => `url: ${redactUrl(url)}: PostgreSQL ${versions.postgres} + TimescaleDB ${versions.timescaledb}`,
      async createDatabase(label?: string, options: CreateDatabaseOptions = {}): Promise<DatabaseHandle> {
        const name = `verify_scratch_${process.pid}_${sanitizeLabel(label)}_${++n}`
        try {
          await admin.query(`CREATE DATABASE ${quoteIdent(name)}${options.template ? ` TEMPLATE ${quoteIdent(options.template)}` : ''}`)
        } catch (e) {
          throw new HarnessError('PERMISSION_DENIED', `cannot create a scratch database on ${redactUrl(url)}: ${(e as Error).message}`, {
            hint: 'Scratch databases need the CREATEDB privilege; use a disposable engine (--engine embedded|native|container) instead.',
            cause: e,
          })
        }
        created.add(name)
        const db: DatabaseHandle = {
          name,
          url: withDatabase(url, name),
          async drop() {
            if (!created.delete(name)) return
            await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`)
          },
        }
        return withExtensions(db, options.template ? [] : options.extensions)
      },
      async stop() {
        if (stopped) return
        stopped = true
        for (const name of [...created]) await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`).catch(() => {})
        created.clear()
        await admin.close()
      },
    }
  },
}
