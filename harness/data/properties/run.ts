/**
 * Property-based data through the upgrades (the verify stage data-properties wires it). For
 * every starting version k (0 … N-1): bring the database to k, generate a dataset with fast-check
 * from the catalog at k, insert it, migrate up to N, then check by query:
 *   - every row that existed is still there (by primary key) with its values unchanged, except
 *     where a migration declares a data change (manifest.json → migrations[name].dataChanges);
 *   - row counts are preserved (or changed only as declared: insert, delete, move);
 *   - no NOT NULL, CHECK, UNIQUE or foreign-key violation exists (re-evaluated by query);
 *   - hypertable rows live in chunks (none in the parent itself) and chunks exist;
 *   - then every job the migrations registered runs once (`CALL run_job(id)`, id order: jobs never
 *     run by themselves here), and the rows are checked again: a row that is missing now is a
 *     declared effect only when a retention policy explains it (its hypertable has one and its
 *     time value is older than now() - drop_after), counted per policy in the summary; any other
 *     missing, changed or added row is a violation. A job that errors on generated data is listed
 *     in the summary and details (its rows are checked all the same); the jobs stage fails on it.
 * A failing property shrinks to a minimal dataset and is written to
 * reports/data-property-<k>-<seed>.sql (the version, the INSERTs, the failing check).
 *
 * Declared data changes: declared.ts. Checks: preservation.ts, constraints.ts, jobs.ts. The
 * verdict and the replay file: report.ts.
 */
import { createHash } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import fc from 'fast-check'
import { readCatalog } from '../../catalog/tables.ts'
import { HarnessError } from '../../errors.ts'
import { isConnectionLoss } from '../../sqlstate.ts'
import { jobLabel, listJobs, registeredLabel, unscheduleJobs } from '../../validation/jobs/index.ts'
import { buildPlan } from '../arbitraries.ts'
import type { GenerationPlan, RawDataset } from '../plan-types.ts'
import { insertDataset, toSql } from '../dataset.ts'
import { constraints } from './constraints.ts'
import { dataChanges, withPreconditions } from './declared.ts'
import { jobErrorKey, retentionExplainer, runRegisteredJobs } from './jobs.ts'
import { DEFAULT_RUNS, failed, PropertyFailed, SHRINK_BUDGET_MS, versionLabel, type Failure, type KStats, type PropertyContext, type PropertyResult } from './model.ts'
import { preservation, readAll, type Violation } from './preservation.ts'
import { replayFile, verdict } from './report.ts'

