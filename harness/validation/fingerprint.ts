/**
 * Schema fingerprint: a canonical, ordered, JSON-serialisable snapshot of the catalog
 * for a set of schemas, its sha256, and a readable diff between two snapshots.
 *
 * Two databases with the same schema give byte-identical JSON whatever order their
 * objects were created in: everything is sorted by name (code-unit order, not collation),
 * and nothing that differs between two identical databases is kept (OIDs, attnums,
 * sequence values, TimescaleDB hypertable/job ids, chunk names, table rows).
 *
 * Queries work on PostgreSQL 15–17, with TimescaleDB 2.11+ or without it (pg_extension
 * is checked first). TimescaleDB's internal schemas (`_timescaledb_*`), its chunks and
 * compressed hypertables, and objects that belong to an extension are left out.
 *
 * Names and expressions are printed with `search_path = pg_catalog` (SET LOCAL in a transaction
 * or savepoint that is rolled back afterwards) so they do not depend on the caller's session,
 * and the session is left as it was.
 */
import { createHash } from 'node:crypto'
import type pg from 'pg'

export const SNAPSHOT_FORMAT = 1

export interface ColumnSnapshot {
  name: string
  type: string
  notNull: boolean
  default: string | null
  /** '' | 'a' (ALWAYS) | 'd' (BY DEFAULT) */
  identity: string
  /** '' | 's' (stored generated column) */
  generated: string
  collation: string | null
  comment: string | null
}

export interface TableSnapshot {
  name: string
  kind: 'table' | 'partitioned table' | 'foreign table'
  unlogged: boolean
  options: string[]
  rowSecurity: boolean
  partitionKey: string | null
  partitionOf: string | null
  partitionBound: string | null
  comment: string | null
  /** In ordinal (attnum) order, dropped columns left out. */
  columns: ColumnSnapshot[]
}

export interface ConstraintSnapshot {
  /** `schema.table.constraint` */
  name: string
  table: string
  type: string
  definition: string
}

export interface IndexSnapshot {
  name: string
  table: string
  definition: string
}

export interface ViewSnapshot {
  name: string
  kind: 'view' | 'materialized view'
  options: string[]
  definition: string
  comment: string | null
}

export interface FunctionSnapshot {
  /** `schema.name(identity arguments)` */
  name: string
  kind: 'function' | 'procedure' | 'aggregate' | 'window'
  arguments: string
  result: string | null
  language: string
  volatility: 'immutable' | 'stable' | 'volatile'
  strict: boolean
  securityDefiner: boolean
  config: string[]
  body: string
  comment: string | null
}

export interface TriggerSnapshot {
  /** `schema.table.trigger` */
  name: string
  table: string
  enabled: string
  definition: string
}

export interface SequenceSnapshot {
  name: string
  type: string
  start: string
  increment: string
  min: string
  max: string
  cache: string
  cycle: boolean
  ownedBy: string | null
}

export interface TypeSnapshot {
  name: string
  kind: 'enum' | 'domain' | 'composite' | 'range' | 'base' | 'multirange' | 'pseudo'
  definition: string
}

export interface HypertableDimensionSnapshot {
  column: string
  columnType: string
  dimensionType: string
  timeInterval: string | null
  integerInterval: string | null
  integerNowFunc: string | null
  numPartitions: number | null
}

export interface HypertableSnapshot {
  name: string
  compressionEnabled: boolean
  dimensions: HypertableDimensionSnapshot[]
}

export interface CompressionSettingsSnapshot {
  /** The hypertable. */
  name: string
  segmentBy: string[]
  /** e.g. `ts DESC NULLS FIRST`, in orderby order. */
  orderBy: string[]
}

export interface JobSnapshot {
  /** `schema.hypertable proc_name` plus a config digest when one table has several jobs of the same proc. */
  name: string
  hypertable: string
  procName: string
  scheduleInterval: string
  scheduled: boolean
  /** The job's config without `hypertable_id`, keys sorted. */
  config: unknown
}

export interface SchemaSnapshot {
  format: typeof SNAPSHOT_FORMAT
  schemas: string[]
  extensions: string[]
  types: TypeSnapshot[]
  tables: TableSnapshot[]
  constraints: ConstraintSnapshot[]
  indexes: IndexSnapshot[]
  views: ViewSnapshot[]
  functions: FunctionSnapshot[]
  triggers: TriggerSnapshot[]
  sequences: SequenceSnapshot[]
  hypertables: HypertableSnapshot[]
  compression: CompressionSettingsSnapshot[]
  jobs: JobSnapshot[]
}

