/**
 * The TimescaleDB jobs that migrations register (retention and compression policies, reorder
 * and refresh policies, `add_job`), made explicit:
 *
 *   - listJobs()          the registered user jobs (id ≥ 1000), kind and config;
 *   - registerStepwise()  migrates one version at a time and attributes every job to the
 *                         migration that registered it; attributeJobs() does the same from the
 *                         schema fingerprints replay recorded (or, for add_job, the file text);
 *   - runJob()            `CALL run_job(id)`: the same on every engine (background workers are
 *                         off for proofs, and the embedded engine has none);
 *   - runJobsMeasured()   every job in id order, the data measured before and after each one:
 *                         rows and chunks per hypertable (per time slice), compression state,
 *                         a content hash per table; the effect is checked against the job's own
 *                         config (a retention policy deletes whole chunks entirely older than
 *                         now() - drop_after and nothing else; a compression policy compresses
 *                         the chunks older than compress_after and changes no row);
 *   - spreadOverWindows() copies of a few template rows per hypertable placed on both sides of
 *                         every policy window, exactly on chunk boundaries and 1 µs either side,
 *                         and beyond the oldest window: data that shows what each job does.
 *
 * Time dimensions of type timestamptz are measured per chunk; timestamp and date dimensions are
 * compared through the session time zone (exact under UTC); integer dimensions are measured by
 * row counts and content only.
 */
import { quoteIdent, quoteQualified } from '../util/sql.ts'
import type pg from 'pg'
import type { Migration } from '../sql/migration.ts'
import { isConnectionLoss } from '../sqlstate.ts'
import { dataDigests, diffDigests, type TableDigest } from './data-digest.ts'
import { canonicalJson, type SchemaSnapshot } from './fingerprint.ts'

// ---- registered jobs -------------------------------------------------------------------------------

export type JobKind = 'retention' | 'compression' | 'reorder' | 'refresh' | 'custom'

export interface RegisteredBy {
  migration: string
  file: string
  version: number
  /** How it was found: by migrating one version at a time, from replay's fingerprints, or from the file's text. */
  how: 'replay' | 'fingerprint' | 'text'
}

export interface RegisteredJob {
  id: number
  /** `schema.procedure`. */
  proc: string
  procName: string
  kind: JobKind
  /** `schema.table` of a policy's hypertable (continuous aggregates: their materialization hypertable). */
  hypertable?: string
  /** The job's config without `hypertable_id` (an id differs between databases). */
  config: Record<string, unknown>
  scheduleInterval: string
  scheduled: boolean
  registeredBy?: RegisteredBy
}

const INTERNAL_SCHEMAS = ['_timescaledb_functions', '_timescaledb_internal']
const KIND_OF: Record<string, JobKind> = {
  policy_retention: 'retention',
  policy_compression: 'compression',
  policy_reorder: 'reorder',
  policy_refresh_continuous_aggregate: 'refresh',
}

export const hasJobCatalog = async (client: pg.ClientBase): Promise<boolean> =>
  (await client.query<{ t: string | null }>(`SELECT to_regclass('timescaledb_information.jobs')::text AS t`)).rows[0]?.t != null

/** The user jobs (TimescaleDB numbers them from 1000; below are its own telemetry and housekeeping jobs), by id. */
export async function listJobs(client: pg.ClientBase): Promise<RegisteredJob[]> {
  if (!(await hasJobCatalog(client))) return []
  const r = await client.query<{
    id: number
    ps: string
    pn: string
    hs: string | null
    hn: string | null
    config: Record<string, unknown> | null
    every: string
    scheduled: boolean
  }>(
    `SELECT job_id AS id, proc_schema::text AS ps, proc_name::text AS pn, hypertable_schema::text AS hs, hypertable_name::text AS hn,
            config, schedule_interval::text AS every, scheduled
       FROM timescaledb_information.jobs WHERE job_id >= 1000 ORDER BY job_id`,
  )
  return r.rows.map((j) => {
    const config = { ...(j.config ?? {}) }
    delete config.hypertable_id
    const internal = INTERNAL_SCHEMAS.includes(j.ps)
    return {
      id: Number(j.id),
      proc: `${j.ps}.${j.pn}`,
      procName: j.pn,
      kind: (internal && KIND_OF[j.pn]) || 'custom',
      ...(j.hs && j.hn ? { hypertable: `${j.hs}.${j.hn}` } : {}),
      config,
      scheduleInterval: j.every,
      scheduled: j.scheduled,
    }
  })
}

