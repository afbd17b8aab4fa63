/**
 * `pnpm verify`'s stages, in order: first those over the files (lint, files), then those on one
 * disposable database. Each stage is a step (steps/step.ts) that returns a verdict with its
 * evidence; a stage that cannot run says why (`skipped` with a reason), never passes silently;
 * a stage that throws something other than a HarnessError is reported as INTERNAL (a bug, exit
 * 70), the others still run. The CLI renders these results and the reports are built from them.
 */
import type pg from 'pg'
import type { HarnessError } from '../errors.ts'
import { engineDifferences } from '../engines/differences.ts'
import type { CreateDatabaseOptions, StartedEngine } from '../engines/types.ts'
import { connect } from '../runner/connect.ts'
import { requiredExtensions } from '../runner/requirements.ts'
import { fingerprintHash, PackedSnapshots } from '../validation/fingerprint/index.ts'
import { harnessOutcome, notRun, runStep } from '../steps/step.ts'
import { type FilesContext, type FilesStage, type Stage, type StageOutcome, type StageResult, type VerifyContext, type VerifyDepth, type VerifyOptions, type VerifyReport } from './stage.ts'
import { Meter } from './meter.ts'
import { ReleasedBase } from './base.ts'
import { changedScope } from './scope.ts'
import { migrationSet, ShardPlan, shardLabel, shardSeed, type ShardRecord } from './shard.ts'
import { filesStage } from './stages/files.ts'
import { lintStage } from './stages/lint.ts'
import { downUp, idempotency, postValidation, replay, secondUp } from './stages/schema.ts'
import { faultInjection } from './stages/fault-injection.ts'
import { dataProperties } from './stages/data-properties.ts'
import { backupRoundTripStage } from './stages/backup-round-trip.ts'
import { jobsStage } from './stages/jobs.ts'
import { loadStage } from './stages/load.ts'
import { DIAGNOSTIC_TITLE, diagnosticReplayStage, runDiagnosticReplay } from './stages/diagnostic-replay.ts'

export type { StageResult, VerifyDepth, VerifyReport, VerifyOptions, Verdict } from './stage.ts'

/** Before any database: they read the directory themselves, and always run. */
export const FILE_STAGES: FilesStage[] = [lintStage, filesStage]

/** On the migrated database, in order; `--skip` and the `stages` argument of runVerify choose among these. */
export const STAGES: Stage[] = [
  { id: 'replay', title: 'Replay all migrations from an empty database', needs: [], run: replay },
  { id: 'diagnostic-replay', title: DIAGNOSTIC_TITLE, needs: [], after: ['replay'], run: diagnosticReplayStage, alongside: 'own' },
  { id: 'post-validation', title: 'Post-migration validation (manifest, hypertables, policies, log, orphans)', needs: ['replay'], run: postValidation },
  { id: 'jobs', title: 'Registered jobs run explicitly (CALL run_job): effects per job match their config', needs: ['replay'], run: jobsStage, alongside: 'own', heavy: true },
  { id: 'second-up', title: 'A second up is a no-op', needs: ['replay'], run: secondUp },
  { id: 'idempotency', title: 'Idempotency: every file run again changes nothing', needs: ['replay'], run: idempotency },
  { id: 'down-up', title: 'Down/up round trip for every step', needs: ['replay'], run: downUp },
  { id: 'fault-injection', title: 'Fault injection: a failure after any statement leaves no trace', needs: ['replay'], run: faultInjection, alongside: 'own', heavy: true },
  { id: 'data-properties', title: 'Property-based data through every upgrade step (fast-check)', needs: ['replay'], run: dataProperties, alongside: 'fresh', heavy: true },
  { id: 'backup-round-trip', title: 'Backup → restore round trip shows zero differences', needs: ['replay'], run: backupRoundTripStage, alongside: 'own', heavy: true, early: true },
  // Alone: it measures latency, so nothing else may run beside it (it waits for every stage before it).
  { id: 'load', title: "Under load: each migration beside the seeds' workload (locks, blocked sessions, p95 per statement)", needs: ['replay'], run: loadStage, alone: true },
]