/** Code-unit order: the same on every machine, whatever the database's or Node's collation. */
const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)
const byName = <T extends { name: string }>(xs: T[]): T[] => [...xs].sort((x, y) => cmp(x.name, y.name))

const q = (schema: string, name: string) => `${schema}.${name}`

/** Names TimescaleDB gives its internal relations; numbers differ between databases. */
const TSDB_INTERNAL_REL = /^_(hyper|compressed_hypertable|materialized_hypertable|partial_view|direct_view|dist_hyper)_\d+/
/** References to those relations inside view definitions (continuous aggregates), ids normalised. */
const TSDB_INTERNAL_REF = /\b(_(?:hyper|compressed_hypertable|materialized_hypertable|partial_view|direct_view))_\d+(_\d+)?/g

const normaliseInternalRefs = (s: string) => s.replace(TSDB_INTERNAL_REF, '$1_N')

/** JSON with object keys sorted at every level. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value))
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys)
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const k of Object.keys(value as Record<string, unknown>).sort(cmp)) out[k] = sortKeys((value as Record<string, unknown>)[k])
    return out
  }
  return value
}

async function rows<T>(client: pg.ClientBase, text: string, values: unknown[] = []): Promise<T[]> {
  return (await client.query(text, values)).rows as T[]
}

/**
 * Take a snapshot of the given schemas. `_timescaledb_*` schemas are ignored even if asked for.
 * Outside a transaction it runs in a read-only transaction of its own; inside one it runs in a
 * savepoint (the caller's transaction must not be in an aborted state).
 */
export async function snapshot(client: pg.ClientBase, schemas: string[]): Promise<SchemaSnapshot> {
  const wanted = [...new Set(schemas)].filter((s) => !s.startsWith('_timescaledb')).sort(cmp)
  // search_path is set with SET LOCAL inside a transaction of our own, or inside a savepoint of
  // the caller's transaction, and rolled back afterwards: the session is left exactly as it was.
  let own = false
  try {
    await client.query('SAVEPOINT fingerprint_snapshot')
  } catch (e) {
    if ((e as { code?: string }).code !== '25P01') throw e // 25P01: not in a transaction block
    await client.query('BEGIN READ ONLY')
    own = true
  }
  try {
    await client.query('SET LOCAL search_path = pg_catalog')
    return await take(client, wanted)
  } finally {
    if (own) await client.query('ROLLBACK')
    else {
      await client.query('ROLLBACK TO SAVEPOINT fingerprint_snapshot')
      await client.query('RELEASE SAVEPOINT fingerprint_snapshot')
    }
  }
}

