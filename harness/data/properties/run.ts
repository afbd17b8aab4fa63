/**
 * Property-based data through the upgrades (the verify stage data-properties wires it), checked
 * with work linear in the number of migrations by chaining: one chain starts from an empty
 * database at version 0 and, at every version k = 0 … N-1, adds a fresh fast-check dataset
 * generated from the catalog at k to the rows every earlier version left, migrates one step to
 * k+1, and checks by query:
 *   - every row that existed before the step (generated at k or at any earlier version) is still
 *     there (by primary key) with its values unchanged, except where the migration k+1 declares
 *     a data change (manifest.json → migrations[name].dataChanges);
 *   - row counts are preserved (or changed only as declared: insert, delete, move);
 *   - no NOT NULL, CHECK, UNIQUE or foreign-key violation exists (re-evaluated by query);
 *   - hypertable rows live in chunks (none in the parent itself) and chunks exist;
 * so every row generated at any version survives every later step, as when each version's data
 * was migrated to N on its own, but each step is applied once per chain instead of once per
 * starting version (N·runs migrations instead of N²·runs/2). At N every job the migrations
 * registered runs once (`CALL run_job(id)`, id order: jobs never run by themselves here), and
 * the rows are checked again: a row that is missing now is a declared effect only when a
 * retention policy explains it (its hypertable has one and its time value is older than
 * now() - drop_after), counted per policy in the summary; any other missing, changed or added
 * row is a violation. A job that errors on generated data is listed (its rows are checked all
 * the same); the jobs stage fails on it.
 *
 * `runs` chains run, so every version still gets `runs` datasets (a version with no table to
 * generate gets one, empty). A fresh row whose key the database already holds is skipped
 * (ON CONFLICT DO NOTHING, counted as a duplicate). A failing chain shrinks (fast-check shrinks
 * every version's dataset) and is written to reports/data-property-<k>-<seed>.sql (per version,
 * the INSERTs made there; the step that failed; the failing check).
 *
 * The rows are carried from step to step (carried.ts): a step reads and compares again only the
 * tables it touched (wrote, reshaped, or declared a change to) and re-evaluates constraints only
 * where it may have broken them, so a step's work follows the step, not everything the chain
 * holds by then.
 *
 * Declared data changes: declared.ts. Checks: preservation.ts, constraints.ts, jobs.ts. The
 * verdict and the replay file: report.ts.
 */
import { createHash } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import fc from 'fast-check'
import { readCatalog, tableInterner, type Catalog } from '../../catalog/tables.ts'
import { HarnessError } from '../../errors.ts'
import { isConnectionLoss, shortageHint, shortageOf } from '../../sqlstate.ts'
import { jobLabel, listJobs, registeredLabel, unscheduleJobs } from '../../validation/jobs/index.ts'
import { buildPlan, type PlanMemo } from '../arbitraries.ts'
import type { GenerationPlan, RawDataset } from '../plan-types.ts'
import { insertDataset, toSql, type Dataset } from '../dataset.ts'
import { constraints } from './constraints.ts'
import { dataChanges, withPreconditions, type Declared } from './declared.ts'
import { jobErrorKey, retentionExplainer, runRegisteredJobs } from './jobs.ts'
import { DEFAULT_RUNS, failed, PropertyFailed, SHRINK_BUDGET_MS, versionLabel, type Failure, type KStats, type PropertyContext, type PropertyResult } from './model.ts'
import { CarriedRows } from './carried.ts'
import { preservation, type Before, type Violation } from './preservation.ts'
import { replayFile, verdict } from './report.ts'

/** One step of the chain: data generated at `k` (with the catalog there), checked after migrating to `to`. */
interface Step {
  k: number
  to: number
  /** The catalog at k, with the preconditions later migrations declare (what the generator honours). */
  catK: Catalog
  /** The catalog at k as the engine has it (catK without the preconditions). */
  rawK: Catalog
  /** The catalog at `to`, as it is (what the rows are checked against). */
  catTo: Catalog
  plan: GenerationPlan
  arbitrary: fc.Arbitrary<RawDataset>
  /** The data changes the migrations in (k, to] declare. */
  decl: Declared[]
  stats: KStats
}