export async function runVerify(engine: StartedEngine, options: VerifyOptions, stages: Stage[] = STAGES): Promise<VerifyReport> {
  const started = Date.now()
  const progress = options.onProgress ?? (() => {})
  const results: StageResult[] = []
  const report: VerifyReport = {
    engine: {
      name: engine.name,
      description: engine.describe(),
      postgres: engine.versions.postgres,
      timescaledb: engine.versions.timescaledb,
      license: engine.versions.timescaledbLicense,
      differences: engineDifferences(engine.capabilities),
    },
    dir: options.dir,
    startedAt: new Date(started).toISOString(),
    durationMs: 0,
    ok: false,
    stages: results,
  }
  const files: FilesContext = { dir: options.dir, options, progress }
  for (const stage of FILE_STAGES) {
    results.push(await runStep(stage, () => stage.run(files)))
    if (stage.id === 'lint') {
      if (files.lint) report.lint = files.lint
      progress(`▸ lint: ${results[results.length - 1]!.summary}`)
    }
  }
  if (!files.accepted) {
    const refusal = results.find((r) => r.id === 'files')?.error?.code ?? ''
    for (const s of stages) {
      // The diagnostic replay reads the files itself: it runs on refused files (not on drift or a bad manifest).
      if (s.id === 'diagnostic-replay' && /^MIGRATION_(?!DRIFT$)/.test(refusal) && !options.skip?.includes(s.id)) {
        results.push(await runStep(s, () => runDiagnosticReplay(engine, options.dir, files.manifest, progress, options.logSchema), (e) => harnessOutcome(e, `diagnostic-replay could not complete: ${e.message}`)))
        continue
      }
      results.push(notRun(s, 'skipped: the migration files were refused'))
    }
    if (options.shard) report.shard = shardRecord(options, new ShardPlan(options.shard), [])
    report.durationMs = Date.now() - started
    return report
  }
  const { manifest, migrations } = files.accepted
  // --shard without --seed: every shard must generate the same data, so the seed comes from the migrations.
  if (options.shard && options.seed === undefined) options = { ...options, seed: shardSeed(migrations) }
  const shard = options.shard ? new ShardPlan(options.shard) : undefined
  const schemas = [...new Set([manifest?.schema, options.logSchema, ...(manifest?.tables ?? []).map((t) => t.split('.')[0])].filter((s): s is string => !!s))]
  const logSchema = options.logSchema ?? manifest?.schema ?? 'public'
  if (!schemas.includes(logSchema)) schemas.push(logSchema)
  const ctx: VerifyContext = { engine, dir: options.dir, manifest, migrations, schemas, logSchema, logTable: options.logTable, fingerprints: new PackedSnapshots(), jobsAt: new Map(), progress, options, shard }
  if (!options.skip?.includes('data-properties')) ctx.catalogs = new Map()
  if (options.changed) {
    report.scope = await changedScope(options.dir, migrations, options.changed.since)
    ctx.focus = new Set(report.scope.fullDepth)
    progress(`▸ changed-only (${report.scope.base}): full depth for ${report.scope.fullDepth.join(', ') || 'nothing (no new or changed migration)'}; replayed only: ${report.scope.replayedOnly.length} migration(s)`)
  }
  if (shard) progress(`▸ shard ${shardLabel(shard.spec)}: base stages in full, a share of the split stages' units (seed ${options.seed})`)

  // The shared database needs no in-process access either: on the embedded engine it runs in a
  // thread of its own, so the stages beside it are not held up by its queries.
  const db = await engine.createDatabase('verify', { parallel: true })
  ctx.base = ReleasedBase.plan(ctx, db)
  let client: pg.Client | undefined
  try {
    client = await connect(db.url, { applicationName: 'pgverify verify' })
    results.push(...(await runStages(ctx, client, stages)))
  } finally {
    await client?.end().catch(() => {})
    await db.drop().catch(() => {})
  }
  report.durationMs = Date.now() - started
  report.ok = results.every((r) => r.verdict !== 'failed')
  report.work = sumCounts(results)
  report.depth = depthOf(results)
  if (shard) {
    const replayed = results.find((r) => r.id === 'replay')?.verdict === 'passed'
    const top = ctx.fingerprints.get(migrations.length)
    report.shard = shardRecord(options, shard, migrations, replayed && top ? fingerprintHash(top) : undefined)
  }
  return report
}