async function take(client: pg.ClientBase, schemas: string[]): Promise<SchemaSnapshot> {
  const tsdb = (await rows<{ n: number }>(client, `SELECT count(*)::int AS n FROM pg_catalog.pg_extension WHERE extname = 'timescaledb'`))[0]!.n > 0

  // Relations that are TimescaleDB chunks (whatever schema they were put in).
  const chunkFilter = tsdb
    ? `AND NOT EXISTS (SELECT 1 FROM _timescaledb_catalog.chunk ch WHERE ch.schema_name = n.nspname AND ch.table_name = c.relname)`
    : ''
  // Objects that belong to an extension.
  const notExtensionMember = (classTable: string, alias: string) =>
    `NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = '${classTable}'::regclass AND d.objid = ${alias}.oid AND d.deptype = 'e')`

  const extensions = (
    await rows<{ name: string }>(
      client,
      `SELECT e.extname AS name FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
        WHERE n.nspname = ANY($1::text[])`,
      [schemas],
    )
  )
    .map((r) => r.name)
    .sort(cmp)

  // ---- relations -------------------------------------------------------------------------
  type RelRow = {
    schema: string
    name: string
    relkind: string
    unlogged: boolean
    options: string[] | null
    rls: boolean
    partkey: string | null
    parent: string | null
    bound: string | null
    comment: string | null
  }
  const rels = (
    await rows<RelRow>(
      client,
      `SELECT n.nspname AS schema, c.relname AS name, c.relkind::text AS relkind,
              c.relpersistence = 'u' AS unlogged, c.reloptions AS options, c.relrowsecurity AS rls,
              CASE WHEN c.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(c.oid) END AS partkey,
              (SELECT pn.nspname || '.' || pc.relname FROM pg_catalog.pg_inherits i
                 JOIN pg_catalog.pg_class pc ON pc.oid = i.inhparent JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace
                WHERE i.inhrelid = c.oid AND c.relispartition) AS parent,
              CASE WHEN c.relispartition THEN pg_catalog.pg_get_expr(c.relpartbound, c.oid) END AS bound,
              pg_catalog.obj_description(c.oid, 'pg_class') AS comment
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = ANY($1::text[]) AND c.relkind IN ('r','p','f')
          AND ${notExtensionMember('pg_catalog.pg_class', 'c')} ${chunkFilter}`,
      [schemas],
    )
  ).filter((r) => !TSDB_INTERNAL_REL.test(r.name))
  const relKey = new Set(rels.map((r) => q(r.schema, r.name)))

  type ColRow = {
    schema: string
    rel: string
    attnum: number
    name: string
    type: string
    notnull: boolean
    def: string | null
    identity: string
    generated: string
    collation: string | null
    comment: string | null
  }
  const cols = await rows<ColRow>(
    client,
    `SELECT n.nspname AS schema, c.relname AS rel, a.attnum::int AS attnum, a.attname AS name,
            pg_catalog.format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS notnull,
            pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) AS def,
            a.attidentity::text AS identity, a.attgenerated::text AS generated,
            CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation
                 THEN (SELECT cn.nspname || '.' || co.collname FROM pg_catalog.pg_collation co
                         JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace WHERE co.oid = a.attcollation) END AS collation,
            pg_catalog.col_description(c.oid, a.attnum) AS comment
       FROM pg_catalog.pg_attribute a
       JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
       LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
      WHERE n.nspname = ANY($1::text[]) AND c.relkind IN ('r','p','f','v','m') AND a.attnum > 0 AND NOT a.attisdropped`,
    [schemas],
  )
  const colsByRel = new Map<string, ColRow[]>()
  for (const c of cols) {
    const k = q(c.schema, c.rel)
    const list = colsByRel.get(k) ?? []
    list.push(c)
    colsByRel.set(k, list)
  }
  const columnsOf = (key: string): ColumnSnapshot[] =>
    (colsByRel.get(key) ?? [])
      .sort((a, b) => a.attnum - b.attnum)
      .map((c) => ({
        name: c.name,
        type: c.type,
        notNull: c.notnull,
        default: c.def,
        identity: c.identity,
        generated: c.generated,
        collation: c.collation,
        comment: c.comment,
      }))

  const tables: TableSnapshot[] = byName(
    rels.map((r) => {
      const key = q(r.schema, r.name)
      return {
        name: key,
        kind: r.relkind === 'p' ? 'partitioned table' : r.relkind === 'f' ? 'foreign table' : 'table',
        unlogged: r.unlogged,
        options: [...(r.options ?? [])].sort(cmp),
        rowSecurity: r.rls,
        partitionKey: r.partkey,
        partitionOf: r.parent,
        partitionBound: r.bound,
        comment: r.comment,
        columns: columnsOf(key),
      }
    }),
  )

  // ---- constraints (on tables; domain constraints are part of the domain) ----------------
  const constraints: ConstraintSnapshot[] = byName(
    (
      await rows<{ schema: string; rel: string; name: string; type: string; def: string }>(
        client,
        `SELECT n.nspname AS schema, c.relname AS rel, con.conname AS name, con.contype::text AS type,
                pg_catalog.pg_get_constraintdef(con.oid, true) AS def
           FROM pg_catalog.pg_constraint con
           JOIN pg_catalog.pg_class c ON c.oid = con.conrelid
           JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = ANY($1::text[]) AND con.conrelid <> 0`,
        [schemas],
      )
    )
      .filter((r) => relKey.has(q(r.schema, r.rel)))
      .map((r) => ({
        name: `${r.schema}.${r.rel}.${r.name}`,
        table: q(r.schema, r.rel),
        type: CONSTRAINT_TYPES[r.type] ?? r.type,
        definition: r.def,
      })),
  )

  // ---- indexes ----------------------------------------------------------------------------
  const indexes: IndexSnapshot[] = byName(
    (
      await rows<{ schema: string; rel: string; name: string; def: string }>(
        client,
        `SELECT n.nspname AS schema, t.relname AS rel, i.relname AS name, pg_catalog.pg_get_indexdef(i.oid) AS def
           FROM pg_catalog.pg_index x
           JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid
           JOIN pg_catalog.pg_class t ON t.oid = x.indrelid
           JOIN pg_catalog.pg_namespace n ON n.oid = i.relnamespace
          WHERE n.nspname = ANY($1::text[]) AND ${notExtensionMember('pg_catalog.pg_class', 'i')}`,
        [schemas],
      )
    )
      .filter((r) => !TSDB_INTERNAL_REL.test(r.rel) && !TSDB_INTERNAL_REL.test(r.name))
      .map((r) => ({ name: q(r.schema, r.name), table: q(r.schema, r.rel), definition: r.def })),
  )

  // ---- views ------------------------------------------------------------------------------
  const views: ViewSnapshot[] = byName(
    (
      await rows<{ schema: string; name: string; relkind: string; options: string[] | null; def: string; comment: string | null }>(
        client,
        `SELECT n.nspname AS schema, c.relname AS name, c.relkind::text AS relkind, c.reloptions AS options,
                pg_catalog.pg_get_viewdef(c.oid, true) AS def, pg_catalog.obj_description(c.oid, 'pg_class') AS comment
           FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = ANY($1::text[]) AND c.relkind IN ('v','m') AND ${notExtensionMember('pg_catalog.pg_class', 'c')}`,
        [schemas],
      )
    )
      .filter((r) => !TSDB_INTERNAL_REL.test(r.name))
      .map((r) => ({
        name: q(r.schema, r.name),
        kind: r.relkind === 'm' ? 'materialized view' : 'view',
        options: [...(r.options ?? [])].sort(cmp),
        definition: normaliseInternalRefs(r.def),
        comment: r.comment,
      })),
  )
  // View columns are implied by the definition; materialized views' too.

  // ---- functions and procedures -------------------------------------------------------------
  type FnRow = {
    schema: string
    name: string
    args: string
    kind: string
    result: string | null
    language: string
    volatility: string
    strict: boolean
    secdef: boolean
    config: string[] | null
    body: string | null
    comment: string | null
  }
  const functions: FunctionSnapshot[] = byName(
    (
      await rows<FnRow>(
        client,
        `SELECT n.nspname AS schema, p.proname AS name, pg_catalog.pg_get_function_identity_arguments(p.oid) AS args,
                p.prokind::text AS kind,
                CASE WHEN p.prokind IN ('f','w') THEN pg_catalog.pg_get_function_result(p.oid) END AS result,
                l.lanname AS language, p.provolatile::text AS volatility, p.proisstrict AS strict, p.prosecdef AS secdef,
                p.proconfig AS config, p.prosrc AS body, pg_catalog.obj_description(p.oid, 'pg_proc') AS comment
           FROM pg_catalog.pg_proc p
           JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
           JOIN pg_catalog.pg_language l ON l.oid = p.prolang
          WHERE n.nspname = ANY($1::text[]) AND ${notExtensionMember('pg_catalog.pg_proc', 'p')}`,
        [schemas],
      )
    ).map((r) => ({
      name: `${r.schema}.${r.name}(${r.args})`,
      kind: ({ f: 'function', p: 'procedure', a: 'aggregate', w: 'window' } as const)[r.kind as 'f' | 'p' | 'a' | 'w'] ?? 'function',
      arguments: r.args,
      result: r.result,
      language: r.language,
      volatility: ({ i: 'immutable', s: 'stable', v: 'volatile' } as const)[r.volatility as 'i' | 's' | 'v'] ?? 'volatile',
      strict: r.strict,
      securityDefiner: r.secdef,
      config: [...(r.config ?? [])].sort(cmp),
      body: r.body ?? '',
      comment: r.comment,
    })),
  )

  // ---- triggers -----------------------------------------------------------------------------
  const triggers: TriggerSnapshot[] = byName(
    (
      await rows<{ schema: string; rel: string; name: string; enabled: string; def: string }>(
        client,
        `SELECT n.nspname AS schema, c.relname AS rel, t.tgname AS name, t.tgenabled::text AS enabled,
                pg_catalog.pg_get_triggerdef(t.oid, false) AS def
           FROM pg_catalog.pg_trigger t
           JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
           JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = ANY($1::text[]) AND NOT t.tgisinternal`,
        [schemas],
      )
    )
      .filter((r) => relKey.has(q(r.schema, r.rel)) || views.some((v) => v.name === q(r.schema, r.rel)))
      .map((r) => ({ name: `${r.schema}.${r.rel}.${r.name}`, table: q(r.schema, r.rel), enabled: r.enabled, definition: r.def })),
  )

  // ---- sequences ----------------------------------------------------------------------------
  const sequences: SequenceSnapshot[] = byName(
    (
      await rows<{
        schema: string
        name: string
        type: string
        start: string
        inc: string
        min: string
        max: string
        cache: string
        cycle: boolean
        owned: string | null
      }>(
        client,
        `SELECT n.nspname AS schema, c.relname AS name, pg_catalog.format_type(s.seqtypid, NULL) AS type,
                s.seqstart::text AS start, s.seqincrement::text AS inc, s.seqmin::text AS min, s.seqmax::text AS max,
                s.seqcache::text AS cache, s.seqcycle AS cycle,
                (SELECT dn.nspname || '.' || dc.relname || '.' || da.attname
                   FROM pg_catalog.pg_depend d
                   JOIN pg_catalog.pg_class dc ON dc.oid = d.refobjid
                   JOIN pg_catalog.pg_namespace dn ON dn.oid = dc.relnamespace
                   JOIN pg_catalog.pg_attribute da ON da.attrelid = d.refobjid AND da.attnum = d.refobjsubid
                  WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid
                    AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.deptype IN ('a','i')
                  LIMIT 1) AS owned
           FROM pg_catalog.pg_sequence s
           JOIN pg_catalog.pg_class c ON c.oid = s.seqrelid
           JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = ANY($1::text[]) AND ${notExtensionMember('pg_catalog.pg_class', 'c')}`,
        [schemas],
      )
    ).map((r) => ({
      name: q(r.schema, r.name),
      type: r.type,
      start: r.start,
      increment: r.inc,
      min: r.min,
      max: r.max,
      cache: r.cache,
      cycle: r.cycle,
      ownedBy: r.owned,
    })),
  )

  // ---- user-defined types (not table row types, not array types) ------------------------------
  const types: TypeSnapshot[] = byName(
    (
      await rows<{ schema: string; name: string; typtype: string; def: string }>(
        client,
        `SELECT n.nspname AS schema, t.typname AS name, t.typtype::text AS typtype,
                CASE t.typtype
                  WHEN 'e' THEN (SELECT string_agg(pg_catalog.quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder)
                                   FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid)
                  WHEN 'd' THEN pg_catalog.format_type(t.typbasetype, t.typtypmod)
                         || CASE WHEN t.typnotnull THEN ' NOT NULL' ELSE '' END
                         || COALESCE(' DEFAULT ' || t.typdefault, '')
                         || COALESCE((SELECT ' ' || string_agg(dc.conname || ' ' || pg_catalog.pg_get_constraintdef(dc.oid, true), ' ' ORDER BY dc.conname)
                                        FROM pg_catalog.pg_constraint dc WHERE dc.contypid = t.oid), '')
                  WHEN 'c' THEN (SELECT string_agg(a.attname || ' ' || pg_catalog.format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum)
                                   FROM pg_catalog.pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped)
                  WHEN 'r' THEN (SELECT pg_catalog.format_type(r.rngsubtype, NULL) FROM pg_catalog.pg_range r WHERE r.rngtypid = t.oid)
                  ELSE t.typname::text
                END AS def
           FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
          WHERE n.nspname = ANY($1::text[])
            AND (t.typrelid = 0 OR (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid) = 'c')
            AND NOT (t.typelem <> 0 AND t.typlen = -1 AND t.typcategory = 'A')
            AND t.typtype <> 'm'
            AND ${notExtensionMember('pg_catalog.pg_type', 't')}`,
        [schemas],
      )
    ).map((r) => ({
      name: q(r.schema, r.name),
      kind: ({ e: 'enum', d: 'domain', c: 'composite', r: 'range', b: 'base', m: 'multirange', p: 'pseudo' } as const)[
        r.typtype as 'e' | 'd' | 'c' | 'r' | 'b' | 'm' | 'p'
      ] ?? 'base',
      definition: r.def ?? '',
    })),
  )

  // ---- TimescaleDB ------------------------------------------------------------------------------
  let hypertables: HypertableSnapshot[] = []
  let compression: CompressionSettingsSnapshot[] = []
  let jobs: JobSnapshot[] = []
  if (tsdb) ({ hypertables, compression, jobs } = await timescale(client, schemas))

  return {
    format: SNAPSHOT_FORMAT,
    schemas,
    extensions,
    types,
    tables,
    constraints,
    indexes,
    views,
    functions,
    triggers,
    sequences,
    hypertables,
    compression,
    jobs,
  }
}

