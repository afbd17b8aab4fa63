/**
 * Relations of some schemas: tables, partitioned and foreign tables, views and materialized
 * views, with their properties. Extension members are never part of it; TimescaleDB chunks,
 * partitions and TimescaleDB's internally named relations are flagged, and each reader decides.
 */
import type pg from 'pg'
import { hasTimescale, isTimescaleInternal, notExtensionMember, rows } from './common.ts'

/** pg_class.relkind: r table, p partitioned table, f foreign table, v view, m materialized view. */
export type RelKind = 'r' | 'p' | 'f' | 'v' | 'm'

export interface RelationRow {
  oid: number
  schema: string
  name: string
  relkind: RelKind
  unlogged: boolean
  options: string[] | null
  rls: boolean
  partkey: string | null
  /** `schema.table` of the partitioned table, for a partition. */
  parent: string | null
  bound: string | null
  /** `pg_get_viewdef(oid, true)` for views and materialized views. */
  viewdef: string | null
  comment: string | null
  partition: boolean
  /** A TimescaleDB chunk (whatever schema it was put in). */
  chunk: boolean
  /** Named like a TimescaleDB internal relation (`_hyper_1_2_chunk`, `_materialized_hypertable_3`, …). */
  internal: boolean
}

export interface RelationOptions {
  /** Whether TimescaleDB is installed, when the caller knows (else it is asked). */
  timescale?: boolean
  /** options, partition key, parent and bound, view definition, comment (default true; null when not asked for). */
  details?: boolean
}

/** The relations of `schemas` of the given kinds, ordered by schema and name. */
export async function readRelations(client: pg.ClientBase, schemas: string[], kinds: RelKind[], options: RelationOptions = {}): Promise<RelationRow[]> {
  const tsdb = options.timescale ?? (await hasTimescale(client))
  const detail = (sql: string) => ((options.details ?? true) ? sql : 'NULL')
  const chunk = tsdb
    ? `EXISTS (SELECT 1 FROM _timescaledb_catalog.chunk ch WHERE ch.schema_name = n.nspname AND ch.table_name = c.relname)`
    : 'false'
  const found = await rows<Omit<RelationRow, 'internal'>>(
    client,
    `SELECT c.oid::int AS oid, n.nspname AS schema, c.relname AS name, c.relkind::text AS relkind,
            c.relpersistence = 'u' AS unlogged, ${detail('c.reloptions')} AS options, c.relrowsecurity AS rls,
            ${detail(`CASE WHEN c.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(c.oid) END`)} AS partkey,
            ${detail(`(SELECT pn.nspname || '.' || pc.relname FROM pg_catalog.pg_inherits i
               JOIN pg_catalog.pg_class pc ON pc.oid = i.inhparent JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace
              WHERE i.inhrelid = c.oid AND c.relispartition)`)} AS parent,
            ${detail('CASE WHEN c.relispartition THEN pg_catalog.pg_get_expr(c.relpartbound, c.oid) END')} AS bound,
            ${detail(`CASE WHEN c.relkind IN ('v', 'm') THEN pg_catalog.pg_get_viewdef(c.oid, true) END`)} AS viewdef,
            ${detail(`pg_catalog.obj_description(c.oid, 'pg_class')`)} AS comment,
            c.relispartition AS partition, ${chunk} AS chunk
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = ANY($1::text[]) AND c.relkind::text = ANY($2::text[])
        AND ${notExtensionMember('pg_catalog.pg_class', 'c')}
      ORDER BY n.nspname, c.relname`,
    [schemas, kinds],
  )
  return found.map((r) => ({ ...r, internal: isTimescaleInternal(r.name) }))
}
