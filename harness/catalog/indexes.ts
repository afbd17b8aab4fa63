/** Indexes of some schemas: their definition, and the key parts of unique ones. */
import type pg from 'pg'
import { notExtensionMember, rows } from './common.ts'

export interface IndexRow {
  relOid: number
  schema: string
  /** The indexed table. */
  rel: string
  /** The index's own name. */
  name: string
  /** `pg_get_indexdef(oid)` (null unless asked for) */
  definition: string | null
  unique: boolean
  primary: boolean
  valid: boolean
  /** The name of the PRIMARY KEY or UNIQUE constraint the index implements. */
  constraint: string | null
  /** Key attnums (0 for an expression), key columns only (no INCLUDE). */
  keys: number[]
  /** Every key part as `pg_get_indexdef(oid, n, false)`. */
  expressions: string[]
  /** Key column names (null for an expression). */
  columns: (string | null)[]
  predicate: string | null
  nullsNotDistinct: boolean
}

async function hasNullsNotDistinct(client: pg.ClientBase): Promise<boolean> {
  const r = await rows<{ n: number }>(client, `SELECT count(*)::int AS n FROM pg_catalog.pg_attribute WHERE attrelid = 'pg_catalog.pg_index'::regclass AND attname = 'indnullsnotdistinct'`)
  return r[0]!.n > 0
}

export interface IndexOptions {
  /** Only valid unique indexes (default: all). */
  uniqueValid?: boolean
  /** `definition` (default true). */
  definitions?: boolean
  /** The constraint name, key parts, predicate, nulls-not-distinct (default true). */
  keys?: boolean
  /** Only on these tables (pg_class oids, as readRelations gives them). */
  relOids?: number[]
}

/**
 * The indexes in `schemas` that no extension owns, ordered by schema, table and index name.
 * What is not asked for is not computed (null, or empty lists): pg_get_indexdef costs per call.
 */
export async function readIndexes(client: pg.ClientBase, schemas: string[], options: IndexOptions = {}): Promise<IndexRow[]> {
  const keys = options.keys ?? true
  const nnd = keys && (await hasNullsNotDistinct(client)) ? 'x.indnullsnotdistinct' : 'false'
  const ifKeys = (sql: string, none = 'NULL') => (keys ? sql : none)
  return rows<IndexRow>(
    client,
    `SELECT x.indrelid::int AS "relOid", n.nspname AS schema, t.relname AS rel, i.relname AS name,
            ${(options.definitions ?? true) ? 'pg_catalog.pg_get_indexdef(i.oid)' : 'NULL'} AS definition,
            x.indisunique AS unique, x.indisprimary AS primary, x.indisvalid AS valid,
            ${ifKeys(`(SELECT con.conname FROM pg_catalog.pg_constraint con WHERE con.conindid = x.indexrelid AND con.contype IN ('p', 'u') LIMIT 1)`)} AS constraint,
            ${ifKeys(`ARRAY(SELECT k::int FROM unnest(x.indkey::int2[]) WITH ORDINALITY u(k, o) WHERE o <= x.indnkeyatts ORDER BY o)`, `'{}'::int[]`)} AS keys,
            ${ifKeys(`ARRAY(SELECT pg_catalog.pg_get_indexdef(x.indexrelid, o::int, false) FROM generate_series(1, x.indnkeyatts) o)`, `'{}'::text[]`)} AS expressions,
            ${ifKeys(`ARRAY(SELECT a.attname::text FROM unnest(x.indkey::int2[]) WITH ORDINALITY u(k, o)
                    LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = u.k
                   WHERE o <= x.indnkeyatts ORDER BY o)`, `'{}'::text[]`)} AS columns,
            ${ifKeys('pg_catalog.pg_get_expr(x.indpred, x.indrelid)')} AS predicate,
            ${nnd} AS "nullsNotDistinct"
       FROM pg_catalog.pg_index x
       JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid
       JOIN pg_catalog.pg_class t ON t.oid = x.indrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = i.relnamespace
      WHERE n.nspname = ANY($1::text[]) AND ${notExtensionMember('pg_catalog.pg_class', 'i')}
        ${options.uniqueValid ? 'AND x.indisunique AND x.indisvalid' : ''}
        ${options.relOids ? 'AND x.indrelid = ANY($2::oid[])' : 'AND $2::oid[] IS NULL'}
      ORDER BY n.nspname, t.relname, i.relname`,
    [schemas, options.relOids ?? null],
  )
}
