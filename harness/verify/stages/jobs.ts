/**
 * The jobs the migrations register, run explicitly. On a fresh database: migrate one version at
 * a time (so every job is attributed to the migration that registered it), load generated data
 * that spans beyond every policy window with rows on chunk boundaries, then `CALL run_job(id)`
 * each job once, in id order, measuring before and after. Reported per job: the migration file,
 * its kind and config, and what it did (rows and chunks deleted per hypertable, chunks
 * compressed). Fails when a job errors or its effect contradicts its config (harness/validation/
 * jobs.ts says which checks). Nothing here depends on background workers: on a server that has
 * them on, the jobs' schedules are switched off first, so none runs by itself mid-proof.
 */
import fc from 'fast-check'
import type pg from 'pg'
import { loadJobTemplates } from '../../data/job-data.ts'
import { buildPlan } from '../../data/arbitraries.ts'
import { readCatalog } from '../../catalog/tables.ts'
import { insertDataset } from '../../data/dataset.ts'
import { connect } from '../../runner/connect.ts'
import { registerStepwise } from '../../data/job-register.ts'
import { spreadOverWindows } from '../../data/job-spread.ts'
import { formatJobError, formatRun, isoUs, jobLabel, registeredLabel, runJobsMeasured, totals, unscheduleJobs, type JobRun } from '../../validation/jobs/index.ts'
import { jobInScope, jobsAtLast } from '../scope.ts'
import { failed, inFocus, migratorFor, passed, type StageFn, type VerifyContext } from '../stage.ts'

/** Seed of the generated data when --seed is not given (the stage is deterministic either way). */
export const DEFAULT_JOBS_SEED = 1

const DAY_US = 86_400_000_000

const isMs5 = (ctx: VerifyContext) => ctx.manifest?.schema === 'factory_telemetry' && (ctx.manifest.tables ?? []).includes('factory_telemetry.metric_hist')

/** Template rows: the telemetry generator for MS5.0, the catalog-driven generator for any other schema. */
async function loadTemplates(ctx: VerifyContext, client: pg.ClientBase, seed: number, logName: string): Promise<string> {
  if (isMs5(ctx)) {
    const t = await loadJobTemplates(client, { seed })
    return `${t.total} template rows of generated MS5.0 telemetry (harness/data/telemetry.ts, seed ${seed}): the reference data and the first rows of each time series, from the last two days`
  }
  const cat = await readCatalog(client, ctx.schemas, { exclude: [logName] })
  const { plan, arbitrary } = buildPlan(cat, { anchor: new Date(), maxHypertableRows: 12 })
  // Of a few seeded datasets, the one with the most hypertable rows that the engine accepts.
  const hyper = plan.tables.map((t, i) => (t.table.hypertable ? i : -1)).filter((i) => i >= 0)
  const samples = fc
    .sample(arbitrary, { seed, numRuns: 20 })
    .map((raw, i) => ({ raw, i, n: hyper.reduce((n, t) => n + (raw[t]?.length ?? 0), 0) }))
    .sort((a, b) => b.n - a.n || a.i - b.i)
  let last = ''
  for (const s of samples.slice(0, 10)) {
    const o = await insertDataset(client, plan, s.raw)
    if (!o.error) {
      const inHyper = o.dataset.inserts.filter((x) => x.table.hypertable).reduce((n, x) => n + x.rows.length, 0)
      return `${o.dataset.stats.rows} template rows (${inHyper} in hypertables) from the catalog-driven generator (harness/data, seed ${seed}, dataset ${s.i + 1} of 20) around now`
    }
    last = `${o.error.table}: ${o.error.message}`
  }
  return `no template rows: the engine refused every generated dataset (${last}); the jobs ran on empty tables`
}

