/**
 * The TimescaleDB jobs that migrations register (retention and compression policies, reorder
 * and refresh policies, `add_job`), as the harness models them: kind, config without ids, the
 * policy window, labels, and the migration each one is attributed to.
 */
import type pg from 'pg'
import { configWithoutIds, hasJobCatalog, readJobs } from '../../catalog/jobs.ts'
import type { Migration } from '../../sql/migration.ts'
import { canonicalJson } from '../../util/canonical.ts'
import type { JobSnapshot } from '../fingerprint/index.ts'

/** The jobs replay recorded at each version (verify's ctx.jobsAt; a Map satisfies it): what attribution reads. */
export interface JobsByVersion {
  get(version: number): readonly JobSnapshot[] | undefined
  readonly size: number
}

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

export { hasJobCatalog }

/** The user jobs (TimescaleDB numbers them from 1000; below are its own telemetry and housekeeping jobs), by id. */
export async function listJobs(client: pg.ClientBase): Promise<RegisteredJob[]> {
  return (await readJobs(client))
    .filter((j) => j.id >= 1000)
    .map((j) => {
      const internal = INTERNAL_SCHEMAS.includes(j.procSchema)
      return {
        id: j.id,
        proc: `${j.procSchema}.${j.procName}`,
        procName: j.procName,
        kind: (internal && KIND_OF[j.procName]) || 'custom',
        ...(j.hypertableSchema && j.hypertableName ? { hypertable: `${j.hypertableSchema}.${j.hypertableName}` } : {}),
        config: configWithoutIds(j),
        scheduleInterval: j.scheduleInterval,
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
 * Attribution without migrating again: a policy belongs to the first version from which the jobs
 * replay recorded hold it (same hypertable, procedure and config) up to the last; a custom job to
 * the last migration whose text calls add_job with its procedure's name.
 */
export function attributeJobs(jobs: RegisteredJob[], migrations: Migration[], jobsAt?: JobsByVersion): RegisteredJob[] {
  const last = migrations.length ? migrations[migrations.length - 1]!.version : 0
  const byVersion = new Map(migrations.map((m) => [m.version, m]))
  return jobs.map((j) => {
    if (j.hypertable && jobsAt?.size) {
      const has = (v: number) =>
        jobsAt.get(v)?.some((s) => s.hypertable === j.hypertable && s.procName === j.procName && canonicalJson(s.config) === canonicalJson(j.config)) ?? false
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
