/**
 * Every job once, in id order, the data measured before and after each one: rows and chunks per
 * hypertable (per time slice), compression state, a content hash per table; the effect checked
 * against the job's own config (a retention policy deletes whole chunks entirely older than
 * now() - drop_after and nothing else; a compression policy compresses the chunks older than
 * compress_after and changes no row).
 *
 * Time dimensions of type timestamptz are measured per chunk; timestamp and date dimensions are
 * compared through the session time zone (exact under UTC); integer dimensions are measured by
 * row counts and content only.
 */
import type pg from 'pg'
import { hasJobCatalog } from '../../catalog/jobs.ts'
import { readDimensions } from '../../catalog/timescale.ts'
import { cmp } from '../../util/canonical.ts'
import { quoteIdent, quoteQualified } from '../../util/sql.ts'
import { dataDigests, diffDigests, type TableDigest } from '../data-digest.ts'
import { jobWindow, type RegisteredJob } from './registered.ts'
import { runJob, type JobError } from './run.ts'

export interface Slice {
  /** Microseconds since the epoch (UTC). */
  startUs: number
  endUs: number
  chunks: string[]
  compressed: number
  rows: number
  minUs: number | null
  maxUs: number | null
}

export interface HypertableState {
  table: string
  timeColumn: string
  timeType: string
  /** Integer time dimension: no slices, rows only. */
  integer: boolean
  /** Chunk interval in µs (time dimensions). */
  intervalUs: number
  slices: Slice[]
}

export interface DataState {
  /** clock_timestamp() when the capture started, µs since the epoch. */
  atUs: number
  tables: Map<string, TableDigest>
  hypertables: Map<string, HypertableState>
}

export const us = (v: string | null | undefined): number | null => (v === null || v === undefined ? null : Number(v))
export const epochUs = (expr: string) => `(extract(epoch FROM ${expr}) * 1000000)::bigint::text`

export async function hypertableDimensions(client: pg.ClientBase, schemas: string[]): Promise<{ table: string; timeColumn: string; timeType: string; integer: boolean; intervalUs: number }[]> {
  if (!(await hasJobCatalog(client))) return []
  return (await readDimensions(client, schemas))
    .filter((d) => d.num === 1)
    .map((d) => ({ table: `${d.schema}.${d.name}`, timeColumn: d.column, timeType: d.columnType, integer: d.timeInterval === null, intervalUs: Number(d.intervalUs ?? 0) }))
    .sort((a, b) => cmp(a.table, b.table))
}

/** Row count and content hash of every table, and every hypertable's slices with their rows and compression. */
export async function captureState(client: pg.ClientBase, schemas: string[], exclude: string[] = []): Promise<DataState> {
  const atUs = Number((await client.query<{ t: string }>(`SELECT ${epochUs('clock_timestamp()')} AS t`)).rows[0]!.t)
  const tables = await dataDigests(client, schemas, exclude)
  const hypertables = new Map<string, HypertableState>()
  for (const d of await hypertableDimensions(client, schemas)) {
    const [schema, name] = [d.table.slice(0, d.table.indexOf('.')), d.table.slice(d.table.indexOf('.') + 1)]
    let slices: Slice[] = []
    if (!d.integer) {
      const t = quoteIdent(d.timeColumn)
      const r = await client.query<{ rs: string; re: string; names: string[]; compressed: number; n: number; mn: string | null; mx: string | null }>(
        `SELECT ${epochUs('s.rs')} AS rs, ${epochUs('s.re')} AS re, s.names, s.compressed::int AS compressed, x.n::int AS n,
                ${epochUs('x.mn')} AS mn, ${epochUs('x.mx')} AS mx
           FROM (SELECT range_start AS rs, range_end AS re, array_agg(format('%I.%I', chunk_schema, chunk_name) ORDER BY chunk_name) AS names,
                        count(*) FILTER (WHERE is_compressed) AS compressed
                   FROM timescaledb_information.chunks WHERE hypertable_schema = $1 AND hypertable_name = $2 GROUP BY 1, 2) s,
                LATERAL (SELECT count(*) AS n, min(h.${t})::timestamptz AS mn, max(h.${t})::timestamptz AS mx
                           FROM ${quoteQualified(d.table)} h WHERE h.${t} >= s.rs AND h.${t} < s.re) x
          ORDER BY s.rs`,
        [schema, name],
      )
      slices = r.rows.map((x) => ({ startUs: Number(x.rs), endUs: Number(x.re), chunks: x.names, compressed: x.compressed, rows: x.n, minUs: us(x.mn), maxUs: us(x.mx) }))
    }
    hypertables.set(d.table, { ...d, slices })
  }
  return { atUs, tables, hypertables }
}

// ---- one job's effect -----------------------------------------------------------------------------------