export const jobsStage: StageFn = async (ctx) => {
  if (!ctx.engine.capabilities.timescaledb) return { verdict: 'skipped', summary: `${ctx.engine.describe()} has no TimescaleDB: there are no jobs to run`, details: [] }
  const seed = ctx.options.seed ?? DEFAULT_JOBS_SEED
  if (ctx.focus) {
    // --changed: when replay's fingerprints show no job a new or changed migration registers or touches, no database is needed.
    const focused = ctx.migrations.filter((m) => inFocus(ctx, m))
    const known = jobsAtLast(ctx.jobsAt, ctx.migrations)
    if (!known.some((j) => jobInScope(j, focused))) return { verdict: 'skipped', summary: `--changed: no job is registered by ${focused.map((m) => m.name).join(', ') || 'a new or changed migration'} or on a hypertable it names; the ${known.length} job(s) of released migrations were proven when released (the nightly full run runs them)`, details: [] }
  }
  // Replay's schema at the last version holds no job: nothing would be left to run, and no database is needed to say so.
  const last = ctx.migrations[ctx.migrations.length - 1]?.version
  if (!ctx.focus && last !== undefined && ctx.jobsAt.get(last)?.length === 0) return { verdict: 'skipped', summary: 'no migration registers a TimescaleDB job (no policy, no add_job; replay\'s schema at the last version holds none): nothing to run', details: [] }
  const t0 = Date.now()
  const db = await ctx.engine.createDatabase('jobs')
  let client: pg.Client | undefined
  try {
    client = await connect(db.url, { applicationName: 'pgverify verify jobs' })
    const migrator = migratorFor(ctx, client)
    const logName = `${migrator.log.schema}.${migrator.log.table}`
    const boot = await migrator.up({ to: 0 })
    if (boot.error) return failed(`bootstrap failed: ${boot.error.message}`, [], { code: boot.error.code, message: boot.error.message })
    const reg = await registerStepwise(client, migrator, ctx.migrations)
    if (reg.error) return failed(`could not migrate a fresh database to register the jobs: ${reg.error.migration} failed: ${reg.error.message}`, [], { code: reg.error.code, message: reg.error.message })
    const migrateMs = Date.now() - t0
    if (!reg.jobs.length) return { verdict: 'skipped', summary: 'no migration registers a TimescaleDB job (no policy, no add_job): nothing to run', details: [] }
    // --changed: only the jobs a new or changed migration registers or touches (scope.ts); the others were proven when released.
    const focused = ctx.migrations.filter((m) => inFocus(ctx, m))
    const jobs = ctx.focus ? reg.jobs.filter((j) => jobInScope(j, focused)) : reg.jobs
    const released = reg.jobs.filter((j) => !jobs.includes(j))
    const notes: string[] = released.length ? [`--changed: ${released.length} job(s) of released migrations on tables no new or changed migration names were proven when released and not run again: ${released.map((j) => `${jobLabel(j)} [${registeredLabel(j)}]`).join('; ')}`] : []
    if (!jobs.length) return { verdict: 'skipped', summary: `--changed: no job is registered by ${focused.map((m) => m.name).join(', ') || 'a new or changed migration'} or on a hypertable it names; the ${released.length} job(s) of released migrations were proven when released (the nightly full run runs them)`, details: notes }
    if (ctx.engine.capabilities.backgroundWorkers) {
      const n = await unscheduleJobs(client, jobs)
      notes.push(`this server's background workers are on: the schedules of ${n} job(s) were switched off in the stage's own database first, so none ran by itself`)
    }

    const t1 = Date.now()
    const loaded = await loadTemplates(ctx, client, seed, logName)
    const spread = await spreadOverWindows(client, jobs, ctx.schemas)
    const dataMs = Date.now() - t1

    const t2 = Date.now()
    const runs = await runJobsMeasured(client, jobs, ctx.schemas, {
      exclude: [logName],
      onRun: (r) => ctx.progress(`  job ${r.job.id} ${jobLabel(r.job)}: ${r.ok ? `${Math.round(r.durationMs)} ms` : 'FAILED'}`),
    })
    const jobsMs = Date.now() - t2

    const files = [...new Set(jobs.map(registeredLabel))]
    const spreadRows = spread.reduce((n, s) => n + s.inserted, 0)
    const boundary = spread.reduce((n, s) => n + s.atBoundaries, 0)
    const oldest = Math.min(...spread.map((s) => s.oldestUs ?? Infinity))
    const span = Number.isFinite(oldest) ? Math.ceil((Date.now() * 1000 - oldest) / DAY_US) : 0
    const details = [
      `${jobs.length} job(s) registered: ${jobs.map((j) => `${j.id} ${jobLabel(j)} [${registeredLabel(j)}]`).join('; ')}`,
      `data: ${loaded}`,
      ...spread.map(
        (s) =>
          `data: ${s.table}: ${s.templates} template row(s), ${s.inserted} copies spread over the windows ${s.windows.join(', ')} (chunk boundaries at each cutoff, exactly and ±1 µs: ${s.atBoundaries} row(s)), from ${s.oldestUs === null ? '?' : isoUs(s.oldestUs)} to ${s.newestUs === null ? '?' : isoUs(s.newestUs)}`,
      ),
      `every job ran once with CALL run_job(id), in id order; rows, chunks, compression and content hashes measured before and after each`,
      ...notes,
      ...runs.flatMap(formatRun),
      `time: migrating and registering ${(migrateMs / 1000).toFixed(1)} s, generating data ${(dataMs / 1000).toFixed(1)} s, running and measuring the jobs ${(jobsMs / 1000).toFixed(1)} s`,
    ]
    const t = totals(runs)
    const perTable = (kind: 'retention' | 'compression') =>
      runs
        .filter((r) => r.ok && r.job.kind === kind)
        .map((r) => ({ r, e: r.effects.find((e) => e.table === r.job.hypertable) }))
        .filter((x) => x.e && (kind === 'retention' ? x.e.chunksDropped : x.e.chunksCompressed))
        .map(({ e }) => (kind === 'retention' ? `${e!.table.split('.').pop()} ${e!.rowsBefore - e!.rowsAfter}/${e!.chunksDropped}` : `${e!.table.split('.').pop()} ${e!.chunksCompressed}`))
    const effect =
      `retention deleted ${t.retention.rows} rows in ${t.retention.chunks} chunks${t.retention.tables ? ` (rows/chunks: ${perTable('retention').join(', ')})` : ''}; ` +
      `compression compressed ${t.compression.chunks} chunks${t.compression.tables ? ` (${perTable('compression').join(', ')})` : ''}`
    const data = `on generated data (${spreadRows + spread.reduce((n, s) => n + s.templates, 0)} hypertable rows over ${span} days, ${boundary} on chunk boundaries)`
    const bad: JobRun[] = runs.filter((r) => !r.ok || r.violations.length)
    if (bad.length) {
      const first = bad[0]!
      const what = !first.ok
        ? `job ${first.job.id} (${jobLabel(first.job)}, ${registeredLabel(first.job)}) failed: ${formatJobError(first.error!)}`
        : `job ${first.job.id} (${jobLabel(first.job)}, ${registeredLabel(first.job)}) contradicts its config: ${first.violations[0]}`
      return failed(`${t.failed} of ${jobs.length} jobs failed, ${t.contradicting} contradict their config: ${what}`, details, { code: 'VALIDATION_FAILED', message: what })
    }
    const only = released.length ? ` (--changed: ${released.length} released job(s) not run again)` : ''
    return passed(`${jobs.length} jobs registered by ${files.join(', ')}, each run once with CALL run_job ${data}: ${effect}; no job failed, no effect contradicts its config${only}`, details)
  } finally {
    await client?.end().catch(() => {})
    await db.drop().catch(() => {})
  }
}