/** Datasets added at every version k = 0 … N-1 and carried through every later step, checked after each, and after the registered jobs at N. */
export async function runDataProperties(ctx: PropertyContext): Promise<PropertyResult> {
  const client = ctx.client
  const started = Date.now()
  const seed = ctx.seed ?? (Date.now() ^ Math.floor(Math.random() * 0x7fffffff)) >>> 1
  const runs = ctx.runs ?? DEFAULT_RUNS
  if (ctx.migrations.length === 0) return { verdict: 'skipped', summary: `no migrations: nothing to carry data through (seed ${seed})`, details: [] }
  const declared = dataChanges(ctx)
  const migrator = ctx.migrator
  const logName = `${migrator.log.schema}.${migrator.log.table}`
  const N = ctx.migrations[ctx.migrations.length - 1]!.version
  const versionName = (v: number) => ctx.migrations.find((m) => m.version === v)?.name ?? ''
  const reports = path.resolve(ctx.reportsDir ?? 'reports')
  const digest = createHash('sha256')
  const timing = { migrate: 0, insert: 0, check: 0, jobs: 0 }
  const compared = { again: 0, carried: 0 }
  const preconditions = new Set<string>()
  const generatorNotes = new Set<string>()

  // A catalog per version is kept for the whole stage (tableInterner: what is kept grows with the
  // changes, not with N × tables); replay's come interned already.
  const intern = tableInterner()
  const plans: PlanMemo = new WeakMap()

  // The catalog at every version gives each step its generation plan: replay's, read on its way
  // up, else one walk from 0 to N here. Version 0 is the runner's bootstrap: an up to 0 on a
  // fresh database (the pipeline gives this stage one), the downs on one at the top (the shared
  // database, when nothing runs alongside).
  const versions = [0, ...ctx.migrations.map((m) => m.version)]
  const recorded = versions.every((v) => ctx.catalogs?.has(v)) ? ctx.catalogs : undefined
  const now = await migrator.status()
  const bottom = now.current > 0 ? await migrator.down({ to: 0 }) : await migrator.up({ to: 0 })
  if (bottom.error) return failed(`could not bring the database down to version 0: ${bottom.error.message}`, [`the down files must work for data to be generated at every version (seed ${seed})`], { code: bottom.error.code, message: bottom.error.message })
  const steps: Step[] = []
  let raw = recorded?.get(0) ?? intern(await readCatalog(client, ctx.schemas, { exclude: [logName] }))
  const truncate0 = raw.tables.length ? `TRUNCATE ${raw.tables.map((t) => t.sql).join(', ')} RESTART IDENTITY CASCADE` : ''
  for (let i = 0; i + 1 < versions.length; i++) {
    const k = versions[i]!
    const to = versions[i + 1]!
    const { catalog: catK, applied } = withPreconditions(raw, declared, k)
    applied.forEach((a) => preconditions.add(a))
    const built = buildPlan(catK, {}, plans)
    for (const s of built.plan.skipped) generatorNotes.add(`${s.table} not generated: ${s.reason}`)
    for (const c of built.plan.cut) generatorNotes.add(`${c.table}.${c.fk} closes a foreign-key cycle: its rows reference nothing (NULL) or are dropped`)
    let catTo = recorded?.get(to)
    if (!catTo) {
      const up = await migrator.up({ to })
      if (up.error) return failed(`could not migrate to version ${to} while reading the catalog of every version: ${up.error.message}`, [], { code: up.error.code, message: up.error.message })
      catTo = intern(await readCatalog(client, ctx.schemas, { exclude: [logName] }))
    }
    const stats: KStats = { k, label: versionLabel(ctx.migrations, k), datasets: 0, rows: 0, tables: built.plan.tables.length, rejected: 0, droppedByCheck: 0, droppedDuplicate: 0, droppedNoParent: 0, repaired: 0, ms: 0 }
    steps.push({ k, to, catK, rawK: raw, catTo, plan: built.plan, arbitrary: built.arbitrary, decl: declared.filter((d) => d.version > k && d.version <= to), stats })
    raw = catTo
  }
  const catN = raw

  const retentionRemoved = new Map<string, number>()
  const jobsRan = new Map<string, number>()
  const jobErrors = new Map<string, { count: number; from: Set<number> }>()
  const rejections = new Map<string, number>()
  let failure: (Failure & { runs: number; shrinks: number; shrinkStopped: boolean; file: string }) | undefined
  let tooManySkips: string | undefined
  let firstFailureAt: number | undefined
  let shrinkStopped = false
  let lastFailure: Failure | undefined
  let shrinking = false
  // The engine went away (connection lost, server crashed or stopped) or ran short of disk or
  // memory: not a property of the data. Every later chain would fail the same way, so they pass
  // untried and the stage reports it.
  let lost: { k: number; message: string; trouble: Trouble } | undefined
  let at = 0
  const announced = new Set<number>()
  const lose = (message: string, trouble: Trouble) => void (lost = { k: at, message, trouble })

  const fail = (k: number, chain: { k: number; dataset: Dataset }[], violations: Violation[]): never => {
    firstFailureAt ??= Date.now()
    shrinking = true
    lastFailure = { k, dataset: merged(chain), chain, violations }
    throw new PropertyFailed(violations)
  }

  const runChain = async (raws: RawDataset[], slot: number): Promise<void> => {
    const chain: { k: number; dataset: Dataset }[] = []
    at = 0
    let t = performance.now()
    const d = await migrator.down({ to: 0 })
    timing.migrate += performance.now() - t
    if (d.error && troubleOf(d.error)) return lose(d.error.message, troubleOf(d.error)!)
    if (d.error) throw new PropertyFailed([{ check: 'down-failed', message: `down to version 0 failed: ${d.error.message}` }])
    if (truncate0) await client.query(truncate0)
    const carried = new CarriedRows(client)
    // Constraints are evaluated again only where a step may have broken them, which holds when
    // every earlier step was checked; after a step that was not (--changed), everything is.
    let probedAll = false
    for (const [i, st] of steps.entries()) {
      at = st.k
      const t0 = performance.now()
      if (!announced.has(st.k)) {
        announced.add(st.k)
        ctx.progress(`  data from version ${st.k} (${st.stats.label}): ${runs} dataset(s) over ${st.plan.tables.length} table(s), carried to ${N}`)
      }
      // Fresh rows at k, added to what the earlier versions left.
      t = performance.now()
      const outcome = await insertDataset(client, st.plan, raws[i] ?? [], { skipExisting: true })
      timing.insert += performance.now() - t
      digest.update(toSql(outcome.dataset)).update(`\n-- ${st.k}\n`)
      // A version with no table to generate gets one dataset, empty: counted by the first chain only (in whichever shard makes it).
      if (!shrinking && (st.plan.tables.length > 0 || (slot === 0 && st.stats.datasets === 0))) count(st.stats, outcome.dataset)
      const refused = outcome.error && troubleOf({ message: outcome.error.message, details: { sqlstate: outcome.error.code } })
      if (refused) return lose(outcome.error!.message, refused)
      if (outcome.error) {
        if (!shrinking) st.stats.rejected++
        const msg = `${outcome.error.table}: ${outcome.error.message}${outcome.error.code ? ` [${outcome.error.code}]` : ''}`
        rejections.set(msg, (rejections.get(msg) ?? 0) + 1)
        fc.pre(false)
      }
      chain.push({ k: st.k, dataset: outcome.dataset })
      // --changed: a released step is only applied (it was proven when it was new); the rows go on.
      const checked = !ctx.focus || ctx.focus.has(versionName(st.to))
      t = performance.now()
      const before = checked ? await carried.rows(st.catK, outcome.dataset.inserts) : undefined
      timing.check += performance.now() - t
      t = performance.now()
      const up = await migrator.up({ to: st.to })
      // Where a server's background workers are on, no job may run by itself in the middle of the proof.
      if (!up.error && ctx.backgroundWorkers) await unscheduleJobs(client, await listJobs(client))
      timing.migrate += performance.now() - t
      if (up.error && troubleOf(up.error)) return lose(up.error.message, troubleOf(up.error)!)
      t = performance.now()
      let violations: Violation[]
      if (up.error) {
        const located = up.results.find((x) => x.status === 'failed')?.error
        const where = located ? `${located.file}:${located.line}:${located.column}${located.sqlstate ? ` (SQLSTATE ${located.sqlstate})` : ''}` : ''
        violations = [{ check: 'migration-failed', message: `migrating up from version ${st.k} with this data failed${where ? ` at ${where}` : ''}: ${located?.message ?? up.error.message}` }]
      } else if (before) {
        const touched = await carried.touched(st.catK, st.catTo, st.decl, st.rawK)
        const probe = probedAll ? touched.probe : undefined
        if (!shrinking) {
          compared.again += touched.compare.size
          compared.carried += before.size - touched.compare.size
        }
        violations = [...(await preservation(client, only(before, touched.compare), st.catTo, st.decl)), ...(await constraints(client, ctx.schemas, st.catTo, { probe, counts: touched.counts }))]
        probedAll = true
      } else {
        violations = []
        probedAll = false
      }
      timing.check += performance.now() - t
      st.stats.ms += performance.now() - t0
      if (violations.length) fail(st.k, chain, violations)
    }
    // At N: the jobs the migrations registered, as production's workers would run them.
    t = performance.now()
    const beforeJobs = await carried.rows(catN)
    const jr = await runRegisteredJobs(client, ctx)
    if (jr.jobs.length) {
      const touched = await carried.touched(catN, catN, [])
      const last = steps[steps.length - 1]!.k
      if (!shrinking) for (const j of jr.jobs) jobsRan.set(`${jobLabel(j)} [${registeredLabel(j)}]`, (jobsRan.get(`${jobLabel(j)} [${registeredLabel(j)}]`) ?? 0) + 1)
      if (!shrinking)
        for (const e of jr.errors) {
          const key = jobErrorKey(e.job, e.message)
          const x = jobErrors.get(key) ?? jobErrors.set(key, { count: 0, from: new Set() }).get(key)!
          x.count++
          for (const c of chain) if (c.dataset.stats.rows) x.from.add(c.k)
        }
      const tally = shrinking ? undefined : new Map<string, number>()
      const violations = (await preservation(client, only(beforeJobs, touched.compare), catN, [], await retentionExplainer(client, jr.jobs, tally))).map((v) => ({ ...v, afterJobs: true }))
      timing.jobs += performance.now() - t
      if (violations.length) fail(last, chain, violations)
      if (tally) for (const [l, n] of tally) retentionRemoved.set(l, (retentionRemoved.get(l) ?? 0) + n)
    }
  }

  const empty = steps.every((s) => s.plan.tables.length === 0)
  if (ctx.focus) ctx.progress(`  --changed: steps checked only into ${[...ctx.focus].join(', ') || 'nothing'}; data is still generated at and carried through every version`)
  let slot = 0
  const property = fc.asyncProperty(fc.tuple(...steps.map((s) => s.arbitrary)), async (raws) => {
    if (lost) return
    if (firstFailureAt !== undefined && Date.now() - firstFailureAt > SHRINK_BUDGET_MS) {
      shrinkStopped = true
      return
    }
    try {
      await runChain(raws, slot)
    } catch (e) {
      if (e instanceof PropertyFailed || fc.PreconditionFailure.isFailure(e)) throw e
      lose((e as Error).message, troubleOf(e as Parameters<typeof troubleOf>[0]) ?? 'lost')
    }
  })
  // Chain c is the c-th value of the seed's stream (fast-check's replay path "c"), each checked
  // on its own: the same chains as one check over all of them, but any of them can be made apart
  // (verify --shard gives each shard its own). A chain the engine refuses is replaced by the
  // next values of the stream (at most 10 times), and a failure shrinks as usual.
  const slots = [...Array(empty ? 1 : runs).keys()]
  let details: fc.RunDetails<[RawDataset[]]> | undefined
  let made = 0
  let skips = 0
  for (const c of ctx.chains ? ctx.chains(slots.length) : slots) {
    slot = c
    details = await fc.check(property, { seed, path: String(c), numRuns: 1, maxSkipsPerRun: 10 })
    made += details.numRuns
    skips += details.numSkips
    if (details.failed || lost) break
  }
  if (lost && lost.trouble !== 'lost') {
    throw new HarnessError('SERVER_RESOURCES', `data property from version ${lost.k}: the server ran out of ${lost.trouble} while running a dataset (${lost.message}); this is not a property of the data (seed ${seed})`, { hint: shortageHint(lost.trouble) })
  }
  if (lost) {
    throw new HarnessError('CONNECTION_FAILED', `data property from version ${lost.k}: the connection to the database was lost while running a dataset (${lost.message}); this is not a property of the data (seed ${seed})`, {
      hint: 'Check the engine (memory, a crash in the server log, a stop from outside) and run again with the same --seed.',
    })
  }
  if (details?.failed && lastFailure && details.counterexample) {
    const f: Failure = lastFailure
    const file = path.join(reports, `data-property-${f.k}-${seed}.sql`)
    mkdirSync(reports, { recursive: true })
    writeFileSync(file, replayFile(ctx, { ...f, seed, runs: made, shrinks: details.numShrinks, shrinkStopped }))
    failure = { ...f, runs: made, shrinks: details.numShrinks, shrinkStopped, file }
  } else if (details?.failed) {
    const err = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance ?? '')
    if (details.numSkips > 0 && !lastFailure) tooManySkips = `in a chain through every version: ${skips} of ${skips + made} generated chains were refused by the engine (generator gap): ${[...rejections.keys()].slice(0, 3).join(' | ')}`
    else throw new HarnessError('VALIDATION_FAILED', `data property could not run: ${err}`)
  }

  // Leave the database as replay left it: every migration applied, none of the generated rows.
  let resetError: string | undefined
  if (ctx.leaveAsFound !== false) {
    const down = await migrator.down({ to: 0 })
    resetError = (down.error ?? (await migrator.up()).error)?.message
  }

  return verdict({
    ctx, seed, runs, N, started, stats: steps.map((s) => s.stats), declared, preconditions, generatorNotes, rejections, jobsRan, retentionRemoved, jobErrors, timing, compared,
    digest: digest.digest('hex'), resetError, failure, tooManySkips, starts: steps.map((s) => s.k),
  })
}