const CONSTRAINT_TYPES: Record<string, string> = {
  p: 'PRIMARY KEY',
  u: 'UNIQUE',
  f: 'FOREIGN KEY',
  c: 'CHECK',
  x: 'EXCLUDE',
  t: 'TRIGGER',
  n: 'NOT NULL',
}

async function timescale(
  client: pg.ClientBase,
  schemas: string[],
): Promise<{ hypertables: HypertableSnapshot[]; compression: CompressionSettingsSnapshot[]; jobs: JobSnapshot[] }> {
  const hts = await rows<{ schema: string; name: string; compression_enabled: boolean }>(
    client,
    `SELECT hypertable_schema AS schema, hypertable_name AS name, compression_enabled
       FROM timescaledb_information.hypertables WHERE hypertable_schema = ANY($1::text[])`,
    [schemas],
  )
  const dims = await rows<{
    schema: string
    name: string
    num: number
    column_name: string
    column_type: string
    dimension_type: string
    time_interval: string | null
    integer_interval: string | null
    integer_now_func: string | null
    num_partitions: number | null
  }>(
    client,
    `SELECT hypertable_schema AS schema, hypertable_name AS name, dimension_number::int AS num, column_name::text,
            column_type::text, dimension_type::text, time_interval::text, integer_interval::text,
            integer_now_func::text, num_partitions::int
       FROM timescaledb_information.dimensions WHERE hypertable_schema = ANY($1::text[])`,
    [schemas],
  )
  const hypertables = byName(
    hts.map((h) => ({
      name: q(h.schema, h.name),
      compressionEnabled: h.compression_enabled,
      dimensions: dims
        .filter((d) => d.schema === h.schema && d.name === h.name)
        .sort((a, b) => a.num - b.num)
        .map((d) => ({
          column: d.column_name,
          columnType: d.column_type,
          dimensionType: d.dimension_type,
          timeInterval: d.time_interval,
          integerInterval: d.integer_interval,
          integerNowFunc: d.integer_now_func,
          numPartitions: d.num_partitions,
        })),
    })),
  )

  // compression_settings exists from 2.0 through 2.23 at least; its per-column shape is the common denominator.
  const cs = await rows<{
    schema: string
    name: string
    attname: string
    seg: number | null
    ord: number | null
    asc: boolean | null
    nullsfirst: boolean | null
  }>(
    client,
    `SELECT hypertable_schema::text AS schema, hypertable_name::text AS name, attname::text AS attname,
            segmentby_column_index::int AS seg, orderby_column_index::int AS ord, orderby_asc AS asc, orderby_nullsfirst AS nullsfirst
       FROM timescaledb_information.compression_settings WHERE hypertable_schema = ANY($1::text[])`,
    [schemas],
  )
  const compressed = new Map<string, CompressionSettingsSnapshot>()
  for (const h of hypertables.filter((h) => h.compressionEnabled)) compressed.set(h.name, { name: h.name, segmentBy: [], orderBy: [] })
  const segs = [...cs].filter((r) => r.seg !== null).sort((a, b) => a.seg! - b.seg!)
  const ords = [...cs].filter((r) => r.ord !== null).sort((a, b) => a.ord! - b.ord!)
  for (const r of segs) compressed.get(q(r.schema, r.name))?.segmentBy.push(r.attname)
  for (const r of ords)
    compressed
      .get(q(r.schema, r.name))
      ?.orderBy.push(`${r.attname} ${r.asc ? 'ASC' : 'DESC'} ${r.nullsfirst ? 'NULLS FIRST' : 'NULLS LAST'}`)
  const compression = byName([...compressed.values()])

  const jobRows = await rows<{
    schema: string
    name: string
    proc_name: string
    schedule_interval: string
    scheduled: boolean
    config: Record<string, unknown> | null
  }>(
    client,
    `SELECT hypertable_schema::text AS schema, hypertable_name::text AS name, proc_name::text,
            schedule_interval::text, scheduled, config
       FROM timescaledb_information.jobs WHERE hypertable_schema = ANY($1::text[])`,
    [schemas],
  )
  const jobs0 = jobRows.map((j) => {
    const config = { ...(j.config ?? {}) }
    delete config.hypertable_id
    return {
      name: `${q(j.schema, j.name)} ${j.proc_name}`,
      hypertable: q(j.schema, j.name),
      procName: j.proc_name,
      scheduleInterval: j.schedule_interval,
      scheduled: j.scheduled,
      config: sortKeys(config),
    }
  })
  // Several jobs of one kind on one table: tell them apart by content, not by job id.
  const counts = new Map<string, number>()
  for (const j of jobs0) counts.set(j.name, (counts.get(j.name) ?? 0) + 1)
  const jobs = jobs0
    .map((j) => ((counts.get(j.name) ?? 0) > 1 ? { ...j, name: `${j.name} ${canonicalJson(j.config)} ${j.scheduleInterval}` } : j))
    .sort((a, b) => cmp(a.name, b.name) || cmp(canonicalJson(a), canonicalJson(b)))

  return { hypertables, compression, jobs }
}

