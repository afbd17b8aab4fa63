/**
 * The benchmark suite: for each engine, the benchmarks it can run (decided by capability flags),
 * each figure checked against its seed threshold, and, with a baseline, the regression
 * comparison (suspects measured again before anything is called a regression).
 *
 * Order per engine, cheapest memory first: connection, fresh database, migration replay, the
 * verify gate per stage (bench/verify-gate.ts), ingest (own throw-away database, dropped before
 * the dataset is loaded), then the dataset
 * (load, compression policy, dashboard queries, compression and storage). The embedded engine
 * holds one WASM heap per database, so at most two databases are alive at any time.
 *
 * Each group is a step (harness/steps/step.ts): its result, with a line per figure, is in
 * `EngineRun.steps`. A group that throws something other than a HarnessError hit a bug: its
 * step says INTERNAL and `pnpm bench` exits 70.
 */
import { startEngine } from '../harness/engines/target.ts'
import { ENGINES } from '../harness/engines/select.ts'
import type { EngineName, EngineSettings, StartedEngine } from '../harness/engines/types.ts'
import { BENCH_SCHEMA, failuresOf, formatValue, makeFigure, withLimits, type BenchRun, type EngineRun, type Figure } from '../harness/measure/figures.ts'
import type { ThresholdId } from '../harness/measure/thresholds.ts'
import { compareRuns, suspectsOf, type Comparable, type Comparison } from '../harness/measure/regression.ts'
import { failed, notRun, passed, runStep } from '../harness/steps/step.ts'
import { redact } from '../harness/util/redact.ts'
import { HarnessError } from '../harness/errors.ts'
import { calibration } from './calibration.ts'
import { compressionAndStorage } from './compression.ts'
import { connectionTime, freshDatabaseTime } from './connect.ts'
import { needsCompression, sizesFor, type BenchContext } from './context.ts'
import { dashboardQueries } from './dashboard.ts'
import { prepareDataset, type Dataset } from './dataset.ts'
import { ingest } from './ingest.ts'
import { migrationReplay } from './migrate.ts'
import { verifyGate } from './verify-gate.ts'
import { gitCommit, machine } from './machine.ts'
import { runSpans } from './spans.ts'
import { spansUpTo, type SpanName } from '../harness/data/telemetry/index.ts'

export { gitCommit, machine } from './machine.ts'

/** Engines `pnpm bench` tries when none is named; `url` only on request. */
export const DEFAULT_ENGINES: EngineName[] = ['embedded', 'native', 'container']

export interface BenchOptions {
  /** Engine names; default: every available engine among DEFAULT_ENGINES. */
  engines?: string[]
  scale: number
  /** Instead of the scale: the queries at every span of typical data up to this one (bench/spans.ts; native by default). */
  span?: SpanName
  seed: number
  quick: boolean
  /** A previous run to compare with (same engine's figures). */
  baseline?: BenchRun
  /** Limits replacing the seeds' thresholds (pgverify.config.json "thresholds"). */
  thresholds?: Partial<Record<ThresholdId, number>>
  /** DATABASE_URL, the container image, PG_BIN: as configured. */
  settings?: EngineSettings
  log: (line: string) => void
}

/** A benchmark group: a step (steps/step.ts) whose body measures figures. */
interface Group {
  id: string
  label: string
  /** Why it cannot run on this engine (capability) or in this run (--quick), or undefined. */
  unavailable?: (engine: StartedEngine, quick: boolean) => string | undefined
  run: (ctx: BenchContext, ds?: Dataset) => Promise<Figure[]>
  /** Needs the loaded dataset. */
  dataset?: boolean
}

const GROUPS: Group[] = [
  { id: 'calibration', label: 'CPU calibration', run: calibration },
  { id: 'connect', label: 'connection time', run: connectionTime },
  { id: 'fresh_db', label: 'fresh database', run: freshDatabaseTime },
  { id: 'migrate', label: 'migration replay', unavailable: needsCompression, run: migrationReplay },
  { id: 'verify', label: 'pnpm verify per stage', unavailable: (e, quick) => needsCompression(e) ?? (quick ? QUICK_NO_GATE : undefined), run: (ctx) => verifyGate(ctx) },
  { id: 'ingest', label: 'ingest into metric_hist', unavailable: needsCompression, run: ingest },
  { id: 'dashboard', label: 'dashboard queries', unavailable: needsCompression, dataset: true, run: (ctx, ds) => dashboardQueries(ctx, ds!) },
  { id: 'compression', label: 'compression and storage', unavailable: needsCompression, dataset: true, run: (ctx, ds) => compressionAndStorage(ctx, ds!) },
]