/** What verify.json says about a shard: which, what it ran, and what every shard must agree on. */
function shardRecord(options: VerifyOptions, plan: ShardPlan, migrations: VerifyContext['migrations'], baseFingerprint?: string): ShardRecord {
  return {
    index: plan.spec.index,
    count: plan.spec.count,
    ...(baseFingerprint ? { baseFingerprint } : {}),
    migrations: migrationSet(migrations),
    settings: { seed: options.seed, runs: options.runs, skip: [...(options.skip ?? [])].sort(), ...(options.changed ? { changed: options.changed.since ?? 'released.json' } : {}) },
    units: plan.units,
  }
}

/**
 * The database stages, each once its needs have passed. On an engine with several sessions a
 * stage marked `alongside` starts as soon as its needs have passed, beside everything else (it
 * works on a database of its own: see Stage.alongside); the others run one after the other on
 * the shared client, in their order. The results come back in the stages' order, whatever order
 * they finished in.
 */
async function runStages(ctx: VerifyContext, client: pg.Client, stages: Stage[]): Promise<StageResult[]> {
  const together = ctx.engine.capabilities.concurrentConnections || ctx.engine.capabilities.parallelDatabases
  ctx.heavyStages = together ? stages.filter((s) => s.heavy && s.alongside && !ctx.options.skip?.includes(s.id)).length : 1
  const running = new Map<string, Promise<StageResult>>()
  ctx.stageResult = (id) => running.get(id) ?? Promise.resolve(undefined)
  let inOrder: Promise<unknown> = Promise.resolve()
  for (const stage of stages) {
    const alongside = together ? stage.alongside : undefined
    // A stage that measures time waits for everything started before it, so it runs alone.
    const after = alongside ? Promise.resolve() : stage.alone ? Promise.all([inOrder, ...running.values()]) : inOrder
    const result = after.then(async (): Promise<StageResult> => {
      if (ctx.options.skip?.includes(stage.id)) return notRun(stage, `skipped: --skip ${stage.id} was given (not verified in this run)`)
      const unmet = async () => {
        for (const n of stage.needs) if ((await running.get(n))?.verdict !== 'passed') return n
      }
      const early = alongside && stage.early
      const missing = early ? undefined : await unmet()
      if (missing) return notRun(stage, `skipped: needs stage "${missing}" to pass`)
      for (const a of stage.after ?? []) await running.get(a)
      if (ctx.shard && !ctx.shard.runsWhole(stage.id)) return notRun(stage, `skipped: shard ${ctx.shard.wholeOwner(stage.id)}/${ctx.shard.spec.count} runs this stage whole (not this shard's work)`)
      ctx.progress(`▸ ${stage.title}${alongside ? ' (alongside the others, on a database of its own)' : ''}`)
      // A context of its own per stage: its meter counts its work only, whatever runs beside it.
      const meter = new Meter()
      const own: VerifyContext = { ...ctx, meter, ...(alongside ? { engine: parallelDatabases(ctx.engine) } : {}) }
      const body = alongside === 'fresh' ? () => onFreshDatabase(own, stage) : () => stage.run(own, client)
      const outcome = withMeter(await runStep(stage, body, (e) => couldNotComplete(stage, e)), meter)
      if (outcome.error?.code === 'SERVER_RESOURCES' && ctx.engine.storage) outcome.details.push(ctx.engine.storage)
      const late = early ? await unmet() : undefined
      return late ? notRun(stage, `skipped: needs stage "${late}" to pass (it ran beside it; its result is not counted)`) : outcome
    })
    running.set(stage.id, result)
    if (!alongside) inOrder = result
  }
  // A released base replay never reached (it failed, or did not run) is not coming: whoever waits for it starts from empty.
  const replayed = running.get('replay')
  if (replayed) void replayed.then(() => ctx.base?.settle(), () => ctx.base?.settle())
  else ctx.base?.settle()
  return Promise.all(stages.map((s) => running.get(s.id)!))
}