/** sha256 (hex) of the snapshot's canonical JSON. */
export function fingerprintHash(s: SchemaSnapshot): string {
  return createHash('sha256').update(canonicalJson(s)).digest('hex')
}

// ---- diff ---------------------------------------------------------------------------------------

/** One comparable line per object: kind, qualified name, and a one-line rendering. */
interface Entry {
  kind: string
  name: string
  text: string
  /** Separator between name and text in `+`/`-` lines. */
  sep: string
}

const oneLine = (s: string) => s.replace(/\s+/g, ' ').trim()

function renderColumn(c: ColumnSnapshot): string {
  let s = c.type
  if (c.collation) s += ` COLLATE ${c.collation}`
  if (c.notNull) s += ' NOT NULL'
  if (c.default !== null) s += ` DEFAULT ${c.default}`
  if (c.identity) s += ` GENERATED ${c.identity === 'a' ? 'ALWAYS' : 'BY DEFAULT'} AS IDENTITY`
  if (c.generated) s += ` GENERATED ALWAYS AS (${c.default ?? ''}) STORED`
  if (c.comment !== null) s += ` COMMENT ${JSON.stringify(c.comment)}`
  return s
}

function entries(s: SchemaSnapshot): Entry[] {
  const out: Entry[] = []
  const add = (kind: string, name: string, text: string, sep = ': ') => out.push({ kind, name, text: oneLine(text), sep })
  for (const e of s.extensions) add('extension', e, e)
  for (const t of s.types) add(t.kind === 'enum' ? 'enum' : t.kind === 'domain' ? 'domain' : 'type', t.name, t.definition)
  for (const t of s.tables) {
    const props = [
      t.kind,
      t.unlogged ? 'UNLOGGED' : '',
      t.options.length ? `WITH (${t.options.join(', ')})` : '',
      t.rowSecurity ? 'ROW LEVEL SECURITY' : '',
      t.partitionKey ? `PARTITION BY ${t.partitionKey}` : '',
      t.partitionOf ? `PARTITION OF ${t.partitionOf} ${t.partitionBound ?? ''}` : '',
      t.comment !== null ? `COMMENT ${JSON.stringify(t.comment)}` : '',
    ]
      .filter(Boolean)
      .join(' ')
    add('table', t.name, props)
    for (const c of t.columns) add('column', `${t.name}.${c.name}`, renderColumn(c), ' ')
    add('column order', t.name, t.columns.map((c) => c.name).join(', '))
  }
  for (const c of s.constraints) add('constraint', c.name, `${c.type} ${c.definition}`)
  for (const i of s.indexes) add('index', i.name, i.definition)
  for (const v of s.views)
    add(
      v.kind,
      v.name,
      [v.options.length ? `WITH (${v.options.join(', ')})` : '', v.definition, v.comment !== null ? `COMMENT ${JSON.stringify(v.comment)}` : '']
        .filter(Boolean)
        .join(' '),
    )
  for (const f of s.functions)
    add(
      f.kind,
      f.name,
      [
        f.result !== null ? `RETURNS ${f.result}` : '',
        `LANGUAGE ${f.language}`,
        f.volatility.toUpperCase(),
        f.strict ? 'STRICT' : '',
        f.securityDefiner ? 'SECURITY DEFINER' : '',
        f.config.length ? `SET ${f.config.join(', ')}` : '',
        f.comment !== null ? `COMMENT ${JSON.stringify(f.comment)}` : '',
        `AS ${JSON.stringify(f.body)}`,
      ]
        .filter(Boolean)
        .join(' '),
    )
  for (const t of s.triggers) add('trigger', t.name, `${t.definition}${t.enabled === 'O' ? '' : ` [enabled=${t.enabled}]`}`)
  for (const q of s.sequences)
    add(
      'sequence',
      q.name,
      `${q.type} START ${q.start} INCREMENT ${q.increment} MINVALUE ${q.min} MAXVALUE ${q.max} CACHE ${q.cache}${q.cycle ? ' CYCLE' : ''}${
        q.ownedBy ? ` OWNED BY ${q.ownedBy}` : ''
      }`,
    )
  for (const h of s.hypertables) {
    add(
      'hypertable',
      h.name,
      h.dimensions
        .map(
          (d) =>
            `${d.dimensionType} ${d.column} (${d.columnType})` +
            (d.timeInterval !== null ? ` interval ${d.timeInterval}` : '') +
            (d.integerInterval !== null ? ` interval ${d.integerInterval}` : '') +
            (d.numPartitions !== null ? ` partitions ${d.numPartitions}` : '') +
            (d.integerNowFunc !== null ? ` now ${d.integerNowFunc}` : ''),
        )
        .join('; '),
    )
    add('compression enabled', h.name, String(h.compressionEnabled))
  }
  for (const c of s.compression) add('compression', c.name, `segmentby [${c.segmentBy.join(', ')}] orderby [${c.orderBy.join(', ')}]`)
  for (const j of s.jobs)
    add('job', j.name, `${j.procName} every ${j.scheduleInterval}${j.scheduled ? '' : ' (unscheduled)'} config ${canonicalJson(j.config)}`)
  return out
}

