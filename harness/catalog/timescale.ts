/**
 * TimescaleDB's catalog of some schemas, through its information views: hypertables, their
 * dimensions, compression settings and chunks. Callers check that the extension is there first
 * (common.ts: hasTimescale).
 */
import type pg from 'pg'
import { rows } from './common.ts'

export interface HypertableRow {
  schema: string
  name: string
  compressionEnabled: boolean
}

export async function readHypertables(client: pg.ClientBase, schemas: string[]): Promise<HypertableRow[]> {
  return rows<HypertableRow>(
    client,
    `SELECT hypertable_schema::text AS schema, hypertable_name::text AS name, compression_enabled AS "compressionEnabled"
       FROM timescaledb_information.hypertables WHERE hypertable_schema = ANY($1::text[]) ORDER BY 1, 2`,
    [schemas],
  )
}

export interface DimensionRow {
  schema: string
  name: string
  /** 1 for the first (time) dimension. */
  num: number
  column: string
  columnType: string
  dimensionType: string
  timeInterval: string | null
  /** The time interval in microseconds, as text (null for integer dimensions). */
  intervalUs: string | null
  integerInterval: string | null
  integerNowFunc: string | null
  numPartitions: number | null
}

export async function readDimensions(client: pg.ClientBase, schemas: string[]): Promise<DimensionRow[]> {
  return rows<DimensionRow>(
    client,
    `SELECT hypertable_schema::text AS schema, hypertable_name::text AS name, dimension_number::int AS num, column_name::text AS column,
            column_type::text AS "columnType", dimension_type::text AS "dimensionType", time_interval::text AS "timeInterval",
            (extract(epoch FROM time_interval) * 1000000)::bigint::text AS "intervalUs",
            integer_interval::text AS "integerInterval", integer_now_func::text AS "integerNowFunc", num_partitions::int AS "numPartitions"
       FROM timescaledb_information.dimensions WHERE hypertable_schema = ANY($1::text[])
      ORDER BY 1, 2, 3`,
    [schemas],
  )
}

export interface CompressionSettingRow {
  schema: string
  name: string
  attname: string
  segmentbyIndex: number | null
  orderbyIndex: number | null
  asc: boolean | null
  nullsFirst: boolean | null
}

/** compression_settings exists from 2.0 through 2.23 at least; its per-column shape is the common denominator. */
export async function readCompressionSettings(client: pg.ClientBase, schemas: string[]): Promise<CompressionSettingRow[]> {
  return rows<CompressionSettingRow>(
    client,
    `SELECT hypertable_schema::text AS schema, hypertable_name::text AS name, attname::text AS attname,
            segmentby_column_index::int AS "segmentbyIndex", orderby_column_index::int AS "orderbyIndex",
            orderby_asc AS asc, orderby_nullsfirst AS "nullsFirst"
       FROM timescaledb_information.compression_settings WHERE hypertable_schema = ANY($1::text[])`,
    [schemas],
  )
}

export interface ChunkRow {
  /** `schema.hypertable` */
  hypertable: string
  /** `range_start..range_end` of the first dimension, as the session prints them. */
  range: string
  compressed: boolean
}

export async function readChunks(client: pg.ClientBase, schemas: string[]): Promise<ChunkRow[]> {
  return rows<ChunkRow>(
    client,
    `SELECT hypertable_schema || '.' || hypertable_name AS hypertable,
            coalesce(range_start::text, range_start_integer::text) || '..' || coalesce(range_end::text, range_end_integer::text) AS range,
            is_compressed AS compressed
       FROM timescaledb_information.chunks WHERE hypertable_schema = ANY($1::text[])`,
    [schemas],
  )
}