/** A stage ended by an error: its first line as the summary, the rest (a located statement) and the hint as evidence. */
function couldNotComplete(stage: Stage, e: HarnessError): StageOutcome {
  const [first, ...rest] = e.message.split('\n')
  const o: StageOutcome = harnessOutcome(e, `${stage.id} could not complete: ${first}`)
  return { ...o, details: [...rest, ...o.details] }
}

/** The engine as a stage running alongside the others sees it: every database it creates asks to run in parallel. */
function parallelDatabases(engine: StartedEngine): StartedEngine {
  return Object.assign(Object.create(engine) as StartedEngine, { createDatabase: (label?: string, o: CreateDatabaseOptions = {}) => engine.createDatabase(label, { parallel: true, ...o }) })
}

/** Runs `stage` on a fresh database, used by nobody else, dropped after (the runner's bootstrap extensions made already: its first step is that bootstrap). */
async function onFreshDatabase(ctx: VerifyContext, stage: Stage): Promise<StageOutcome> {
  const db = await ctx.engine.createDatabase(stage.id, { extensions: requiredExtensions(ctx.manifest?.requirements, ctx.migrations) })
  let client: pg.Client | undefined
  try {
    client = await connect(db.url, { applicationName: `pgverify ${stage.id}` })
    return await stage.run({ ...ctx, throwaway: true }, client)
  } finally {
    await client?.end().catch(() => {})
    await db.drop().catch(() => {})
  }
}

/** The meter's counts and parts join what the stage itself reported (its own win). */
function withMeter(r: StageResult, meter: Meter): StageResult {
  const counts = { ...meter.counts, ...r.counts }
  for (const k of Object.keys(counts)) if (k.endsWith('Ms')) counts[k] = Math.round(counts[k]!)
  const breakdown = r.breakdown ?? meter.breakdown()
  return { ...r, ...(Object.keys(counts).length ? { counts } : {}), ...(breakdown.length ? { breakdown } : {}) }
}

export function sumCounts(results: StageResult[]): Record<string, number> {
  const out: Record<string, number> = {}
  for (const r of results) for (const [k, v] of Object.entries(r.counts ?? {})) out[k] = (out[k] ?? 0) + v
  return out
}

/** What "full depth" means, counted: a faster run must show the same numbers. */
export function depthOf(results: StageResult[]): VerifyDepth {
  const c = (stage: string, name: string) => results.find((r) => r.id === stage)?.counts?.[name] ?? 0
  return {
    faultPoints: c('fault-injection', 'faultPoints'),
    propertyDatasets: c('data-properties', 'datasets'),
    propertyRows: c('data-properties', 'rows'),
    roundTripRestores: c('backup-round-trip', 'roundTripRestores'),
    roundTripRows: c('backup-round-trip', 'roundTripRows'),
    roundTripCompressedChunks: c('backup-round-trip', 'roundTripCompressedChunks'),
    roundTripBoundaryRows: c('backup-round-trip', 'roundTripBoundaryRows'),
    downUpSteps: c('down-up', 'downUpSteps'),
    idempotentFiles: c('idempotency', 'idempotentFiles'),
  }
}
