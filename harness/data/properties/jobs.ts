/**
 * The registered jobs after every migrated dataset: each runs once (`CALL run_job(id)`, id
 * order: jobs never run by themselves here), and a missing row is explained only by a retention
 * policy whose window it is older than.
 */
import type pg from 'pg'
import type { Migration } from '../../sql/migration.ts'
import { attributeJobs, describeConfig, formatJobError, jobLabel, jobWindow, listJobs, registeredLabel, runJob, type JobsByVersion, type RegisteredJob } from '../../validation/jobs/index.ts'
import { show, type MissingRow, type RetentionExplainer } from './preservation.ts'

/** "retention policy on s.t (009_x, drop_after 90 days)": how the summary names a policy. */
export const policyLabel = (j: RegisteredJob) => `${jobLabel(j)} (${j.registeredBy?.migration ?? 'registered by no migration file found'}, ${describeConfig(j).split(';')[0]})`

/**
 * Every registered job once, with CALL run_job, in id order. A job's error is returned, not a
 * violation: this stage proves that no data is lost or changed, which the rows checked after the
 * jobs show either way (a failed policy run leaves its chunk as it was); job health on realistic
 * data is the jobs stage's verdict. The errors are listed in the stage's summary and details.
 */
export async function runRegisteredJobs(client: pg.ClientBase, ctx: { migrations: Migration[]; jobsAt: JobsByVersion; jobs?: (job: RegisteredJob) => boolean }): Promise<{ jobs: RegisteredJob[]; errors: { job: RegisteredJob; message: string }[] }> {
  const jobs = attributeJobs(await listJobs(client), ctx.migrations, ctx.jobsAt).filter(ctx.jobs ?? (() => true))
  const errors: { job: RegisteredJob; message: string }[] = []
  for (const j of jobs) {
    const r = await runJob(client, j.id)
    if (!r.ok) errors.push({ job: j, message: formatJobError(r.error!) })
  }
  return { jobs, errors }
}

/** A job error without the ids that differ between runs (chunk, relation and transaction numbers). */
export const jobErrorKey = (j: RegisteredJob, message: string) =>
  `${jobLabel(j)} [${registeredLabel(j)}; ${describeConfig(j)}]: ${message.replace(/# \d+: aborting transaction \d+ \| /g, '').replace(/_(hyper|compressed_hypertable|compress_hyper)_\d+_\d+/g, '_$1_N_N').replace(/compress_hyper_\d+_\d+/g, 'compress_hyper_N_N').replace(/tuple \(\d+,\d+\)/g, 'tuple (…)').replace(/'\d+' chunks/g, "'N' chunks").replace(/size \d+/g, 'size N')}`

/** Retention policies with their cutoff (now() - drop_after, taken after every job ran: the latest instant any of them can have used). */
export async function retentionExplainer(client: pg.ClientBase, jobs: RegisteredJob[], tally?: Map<string, number>): Promise<RetentionExplainer> {
  const policies: { job: RegisteredJob; window: string; cutoff: string }[] = []
  for (const j of jobs) {
    const w = jobWindow(j)
    if (j.kind !== 'retention' || !j.hypertable || !w || w.name !== 'drop_after' || !/[a-z]/i.test(w.value)) continue
    const c = (await client.query<{ c: string }>(`SELECT (clock_timestamp() - $1::interval)::text AS c`, [w.value])).rows[0]!.c
    policies.push({ job: j, window: w.value, cutoff: c })
  }
  return {
    async explain(tn, t, rows) {
      const mine = policies.filter((p) => p.job.hypertable === tn.name)
      if (!mine.length) return rows.map((r) => ({ ...r, why: `no retention policy is registered on ${tn.name}, so no job may delete its rows` }))
      const time = tn.hypertable?.timeColumn
      const idx = time ? t.columns.findIndex((c) => c.name === time) : -1
      if (!time || idx < 0) return rows.map((r) => ({ ...r, why: `its time column ${time ?? '(none)'} did not exist before migrating, so no retention policy explains it` }))
      const type = tn.columns.find((c) => c.name === time)!.type
      const values = rows.map((r) => r.row[idx] ?? null)
      const by: number[] = rows.map(() => -1)
      for (const [pi, p] of mine.entries()) {
        const r = await client.query<{ ok: boolean | null }>(`SELECT (u.v::${type} < $2::timestamptz) AS ok FROM unnest($1::text[]) WITH ORDINALITY AS u(v, i) ORDER BY u.i`, [values, p.cutoff])
        r.rows.forEach((x, i) => {
          if (x.ok === true && by[i]! < 0) by[i] = pi
        })
      }
      const out: (MissingRow & { why: string })[] = []
      rows.forEach((r, i) => {
        const p = mine[by[i]!]
        if (p) {
          if (tally) tally.set(policyLabel(p.job), (tally.get(policyLabel(p.job)) ?? 0) + r.n)
          return
        }
        const windows = mine.map((m) => `now() - ${m.window} (${m.cutoff}, ${registeredLabel(m.job)})`).join(' or ')
        out.push({ ...r, why: `its ${time} ${show(values[i] ?? null)} is not older than ${windows}, so no retention policy explains it` })
      })
      return out
    },
  }
}
