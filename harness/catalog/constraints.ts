/** Table constraints of some schemas (domain constraints belong to their domain: see types.ts). */
import type pg from 'pg'
import { rows } from './common.ts'

export interface ConstraintRow {
  relOid: number
  schema: string
  rel: string
  name: string
  /** pg_constraint.contype: p, u, f, c, x, t, n */
  type: string
  /** `pg_get_constraintdef(oid, true)` (null unless asked for) */
  definition: string | null
  /** CHECK constraints: `pg_get_expr(conbin)`, a boolean expression re-evaluable in a query. */
  expression: string | null
  validated: boolean
  /** The constrained columns (conkey), in key order. */
  columns: string[]
  /** Foreign keys: the referenced table and columns. */
  refSchema: string | null
  refTable: string | null
  refColumns: string[] | null
}

export interface ConstraintOptions {
  /** Only these contypes (default: all). */
  types?: string[]
  /** `definition` (default true). */
  definitions?: boolean
  /** `expression`, `columns` and the referenced table and columns (default true). */
  keys?: boolean
  /** Only on these relations (pg_class oids, as readRelations gives them). */
  relOids?: number[]
}

/**
 * The constraints on relations of `schemas`, ordered by schema, relation and name. What is not
 * asked for is not computed (null, or empty lists): the catalog functions cost per constraint.
 */
export async function readConstraints(client: pg.ClientBase, schemas: string[], options: ConstraintOptions = {}): Promise<ConstraintRow[]> {
  const keys = options.keys ?? true
  const ifKeys = (sql: string, none = 'NULL') => (keys ? sql : none)
  return rows<ConstraintRow>(
    client,
    `SELECT con.conrelid::int AS "relOid", n.nspname AS schema, c.relname AS rel, con.conname AS name, con.contype::text AS type,
            ${(options.definitions ?? true) ? 'pg_catalog.pg_get_constraintdef(con.oid, true)' : 'NULL'} AS definition,
            ${ifKeys(`CASE WHEN con.contype = 'c' THEN pg_catalog.pg_get_expr(con.conbin, con.conrelid) END`)} AS expression,
            con.convalidated AS validated,
            ${ifKeys(`ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(n, i)
                    JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.i)`, `'{}'::text[]`)} AS columns,
            pn.nspname AS "refSchema", pc.relname AS "refTable",
            ${ifKeys(`CASE WHEN con.contype = 'f' THEN ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(n, i)
                    JOIN pg_catalog.pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.i) END`)} AS "refColumns"
       FROM pg_catalog.pg_constraint con
       JOIN pg_catalog.pg_class c ON c.oid = con.conrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       LEFT JOIN pg_catalog.pg_class pc ON pc.oid = con.confrelid LEFT JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace
      WHERE n.nspname = ANY($1::text[]) AND con.conrelid <> 0 ${options.types ? 'AND con.contype::text = ANY($2::text[])' : 'AND $2::text[] IS NULL'}
        ${options.relOids ? 'AND con.conrelid = ANY($3::oid[])' : 'AND $3::oid[] IS NULL'}
      ORDER BY n.nspname, c.relname, con.conname`,
    [schemas, options.types ?? null, options.relOids ?? null],
  )
}
