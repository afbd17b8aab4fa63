/**
 * What a database holds, in a form two databases can be compared by: the schema fingerprint,
 * every table's row count and content hash (hypertables read through the hypertable, so
 * compressed chunks count), chunk count and compression state per hypertable, TimescaleDB jobs
 * and their configs, sequence positions, extensions, and the migration log's rows.
 *
 * Captured once into the backup manifest (the "expected" side) and again after a restore (the
 * "actual" side); compare.ts lists every difference. Everything is session-independent: values
 * are rendered with TimeZone UTC, ISO dates and exact floats (SET LOCAL, in a transaction), and
 * the content hash does not depend on row order, chunk layout or collation.
 */
import { qualify, quoteIdent } from '../util/sql.ts'
import { createHash } from 'node:crypto'
import type pg from 'pg'
import { fingerprintHash, snapshot, type SchemaSnapshot } from '../validation/fingerprint/index.ts'

export interface TableState {
  rows: number
  /** sha256 over the row count and two order-independent sums of each row's md5: equal iff the same multiset of rows (up to hash collisions). */
  hash: string
}

export interface ChunkState {
  /** `range_start..range_end` (UTC) of the chunk's first dimension. */
  range: string
  compressed: boolean
}

export interface HypertableState {
  chunks: number
  compressedChunks: number
  compressionEnabled: boolean
  /** Ordered by range. */
  chunkList: ChunkState[]
}

export interface JobState {
  /** `schema.hypertable proc_name` (or `proc_schema.proc_name` for jobs without a hypertable). */
  name: string
  hypertable: string | null
  proc: string
  scheduleInterval: string
  scheduled: boolean
  maxRuntime: string
  maxRetries: number
  retryPeriod: string
  /** Without `hypertable_id` (ids differ between databases); keys sorted. */
  config: unknown
}

export interface LogState {
  /** `schema.table` */
  table: string
  columns: string[]
  /** Ordered by id, every column as text (UTC). */
  rows: Record<string, string | null>[]
}

export interface DatabaseState {
  capturedAt: string
  /** The schemas this state covers (user schemas; TimescaleDB's own are summarised through the hypertables). */
  schemas: string[]
  server: { postgres: string; timescaledb: string }
  /** name → installed version */
  extensions: Record<string, string>
  fingerprint: SchemaSnapshot
  fingerprintHash: string
  tables: Record<string, TableState>
  hypertables: Record<string, HypertableState>
  jobs: JobState[]
  /** `schema.sequence` → `last_value` + `is_called`. */
  sequences: Record<string, string>
  migrationLog: LogState | null
}

/** Schemas PostgreSQL or an extension owns: never part of a backup's coverage, never dropped. */
const SYSTEM_SCHEMAS_SQL = `
  n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_%'
  AND n.nspname NOT LIKE '\\_timescaledb%'
  AND n.nspname NOT IN ('timescaledb_information', 'timescaledb_experimental', 'toolkit_experimental')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_namespace'::regclass AND d.objid = n.oid AND d.deptype = 'e')`

/** User schemas other than `public` (public always exists and hosts extensions). */
export async function userSchemas(client: pg.ClientBase): Promise<string[]> {
  const r = await client.query<{ s: string }>(`SELECT n.nspname AS s FROM pg_namespace n WHERE ${SYSTEM_SCHEMAS_SQL} AND n.nspname <> 'public' ORDER BY 1`)
  return r.rows.map((x) => x.s)
}

/** Objects in `public` that no extension owns (tables, views, sequences, functions, types). */
export async function publicObjects(client: pg.ClientBase): Promise<string[]> {
  const r = await client.query<{ o: string }>(
    `SELECT c.relname || ' (' || c.relkind::text || ')' AS o FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind IN ('r','p','v','m','S','f')
        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('e','i','a'))
     UNION ALL
     SELECT p.proname::text || '()' FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE n.nspname = 'public' AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
     ORDER BY 1`,
  )
  return r.rows.map((x) => x.o)
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys)
  if (v && typeof v === 'object') {
    const o: Record<string, unknown> = {}
    for (const k of Object.keys(v as object).sort(cmp)) o[k] = sortKeys((v as Record<string, unknown>)[k])
    return o
  }
  return v
}