const QUICK_NO_GATE = 'a quick run does not time the gate: pnpm verify at full depth per stage is in the full pnpm bench (two runs: one timing alone never confirms a regression)'

/** Groups whose figures may be measured again to confirm a suspected regression. */
const REPEATABLE = new Set(['connect', 'fresh_db', 'migrate', 'verify', 'ingest', 'dashboard'])

const errorText = (e: unknown) => redact(e instanceof Error ? e.message : String(e))

const figureLine = (f: Figure) => `${f.threshold ? f.threshold.verdict : 'info'} ${f.id}: ${formatValue(f.value, f.unit)}${f.threshold ? ` (${f.threshold.text})` : ''}`

async function runEngine(name: EngineName, options: BenchOptions, sink: { comparisons: Comparison[] }): Promise<EngineRun> {
  const log = options.log
  const t0 = performance.now()
  const provider = ENGINES[name]
  const probe = await provider.probe(options.settings)
  if (!probe.ok) {
    log(`${name}: skipped: ${probe.reason}`)
    return { engine: name, describe: `${name} (not available)`, versions: { postgres: 'none', timescaledb: 'none', timescaledbLicense: 'none' }, capabilities: {}, durationMs: 0, figures: [], skipped: [], steps: [], error: `not available here: ${probe.reason}` }
  }
  let engine: StartedEngine
  try {
    engine = await startEngine({ request: { name, source: '--engine' }, settings: options.settings, log })
  } catch (e) {
    log(`${name}: could not start: ${errorText(e)}`)
    return { engine: name, describe: name, versions: { postgres: 'none', timescaledb: 'none', timescaledbLicense: 'none' }, capabilities: {}, durationMs: performance.now() - t0, figures: [], skipped: [], steps: [], error: `could not start: ${errorText(e)}` }
  }
  const ctx: BenchContext = { engine, scale: options.scale, seed: options.seed, quick: options.quick, sizes: sizesFor(options.quick), log }
  const run: EngineRun = {
    engine: name,
    describe: engine.describe(),
    versions: { ...engine.versions },
    capabilities: { ...engine.capabilities },
    durationMs: 0,
    figures: [],
    skipped: [],
    steps: [],
  }
  const groupOf = new Map<string, Group>()
  let dataset: Dataset | undefined
  let peakRss = process.memoryUsage().rss
  const sampleRss = () => (peakRss = Math.max(peakRss, process.memoryUsage().rss))
  try {
    for (const group of GROUPS) {
      const why = group.unavailable?.(engine, options.quick)
      if (why) {
        log(`${name}: ${group.label}: skipped: ${why}`)
        run.skipped.push({ id: group.id, reason: why })
        run.steps!.push(notRun({ id: group.id, title: group.label }, `skipped: ${why}`))
        continue
      }
      const step = await runStep({ id: group.id, title: group.label }, async () => {
        if (group.dataset && !dataset) {
          log(`${name}: dataset`)
          dataset = await prepareDataset(ctx)
          sampleRss()
          const rows = Object.values(dataset.load.rows).reduce((a, b) => a + b, 0)
          run.dataset = {
            seed: ctx.seed,
            scale: ctx.scale,
            days: dataset.days,
            hz: ctx.sizes.hz,
            range: { start: dataset.load.range.start.toISOString(), end: dataset.load.range.end.toISOString() },
            rows: dataset.load.rows,
            rowsPerDay: Math.round(rows / dataset.days),
            loadMs: dataset.load.durationMs,
            compressedChunks: Object.values(dataset.compressedByPolicy).reduce((a, b) => a + b, 0),
            totalChunks: dataset.before.reduce((a, h) => a + h.chunks, 0),
          }
          run.figures.push(...dataset.figures.map((f) => withLimits(f, options.thresholds)))
        }
        log(`${name}: ${group.label}`)
        const t = performance.now()
        const figures = (await group.run(ctx, dataset)).map((f) => withLimits(f, options.thresholds))
        sampleRss()
        for (const f of figures) groupOf.set(f.id, group)
        run.figures.push(...figures)
        const summary = `${figures.length} figures in ${((performance.now() - t) / 1000).toFixed(1)} s`
        log(`${name}: ${group.label}: ${summary}`)
        const over = figures.filter((f) => f.threshold?.verdict === 'failed')
        return over.length ? failed(`${summary}; ${over.length} over the threshold: ${over.map((f) => f.id).join(', ')}`, figures.map(figureLine)) : passed(summary, figures.map(figureLine))
      })
      run.steps!.push(step)
      if (step.error) {
        const message = redact(step.error.message)
        log(`${name}: ${group.label}: FAILED: ${message}`)
        run.skipped.push({ id: group.id, reason: `failed: ${message}` })
        if (group.dataset && !dataset) break
      }
    }

    if (options.baseline) sink.comparisons.push(await compareWithRepeats(ctx, run, options, groupOf, dataset))
  } finally {
    await dataset?.close().catch(() => {})
    await engine.stop().catch(() => {})
  }
  run.durationMs = performance.now() - t0
  run.figures.push(
    makeFigure({
      id: 'engine.wall_time',
      label: `Benchmark wall time on this engine${options.quick ? ' (quick)' : ''}`,
      group: 'database',
      unit: 'ms',
      better: 'lower',
      value: run.durationMs,
      ...(options.quick || options.scale !== 1 ? {} : { target: 'wall-time' as const }),
      note: `peak memory of the bench process so far (RSS, every engine it ran): ${(peakRss / 1e6).toFixed(0)} MB`,
    }),
  )
  return run
}

