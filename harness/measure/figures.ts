/**
 * The shape of a benchmark run: figures per engine, the run's context, and the verdicts.
 * reports/bench.json is exactly a `BenchRun`; the history file holds `HistoryEntry` lines.
 */
import type { StepResult } from '../steps/step.ts'
import type { Comparison, RunOptions } from './regression.ts'
import { summarize, thin, type Summary } from './stats.ts'
import { describeLimit, meets, MIN_SAMPLES, TARGETS, THRESHOLDS, type Limit, type TargetId, type ThresholdId, type Unit, type Verdict } from './thresholds.ts'

export const BENCH_SCHEMA = 'ms5-bench/1'

export type FigureGroup = 'ingest' | 'dashboard' | 'report' | 'connection' | 'database' | 'migration' | 'compression' | 'storage' | 'load' | 'verify'

export interface CheckedLimit extends Limit {
  id: string
  /** The statistic's value that was compared with the limit. */
  checked: number
  verdict: Verdict
  text: string
  /** Set when the limit was not decided (too few samples): why, for the reports and the terminal. */
  warning?: string
}

export interface Figure {
  /** Stable across runs: the key of history charts and regression comparison. */
  id: string
  label: string
  group: FigureGroup
  unit: Unit
  better: 'lower' | 'higher'
  /** The headline number: p50 for latencies, the aggregate for rates and sizes. */
  value: number
  /** Sample statistics (absent for single derived values such as a compression ratio). */
  stats?: Omit<Summary, 'mad'>
  /** The raw samples (at most 200, evenly thinned), in `unit`: kept for regression tests. */
  samples?: number[]
  threshold?: CheckedLimit
  target?: CheckedLimit
  /** The seed threshold's verdict (info when none applies). */
  verdict: Verdict
  /** The engine's own reference measured in the same run, and our value as a ratio of it. */
  reference?: { label: string; value: number; unit: Unit; ratio: number }
  /** Figure-specific measurements (e.g. bytes before and after compression). */
  detail?: Record<string, number | string>
  note?: string
}

export interface SkippedBenchmark {
  id: string
  reason: string
}

export interface EngineRun {
  engine: string
  describe: string
  versions: { postgres: string; timescaledb: string; timescaledbLicense: string }
  capabilities: Record<string, unknown>
  durationMs: number
  dataset?: {
    seed: number
    scale: number
    days: number
    hz: number
    range: { start: string; end: string }
    rows: Record<string, number>
    rowsPerDay: number
    loadMs: number
    compressedChunks: number
    totalChunks: number
  }
  figures: Figure[]
  skipped: SkippedBenchmark[]
  /** Every benchmark group as a step (steps/step.ts): verdict, duration, summary, a line per figure. Absent in reports older than steps. */
  steps?: StepResult[]
  /** Set when the engine could not run at all. */
  error?: string
}

export interface BenchRun {
  schema: typeof BENCH_SCHEMA
  startedAt: string
  durationMs: number
  options: RunOptions
  machine: { cores: number; memoryBytes: number; cpu: string; platform: string; node: string }
  git: { commit: string | null }
  engines: EngineRun[]
  /** Failed seed thresholds ("engine figure: text"); empty when all passed. */
  failures: string[]
  comparison?: Comparison
  /** `--scale day|week|month|year`: each query's latency as the data grows (bench/spans.ts). */
  growth?: Growth
  verdict: 'passed' | 'failed'
}

/** The queries measured at several sizes of the same database, grown backwards in time. */
export interface Growth {
  /** The table whose rows are the x axis. */
  metric: string
  points: {
    span: string
    days: number
    /** Rows per hypertable, counted. */
    rows: Record<string, number>
    /** Rows generated for this step, and how long it took (the build rate). */
    buildRows: number
    buildMs: number
    compressedChunks: number
    compressMs: number
    analyzeMs: number
    queries: Record<string, { label: string; kind: string; p50: number; p95: number; p99: number; n: number; resultRows: number }>
  }[]
}

/** A compact run for the history file (one JSON object per line). */
export interface HistoryEntry {
  at: string
  commit: string | null
  options: BenchRun['options']
  verdict: BenchRun['verdict']
  figures: { engine: string; id: string; label: string; unit: Unit; better: 'lower' | 'higher'; value: number; p95?: number; p99?: number; checked?: number; limit?: number; op?: '<' | '>'; statistic?: string }[]
}

function checkLimit(id: string, limit: Limit, stats: Omit<Summary, 'mad'> | undefined, value: number): CheckedLimit {
  const checked = limit.statistic === 'value' ? value : (stats?.[limit.statistic] ?? value)
  const text = describeLimit(limit)
  if (meets(limit.op, checked, limit.limit)) return { ...limit, id, checked, verdict: 'passed', text }
  // Too few samples for the percentile (MIN_SAMPLES): the median decides, the tail only warns.
  const needed = limit.statistic === 'value' ? 0 : MIN_SAMPLES[limit.statistic]
  if (stats && stats.n < needed && meets(limit.op, stats.p50, limit.limit)) {
    const warning = `${limit.statistic} of only ${stats.n} samples is ${formatValue(checked, limit.unit)}, over the limit, but the median (${formatValue(stats.p50, limit.unit)}) is within it: too few samples to fail on (a ${limit.statistic} needs ${needed}); run without --quick to decide`
    return { ...limit, id, checked, verdict: 'info', text, warning }
  }
  return { ...limit, id, checked, verdict: 'failed', text }
}