/** Identity of a job independent of its id: procedure, hypertable, config and schedule. */
export const jobKey = (j: RegisteredJob): string => `${j.proc}|${j.hypertable ?? ''}|${canonicalJson(j.config)}|${j.scheduleInterval}`

/** The window a policy works with: drop_after, compress_after (an interval text, or a number for integer time). */
export function jobWindow(j: RegisteredJob): { name: string; value: string } | undefined {
  const pick = (name: string) => (j.config[name] === undefined || j.config[name] === null ? undefined : { name, value: String(j.config[name]) })
  if (j.kind === 'retention') return pick('drop_after') ?? pick('drop_created_before')
  if (j.kind === 'compression') return pick('compress_after') ?? pick('compress_created_before')
  return undefined
}

const KIND_LABEL: Record<JobKind, string> = { retention: 'retention policy', compression: 'compression policy', reorder: 'reorder policy', refresh: 'continuous-aggregate refresh policy', custom: 'custom job' }

/** "retention policy on factory_telemetry.metric_hist" / "custom job factory_telemetry.purge()" */
export function jobLabel(j: RegisteredJob): string {
  return j.kind === 'custom' ? `${KIND_LABEL.custom} ${j.proc}()` : `${KIND_LABEL[j.kind]}${j.hypertable ? ` on ${j.hypertable}` : ''}`
}

/** "drop_after 90 days", "compress_after 7 days", or the config as JSON. */
export function describeConfig(j: RegisteredJob): string {
  const w = jobWindow(j)
  const rest = Object.entries(j.config).filter(([k]) => k !== w?.name)
  const parts = [...(w ? [`${w.name} ${w.value}`] : []), ...rest.map(([k, v]) => `${k} ${typeof v === 'string' ? v : JSON.stringify(v)}`)]
  return `${parts.length ? parts.join(', ') : 'no config'}; every ${j.scheduleInterval}`
}

export const registeredLabel = (j: RegisteredJob): string => (j.registeredBy ? j.registeredBy.file : 'registered by no migration file that could be found')

/**
 * From the current version (usually 0, bootstrapped), applies the migrations one version at a
 * time and attributes every job that appears to the migration that made it appear. Jobs removed
 * by a later migration disappear; one re-registered with another config is attributed anew.
 */
export async function registerStepwise(
  client: pg.ClientBase,
  // What it needs of runner/migrator.ts's Migrator, stated here: validation sits below the runner.
  migrator: { up(options: { to: number }): Promise<{ error?: { message: string; code: string } }> },
  migrations: Migration[],
): Promise<{ jobs: RegisteredJob[]; error?: { message: string; code: string; migration: string } }> {
  let previous = await listJobs(client)
  const by = new Map<string, RegisteredBy[]>()
  for (const m of migrations) {
    const r = await migrator.up({ to: m.version })
    if (r.error) return { jobs: previous, error: { message: r.error.message, code: r.error.code, migration: m.name } }
    const now = await listJobs(client)
    const before = new Map<string, number>()
    for (const j of previous) before.set(jobKey(j), (before.get(jobKey(j)) ?? 0) + 1)
    const seen = new Map<string, number>()
    for (const j of now) {
      const k = jobKey(j)
      const n = (seen.get(k) ?? 0) + 1
      seen.set(k, n)
      if (n > (before.get(k) ?? 0)) (by.get(k) ?? by.set(k, []).get(k)!).push({ migration: m.name, file: m.up.file, version: m.version, how: 'replay' })
    }
    // Keep only as many attributions per key as there are jobs (a removal forgets the oldest).
    for (const [k, list] of by) {
      const n = seen.get(k) ?? 0
      if (list.length > n) by.set(k, list.slice(list.length - n))
    }
    previous = now
  }
  const used = new Map<string, number>()
  const jobs = previous.map((j) => {
    const k = jobKey(j)
    const i = used.get(k) ?? 0
    used.set(k, i + 1)
    const r = by.get(k)?.[i]
    return r ? { ...j, registeredBy: r } : j
  })
  return { jobs }
}

/**
 * Attribution without migrating again: a policy belongs to the first version from which replay's
 * fingerprints hold it (same hypertable, procedure and config) up to the last; a custom job to
 * the last migration whose text calls add_job with its procedure's name.
 */