/** First pass, then every suspect's phase measured again, then the final comparison. */
async function compareWithRepeats(ctx: BenchContext, run: EngineRun, options: BenchOptions, groupOf: Map<string, Group>, dataset: Dataset | undefined): Promise<Comparison> {
  const baseline = options.baseline!
  const current = { options: runOptions(options), engines: [run] }
  const first = compareRuns(baseline, current)
  const suspects = suspectsOf(first)
  if (!suspects.length) return first
  const repeats = new Map<string, Comparable>()
  const groups = new Set(suspects.map((s) => groupOf.get(s.id)).filter((g): g is Group => !!g && REPEATABLE.has(g.id)))
  for (const group of groups) {
    ctx.log(`${run.engine}: ${group.label}: measuring again to confirm ${suspects.filter((s) => groupOf.get(s.id) === group).map((s) => s.id).join(', ')}`)
    try {
      for (const f of await group.run(ctx, dataset)) repeats.set(`${run.engine}/${f.id}`, f)
    } catch (e) {
      ctx.log(`${run.engine}: ${group.label}: repeat failed: ${errorText(e)}`)
    }
  }
  return compareRuns(baseline, current, {}, repeats)
}

const runOptions = (o: BenchOptions): BenchRun['options'] => ({ engines: o.engines ?? DEFAULT_ENGINES, scale: o.scale, seed: o.seed, quick: o.quick })

export async function runBench(options: BenchOptions): Promise<BenchRun> {
  if (options.span) {
    const engines = options.engines ?? ['native']
    if (engines.length !== 1) throw new HarnessError('USAGE', `--scale ${options.span} runs on one engine, got --engine ${engines.join(',')}`, { hint: 'e.g. --engine native' })
    return runSpans({ engine: engines[0]!, spans: spansUpTo(options.span), seed: options.seed, quick: options.quick, thresholds: options.thresholds, settings: options.settings, log: options.log })
  }
  const startedAt = new Date()
  const t0 = performance.now()
  const names = (options.engines ?? DEFAULT_ENGINES) as EngineName[]
  const unknown = names.filter((n) => !(n in ENGINES))
  if (unknown.length) throw new HarnessError('USAGE', `--engine ${unknown.join(', ')}: unknown engine`, { hint: `Choose from: ${Object.keys(ENGINES).join(', ')}.` })
  const sink = { comparisons: [] as Comparison[] }
  const engines: EngineRun[] = []
  for (const name of names) engines.push(await runEngine(name, options, sink))
  const failures = failuresOf(engines)
  for (const e of engines) for (const s of e.skipped) if (s.reason.startsWith('failed:')) failures.push(`${e.engine} · ${s.id}: ${s.reason}`)
  const comparison = mergeComparisons(sink.comparisons)
  const run: BenchRun = {
    schema: BENCH_SCHEMA,
    startedAt: startedAt.toISOString(),
    durationMs: performance.now() - t0,
    options: runOptions(options),
    machine: await machine(),
    git: { commit: await gitCommit(process.cwd()) },
    engines,
    failures,
    ...(comparison ? { comparison } : {}),
    verdict: failures.length || (comparison?.regressions ?? 0) > 0 ? 'failed' : 'passed',
  }
  return run
}

function mergeComparisons(list: Comparison[]): Comparison | undefined {
  if (!list.length) return undefined
  const [first, ...rest] = list
  const changes = [first!.changes, ...rest.map((c) => c.changes)].flat()
  return { ...first!, changes, regressions: changes.filter((c) => c.status === 'regression').length }
}