/** Session settings that change how values print; set LOCAL so the caller's session is untouched. */
export const CANONICAL_SETTINGS = [
  `SET LOCAL TimeZone = 'UTC'`,
  `SET LOCAL DateStyle = 'ISO, MDY'`,
  `SET LOCAL IntervalStyle = 'postgres'`,
  `SET LOCAL extra_float_digits = 1`,
  `SET LOCAL bytea_output = 'hex'`,
]

export interface CaptureOptions {
  schemas: string[]
  /** `schema.table` of the migration log, if any. */
  log?: { schema: string; table: string }
}

/**
 * Captures the state. Inside a transaction it uses a savepoint and the caller's snapshot (so a
 * backup's state and its dumps see the same data); otherwise it opens a read-only one.
 */
export async function captureState(client: pg.ClientBase, options: CaptureOptions): Promise<DatabaseState> {
  let own = false
  try {
    await client.query('SAVEPOINT capture_state')
  } catch (e) {
    if ((e as { code?: string }).code !== '25P01') throw e
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY')
    own = true
  }
  try {
    for (const s of CANONICAL_SETTINGS) await client.query(s)
    return await capture(client, options)
  } finally {
    if (own) await client.query('ROLLBACK')
    else {
      await client.query('ROLLBACK TO SAVEPOINT capture_state')
      await client.query('RELEASE SAVEPOINT capture_state')
    }
  }
}