function count(ks: KStats, d: Dataset): void {
  ks.datasets++
  ks.rows += d.stats.rows
  ks.droppedDuplicate += d.stats.droppedDuplicate
  ks.droppedNoParent += d.stats.droppedNoParent
  ks.repaired += d.stats.repaired
  for (const n of Object.values(d.stats.droppedByCheck)) ks.droppedByCheck += n
}

/** The tables of `before` a step may have changed (CarriedRows.touched): the others hold what they held. */
const only = (before: Before, touched: Set<string>): Before => new Map([...before].filter(([name]) => touched.has(name)))

/** Every version's inserts of a chain as one dataset (what the failure's details list). */
function merged(chain: { dataset: Dataset }[]): Dataset {
  const inserts = chain.flatMap((c) => c.dataset.inserts)
  const rows = chain.reduce((s, c) => s + c.dataset.stats.rows, 0)
  return { inserts, stats: { rows, droppedNoParent: 0, droppedDuplicate: 0, droppedByCheck: {}, repaired: 0 } }
}

/**
 * The server's trouble, not the data's: 'lost' (the session died, the server went away), or what
 * it ran short of; as the runner reports it (a HarnessError's code) or as the driver throws it.
 */
type Trouble = 'lost' | string

function troubleOf(e: { code?: string; message?: string; details?: Record<string, unknown> }): Trouble | undefined {
  if (e.code === 'CONNECTION_FAILED') return 'lost'
  const sqlstate = (e.details?.error as { sqlstate?: string } | undefined)?.sqlstate ?? (e.details?.sqlstate as string | undefined)
  const short = shortageOf({ code: sqlstate })
  if (short || e.code === 'SERVER_RESOURCES') return short ?? 'resources'
  return isConnectionLoss({ code: sqlstate, message: e.message }) ? 'lost' : undefined
}
