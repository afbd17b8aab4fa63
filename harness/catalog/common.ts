/**
 * What every catalog reader shares: one query helper, code-unit ordering, and the filters that
 * keep TimescaleDB's internals and extension members out.
 *
 * The readers in this folder only query: they never set session state. A caller that needs
 * names and expressions printed independently of its session (the fingerprint) sets
 * `search_path` itself before calling them.
 */
import type pg from 'pg'
import { cmp } from '../util/canonical.ts'

export { cmp }

export async function rows<T>(client: pg.ClientBase, text: string, values: unknown[] = []): Promise<T[]> {
  return (await client.query(text, values)).rows as T[]
}

/** Names TimescaleDB gives its internal relations; numbers differ between databases. */
export const TSDB_INTERNAL_REL = /^_(hyper|compressed_hypertable|materialized_hypertable|partial_view|direct_view|dist_hyper)_\d+/

export const isTimescaleInternal = (relname: string): boolean => TSDB_INTERNAL_REL.test(relname)

/** SQL: the object (`alias.oid`, a row of `classTable`) does not belong to an extension. */
export const notExtensionMember = (classTable: string, alias: string): string =>
  `NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = '${classTable}'::regclass AND d.objid = ${alias}.oid AND d.deptype = 'e')`

/** Whether the timescaledb extension is installed in this database. */
export async function hasTimescale(client: pg.ClientBase): Promise<boolean> {
  return (await rows<{ n: number }>(client, `SELECT count(*)::int AS n FROM pg_catalog.pg_extension WHERE extname = 'timescaledb'`))[0]!.n > 0
}

/** Whether TimescaleDB's information views are there (the extension, of a version that has them). */
export async function hasTimescaleInformation(client: pg.ClientBase, view: 'jobs' | 'dimensions' = 'jobs'): Promise<boolean> {
  return (await rows<{ t: string | null }>(client, `SELECT to_regclass('timescaledb_information.${view}')::text AS t`))[0]?.t != null
}

/** `schema.name` */
export const qualifiedName = (schema: string, name: string): string => `${schema}.${name}`

/**
 * Runs `read` with session settings that last only for it (SET LOCAL): inside the caller's
 * transaction in a savepoint (the caller's snapshot; its transaction must not be aborted),
 * otherwise in a transaction of its own opened with `begin`; rolled back either way, so the
 * session is left exactly as it was.
 */
export async function withLocalSettings<T>(
  client: pg.ClientBase,
  options: { savepoint: string; begin: string; settings: string[] },
  read: () => Promise<T>,
): Promise<T> {
  let own = false
  try {
    await client.query(`SAVEPOINT ${options.savepoint}`)
  } catch (e) {
    if ((e as { code?: string }).code !== '25P01') throw e // 25P01: not in a transaction block
    await client.query(options.begin)
    own = true
  }
  try {
    for (const s of options.settings) await client.query(s)
    return await read()
  } finally {
    if (own) await client.query('ROLLBACK')
    else {
      await client.query(`ROLLBACK TO SAVEPOINT ${options.savepoint}`)
      await client.query(`RELEASE SAVEPOINT ${options.savepoint}`)
    }
  }
}