async function capture(client: pg.ClientBase, options: CaptureOptions): Promise<DatabaseState> {
  const schemas = [...new Set(options.schemas)].sort(cmp)
  const ext = (await client.query<{ name: string; v: string }>(`SELECT extname AS name, extversion AS v FROM pg_extension ORDER BY 1`)).rows
  const extensions = Object.fromEntries(ext.map((e) => [e.name, e.v]))
  const hasTs = 'timescaledb' in extensions
  const pgv = (await client.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)).rows[0]!.v
  const fingerprint = await snapshot(client, schemas)

  // ---- tables: every ordinary and partitioned table that is not itself a partition ----------
  const tables: Record<string, TableState> = {}
  const rels = (
    await client.query<{ schema: string; name: string }>(
      `SELECT n.nspname AS schema, c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname = ANY($1::text[])
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
        ORDER BY 1, 2`,
      [schemas],
    )
  ).rows
  for (const t of rels) tables[`${t.schema}.${t.name}`] = await tableState(client, qualify(t.schema, t.name))

  // ---- TimescaleDB: chunks and jobs -----------------------------------------------------------
  const hypertables: Record<string, HypertableState> = {}
  const jobs: JobState[] = []
  if (hasTs && schemas.length) {
    const hts = (
      await client.query<{ q: string; enabled: boolean }>(
        `SELECT hypertable_schema || '.' || hypertable_name AS q, compression_enabled AS enabled
           FROM timescaledb_information.hypertables WHERE hypertable_schema = ANY($1::text[]) ORDER BY 1`,
        [schemas],
      )
    ).rows
    const chunks = (
      await client.query<{ q: string; r: string; c: boolean }>(
        `SELECT hypertable_schema || '.' || hypertable_name AS q,
                coalesce(range_start::text, range_start_integer::text) || '..' || coalesce(range_end::text, range_end_integer::text) AS r,
                is_compressed AS c
           FROM timescaledb_information.chunks WHERE hypertable_schema = ANY($1::text[])`,
        [schemas],
      )
    ).rows
    for (const h of hts) {
      const list = chunks
        .filter((c) => c.q === h.q)
        .map((c) => ({ range: c.r, compressed: c.c }))
        .sort((a, b) => cmp(a.range, b.range))
      hypertables[h.q] = { chunks: list.length, compressedChunks: list.filter((c) => c.compressed).length, compressionEnabled: h.enabled, chunkList: list }
    }
    const jr = (
      await client.query<{
        hs: string | null
        hn: string | null
        ps: string
        pn: string
        si: string
        sched: boolean
        mr: string
        mx: number
        rp: string
        config: Record<string, unknown> | null
      }>(
        `SELECT hypertable_schema::text AS hs, hypertable_name::text AS hn, proc_schema::text AS ps, proc_name::text AS pn,
                schedule_interval::text AS si, scheduled AS sched, max_runtime::text AS mr, max_retries AS mx, retry_period::text AS rp, config
           FROM timescaledb_information.jobs
          WHERE (hypertable_schema = ANY($1::text[]) OR (hypertable_schema IS NULL AND job_id >= 1000 AND proc_schema = ANY($1::text[])))`,
        [schemas],
      )
    ).rows
    for (const j of jr) {
      const config = { ...(j.config ?? {}) }
      delete config.hypertable_id
      const hypertable = j.hs && j.hn ? `${j.hs}.${j.hn}` : null
      jobs.push({
        name: hypertable ? `${hypertable} ${j.pn}` : `${j.ps}.${j.pn}`,
        hypertable,
        proc: `${j.ps}.${j.pn}`,
        scheduleInterval: j.si,
        scheduled: j.sched,
        maxRuntime: j.mr,
        maxRetries: j.mx,
        retryPeriod: j.rp,
        config: sortKeys(config),
      })
    }
    jobs.sort((a, b) => cmp(a.name, b.name) || cmp(JSON.stringify(a.config), JSON.stringify(b.config)))
  }

  // ---- sequences --------------------------------------------------------------------------------
  const sequences: Record<string, string> = {}
  const seqs = (
    await client.query<{ schema: string; name: string }>(
      `SELECT schemaname AS schema, sequencename AS name FROM pg_sequences WHERE schemaname = ANY($1::text[]) ORDER BY 1, 2`,
      [schemas],
    )
  ).rows
  for (const s of seqs) {
    const r = (await client.query<{ v: string; c: boolean }>(`SELECT last_value::text AS v, is_called AS c FROM ${qualify(s.schema, s.name)}`)).rows[0]!
    sequences[`${s.schema}.${s.name}`] = `${r.v}${r.c ? '' : ' (not called)'}`
  }

  // ---- migration log ------------------------------------------------------------------------------
  let migrationLog: LogState | null = null
  if (options.log && schemas.includes(options.log.schema)) {
    const q = qualify(options.log.schema, options.log.table)
    const exists = (await client.query<{ t: string | null }>(`SELECT to_regclass($1) AS t`, [q])).rows[0]?.t
    if (exists) {
      const cols = (
        await client.query<{ a: string }>(
          `SELECT attname AS a FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
          [q],
        )
      ).rows.map((r) => r.a)
      const order = cols.includes('id') ? 'ORDER BY id' : ''
      const select = cols.map((c) => `${quoteIdent(c)}::text AS ${quoteIdent(c)}`).join(', ')
      const rows = (await client.query<Record<string, string | null>>(`SELECT ${select} FROM ${q} ${order}`)).rows
      migrationLog = { table: `${options.log.schema}.${options.log.table}`, columns: cols, rows }
    }
  }

  return {
    capturedAt: new Date().toISOString(),
    schemas,
    server: { postgres: pgv, timescaledb: extensions.timescaledb ?? 'none' },
    extensions,
    fingerprint,
    fingerprintHash: fingerprintHash(fingerprint),
    tables,
    hypertables,
    jobs,
    sequences,
    migrationLog,
  }
}

/** Row count and an order-independent content hash, reading through the table (chunks included). */
export async function tableState(client: pg.ClientBase, qualified: string): Promise<TableState> {
  const r = (
    await client.query<{ n: string; a: string | null; b: string | null }>(
      `SELECT count(*)::text AS n,
              sum(('x' || substr(h, 1, 15))::bit(60)::bigint)::text AS a,
              sum(('x' || substr(h, 16, 15))::bit(60)::bigint)::text AS b
         FROM (SELECT md5(t::text) AS h FROM ${qualified} t) x`,
    )
  ).rows[0]!
  const rows = Number(r.n)
  return { rows, hash: createHash('sha256').update(`${r.n}:${r.a ?? 0}:${r.b ?? 0}`).digest('hex') }
}