export function attributeJobs(jobs: RegisteredJob[], migrations: Migration[], fingerprints?: Map<number, SchemaSnapshot>): RegisteredJob[] {
  const last = migrations.length ? migrations[migrations.length - 1]!.version : 0
  const byVersion = new Map(migrations.map((m) => [m.version, m]))
  return jobs.map((j) => {
    if (j.hypertable && fingerprints?.size) {
      const has = (v: number) =>
        fingerprints.get(v)?.jobs.some((s) => s.hypertable === j.hypertable && s.procName === j.procName && canonicalJson(s.config) === canonicalJson(j.config)) ?? false
      let v = last
      if (has(v)) {
        while (v > 0 && has(v - 1)) v--
        const m = byVersion.get(v)
        if (m) return { ...j, registeredBy: { migration: m.name, file: m.up.file, version: m.version, how: 'fingerprint' as const } }
      }
    }
    const name = j.procName.toLowerCase()
    const policyCall = j.kind === 'custom' ? /\badd_job\s*\(/i : new RegExp(`\\badd_${j.kind === 'refresh' ? 'continuous_aggregate' : j.kind}_policy\\s*\\(`, 'i')
    const table = j.hypertable?.split('.').pop()?.toLowerCase()
    const m = [...migrations].reverse().find((x) => {
      const sql = x.up.sql.toLowerCase()
      return policyCall.test(x.up.sql) && (j.kind === 'custom' ? sql.includes(name) : !table || sql.includes(table))
    })
    return m ? { ...j, registeredBy: { migration: m.name, file: m.up.file, version: m.version, how: 'text' as const } } : j
  })
}

/**
 * Turns off the schedule of every user job (the registration itself, config and all, stays as the
 * migrations made it), so a server whose background workers are on cannot run one on its own in
 * the middle of a proof. Returns how many were switched off.
 */
export async function unscheduleJobs(client: pg.ClientBase, jobs: RegisteredJob[]): Promise<number> {
  let n = 0
  for (const j of jobs.filter((x) => x.scheduled)) {
    await client.query(`SELECT alter_job(${Number(j.id)}, scheduled => false)`)
    n++
  }
  return n
}

// ---- running a job -------------------------------------------------------------------------------------

export interface JobError {
  message: string
  sqlstate?: string
  detail?: string
  hint?: string
  /** WARNINGs the job raised before failing: policies report each chunk's real error this way. */
  warnings?: string[]
}

/** `CALL run_job(id)` outside any transaction (policies commit per chunk). Never throws for a job's own error. */
export async function runJob(client: pg.ClientBase, id: number): Promise<{ ok: boolean; durationMs: number; error?: JobError; warnings: string[] }> {
  const t0 = performance.now()
  const warnings: string[] = []
  const onNotice = (n: { severity?: string; message?: string; detail?: string }) => {
    if (n.severity === 'WARNING' || n.severity === 'ERROR') warnings.push(`${n.message ?? ''}${n.detail ? ` (${n.detail})` : ''}`)
  }
  client.on('notice', onNotice)
  try {
    await client.query(`CALL run_job(${Number(id)})`)
    return { ok: true, durationMs: performance.now() - t0, warnings }
  } catch (e) {
    const x = e as { message: string; code?: string; detail?: string; hint?: string }
    if (isConnectionLoss(x)) throw e
    return {
      ok: false,
      durationMs: performance.now() - t0,
      error: { message: x.message, ...(x.code ? { sqlstate: x.code } : {}), ...(x.detail ? { detail: x.detail } : {}), ...(x.hint ? { hint: x.hint } : {}), ...(warnings.length ? { warnings } : {}) },
      warnings,
    }
  } finally {
    client.off('notice', onNotice)
  }
}

/** "ERROR 22000: columnstore policy failure (detail); warnings: …" */
export const formatJobError = (e: JobError): string =>
  `${e.sqlstate ? `ERROR ${e.sqlstate}: ` : ''}${e.message}${e.detail ? ` (${e.detail})` : ''}${e.warnings?.length ? `; it warned: ${e.warnings.join(' | ')}` : ''}`

// ---- measuring ---------------------------------------------------------------------------------------------

/** One time slice of a hypertable: the chunks sharing one range of the time dimension. */
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

const us = (v: string | null | undefined): number | null => (v === null || v === undefined ? null : Number(v))
const epochUs = (expr: string) => `(extract(epoch FROM ${expr}) * 1000000)::bigint::text`

export async function hypertableDimensions(client: pg.ClientBase, schemas: string[]): Promise<{ table: string; timeColumn: string; timeType: string; integer: boolean; intervalUs: number }[]> {
  if (!(await hasJobCatalog(client))) return []
  const r = await client.query<{ q: string; col: string; type: string; integer: boolean; iv: string | null }>(
    `SELECT hypertable_schema || '.' || hypertable_name AS q, column_name::text AS col, column_type::text AS type,
            time_interval IS NULL AS integer, ${epochUs('time_interval')} AS iv
       FROM timescaledb_information.dimensions
      WHERE dimension_number = 1 AND hypertable_schema = ANY($1::text[]) ORDER BY 1`,
    [schemas],
  )
  return r.rows.map((x) => ({ table: x.q, timeColumn: x.col, timeType: x.type, integer: x.integer, intervalUs: Number(x.iv ?? 0) }))
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

// ---- reporting ------------------------------------------------------------------------------------------------

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`

/** What a run did, in one line per fact. */
export function formatRun(run: JobRun): string[] {
  const j = run.job
  const head = `job ${j.id} ${jobLabel(j)} [${registeredLabel(j)}]: ${describeConfig(j)}`
  const ms = `${Math.round(run.durationMs)} ms`
  if (!run.ok) {
    const e = run.error!
    return [`FAIL ${head}`, `  CALL run_job(${j.id}) failed after ${ms}: ${formatJobError(e)}`]
  }
  const lines = [`${run.violations.length ? 'FAIL' : 'ok  '} ${head}`]
  const own = run.effects.find((e) => e.table === j.hypertable)
  const cut = run.cutoff ? `, cutoff ${run.cutoff.from}` : ''
  if (j.kind === 'retention' && own) {
    lines.push(
      `  deleted ${plural(own.rowsBefore - own.rowsAfter, 'row')} in ${plural(own.chunksDropped, 'chunk')} of ${own.table}${cut}; kept ${plural(own.rowsAfter, 'row')} in ${plural(own.chunksAfter, 'chunk')} (${ms})`,
    )
  } else if (j.kind === 'compression' && own) {
    lines.push(
      `  compressed ${plural(own.chunksCompressed, 'chunk')} of ${own.table}${cut} (${own.compressedAfter} of ${own.chunksAfter} now compressed); rows ${own.contentChanged ? `CHANGED ${own.rowsBefore} → ${own.rowsAfter}` : `and content unchanged (${own.rowsAfter})`} (${ms})`,
    )
  } else {
    const changed = run.effects.filter((e) => e.contentChanged || e.chunksDropped || e.chunksCompressed)
    if (!changed.length && !run.otherChanges.length) lines.push(`  ran in ${ms}; no table changed`)
    else lines.push(`  ran in ${ms}`)
    for (const e of changed) lines.push(`  ${e.table}: ${e.rowsBefore} → ${e.rowsAfter} rows, ${e.chunksDropped} chunks dropped, ${e.chunksCompressed} compressed`)
    for (const l of run.otherChanges) lines.push(`  ${l}`)
  }
  for (const e of run.effects.filter((x) => x.table !== j.hypertable && j.kind !== 'custom')) lines.push(`  also ${e.table}: ${e.rowsBefore} → ${e.rowsAfter} rows, ${e.chunksDropped} chunks dropped, ${e.chunksCompressed} compressed`)
  for (const v of run.violations) lines.push(`  CONTRADICTS ITS CONFIG: ${v}`)
  return lines
}

/** Totals per kind, for a summary line. */
export function totals(runs: JobRun[]): { retention: { rows: number; chunks: number; tables: number }; compression: { chunks: number; tables: number }; failed: number; contradicting: number } {
  const t = { retention: { rows: 0, chunks: 0, tables: 0 }, compression: { chunks: 0, tables: 0 }, failed: 0, contradicting: 0 }
  for (const r of runs) {
    if (!r.ok) t.failed++
    if (r.violations.length) t.contradicting++
    const own = r.effects.find((e) => e.table === r.job.hypertable)
    if (!r.ok || !own) continue
    if (r.job.kind === 'retention') {
      t.retention.rows += own.rowsBefore - own.rowsAfter
      t.retention.chunks += own.chunksDropped
      if (own.chunksDropped) t.retention.tables++
    } else if (r.job.kind === 'compression') {
      t.compression.chunks += own.chunksCompressed
      if (own.chunksCompressed) t.compression.tables++
    }
  }
  return t
}

// ---- data that shows what the jobs do -------------------------------------------------------------------------

export interface Spread {
  table: string
  templates: number
  inserted: number
  /** Rows exactly on a chunk boundary or 1 µs either side. */
  atBoundaries: number
  oldestUs: number | null
  newestUs: number | null
  windows: string[]
}

/**
 * For every hypertable with rows (the templates) and at least one policy window: copies of all
 * its rows shifted as a block (so unique keys stay unique) to start at instants on both sides of
 * every window's cutoff: the chunk boundaries at, before and after the cutoff, each exactly and
 * 1 µs either side; halfway between the windows; and beyond the oldest window. Conflicting
 * copies are skipped (ON CONFLICT DO NOTHING). Runs in one transaction.
 */
export async function spreadOverWindows(client: pg.ClientBase, jobs: RegisteredJob[], schemas: string[]): Promise<Spread[]> {
  const out: Spread[] = []
  const dims = await hypertableDimensions(client, schemas)
  await client.query('BEGIN')
  try {
    for (const d of dims.filter((x) => !x.integer && x.intervalUs > 0)) {
      const windows = [...new Set(jobs.filter((j) => j.hypertable === d.table).map(jobWindow).filter((w): w is { name: string; value: string } => !!w && !w.name.endsWith('created_before')).map((w) => w.value))]
      if (!windows.length) continue
      const ht = quoteQualified(d.table)
      const t = quoteIdent(d.timeColumn)
      const base = (await client.query<{ n: number; mn: string | null; now: string }>(`SELECT count(*)::int AS n, ${epochUs(`min(${t})::timestamptz`)} AS mn, ${epochUs('now()')} AS now FROM ${ht}`)).rows[0]!
      if (!base.n || base.mn === null) continue
      const nowUs = Number(base.now)
      const minUs = Number(base.mn)
      const cuts: number[] = []
      for (const w of windows) cuts.push(Number((await client.query<{ c: string }>(`SELECT ${epochUs('now() - $1::interval')} AS c`, [w])).rows[0]!.c))
      cuts.sort((a, b) => a - b)
      const I = d.intervalUs
      const boundaries = new Set<number>()
      for (const c of cuts) for (const k of [-1, 0, 1]) boundaries.add((Math.floor(c / I) + k) * I)
      const starts = new Set<number>()
      for (const b of boundaries) for (const o of [-1, 0, 1]) starts.add(b + o)
      for (let i = 0; i + 1 < cuts.length; i++) starts.add(Math.floor((cuts[i]! + cuts[i + 1]!) / 2))
      starts.add(cuts[0]! - 2 * I - Math.floor(I / 2))
      starts.add(cuts[0]! - 30 * 86_400_000_000)
      const newest = cuts[cuts.length - 1]!
      starts.add(Math.floor((newest + nowUs) / 2))
      const cols = (
        await client.query<{ name: string; type: string }>(
          `SELECT a.attname::text AS name, format_type(a.atttypid, a.atttypmod) AS type FROM pg_attribute a
            WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' AND a.attidentity <> 'a'
            ORDER BY a.attnum`,
          [ht],
        )
      ).rows
      await client.query(`CREATE TEMP TABLE pgverify_job_templates ON COMMIT DROP AS SELECT * FROM ${ht}`)
      const list = cols.map((c) => quoteIdent(c.name)).join(', ')
      // Every time-like column moves with the time column, so a row stays consistent (ts_off >= ts_on).
      const timeLike = (type: string) => /^(timestamp|date)\b/.test(type)
      const shifted = cols.map((c) => (timeLike(c.type) ? `(${quoteIdent(c.name)} + ($1::bigint * interval '1 microsecond'))::${c.type}` : quoteIdent(c.name))).join(', ')
      let inserted = 0
      for (const s of [...starts].sort((a, b) => a - b)) {
        const r = await client.query(`INSERT INTO ${ht} (${list}) SELECT ${shifted} FROM pgverify_job_templates ON CONFLICT DO NOTHING`, [String(s - minUs)])
        inserted += r.rowCount ?? 0
      }
      await client.query('DROP TABLE pgverify_job_templates')
      const edge = [...boundaries].flatMap((b) => [b - 1, b, b + 1]).map((v) => isoUs(v))
      const at = (await client.query<{ n: number; lo: string | null; hi: string | null }>(
        `SELECT count(*) FILTER (WHERE ${t}::timestamptz = ANY($1::timestamptz[]))::int AS n, ${epochUs(`min(${t})::timestamptz`)} AS lo, ${epochUs(`max(${t})::timestamptz`)} AS hi FROM ${ht}`,
        [edge],
      )).rows[0]!
      out.push({ table: d.table, templates: base.n, inserted, atBoundaries: at.n, oldestUs: us(at.lo), newestUs: us(at.hi), windows })
    }
    await client.query('COMMIT')
  } catch (e) {
    await client.query('ROLLBACK').catch(() => {})
    throw e
  }
  return out
}
