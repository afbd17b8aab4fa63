/**
 * The live catalog of some schemas at the database's current version, as the data generator
 * needs it: tables and their columns (type with typmod, NOT NULL, default, identity, serial),
 * CHECK constraints, primary keys and unique constraints/indexes, foreign keys, hypertables
 * (time column and chunk interval) and enums. Everything is read by query; nothing is written
 * per table. Partitions, TimescaleDB chunks and the tables asked to be left out (the migration
 * log) are not part of it.
 */
import { qualify, quoteIdent } from '../util/sql.ts'
import type pg from 'pg'

/** The base type a value generator works from (arrays and domains resolved). */
export interface TypeInfo {
  /** `format_type` without typmod of the element/base type, e.g. "integer", "timestamp with time zone", "factory_telemetry.status". */
  name: string
  /** pg_type.typtype of the base type: b (base), e (enum), r (range)… */
  kind: string
  /** Labels in sort order when kind = 'e'. */
  enumLabels?: string[]
  /** varchar(n) / char(n): n. */
  length?: number
  /** numeric(p, s). */
  precision?: number
  scale?: number
  /** The column is an array of this type. */
  array: boolean
  /** The column's type is a domain over this one (its own CHECKs are left to the engine). */
  domain?: string
}

export interface ColumnInfo {
  name: string
  attnum: number
  /** `format_type(atttypid, atttypmod)`: what a cast or a report shows, e.g. "numeric(10,2)". */
  type: string
  base: TypeInfo
  notNull: boolean
  default: string | null
  /** '' | 'a' (GENERATED ALWAYS AS IDENTITY) | 'd' (BY DEFAULT). */
  identity: string
  /** 's' for a stored generated column: never inserted. */
  generated: boolean
  /** The default draws from a sequence (serial, or nextval()). */
  serial: boolean
}

export interface CheckInfo {
  name: string
  /** `pg_get_expr(conbin)`: a boolean expression over the table's columns, re-evaluable in a query. */
  expression: string
  /** Columns the expression references (conkey). */
  columns: string[]
  validated: boolean
  /** Set when the check is a declared precondition of a later migration, not a constraint of the table. */
  declaredBy?: string
}

export interface UniqueInfo {
  name: string
  primary: boolean
  /** Key columns, or null for an expression index (see `expressions`). */
  columns: string[] | null
  /** Every key part as SQL: quoted column names or index expressions. */
  expressions: string[]
  /** Partial index predicate. */
  predicate: string | null
  nullsNotDistinct: boolean
  declaredBy?: string
}

export interface ForeignKeyInfo {
  name: string
  columns: string[]
  /** `schema.table` of the referenced table. */
  refTable: string
  refColumns: string[]
  declaredBy?: string
}

export interface HypertableInfo {
  timeColumn: string
  /** 'Time' dimensions: the chunk interval in microseconds; integer dimensions: in the column's units. */
  interval: number
  integer: boolean
}

export interface TableInfo {
  /** `schema.table`, unquoted, as the manifest and reports write it. */
  name: string
  schema: string
  table: string
  /** Quoted and qualified, for SQL. */
  sql: string
  /** 'r' table, 'p' partitioned table. */
  relkind: string
  /** In attnum order, dropped columns left out. */
  columns: ColumnInfo[]
  primaryKey: string[] | null
  checks: CheckInfo[]
  uniques: UniqueInfo[]
  foreignKeys: ForeignKeyInfo[]
  hypertable?: HypertableInfo
}

export interface Catalog {
  schemas: string[]
  tables: TableInfo[]
  /** Enum types of the schemas, `schema.name` → labels in sort order. */
  enums: Map<string, string[]>
  timescaledb: boolean
}


