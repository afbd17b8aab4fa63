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