export interface HypertableEffect {
  table: string
  rowsBefore: number
  rowsAfter: number
  chunksBefore: number
  chunksAfter: number
  chunksDropped: number
  /** Rows the dropped chunks held. */
  rowsInDroppedChunks: number
  compressedBefore: number
  compressedAfter: number
  /** Chunks that were not compressed before and are now. */
  chunksCompressed: number
  contentChanged: boolean
}

export interface JobRun {
  job: RegisteredJob
  ok: boolean
  durationMs: number
  error?: JobError
  /** now() - window when the run started and when it ended (ISO), for policies with a time window. */
  cutoff?: { from: string; to: string }
  /** Every hypertable the job changed, and the policy's own hypertable. */
  effects: HypertableEffect[]
  /** Tables other than hypertables whose rows changed (diff lines). */
  otherChanges: string[]
  /** Where the effect contradicts the job's config. */
  violations: string[]
}

export const isoUs = (v: number): string => {
  const ms = Math.floor(v / 1000)
  const rest = v - ms * 1000
  const iso = new Date(ms).toISOString()
  return rest ? `${iso.slice(0, 23)}${String(rest).padStart(3, '0')}Z` : iso
}

const sliceKey = (s: Slice) => `${s.startUs}..${s.endUs}`

function effectOn(table: string, before: DataState, after: DataState): HypertableEffect {
  const b = before.hypertables.get(table)
  const a = after.hypertables.get(table)
  const bs = b?.slices ?? []
  const as = a?.slices ?? []
  const aKeys = new Set(as.map(sliceKey))
  const aChunks = new Set(as.flatMap((s) => s.chunks))
  const dropped = bs.flatMap((s) => s.chunks).filter((c) => !aChunks.has(c))
  const rowsInDropped = bs.filter((s) => !aKeys.has(sliceKey(s))).reduce((n, s) => n + s.rows, 0)
  const compressedIn = (xs: Slice[]) => xs.reduce((n, s) => n + s.compressed, 0)
  const bByKey = new Map(bs.map((s) => [sliceKey(s), s]))
  let newlyCompressed = 0
  for (const s of as) newlyCompressed += Math.max(0, s.compressed - (bByKey.get(sliceKey(s))?.compressed ?? 0))
  const db = before.tables.get(table)
  const da = after.tables.get(table)
  return {
    table,
    rowsBefore: db?.rows ?? 0,
    rowsAfter: da?.rows ?? 0,
    chunksBefore: bs.reduce((n, s) => n + s.chunks.length, 0),
    chunksAfter: as.reduce((n, s) => n + s.chunks.length, 0),
    chunksDropped: dropped.length,
    rowsInDroppedChunks: rowsInDropped,
    compressedBefore: compressedIn(bs),
    compressedAfter: compressedIn(as),
    chunksCompressed: newlyCompressed,
    contentChanged: db?.hash !== da?.hash || db?.rows !== da?.rows,
  }
}

/** now() - window, in µs, at two instants (the run's start and end), computed by the server (calendar-correct). */
async function cutoffs(client: pg.ClientBase, window: string, fromUs: number, toUs: number): Promise<{ fromUs: number; toUs: number } | undefined> {
  if (!/[a-z]/i.test(window)) return undefined // an integer window (integer time dimension)
  const r = await client.query<{ a: string; b: string }>(
    `SELECT ${epochUs(`(to_timestamp($1::float8 / 1000000) - $3::interval)`)} AS a, ${epochUs(`(to_timestamp($2::float8 / 1000000) - $3::interval)`)} AS b`,
    [fromUs, toUs, window],
  )
  return { fromUs: Number(r.rows[0]!.a), toUs: Number(r.rows[0]!.b) }
}