/** Datasets from every version k = 0 … N-1 migrated to N, checked before and after the registered jobs run. */
export async function runDataProperties(ctx: PropertyContext): Promise<PropertyResult> {
  const client = ctx.client
  const started = Date.now()
  const seed = ctx.seed ?? (Date.now() ^ Math.floor(Math.random() * 0x7fffffff)) >>> 1
  const runs = ctx.runs ?? DEFAULT_RUNS
  if (ctx.migrations.length === 0) return { verdict: 'skipped', summary: `no migrations: nothing to carry data through (seed ${seed})`, details: [] }
  const declared = dataChanges(ctx)
  const migrator = ctx.migrator
  const logName = `${migrator.log.schema}.${migrator.log.table}`
  const last = ctx.migrations[ctx.migrations.length - 1]!.version
  const N = last
  const reports = path.resolve(ctx.reportsDir ?? 'reports')
  const digest = createHash('sha256')

  const toTop = await migrator.up()
  if (toTop.error) return failed(`could not migrate to version ${N} before generating data: ${toTop.error.message}`, [], { code: toTop.error.code, message: toTop.error.message })
  const catN = await readCatalog(client, ctx.schemas, { exclude: [logName] })

  const stats: KStats[] = []
  /** Where the time of the runs went (migrating down and up, generating and inserting, checking). */
  const timing = { migrate: 0, insert: 0, check: 0, jobs: 0 }
  /** Rows removed by retention policies after migrating (explained, so accepted), per policy. */
  const retentionRemoved = new Map<string, number>()
  /** Every job seen registered after migrating, by label, with how many datasets it ran after. */
  const jobsRan = new Map<string, number>()
  /** Job runs that failed on generated data (rows then checked as usual), by job and error, with the starting versions. */
  const jobErrors = new Map<string, { count: number; from: Set<number> }>()
  const rejections = new Map<string, number>()
  const preconditions = new Set<string>()
  const generatorNotes = new Set<string>()
  let failure: (Failure & { runs: number; shrinks: number; shrinkStopped: boolean; file: string }) | undefined
  let tooManySkips: string | undefined
  const starts = [0, ...ctx.migrations.filter((m) => m.version < N).map((m) => m.version)]

  for (const k of starts) {
    const t0 = Date.now()
    const down = await migrator.down({ to: k })
    if (down.error) return failed(`could not bring the database down to version ${k}: ${down.error.message}`, [`the down files must work for the data property to start from every version (seed ${seed})`], { code: down.error.code, message: down.error.message })
    const raw0 = await readCatalog(client, ctx.schemas, { exclude: [logName] })
    const { catalog: catK, applied } = withPreconditions(raw0, declared, k)
    applied.forEach((a) => preconditions.add(a))
    const built = buildPlan(catK)
    const plan: GenerationPlan = built.plan
    for (const s of plan.skipped) generatorNotes.add(`${s.table} not generated: ${s.reason}`)
    for (const c of plan.cut) generatorNotes.add(`${c.table}.${c.fk} closes a foreign-key cycle: its rows reference nothing (NULL) or are dropped`)
    const appliedDecl = declared.filter((d) => d.version > k)
    const truncate = catK.tables.length ? `TRUNCATE ${catK.tables.map((t) => t.sql).join(', ')} RESTART IDENTITY CASCADE` : ''
    const ks: KStats = { k, label: versionLabel(ctx.migrations, k), datasets: 0, rows: 0, tables: plan.tables.length, rejected: 0, droppedByCheck: 0, droppedDuplicate: 0, droppedNoParent: 0, repaired: 0, ms: 0 }
    stats.push(ks)
    let firstFailureAt: number | undefined
    let shrinkStopped = false
    let lastFailure: Failure | undefined
    let shrinking = false

    // The engine went away (connection lost, server crashed or stopped): not a property of the
    // data. Every later run would fail the same way, so they pass untried and the stage reports it.
    let lost: string | undefined
    const runOnce = async (raw: RawDataset): Promise<void> => {
      if (lost) return
      if (firstFailureAt !== undefined && Date.now() - firstFailureAt > SHRINK_BUDGET_MS) {
        shrinkStopped = true
        return
      }
      try {
        await runChecked(raw)
      } catch (e) {
        if (e instanceof PropertyFailed || fc.PreconditionFailure.isFailure(e)) throw e
        lost = (e as Error).message
      }
    }
    const runChecked = async (raw: RawDataset): Promise<void> => {
      let t = performance.now()
      const d = await migrator.down({ to: k })
      timing.migrate += performance.now() - t
      if (d.error && connectionLost(d.error)) {
        lost = d.error.message
        return
      }
      if (d.error) throw new PropertyFailed([{ check: 'down-failed', message: `down to version ${k} failed: ${d.error.message}` }])
      t = performance.now()
      if (truncate) await client.query(truncate)
      const outcome = await insertDataset(client, plan, raw)
      timing.insert += performance.now() - t
      digest.update(toSql(outcome.dataset)).update('\n--\n')
      if (!shrinking) {
        ks.datasets++
        ks.rows += outcome.dataset.stats.rows
        ks.droppedDuplicate += outcome.dataset.stats.droppedDuplicate
        ks.droppedNoParent += outcome.dataset.stats.droppedNoParent
        ks.repaired += outcome.dataset.stats.repaired
        for (const n of Object.values(outcome.dataset.stats.droppedByCheck)) ks.droppedByCheck += n
      }
      if (outcome.error && connectionLost({ message: outcome.error.message, details: { sqlstate: outcome.error.code } })) {
        lost = outcome.error.message
        return
      }
      if (outcome.error) {
        if (!shrinking) ks.rejected++
        const msg = `${outcome.error.table}: ${outcome.error.message}${outcome.error.code ? ` [${outcome.error.code}]` : ''}`
        rejections.set(msg, (rejections.get(msg) ?? 0) + 1)
        fc.pre(false)
      }
      t = performance.now()
      const before = await readAll(client, catK)
      timing.check += performance.now() - t
      t = performance.now()
      const up = await migrator.up()
      // Where a server's background workers are on, no job may run by itself in the middle of the proof.
      if (!up.error && ctx.backgroundWorkers) await unscheduleJobs(client, await listJobs(client))
      timing.migrate += performance.now() - t
      t = performance.now()
      let violations: Violation[]
      if (up.error && connectionLost(up.error)) {
        lost = up.error.message
        return
      }
      if (up.error) {
        const located = up.results.find((x) => x.status === 'Error')?.error
        const where = located ? `${located.file}:${located.line}:${located.column}${located.sqlstate ? ` (SQLSTATE ${located.sqlstate})` : ''}` : ''
        violations = [{ check: 'migration-failed', message: `migrating up from version ${k} with this data failed${where ? ` at ${where}` : ''}: ${located?.message ?? up.error.message}` }]
      } else {
        violations = [...(await preservation(client, before, catN, appliedDecl)), ...(await constraints(client, ctx.schemas, catN))]
      }
      timing.check += performance.now() - t
      if (!up.error && violations.length === 0) {
        // The jobs the migrations registered, as production's workers would run them.
        t = performance.now()
        const jr = await runRegisteredJobs(client, ctx)
        if (jr.jobs.length) {
          if (!shrinking) for (const j of jr.jobs) jobsRan.set(`${jobLabel(j)} [${registeredLabel(j)}]`, (jobsRan.get(`${jobLabel(j)} [${registeredLabel(j)}]`) ?? 0) + 1)
          if (!shrinking)
            for (const e of jr.errors) {
              const key = jobErrorKey(e.job, e.message)
              const x = jobErrors.get(key) ?? jobErrors.set(key, { count: 0, from: new Set() }).get(key)!
              x.count++
              x.from.add(k)
            }
          const tally = shrinking ? undefined : new Map<string, number>()
          violations = (await preservation(client, before, catN, appliedDecl, await retentionExplainer(client, jr.jobs, tally))).map((v) => ({ ...v, afterJobs: true }))
          if (!violations.length && tally) for (const [l, n] of tally) retentionRemoved.set(l, (retentionRemoved.get(l) ?? 0) + n)
        }
        timing.jobs += performance.now() - t
      }
      if (violations.length) {
        firstFailureAt ??= Date.now()
        shrinking = true
        lastFailure = { k, dataset: outcome.dataset, violations }
        throw new PropertyFailed(violations)
      }
    }

    const numRuns = plan.tables.length === 0 ? 1 : runs
    ctx.progress(`  data from version ${k} (${ks.label}): ${numRuns} dataset(s) over ${plan.tables.length} table(s)`)
    const details = await fc.check(
      fc.asyncProperty(built.arbitrary, async (raw) => {
        await runOnce(raw)
      }),
      { seed, numRuns, maxSkipsPerRun: 10 },
    )
    ks.ms = Date.now() - t0
    if (lost) {
      throw new HarnessError('CONNECTION_FAILED', `data property from version ${k}: the connection to the database was lost while running a dataset (${lost}); this is not a property of the data (seed ${seed})`, {
        hint: 'Check the engine (memory, a crash in the server log, a stop from outside) and run again with the same --seed.',
      })
    }
    if (details.failed && lastFailure && details.counterexample) {
      const file = path.join(reports, `data-property-${k}-${seed}.sql`)
      mkdirSync(reports, { recursive: true })
      writeFileSync(file, replayFile(ctx, { ...lastFailure, seed, runs: details.numRuns, shrinks: details.numShrinks, shrinkStopped }))
      failure = { ...lastFailure, runs: details.numRuns, shrinks: details.numShrinks, shrinkStopped, file }
      break
    }
    if (details.failed) {
      const err = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance ?? '')
      if (details.numSkips > 0 && !lastFailure) {
        tooManySkips = `from version ${k}: ${details.numSkips} of ${details.numSkips + details.numRuns} generated datasets were refused by the engine (generator gap): ${[...rejections.keys()].slice(0, 3).join(' | ')}`
        break
      }
      throw new HarnessError('VALIDATION_FAILED', `data property from version ${k} could not run: ${err}`)
    }
  }

  // Leave the database as replay left it: every migration applied, none of the generated rows.
  const reset = await migrator.down({ to: 0 })
  const back = reset.error ? reset : await migrator.up()

  return verdict({
    ctx, seed, runs, N, started, stats, declared, preconditions, generatorNotes, rejections, jobsRan, retentionRemoved, jobErrors, timing,
    digest: digest.digest('hex'), resetError: back.error?.message, failure, tooManySkips, starts,
  })
}

/** A lost connection or a server that went away, as the runner reports it (HarnessError CONNECTION_FAILED) or as the driver throws it. */
function connectionLost(e: { code?: string; message?: string; details?: Record<string, unknown> }): boolean {
  if (e.code === 'CONNECTION_FAILED') return true
  const sqlstate = (e.details?.error as { sqlstate?: string } | undefined)?.sqlstate ?? (e.details?.sqlstate as string | undefined)
  return isConnectionLoss({ code: sqlstate, message: e.message })
}
