/**
 * "Version 0": the required extensions, the log's schema and table, created and committed in one
 * transaction before the first migration, so that a migration's rollback never takes them along.
 */
import type pg from 'pg'
import type { Requirements } from '../../manifest/manifest.ts'
import { quoteIdent } from '../../util/sql.ts'
import type { MigrationLog } from '../log-table.ts'
import { checkLicense } from '../requirements.ts'
import { bootstrapError } from './driver-errors.ts'

/** Creates what is missing; returns what it created (empty when everything was there). */
export async function bootstrap(client: pg.ClientBase, log: MigrationLog, req: Requirements): Promise<string[]> {
  const created: string[] = []
  // One round trip: the runner comes here at every up.
  const seen = (await client.query<{ ext: string[]; log: boolean }>(`SELECT array(SELECT extname::text FROM pg_extension) AS ext, to_regclass($1) IS NOT NULL AS log`, [log.qualified])).rows[0]!
  const installed = new Set(seen.ext)
  const logExists = seen.log
  const missingExt = Object.keys(req.extensions ?? {}).filter((e) => !installed.has(e))
  if (missingExt.length === 0 && logExists) return created
  await client.query('BEGIN')
  try {
    // Extensions first and committed on their own: TimescaleDB refuses to be created again in a
    // session where a rolled-back CREATE EXTENSION already loaded it.
    for (const ext of missingExt) {
      await client.query(`CREATE EXTENSION IF NOT EXISTS ${quoteIdent(ext)}`)
      created.push(`extension ${ext}`)
      if (ext === 'timescaledb') {
        const lic = (await client.query<{ l: string | null }>(`SELECT current_setting('timescaledb.license', true) AS l`)).rows[0]?.l ?? undefined
        checkLicense(req.extensions![ext]!, lic)
      }
    }
    for (const sql of log.bootstrapSql()) await client.query(sql)
    if (!logExists) created.push(`${log.schema}.${log.table}`)
    await client.query('COMMIT')
  } catch (e) {
    await client.query('ROLLBACK').catch(() => {})
    throw bootstrapError(e, log)
  }
  return created
}