/** The checks of a policy's effect against its config; `before`/`after` bracket the run. */
async function contradictions(client: pg.ClientBase, job: RegisteredJob, before: DataState, after: DataState, effects: HypertableEffect[], otherChanges: string[]): Promise<{ violations: string[]; cutoff?: JobRun['cutoff'] }> {
  const out: string[] = []
  const own = job.hypertable
  if (job.kind !== 'retention' && job.kind !== 'compression') return { violations: out }
  // A policy works on its own hypertable only.
  for (const e of effects) {
    if (e.table === own) continue
    if (e.contentChanged || e.chunksDropped || e.chunksCompressed) out.push(`changed ${e.table}, which is not its hypertable (${e.rowsBefore} → ${e.rowsAfter} rows, ${e.chunksDropped} chunks dropped, ${e.chunksCompressed} compressed)`)
  }
  for (const l of otherChanges) out.push(`changed a table that is not its hypertable: ${l}`)
  const w = jobWindow(job)
  if (!own || !w || w.name.endsWith('created_before')) return { violations: out }
  const c = await cutoffs(client, w.value, before.atUs, after.atUs)
  if (!c) return { violations: out }
  const cutoff = { from: isoUs(c.fromUs), to: isoUs(c.toUs) }
  const b = before.hypertables.get(own)
  const a = after.hypertables.get(own)
  if (!b || !a || b.integer) return { violations: out, cutoff }
  const aByKey = new Map(a.slices.map((s) => [sliceKey(s), s]))
  const range = (s: Slice) => `[${isoUs(s.startUs)}, ${isoUs(s.endUs)})`
  const e = effects.find((x) => x.table === own)!
  if (job.kind === 'retention') {
    for (const s of b.slices) {
      const now = aByKey.get(sliceKey(s))
      if (!now) {
        // Dropped: every row it held must be older than now() - drop_after at any instant of the run.
        if (s.maxUs !== null && s.maxUs >= c.toUs) out.push(`deleted rows newer than now() - ${w.value}: chunk ${s.chunks.join(', ')} ${range(s)} held a row at ${isoUs(s.maxUs)}, the cutoff was ${cutoff.to} at the latest`)
        continue
      }
      if (now.rows !== s.rows) out.push(`deleted ${s.rows - now.rows} row(s) from chunk ${s.chunks.join(', ')} ${range(s)}, which it kept (a retention policy drops whole chunks)`)
      if (s.endUs <= c.fromUs) out.push(`left chunk ${now.chunks.join(', ')} ${range(s)} (${now.rows} rows) in place although it lies entirely before now() - ${w.value} (${cutoff.from})`)
    }
    if (e.contentChanged && e.rowsAfter + e.rowsInDroppedChunks !== e.rowsBefore) out.push(`rows changed other than by dropping chunks: ${e.rowsBefore} before, ${e.rowsAfter} after, ${e.rowsInDroppedChunks} in dropped chunks`)
  } else {
    if (e.contentChanged) out.push(`changed the rows of ${own}: ${e.rowsBefore} → ${e.rowsAfter} rows${e.rowsBefore === e.rowsAfter ? ', different content' : ''} (compression must change no row)`)
    if (e.chunksDropped) out.push(`${e.chunksDropped} chunk(s) of ${own} disappeared (compression drops nothing)`)
    const bByKey = new Map(b.slices.map((s) => [sliceKey(s), s]))
    for (const s of a.slices) {
      const was = bByKey.get(sliceKey(s))
      if (s.compressed > (was?.compressed ?? 0) && s.endUs > c.toUs) out.push(`compressed chunk ${s.chunks.join(', ')} ${range(s)}, which is not entirely before now() - ${w.value} (${cutoff.to})`)
      // A policy limited to a number of chunks per run (maxchunks_to_compress) may leave older ones for its next run.
      const limited = Number(job.config.maxchunks_to_compress ?? 0) > 0
      if (!limited && s.endUs <= c.fromUs && s.rows > 0 && s.compressed < s.chunks.length) out.push(`left chunk ${s.chunks.join(', ')} ${range(s)} (${s.rows} rows) uncompressed although it lies entirely before now() - ${w.value} (${cutoff.from})`)
    }
  }
  return { violations: out, cutoff }
}

/**
 * Runs every job once, in id order, measuring the data before and after each. Never throws for
 * a job's error (it is in the run); the caller decides the verdict from `ok` and `violations`.
 */
export async function runJobsMeasured(
  client: pg.ClientBase,
  jobs: RegisteredJob[],
  schemas: string[],
  options: { exclude?: string[]; onRun?: (run: JobRun) => void } = {},
): Promise<JobRun[]> {
  const runs: JobRun[] = []
  let before = await captureState(client, schemas, options.exclude)
  for (const job of jobs) {
    const r = await runJob(client, job.id)
    const after = await captureState(client, schemas, options.exclude)
    const names = [...new Set([...before.hypertables.keys(), ...after.hypertables.keys()])].sort()
    const effects = names.map((t) => effectOn(t, before, after)).filter((e) => e.table === job.hypertable || e.contentChanged || e.chunksDropped || e.chunksCompressed || e.chunksAfter !== e.chunksBefore)
    const plain = (m: Map<string, TableDigest>) => new Map([...m].filter(([k]) => !before.hypertables.has(k) && !after.hypertables.has(k)))
    const otherChanges = diffDigests(plain(before.tables), plain(after.tables))
    const { violations, cutoff } = r.ok ? await contradictions(client, job, before, after, effects, otherChanges) : { violations: [] as string[], cutoff: undefined }
    const run: JobRun = { job, ok: r.ok, durationMs: r.durationMs, ...(r.error ? { error: r.error } : {}), ...(cutoff ? { cutoff } : {}), effects, otherChanges, violations }
    runs.push(run)
    options.onRun?.(run)
    before = after
  }
  return runs
}
