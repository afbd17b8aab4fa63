/** Schemas and extensions: which schemas are the user's, what `public` holds, what is installed. */
import type pg from 'pg'
import { notExtensionMember, rows } from './common.ts'

/** Schemas PostgreSQL or an extension owns: never part of a backup's coverage, never dropped. */
const SYSTEM_SCHEMAS_SQL = `
  n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_%'
  AND n.nspname NOT LIKE '\\_timescaledb%'
  AND n.nspname NOT IN ('timescaledb_information', 'timescaledb_experimental', 'toolkit_experimental')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_namespace'::regclass AND d.objid = n.oid AND d.deptype = 'e')`

/** User schemas other than `public` (public always exists and hosts extensions). */
export async function userSchemas(client: pg.ClientBase): Promise<string[]> {
  const r = await rows<{ s: string }>(client, `SELECT n.nspname AS s FROM pg_namespace n WHERE ${SYSTEM_SCHEMAS_SQL} AND n.nspname <> 'public' ORDER BY 1`)
  return r.map((x) => x.s)
}

/** Objects in `public` that no extension owns (tables, views, sequences, functions, types). */
export async function publicObjects(client: pg.ClientBase): Promise<string[]> {
  const r = await rows<{ o: string }>(
    client,
    `SELECT c.relname || ' (' || c.relkind::text || ')' AS o FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind IN ('r','p','v','m','S','f')
        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('e','i','a'))
     UNION ALL
     SELECT p.proname::text || '()' FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE n.nspname = 'public' AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
     ORDER BY 1`,
  )
  return r.map((x) => x.o)
}

export interface ExtensionRow {
  name: string
  version: string
  /** The schema its objects are in. */
  schema: string
}

/** Every installed extension, by name. */
export async function readExtensions(client: pg.ClientBase): Promise<ExtensionRow[]> {
  return rows<ExtensionRow>(
    client,
    `SELECT e.extname AS name, e.extversion AS version, n.nspname AS schema
       FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace ORDER BY 1`,
  )
}

export interface RelationShape {
  /** pg_class.relkind: r, p, v, m or f. */
  kind: string
  /** A digest of its identity (oid), columns, constraints, triggers and row security: equal while none of them changed. */
  shape: string
}

/**
 * Every relation of the user's schemas (`schema.name`, unquoted) with a digest of what a workload
 * running on it depends on. One catalog query, no definitions printed: cheap enough to ask after
 * every migration whether anything the rehearsal's data or workload touches changed.
 */
export async function relationShapes(client: pg.ClientBase): Promise<Map<string, RelationShape>> {
  const r = await rows<{ name: string; kind: string; shape: string }>(
    client,
    `SELECT n.nspname || '.' || c.relname AS name, c.relkind::text AS kind,
            md5(concat_ws('|', c.oid::text, c.relrowsecurity::text,
              (SELECT string_agg(concat_ws(' ', a.attname, a.atttypid, a.atttypmod, a.attnotnull, a.atthasdef, a.attidentity, a.attgenerated), ',' ORDER BY a.attnum)
                 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
              (SELECT string_agg(concat_ws(' ', k.conname, k.contype, k.convalidated), ',' ORDER BY k.conname) FROM pg_constraint k WHERE k.conrelid = c.oid),
              (SELECT string_agg(concat_ws(' ', t.tgname, t.tgenabled), ',' ORDER BY t.tgname) FROM pg_trigger t WHERE t.tgrelid = c.oid))) AS shape
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE ${SYSTEM_SCHEMAS_SQL} AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND ${notExtensionMember('pg_class', 'c')}`,
  )
  return new Map(r.map((x) => [x.name, { kind: x.kind, shape: x.shape }]))
}
