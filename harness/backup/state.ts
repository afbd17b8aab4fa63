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
import { createHash } from 'node:crypto'
import type pg from 'pg'
import { withLocalSettings } from '../catalog/common.ts'
import { readColumns } from '../catalog/columns.ts'
import { configWithoutIds, readJobs } from '../catalog/jobs.ts'
import { readRelations } from '../catalog/relations.ts'
import { readExtensions } from '../catalog/schemas.ts'
import { sequencePositions } from '../catalog/sequences.ts'
import { readChunks, readHypertables } from '../catalog/timescale.ts'
import { cmp, sortKeys } from '../util/canonical.ts'
import { qualify, quoteIdent } from '../util/sql.ts'
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
  const how = { savepoint: 'capture_state', begin: 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY', settings: CANONICAL_SETTINGS }
  return withLocalSettings(client, how, () => capture(client, options))
}

async function capture(client: pg.ClientBase, options: CaptureOptions): Promise<DatabaseState> {
  const schemas = [...new Set(options.schemas)].sort(cmp)
  const extensions = Object.fromEntries((await readExtensions(client)).map((e) => [e.name, e.version]))
  const hasTs = 'timescaledb' in extensions
  const pgv = (await client.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)).rows[0]!.v
  const fingerprint = await snapshot(client, schemas)

  // ---- tables: every ordinary and partitioned table that is not itself a partition ----------
  const tables: Record<string, TableState> = {}
  for (const t of (await readRelations(client, schemas, ['r', 'p'], { details: false })).filter((r) => !r.partition))
    tables[`${t.schema}.${t.name}`] = await tableState(client, qualify(t.schema, t.name))

  // ---- TimescaleDB: chunks and jobs -----------------------------------------------------------
  const hypertables: Record<string, HypertableState> = {}
  const jobs: JobState[] = []
  if (hasTs && schemas.length) {
    const hts = (await readHypertables(client, schemas)).map((h) => ({ q: `${h.schema}.${h.name}`, enabled: h.compressionEnabled })).sort((a, b) => cmp(a.q, b.q))
    const chunks = await readChunks(client, schemas)
    for (const h of hts) {
      const list = chunks
        .filter((c) => c.hypertable === h.q)
        .map((c) => ({ range: c.range, compressed: c.compressed }))
        .sort((a, b) => cmp(a.range, b.range))
      hypertables[h.q] = { chunks: list.length, compressedChunks: list.filter((c) => c.compressed).length, compressionEnabled: h.enabled, chunkList: list }
    }
    const mine = (await readJobs(client)).filter((j) =>
      j.hypertableSchema !== null ? schemas.includes(j.hypertableSchema) : j.id >= 1000 && schemas.includes(j.procSchema),
    )
    for (const j of mine) {
      const hypertable = j.hypertableSchema && j.hypertableName ? `${j.hypertableSchema}.${j.hypertableName}` : null
      jobs.push({
        name: hypertable ? `${hypertable} ${j.procName}` : `${j.procSchema}.${j.procName}`,
        hypertable,
        proc: `${j.procSchema}.${j.procName}`,
        scheduleInterval: j.scheduleInterval,
        scheduled: j.scheduled,
        maxRuntime: j.maxRuntime,
        maxRetries: j.maxRetries,
        retryPeriod: j.retryPeriod,
        config: sortKeys(configWithoutIds(j)),
      })
    }
    jobs.sort((a, b) => cmp(a.name, b.name) || cmp(JSON.stringify(a.config), JSON.stringify(b.config)))
  }

  // ---- sequences --------------------------------------------------------------------------------
  const sequences: Record<string, string> = {}
  for (const s of await sequencePositions(client, schemas)) sequences[`${s.schema}.${s.name}`] = `${s.last}${s.called ? '' : ' (not called)'}`

  // ---- migration log ------------------------------------------------------------------------------
  let migrationLog: LogState | null = null
  if (options.log && schemas.includes(options.log.schema)) {
    const { schema, table } = options.log
    const q = qualify(schema, table)
    const exists = (await client.query<{ t: string | null }>(`SELECT to_regclass($1) AS t`, [q])).rows[0]?.t
    if (exists) {
      const cols = (await readColumns(client, [schema], ['r', 'p'], { base: false, notes: false })).filter((c) => c.rel === table).map((c) => c.name)
      const order = cols.includes('id') ? 'ORDER BY id' : ''
      const select = cols.map((c) => `${quoteIdent(c)}::text AS ${quoteIdent(c)}`).join(', ')
      const rows = (await client.query<Record<string, string | null>>(`SELECT ${select} FROM ${q} ${order}`)).rows
      migrationLog = { table: `${schema}.${table}`, columns: cols, rows }
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
