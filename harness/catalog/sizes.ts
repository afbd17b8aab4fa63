/**
 * How big the user's tables are, as the planner knows it, without counting a row: a production
 * database is read for its sizes without scanning it. Plain tables: `pg_class.reltuples` (the
 * last ANALYZE or autovacuum), else `pg_stat_user_tables.n_live_tup` when the table was never
 * analysed (reltuples is -1 there since PostgreSQL 14). Hypertables: TimescaleDB's
 * `approximate_row_count` (the chunks' statistics, compressed chunks included) and
 * `hypertable_detailed_size`. Chunks are counted with their hypertable, never on their own.
 *
 * Also the owners of relations (an index, a chunk, a chunk's index → the user table it
 * belongs to), so a lock seen on `_timescaledb_internal._hyper_1_3_chunk` counts for
 * `factory_telemetry.metric_hist`.
 */
import type pg from 'pg'
import { hasTimescale, rows } from './common.ts'
import { userSchemas } from './schemas.ts'

export interface TableSize {
  /** schema.table, as regclass prints it outside the search path. */
  table: string
  rows: number
  bytes: number
  /** Where the row count came from. */
  source: 'reltuples' | 'n_live_tup' | 'approximate_row_count'
  hypertable: boolean
}

const qualified = `format('%s.%s', quote_ident(n.nspname), quote_ident(c.relname))`

/** Sizes of every user table (public and the user's schemas). Only reads the catalog and statistics. */
export async function readTableSizes(client: pg.ClientBase): Promise<TableSize[]> {
  const schemas = ['public', ...(await userSchemas(client))]
  const timescale = await hasTimescale(client)
  const plain = await rows<{ table: string; reltuples: number; live: string | null; bytes: string }>(
    client,
    `SELECT ${qualified} AS table, c.reltuples::float8 AS reltuples, s.n_live_tup::text AS live, pg_total_relation_size(c.oid)::text AS bytes
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
      WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY($1::text[]) AND NOT c.relispartition
        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
      ORDER BY 1`,
    [schemas],
  )
  const hyper = new Map<string, { rows: number; bytes: number }>()
  if (timescale) {
    const h = await rows<{ table: string; rows: string; bytes: string | null }>(
      client,
      `SELECT format('%s.%s', quote_ident(hypertable_schema), quote_ident(hypertable_name)) AS table,
              approximate_row_count(format('%I.%I', hypertable_schema, hypertable_name)::regclass)::text AS rows,
              (SELECT sum(total_bytes) FROM hypertable_detailed_size(format('%I.%I', hypertable_schema, hypertable_name)::regclass))::text AS bytes
         FROM timescaledb_information.hypertables WHERE hypertable_schema = ANY($1::text[])`,
      [schemas],
    )
    for (const x of h) hyper.set(x.table, { rows: Number(x.rows), bytes: Number(x.bytes ?? 0) })
  }
  return plain.map((p): TableSize => {
    const ht = hyper.get(p.table)
    if (ht) return { table: p.table, rows: Math.max(0, Math.round(ht.rows)), bytes: ht.bytes, source: 'approximate_row_count', hypertable: true }
    const analysed = p.reltuples >= 0
    return { table: p.table, rows: Math.max(0, Math.round(analysed ? p.reltuples : Number(p.live ?? 0))), bytes: Number(p.bytes), source: analysed ? 'reltuples' : 'n_live_tup', hypertable: false }
  })
}

/**
 * Which user table each index and each TimescaleDB hypertable id belongs to. Chunk names
 * (`_hyper_<id>_<n>_chunk`, `compress_hyper_<id>_<n>_chunk`, and their indexes) carry the id of
 * their (compressed) hypertable; ids are given in creation order, so they are the same in every
 * database the same migrations made.
 */
export interface RelationOwners {
  /** Index (schema.name) → its table. */
  indexes: Record<string, string>
  /** Hypertable id (also a compressed hypertable's id) → the user hypertable. */
  hypertables: Record<number, string>
}

export async function readRelationOwners(client: pg.ClientBase): Promise<RelationOwners> {
  const schemas = ['public', ...(await userSchemas(client))]
  const idx = await rows<{ index: string; table: string }>(
    client,
    `SELECT format('%s.%s', quote_ident(ni.nspname), quote_ident(ci.relname)) AS index, ${qualified} AS table
       FROM pg_index i JOIN pg_class ci ON ci.oid = i.indexrelid JOIN pg_namespace ni ON ni.oid = ci.relnamespace
       JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = ANY($1::text[])`,
    [schemas],
  )
  const out: RelationOwners = { indexes: Object.fromEntries(idx.map((x) => [x.index, x.table])), hypertables: {} }
  if (await hasTimescale(client)) {
    const h = await rows<{ id: number; table: string; compressed: number | null }>(
      client,
      `SELECT h.id, format('%s.%s', quote_ident(h.schema_name), quote_ident(h.table_name)) AS table, h.compressed_hypertable_id AS compressed
         FROM _timescaledb_catalog.hypertable h WHERE h.schema_name = ANY($1::text[])`,
      [schemas],
    )
    for (const x of h) {
      out.hypertables[x.id] = x.table
      if (x.compressed !== null) out.hypertables[x.compressed] = x.table
    }
  }
  return out
}

/** The user table a locked relation belongs to (itself when it is one), or undefined (catalog, new or unknown relations). */
export function ownerOf(name: string, owners: RelationOwners, tables: ReadonlySet<string>): string | undefined {
  // regclass leaves out the schema of what is on the search path (public): named here as it is everywhere else.
  const relation = name.includes('.') ? name : `public.${name}`
  if (tables.has(relation)) return relation
  if (owners.indexes[relation]) return owners.indexes[relation]
  const chunk = /(?:^|\.)(?:compress)?_hyper_(\d+)_\d+_chunk/.exec(relation)
  if (chunk) return owners.hypertables[Number(chunk[1])]
  return undefined
}
