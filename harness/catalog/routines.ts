/** Functions, procedures and aggregates of some schemas, and the triggers on their relations. */
import type pg from 'pg'
import { notExtensionMember, rows } from './common.ts'

export interface FunctionRow {
  schema: string
  name: string
  /** `pg_get_function_identity_arguments` */
  args: string
  /** pg_proc.prokind: f, p, a, w */
  kind: string
  result: string | null
  language: string
  /** pg_proc.provolatile: i, s, v */
  volatility: string
  strict: boolean
  secdef: boolean
  config: string[] | null
  body: string | null
  comment: string | null
}

export async function readFunctions(client: pg.ClientBase, schemas: string[]): Promise<FunctionRow[]> {
  return rows<FunctionRow>(
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
}

export interface TriggerRow {
  schema: string
  rel: string
  name: string
  /** pg_trigger.tgenabled: O, D, R, A */
  enabled: string
  /** `pg_get_triggerdef(oid, false)` */
  definition: string
}

/** User triggers (not the internal ones behind foreign keys) on relations of `schemas`. */
export async function readTriggers(client: pg.ClientBase, schemas: string[]): Promise<TriggerRow[]> {
  return rows<TriggerRow>(
    client,
    `SELECT n.nspname AS schema, c.relname AS rel, t.tgname AS name, t.tgenabled::text AS enabled,
            pg_catalog.pg_get_triggerdef(t.oid, false) AS definition
       FROM pg_catalog.pg_trigger t
       JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = ANY($1::text[]) AND NOT t.tgisinternal`,
    [schemas],
  )
}