/**
 * The figure checked against a configured limit instead of the seed's (pgverify.config.json
 * "thresholds"); the source names both. Unchanged when no limit is configured for its threshold.
 */
export function withLimits(f: Figure, limits: Partial<Record<ThresholdId, number>> = {}): Figure {
  const t = f.threshold
  const limit = t ? limits[t.id as ThresholdId] : undefined
  if (!t || limit === undefined || limit === t.limit) return f
  const seed = THRESHOLDS[t.id as ThresholdId]
  const threshold = checkLimit(t.id, { ...seed, limit, source: `pgverify.config.json thresholds.${t.id} (instead of ${seed.source})` }, f.stats, f.value)
  return { ...f, threshold, verdict: threshold.verdict }
}

export interface FigureInput {
  id: string
  label: string
  group: FigureGroup
  unit: Unit
  better: 'lower' | 'higher'
  /** Raw samples in `unit`. */
  samples?: readonly number[]
  /** The headline value; default: the samples' median. */
  value?: number
  threshold?: ThresholdId
  target?: TargetId
  /** What the target is checked against when it is not the figure's value (e.g. a ratio). */
  targetValue?: number
  reference?: { label: string; value: number; unit?: Unit }
  detail?: Record<string, number | string>
  note?: string
}

/** Builds a figure from samples or a value, applying its seed threshold and issue target. */
export function makeFigure(input: FigureInput): Figure {
  const s = input.samples?.length ? summarize(input.samples) : undefined
  const stats = s ? { n: s.n, mean: s.mean, min: s.min, max: s.max, p50: s.p50, p95: s.p95, p99: s.p99, stdev: s.stdev, spread: s.spread } : undefined
  const value = input.value ?? stats?.p50 ?? NaN
  const threshold = input.threshold ? checkLimit(input.threshold, THRESHOLDS[input.threshold], stats, value) : undefined
  const target = input.target ? checkLimit(input.target, TARGETS[input.target], stats, input.targetValue ?? value) : undefined
  const fig: Figure = {
    id: input.id,
    label: input.label,
    group: input.group,
    unit: input.unit,
    better: input.better,
    value,
    verdict: threshold?.verdict ?? 'info',
  }
  if (stats) fig.stats = stats
  if (input.samples?.length) fig.samples = thin(input.samples).map((v) => Number(v.toPrecision(6)))
  if (threshold) fig.threshold = threshold
  if (target) fig.target = target
  if (input.reference) {
    const ratio = input.better === 'higher' ? value / input.reference.value : input.reference.value / value
    fig.reference = { label: input.reference.label, value: input.reference.value, unit: input.reference.unit ?? input.unit, ratio }
  }
  if (input.detail) fig.detail = input.detail
  if (input.note) fig.note = input.note
  const warning = threshold?.warning ?? target?.warning
  if (warning) fig.note = fig.note ? `${fig.note} · ${warning}` : warning
  return fig
}

/** The failed seed thresholds of a run, as "engine · figure: checked vs limit" lines. */
export function failuresOf(engines: readonly EngineRun[]): string[] {
  const out: string[] = []
  for (const e of engines) {
    for (const f of e.figures) {
      if (f.threshold?.verdict === 'failed') out.push(`${e.engine} · ${f.label}: ${formatValue(f.threshold.checked, f.unit)} (needs ${f.threshold.text}; ${f.threshold.source})`)
    }
  }
  return out
}

export function toHistoryEntry(run: BenchRun): HistoryEntry {
  return {
    at: run.startedAt,
    commit: run.git.commit,
    options: run.options,
    verdict: run.verdict,
    figures: run.engines.flatMap((e) =>
      e.figures.map((f) => ({
        engine: e.engine,
        id: f.id,
        label: f.label,
        unit: f.unit,
        better: f.better,
        value: f.value,
        ...(f.stats ? { p95: f.stats.p95, p99: f.stats.p99 } : {}),
        ...(f.threshold ? { checked: f.threshold.checked, limit: f.threshold.limit, op: f.threshold.op, statistic: f.threshold.statistic } : {}),
      })),
    ),
  }
}

/** A number with its unit, rounded for people. */
export function formatValue(v: number | undefined, unit: Unit | string): string {
  if (v === undefined || !Number.isFinite(v)) return '–'
  switch (unit) {
    case 'ms':
      return v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : v >= 1000 ? `${(v / 1000).toFixed(2)} s` : v >= 100 ? `${v.toFixed(0)} ms` : v >= 1 ? `${v.toFixed(1)} ms` : `${v.toFixed(2)} ms`
    case 'rows/s':
      return `${Math.round(v).toLocaleString('en-US')} rows/s`
    case '%':
      return `${v.toFixed(1)} %`
    case 'GB/month':
      return `${v < 0.01 ? v.toFixed(4) : v.toFixed(3)} GB/month`
    case 'bytes':
      return v >= 1e6 ? `${(v / 1e6).toFixed(1)} MB` : v >= 1e3 ? `${(v / 1e3).toFixed(1)} kB` : `${Math.round(v)} B`
    case 'bytes/row':
      return `${v.toFixed(1)} B/row`
    case 'ratio':
      return `${v.toFixed(2)}×`
    default:
      return `${v} ${unit}`
  }
}
