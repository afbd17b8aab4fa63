/** User-defined types of some schemas (not table row types, not array types), and their enums. */
import type pg from 'pg'
import { notExtensionMember, rows } from './common.ts'

export interface TypeRow {
  schema: string
  name: string
  /** pg_type.typtype: e, d, c, r, b, p */
  typtype: string
  /** Enum labels, a domain's base type and constraints, a composite's attributes, a range's subtype. */
  definition: string | null
}

export async function readTypes(client: pg.ClientBase, schemas: string[]): Promise<TypeRow[]> {
  return rows<TypeRow>(
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
            END AS definition
       FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
      WHERE n.nspname = ANY($1::text[])
        AND (t.typrelid = 0 OR (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid) = 'c')
        AND NOT (t.typelem <> 0 AND t.typlen = -1 AND t.typcategory = 'A')
        AND t.typtype <> 'm'
        AND ${notExtensionMember('pg_catalog.pg_type', 't')}`,
    [schemas],
  )
}

/** Enum types of `schemas`: `schema.name` → labels in sort order, by name. */
export async function readEnums(client: pg.ClientBase, schemas: string[]): Promise<Map<string, string[]>> {
  const enums = new Map<string, string[]>()
  const found = await rows<{ name: string; labels: string[] }>(
    client,
    `SELECT n.nspname || '.' || t.typname AS name,
            ARRAY(SELECT e.enumlabel::text FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder) AS labels
       FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
      WHERE t.typtype = 'e' AND n.nspname = ANY($1::text[]) ORDER BY 1`,
    [schemas],
  )
  for (const e of found) enums.set(e.name, e.labels)
  return enums
}
