/**
 * Columns of the relations of some schemas, with what the fingerprint shows (type with typmod,
 * NOT NULL, default, identity, generated, collation, comment) and what a value generator needs
 * (the base type behind a domain and an array: its name, kind, category, typmod, enum labels).
 */
import type pg from 'pg'
import { rows } from './common.ts'
import type { RelKind } from './relations.ts'

export interface ColumnRow {
  relOid: number
  schema: string
  rel: string
  attnum: number
  name: string
  /** `format_type(atttypid, atttypmod)`, e.g. "numeric(10,2)". */
  type: string
  notNull: boolean
  default: string | null
  /** '' | 'a' (ALWAYS) | 'd' (BY DEFAULT) */
  identity: string
  /** '' | 's' (stored generated column) */
  generated: string
  /** `schema.collation` when it differs from the type's. */
  collation: string | null
  comment: string | null
  /** The type a value is made of: domains resolved to their base type, then arrays to their element type. */
  base: {
    /** `format_type` without typmod. */
    name: string
    /** pg_type.typtype: b, e, r, … */
    typtype: string
    /** pg_type.typcategory: N, S, D, … */
    category: string
    /** The column is an array of `name`. */
    array: boolean
    /** The domain's name when the column's type is a domain. */
    domain: string | null
    /** The typmod that applies to the base type (the domain's, or the column's). */
    typmod: number
    /** Labels in sort order for an enum. */
    labels: string[] | null
  }
}

interface Raw extends Omit<ColumnRow, 'base'> {
  basename: string
  typtype: string
  category: string
  elem: boolean
  domain: string | null
  typmod: number
  labels: string[] | null
}

export interface ColumnOptions {
  /** `base` (default true); without it, `base` holds the column's own type name and nothing else. */
  base?: boolean
  /** `collation` and `comment` (default true). */
  notes?: boolean
  /** Only these relations (pg_class oids, as readRelations gives them): much cheaper than a whole schema. */
  relOids?: number[]
}

/**
 * The columns of the relations of `schemas` of the given kinds, dropped ones left out, by
 * relation and attnum. What is not asked for is not computed (null).
 */
export async function readColumns(client: pg.ClientBase, schemas: string[], kinds: RelKind[], options: ColumnOptions = {}): Promise<ColumnRow[]> {
  const where = {
    sql: `n.nspname = ANY($1::text[]) AND c.relkind::text = ANY($2::text[]) AND a.attnum > 0 AND NOT a.attisdropped${options.relOids ? ' AND a.attrelid = ANY($3::oid[])' : ''}`,
    values: options.relOids ? [schemas, kinds, options.relOids] : [schemas, kinds],
  }
  return (options.base ?? true) ? withBase(client, where, options.notes ?? true) : plain(client, where, options.notes ?? true)
}

interface Where {
  sql: string
  values: unknown[]
}

/** Columns (a) of relations (c) in namespaces (n), with their type (t) and default (ad). */
const fromAttributes = (where: Where) => `FROM pg_catalog.pg_attribute a
       JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
       LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
      WHERE ${where.sql}`

const collationSql = (a: string, t: string) => `CASE WHEN ${a}.attcollation <> 0 AND ${a}.attcollation <> ${t}.typcollation
                 THEN (SELECT cn.nspname || '.' || co.collname FROM pg_catalog.pg_collation co
                         JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace WHERE co.oid = ${a}.attcollation) END`

async function plain(client: pg.ClientBase, where: Where, notes: boolean): Promise<ColumnRow[]> {
  const found = await rows<Omit<ColumnRow, 'base'>>(
    client,
    `SELECT a.attrelid::int AS "relOid", n.nspname AS schema, c.relname AS rel, a.attnum::int AS attnum, a.attname AS name,
            pg_catalog.format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS "notNull",
            pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) AS default,
            a.attidentity::text AS identity, a.attgenerated::text AS generated,
            ${notes ? collationSql('a', 't') : 'NULL'} AS collation,
            ${notes ? 'pg_catalog.col_description(c.oid, a.attnum)' : 'NULL'} AS comment
       ${fromAttributes(where)}
      ORDER BY n.nspname, c.relname, a.attnum`,
    where.values,
  )
  return found.map((c) => ({
    ...c,
    identity: c.identity ?? '',
    generated: c.generated ?? '',
    base: { name: c.type, typtype: '', category: '', array: false, domain: null, typmod: -1, labels: null },
  }))
}

async function withBase(client: pg.ClientBase, where: Where, notes: boolean): Promise<ColumnRow[]> {
  const found = await rows<Raw>(
    client,
    `WITH a AS (
       SELECT a.attrelid, a.attnum, a.attname, a.atttypid, a.atttypmod, a.attnotnull, a.attidentity, a.attgenerated, a.attcollation,
              pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) AS def,
              t.typtype, t.typbasetype, t.typtypmod, t.typcollation, n.nspname, c.relname
         ${fromAttributes(where)}
     ), b AS (
       -- resolve a domain to its base type, then an array to its element type
       SELECT a.*, CASE WHEN a.typtype = 'd' THEN a.typbasetype ELSE a.atttypid END AS t1,
              CASE WHEN a.typtype = 'd' THEN a.typtypmod ELSE a.atttypmod END AS mod1,
              CASE WHEN a.typtype = 'd' THEN pg_catalog.format_type(a.atttypid, NULL) END AS domain
         FROM a
     ), c AS (
       SELECT b.*, t1.typcategory = 'A' AND t1.typelem <> 0 AS elem,
              CASE WHEN t1.typcategory = 'A' AND t1.typelem <> 0 THEN t1.typelem ELSE b.t1 END AS t2
         FROM b JOIN pg_catalog.pg_type t1 ON t1.oid = b.t1
     )
     SELECT c.attrelid::int AS "relOid", c.nspname AS schema, c.relname AS rel, c.attnum::int AS attnum, c.attname AS name,
            pg_catalog.format_type(c.atttypid, c.atttypmod) AS type, c.attnotnull AS "notNull", c.def AS default,
            c.attidentity::text AS identity, c.attgenerated::text AS generated,
            ${notes ? collationSql('c', 'c') : 'NULL'} AS collation,
            ${notes ? 'pg_catalog.col_description(c.attrelid, c.attnum)' : 'NULL'} AS comment,
            t2.typtype::text AS typtype, t2.typcategory::text AS category, pg_catalog.format_type(c.t2, NULL) AS basename,
            c.elem, c.domain, c.mod1::int AS typmod,
            CASE WHEN t2.typtype = 'e' THEN ARRAY(SELECT e.enumlabel::text FROM pg_catalog.pg_enum e WHERE e.enumtypid = t2.oid ORDER BY e.enumsortorder) END AS labels
       FROM c JOIN pg_catalog.pg_type t2 ON t2.oid = c.t2
      ORDER BY c.nspname, c.relname, c.attnum`,
    where.values,
  )
  return found.map(({ basename, typtype, category, elem, domain, typmod, labels, ...c }) => ({
    ...c,
    identity: c.identity ?? '',
    generated: c.generated ?? '',
    base: { name: basename, typtype, category, array: elem, domain, typmod, labels },
  }))
}

/** Columns grouped by `schema.relation`, each list in attnum order. */
export function columnsByRelation(columns: ColumnRow[]): Map<string, ColumnRow[]> {
  const out = new Map<string, ColumnRow[]>()
  for (const c of columns) {
    const k = `${c.schema}.${c.rel}`
    const list = out.get(k) ?? out.set(k, []).get(k)!
    list.push(c)
  }
  for (const list of out.values()) list.sort((a, b) => a.attnum - b.attnum)
  return out
}
