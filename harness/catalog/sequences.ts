/** Sequences of some schemas: their definition, and where they stand. */
import type pg from 'pg'
import { qualify } from '../util/sql.ts'
import { notExtensionMember, rows } from './common.ts'

export interface SequenceRow {
  schema: string
  name: string
  type: string
  start: string
  increment: string
  min: string
  max: string
  cache: string
  cycle: boolean
  /** `schema.table.column` of the column that owns it (serial, identity). */
  ownedBy: string | null
}

export async function readSequences(client: pg.ClientBase, schemas: string[]): Promise<SequenceRow[]> {
  return rows<SequenceRow>(
    client,
    `SELECT n.nspname AS schema, c.relname AS name, pg_catalog.format_type(s.seqtypid, NULL) AS type,
            s.seqstart::text AS start, s.seqincrement::text AS increment, s.seqmin::text AS min, s.seqmax::text AS max,
            s.seqcache::text AS cache, s.seqcycle AS cycle,
            (SELECT dn.nspname || '.' || dc.relname || '.' || da.attname
               FROM pg_catalog.pg_depend d
               JOIN pg_catalog.pg_class dc ON dc.oid = d.refobjid
               JOIN pg_catalog.pg_namespace dn ON dn.oid = dc.relnamespace
               JOIN pg_catalog.pg_attribute da ON da.attrelid = d.refobjid AND da.attnum = d.refobjsubid
              WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid
                AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.deptype IN ('a','i')
              LIMIT 1) AS "ownedBy"
       FROM pg_catalog.pg_sequence s
       JOIN pg_catalog.pg_class c ON c.oid = s.seqrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = ANY($1::text[]) AND ${notExtensionMember('pg_catalog.pg_class', 'c')}`,
    [schemas],
  )
}

export interface SequencePosition {
  schema: string
  name: string
  /** Quoted and qualified, for SQL. */
  sql: string
  /** `last_value` as text. */
  last: string
  called: boolean
}

/** `last_value` and `is_called` of every sequence of `schemas` the session can see (pg_sequences), by schema and name. */
export async function sequencePositions(client: pg.ClientBase, schemas: string[]): Promise<SequencePosition[]> {
  const seqs = await rows<{ schema: string; name: string }>(
    client,
    `SELECT schemaname AS schema, sequencename AS name FROM pg_catalog.pg_sequences WHERE schemaname = ANY($1::text[]) ORDER BY 1, 2`,
    [schemas],
  )
  const out: SequencePosition[] = []
  for (const s of seqs) {
    const sql = qualify(s.schema, s.name)
    const r = (await rows<{ v: string; c: boolean }>(client, `SELECT last_value::text AS v, is_called AS c FROM ${sql}`))[0]!
    out.push({ schema: s.schema, name: s.name, sql, last: r.v, called: r.c })
  }
  return out
}
