/** TimescaleDB's registered jobs (timescaledb_information.jobs), every column the harness reads. */
import type pg from 'pg'
import { hasTimescaleInformation, rows } from './common.ts'

export interface JobRow {
  id: number
  procSchema: string
  procName: string
  hypertableSchema: string | null
  hypertableName: string | null
  config: Record<string, unknown> | null
  scheduleInterval: string
  scheduled: boolean
  maxRuntime: string
  maxRetries: number
  retryPeriod: string
}

/** Whether the job catalog is there (TimescaleDB installed). */
export const hasJobCatalog = (client: pg.ClientBase): Promise<boolean> => hasTimescaleInformation(client, 'jobs')

/** Every job, TimescaleDB's own (ids below 1000) included, by id. Empty without TimescaleDB (`checked`: the caller knows it is there). */
export async function readJobs(client: pg.ClientBase, checked = false): Promise<JobRow[]> {
  if (!checked && !(await hasJobCatalog(client))) return []
  const found = await rows<JobRow>(
    client,
    `SELECT job_id AS id, proc_schema::text AS "procSchema", proc_name::text AS "procName",
            hypertable_schema::text AS "hypertableSchema", hypertable_name::text AS "hypertableName", config,
            schedule_interval::text AS "scheduleInterval", scheduled, max_runtime::text AS "maxRuntime",
            max_retries AS "maxRetries", retry_period::text AS "retryPeriod"
       FROM timescaledb_information.jobs ORDER BY job_id`,
  )
  return found.map((j) => ({ ...j, id: Number(j.id) }))
}

/** The job's config without `hypertable_id` (an id that differs between databases). */
export function configWithoutIds(j: JobRow): Record<string, unknown> {
  const config = { ...(j.config ?? {}) }
  delete config.hypertable_id
  return config
}