export async function readCatalog(client: pg.ClientBase, schemas: string[], options: { exclude?: string[] } = {}): Promise<Catalog> {
  const exclude = new Set(options.exclude ?? [])
  const tsdb = (await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_extension WHERE extname = 'timescaledb'`)).rows[0]!.n > 0
  const chunkFilter = tsdb ? `AND NOT EXISTS (SELECT 1 FROM _timescaledb_catalog.chunk ch WHERE ch.schema_name = n.nspname AND ch.table_name = c.relname)` : ''
  const rels = (
    await client.query<{ oid: number; schema: string; name: string; relkind: string }>(
      `SELECT c.oid::int AS oid, n.nspname AS schema, c.relname AS name, c.relkind::text AS relkind
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = ANY($1::text[]) AND c.relkind IN ('r', 'p') AND NOT c.relispartition
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
          ${chunkFilter}
        ORDER BY n.nspname, c.relname`,
      [schemas],
    )
  ).rows.filter((r) => !exclude.has(`${r.schema}.${r.name}`) && !/^_(hyper|compressed_hypertable|materialized_hypertable)_\d+/.test(r.name))
  const oids = rels.map((r) => r.oid)

  const cols = (
    await client.query<{
      rel: number
      attnum: number
      name: string
      type: string
      notnull: boolean
      def: string | null
      identity: string
      generated: string
      typtype: string
      basename: string
      elem: boolean
      domain: string | null
      typmod: number
      labels: string[] | null
    }>(
      `WITH a AS (
         SELECT a.attrelid, a.attnum, a.attname, a.atttypid, a.atttypmod, a.attnotnull, a.attidentity, a.attgenerated,
                pg_get_expr(ad.adbin, ad.adrelid) AS def,
                t.typtype, t.typbasetype, t.typtypmod, t.typcategory, t.typelem
           FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
           LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
          WHERE a.attrelid = ANY($1::oid[]) AND a.attnum > 0 AND NOT a.attisdropped
       ), b AS (
         -- resolve a domain to its base type, then an array to its element type
         SELECT a.*, CASE WHEN a.typtype = 'd' THEN a.typbasetype ELSE a.atttypid END AS t1,
                CASE WHEN a.typtype = 'd' THEN a.typtypmod ELSE a.atttypmod END AS mod1,
                CASE WHEN a.typtype = 'd' THEN format_type(a.atttypid, NULL) END AS domain
           FROM a
       ), c AS (
         SELECT b.*, t1.typcategory = 'A' AND t1.typelem <> 0 AS elem, CASE WHEN t1.typcategory = 'A' AND t1.typelem <> 0 THEN t1.typelem ELSE b.t1 END AS t2
           FROM b JOIN pg_type t1 ON t1.oid = b.t1
       )
       SELECT c.attrelid::int AS rel, c.attnum::int AS attnum, c.attname AS name, format_type(c.atttypid, c.atttypmod) AS type,
              c.attnotnull AS notnull, c.def, c.attidentity::text AS identity, c.attgenerated::text AS generated,
              t2.typtype::text AS typtype, format_type(c.t2, NULL) AS basename, c.elem, c.domain, c.mod1::int AS typmod,
              CASE WHEN t2.typtype = 'e' THEN ARRAY(SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = t2.oid ORDER BY e.enumsortorder) END AS labels
         FROM c JOIN pg_type t2 ON t2.oid = c.t2
        ORDER BY c.attrelid, c.attnum`,
      [oids],
    )
  ).rows

  const cons = (
    await client.query<{
      rel: number
      name: string
      type: string
      expr: string | null
      validated: boolean
      cols: string[]
      refschema: string | null
      reftable: string | null
      refcols: string[] | null
    }>(
      `SELECT con.conrelid::int AS rel, con.conname AS name, con.contype::text AS type,
              CASE WHEN con.contype = 'c' THEN pg_get_expr(con.conbin, con.conrelid) END AS expr, con.convalidated AS validated,
              ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(n, i) JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.i) AS cols,
              pn.nspname AS refschema, pc.relname AS reftable,
              CASE WHEN con.contype = 'f' THEN ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(n, i) JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.i) END AS refcols
         FROM pg_constraint con
         LEFT JOIN pg_class pc ON pc.oid = con.confrelid LEFT JOIN pg_namespace pn ON pn.oid = pc.relnamespace
        WHERE con.conrelid = ANY($1::oid[]) AND con.contype IN ('c', 'f')
        ORDER BY con.conrelid, con.conname`,
      [oids],
    )
  ).rows

  const idx = (
    await client.query<{ rel: number; name: string; primary: boolean; keys: number[]; exprs: string[]; cols: (string | null)[]; pred: string | null; nnd: boolean }>(
      `SELECT i.indrelid::int AS rel, COALESCE(con.conname, ic.relname) AS name, i.indisprimary AS primary,
              ARRAY(SELECT k::int FROM unnest(i.indkey::int2[]) WITH ORDINALITY u(k, o) WHERE o <= i.indnkeyatts ORDER BY o) AS keys,
              ARRAY(SELECT pg_get_indexdef(i.indexrelid, o::int, false) FROM generate_series(1, i.indnkeyatts) o) AS exprs,
              ARRAY(SELECT a.attname::text FROM unnest(i.indkey::int2[]) WITH ORDINALITY u(k, o) LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = u.k
                     WHERE o <= i.indnkeyatts ORDER BY o) AS cols,
              pg_get_expr(i.indpred, i.indrelid) AS pred,
              ${(await hasNullsNotDistinct(client)) ? 'i.indnullsnotdistinct' : 'false'} AS nnd
         FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
         LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.contype IN ('p', 'u')
        WHERE i.indrelid = ANY($1::oid[]) AND i.indisunique AND i.indisvalid
        ORDER BY i.indrelid, i.indisprimary DESC, 2`,
      [oids],
    )
  ).rows

  const hts = tsdb
    ? (
        await client.query<{ schema: string; name: string; col: string; us: string | null; int: string | null }>(
          `SELECT d.hypertable_schema::text AS schema, d.hypertable_name::text AS name, d.column_name::text AS col,
                  (extract(epoch FROM d.time_interval) * 1000000)::bigint::text AS us, d.integer_interval::text AS int
             FROM timescaledb_information.dimensions d
            WHERE d.hypertable_schema = ANY($1::text[]) AND d.dimension_number = 1`,
          [schemas],
        )
      ).rows
    : []

  const enums = new Map<string, string[]>()
  for (const e of (
    await client.query<{ name: string; labels: string[] }>(
      `SELECT n.nspname || '.' || t.typname AS name, ARRAY(SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder) AS labels
         FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE t.typtype = 'e' AND n.nspname = ANY($1::text[]) ORDER BY 1`,
      [schemas],
    )
  ).rows)
    enums.set(e.name, e.labels)

  const tables: TableInfo[] = rels.map((r) => {
    const columns: ColumnInfo[] = cols
      .filter((c) => c.rel === r.oid)
      .map((c) => ({
        name: c.name,
        attnum: c.attnum,
        type: c.type,
        base: typeInfo(c.basename, c.typtype, c.typmod, c.elem, c.labels, c.domain),
        notNull: c.notnull,
        default: c.def,
        identity: c.identity ?? '',
        generated: (c.generated ?? '') !== '',
        serial: c.identity === 'a' || c.identity === 'd' || /^nextval\(/i.test(c.def ?? ''),
      }))
    const uniques: UniqueInfo[] = idx
      .filter((i) => i.rel === r.oid)
      .map((i) => {
        const plain = i.keys.every((k) => k > 0)
        return {
          name: i.name,
          primary: i.primary,
          columns: plain ? i.cols.map((c) => c!) : null,
          expressions: i.keys.map((k, j) => (k > 0 ? quoteIdent(i.cols[j]!) : `(${i.exprs[j]})`)),
          predicate: i.pred,
          nullsNotDistinct: i.nnd,
        }
      })
    const pk = uniques.find((u) => u.primary)
    const ht = hts.find((h) => h.schema === r.schema && h.name === r.name)
    return {
      name: `${r.schema}.${r.name}`,
      schema: r.schema,
      table: r.name,
      sql: qualify(r.schema, r.name),
      relkind: r.relkind,
      columns,
      primaryKey: pk?.columns ?? null,
      checks: cons
        .filter((c) => c.rel === r.oid && c.type === 'c')
        .map((c) => ({ name: c.name, expression: c.expr!, columns: c.cols, validated: c.validated })),
      uniques,
      foreignKeys: cons
        .filter((c) => c.rel === r.oid && c.type === 'f')
        .map((c) => ({ name: c.name, columns: c.cols, refTable: `${c.refschema}.${c.reftable}`, refColumns: c.refcols ?? [] })),
      hypertable: ht ? { timeColumn: ht.col, interval: Number(ht.us ?? ht.int ?? 0), integer: ht.us === null } : undefined,
    }
  })
  return { schemas, tables, enums, timescaledb: tsdb }
}

async function hasNullsNotDistinct(client: pg.ClientBase): Promise<boolean> {
  const r = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_attribute WHERE attrelid = 'pg_index'::regclass AND attname = 'indnullsnotdistinct'`)
  return r.rows[0]!.n > 0
}