/**
 * Readable differences from `a` to `b`: `+` present only in b, `-` only in a, `~` changed (`<a> → <b>`).
 * Empty when the snapshots are equal.
 */
export function diffSnapshots(a: SchemaSnapshot, b: SchemaSnapshot): string[] {
  const key = (e: Entry) => `${e.kind}\u0000${e.name}`
  const ma = new Map(entries(a).map((e) => [key(e), e]))
  const mb = new Map(entries(b).map((e) => [key(e), e]))
  const keys = [...new Set([...ma.keys(), ...mb.keys()])].sort((x, y) => {
    const [kx, nx] = x.split('\u0000') as [string, string]
    const [ky, ny] = y.split('\u0000') as [string, string]
    return cmp(nx, ny) || cmp(kx, ky)
  })
  const lines: string[] = []
  for (const k of keys) {
    const ea = ma.get(k)
    const eb = mb.get(k)
    // A whole table added or removed: its columns are listed, their order only matters when both sides have it.
    if ((ea ?? eb)!.kind === 'column order' && !(ea && eb)) continue
    if (ea && !eb) lines.push(`- ${ea.kind} ${ea.name}${ea.sep}${ea.text}`)
    else if (!ea && eb) lines.push(`+ ${eb.kind} ${eb.name}${eb.sep}${eb.text}`)
    else if (ea && eb && ea.text !== eb.text) lines.push(`~ ${ea.kind} ${ea.name}: ${ea.text} → ${eb.text}`)
  }
  if (lines.length === 0 && canonicalJson(a) !== canonicalJson(b)) {
    if (canonicalJson(a.schemas) !== canonicalJson(b.schemas)) lines.push(`~ schemas: ${a.schemas.join(', ')} → ${b.schemas.join(', ')}`)
    else lines.push('~ snapshot: differs in a detail not rendered by the diff (compare the JSON)')
  }
  return lines
}