function typeInfo(name: string, kind: string, typmod: number, array: boolean, labels: string[] | null, domain: string | null): TypeInfo {
  const t: TypeInfo = { name, kind, array }
  if (domain) t.domain = domain
  if (labels) t.enumLabels = labels
  if (typmod >= 4 && (name === 'character varying' || name === 'character')) t.length = typmod - 4
  if (typmod >= 4 && name === 'numeric') {
    t.precision = ((typmod - 4) >> 16) & 0xffff
    t.scale = (typmod - 4) & 0xffff
    // PostgreSQL 15+ allows a negative scale (stored in 11 bits, sign-extended).
    if (t.scale > 0x3ff) t.scale -= 0x800
  }
  return t
}

/** Tables in an order where every table comes after the tables it references (cycles broken, self-references ignored). */
export function topologicalOrder(tables: TableInfo[]): { order: TableInfo[]; cut: { table: string; fk: string }[] } {
  const byName = new Map(tables.map((t) => [t.name, t]))
  const remaining = new Set(tables.map((t) => t.name))
  const order: TableInfo[] = []
  const cut: { table: string; fk: string }[] = []
  const deps = (t: TableInfo) => t.foreignKeys.filter((f) => f.refTable !== t.name && remaining.has(f.refTable) && byName.has(f.refTable))
  while (remaining.size > 0) {
    const ready = [...remaining].filter((n) => deps(byName.get(n)!).length === 0).sort()
    if (ready.length > 0) {
      for (const n of ready) {
        order.push(byName.get(n)!)
        remaining.delete(n)
      }
      continue
    }
    // A cycle: take the table whose outgoing edges in the cycle are all nullable, else the first, and cut those edges.
    const cands = [...remaining].sort().map((n) => byName.get(n)!)
    const nullable = (t: TableInfo, f: ForeignKeyInfo) => f.columns.some((c) => !t.columns.find((x) => x.name === c)?.notNull)
    const pick = cands.find((t) => deps(t).every((f) => nullable(t, f))) ?? cands[0]!
    for (const f of deps(pick)) cut.push({ table: pick.name, fk: f.name })
    order.push(pick)
    remaining.delete(pick.name)
  }
  return { order, cut }
}
