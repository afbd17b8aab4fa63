/**
 * Regression detection between a baseline run and the current one. Pure: the CLI feeds it
 * figures (and, for suspects, a repeated measurement) and renders what it returns.
 *
 * A figure is *suspect* only when its median moved in the worse direction by more than
 *   allowed = max(minEffect, k × √(spread_old² + spread_new²)),   k = 2 by default
 * (spread: the samples' robust relative spread, 1.4826·MAD/median), and, where both sides
 * kept raw samples, a one-sided Mann–Whitney test agrees (p < alpha). A suspect becomes a
 * *regression* only when a repeat of the benchmark is again suspect against the baseline;
 * otherwise it is reported as noise. Single derived values (sizes, ratios: no samples) cannot
 * be repeated meaningfully; a move beyond minEffect is a regression at once.
 */
import { mannWhitneyGreater } from './stats.ts'
import type { Unit } from './thresholds.ts'

/** What a benchmark run measured (figures.ts's RunOptions). */
export interface RunOptions {
  engines: string[]
  /** A multiplier, or a span of typical data (day, week, month, year: bench/spans.ts). */
  scale: number | string
  seed: number
  quick: boolean
}

/** The part of a run the comparison reads (figures.ts's BenchRun is one). */
export interface ComparableRun {
  startedAt: string
  git: { commit: string | null }
  options: RunOptions
  engines: { engine: string; figures: Comparable[] }[]
}

export interface RegressionOptions {
  /** Smallest relative change ever reported (default 0.10 = 10 %). */
  minEffect: number
  /** Extra tolerance for timing figures: how much slower the machine itself measured (see machineDrift). */
  drift?: number
  /** How many combined spreads a change must exceed (default 2). */
  noiseK: number
  /** Significance level of the rank test (default 0.01). */
  alpha: number
}

export const DEFAULT_REGRESSION_OPTIONS: RegressionOptions = { minEffect: 0.1, noiseK: 2, alpha: 0.01 }

/** The part of a figure the comparison needs. */
export interface Comparable {
  id: string
  label: string
  unit: Unit
  better: 'lower' | 'higher'
  value: number
  stats?: { n: number; p50: number; spread: number }
  samples?: number[]
}

export type ChangeStatus =
  /** Worse beyond the noise, confirmed (by a repeat, or a deterministic figure). */
  | 'regression'
  /** Worse beyond the noise once; not yet repeated. */
  | 'suspect'
  /** Flagged once, not confirmed by the repeat. */
  | 'noise'
  | 'improvement'
  | 'unchanged'
  | 'new'
  | 'missing'
  /** Baseline was taken with other options (scale, seed, quick): not compared. */
  | 'incomparable'

export interface Assessment {
  status: ChangeStatus
  old: number
  new: number
  /** new/old − 1 (signed, in the figure's unit direction). */
  change: number
  /** Relative change in the worse direction (positive = worse). */
  worse: number
  /** The relative change this comparison tolerates as noise. */
  allowed: number
  /** One-sided rank-test p-value (new worse than old), when both sides kept samples. */
  p?: number
}

const centre = (f: Comparable): number => f.stats?.p50 ?? f.value
const spreadOf = (f: Comparable): number => (f.stats && f.stats.n > 1 && Number.isFinite(f.stats.spread) ? f.stats.spread : 0)
const repeatable = (f: Comparable): boolean => (f.stats?.n ?? 0) > 1
/** Durations and rates vary between runs; sizes and ratios of the same data do not. */
const isTiming = (f: Comparable): boolean => f.unit === 'ms' || f.unit === 'rows/s'

/** Figures never compared (the run's own wall time is the sum of the others). */
export const NOT_COMPARED: ReadonlySet<string> = new Set(['engine.wall_time'])

/**
 * The CPU calibration figure every engine run measures first (the same fixed work on every
 * machine). When it got slower, the machine itself did: timing figures get that much more
 * tolerance, so a busy or slower runner is not mistaken for a code regression.
 */
export const CALIBRATION_ID = 'calibration.cpu'

/** How much slower (positive) the machine measured itself, from the calibration figures; 0 when faster or unknown. */
export function machineDrift(old: Comparable | undefined, cur: Comparable | undefined): number {
  if (!old || !cur) return 0
  const a = centre(old)
  const b = centre(cur)
  if (!(a > 0) || !(b > 0)) return 0
  return Math.max(0, b / a - 1)
}

/** Compares one figure of the baseline with the current measurement. */
export function assessChange(old: Comparable, cur: Comparable, options: Partial<RegressionOptions> = {}): Assessment {
  const o = { ...DEFAULT_REGRESSION_OPTIONS, ...options }
  const a = centre(old)
  const b = centre(cur)
  const change = a !== 0 ? b / a - 1 : b === 0 ? 0 : Infinity
  // Worse = slower latency / lower rate: expressed as a fraction of the old value.
  const worse = cur.better === 'lower' ? change : a !== 0 ? (a - b) / a : 0
  const allowed = Math.max(o.minEffect, o.noiseK * Math.hypot(spreadOf(old), spreadOf(cur))) + (isTiming(cur) ? (o.drift ?? 0) : 0)
  const base = { old: a, new: b, change, worse, allowed }
  if (!Number.isFinite(a) || !Number.isFinite(b)) return { status: 'unchanged', ...base }
  let p: number | undefined
  let pBetter: number | undefined
  if ((old.samples?.length ?? 0) >= 5 && (cur.samples?.length ?? 0) >= 5) {
    const [x, y] = [old.samples!, cur.samples!]
    // For "lower is better", worse means the new samples are larger.
    p = cur.better === 'lower' ? mannWhitneyGreater(x, y) : mannWhitneyGreater(y, x)
    pBetter = cur.better === 'lower' ? mannWhitneyGreater(y, x) : mannWhitneyGreater(x, y)
  }
  if (worse > allowed) {
    if (p !== undefined && p >= o.alpha) return { status: 'noise', ...base, p }
    return { status: 'suspect', ...base, ...(p !== undefined ? { p } : {}) }
  }
  if (-worse > allowed && (pBetter === undefined || pBetter < o.alpha)) return { status: 'improvement', ...base, ...(p !== undefined ? { p } : {}) }
  return { status: 'unchanged', ...base, ...(p !== undefined ? { p } : {}) }
}

/**
 * The final word on a suspect: a regression only when the repeat is also suspect against the
 * baseline. Figures without samples (deterministic) are confirmed without a repeat.
 */
export function confirmChange(old: Comparable, first: Comparable, repeat: Comparable | undefined, options: Partial<RegressionOptions> = {}): Assessment & { repeat?: Assessment } {
  const a = assessChange(old, first, options)
  if (a.status !== 'suspect') return a
  if (!repeatable(first) || !repeatable(old)) {
    // A single timing has no known noise: reported, never confirmed. A size or ratio of the same data is exact.
    return { ...a, status: isTiming(first) ? 'noise' : 'regression' }
  }
  if (!repeat) return a
  const r = assessChange(old, repeat, options)
  return { ...a, status: r.status === 'suspect' ? 'regression' : 'noise', repeat: r }
}

export interface FigureChange extends Assessment {
  engine: string
  id: string
  label: string
  unit: string
  repeat?: Assessment
}

export interface Comparison {
  baseline: { startedAt: string; commit: string | null; options: RunOptions }
  options: RegressionOptions
  changes: FigureChange[]
  regressions: number
  /** Per engine: how much slower the machine measured itself than at the baseline (added to timing tolerances). */
  machineDrift?: Record<string, number>
  /** Why figures were not compared (options differ), if so. */
  note?: string
}

/** Whether two runs measured the same workload (engine aside). */
export function comparableOptions(a: RunOptions, b: RunOptions): string | undefined {
  const diffs: string[] = []
  if (a.scale !== b.scale) diffs.push(`scale ${a.scale} → ${b.scale}`)
  if (a.seed !== b.seed) diffs.push(`seed ${a.seed} → ${b.seed}`)
  if (a.quick !== b.quick) diffs.push(`quick ${a.quick} → ${b.quick}`)
  return diffs.length ? `baseline measured another workload (${diffs.join(', ')}): figures not compared` : undefined
}

/**
 * Compares every figure of `current` with the same engine's figure in `baseline`. `repeats`
 * holds repeated measurements of suspects ("engine/id" → figure), gathered by the caller.
 */
export function compareRuns(
  baseline: ComparableRun,
  current: Pick<ComparableRun, 'options' | 'engines'>,
  options: Partial<RegressionOptions> = {},
  repeats: ReadonlyMap<string, Comparable> = new Map(),
): Comparison {
  const o = { ...DEFAULT_REGRESSION_OPTIONS, ...options }
  const note = comparableOptions(baseline.options, current.options)
  const changes: FigureChange[] = []
  const drifts: Record<string, number> = {}
  for (const e of current.engines) {
    const old = new Map((baseline.engines.find((b) => b.engine === e.engine)?.figures ?? []).filter((f) => !NOT_COMPARED.has(f.id)).map((f) => [f.id, f]))
    const drift = machineDrift(old.get(CALIBRATION_ID), e.figures.find((f) => f.id === CALIBRATION_ID))
    const eo = { ...o, drift }
    if (drift > 0) drifts[e.engine] = drift
    for (const f of e.figures) {
      if (NOT_COMPARED.has(f.id)) continue
      const before = old.get(f.id)
      const common = { engine: e.engine, id: f.id, label: f.label, unit: f.unit }
      if (!before) {
        changes.push({ ...common, status: 'new', old: NaN, new: centre(f), change: NaN, worse: NaN, allowed: NaN })
        continue
      }
      old.delete(f.id)
      if (note) {
        changes.push({ ...common, ...assessChange(before, f, eo), status: 'incomparable' })
        continue
      }
      if (f.id === CALIBRATION_ID) {
        // The machine's own speed: reported, never a regression of the code.
        const a = assessChange(before, f, o)
        changes.push({ ...common, ...a, status: a.status === 'suspect' ? 'noise' : a.status })
        continue
      }
      changes.push({ ...common, ...confirmChange(before, f, repeats.get(`${e.engine}/${f.id}`), eo) })
    }
    for (const f of old.values()) changes.push({ engine: e.engine, id: f.id, label: f.label, unit: f.unit, status: 'missing', old: centre(f), new: NaN, change: NaN, worse: NaN, allowed: NaN })
  }
  return {
    baseline: { startedAt: baseline.startedAt, commit: baseline.git.commit, options: baseline.options },
    options: o,
    changes,
    regressions: changes.filter((c) => c.status === 'regression').length,
    ...(Object.keys(drifts).length ? { machineDrift: drifts } : {}),
    ...(note ? { note } : {}),
  }
}

/** The suspects of a first comparison pass: what the caller should measure again. */
export function suspectsOf(comparison: Comparison): FigureChange[] {
  return comparison.changes.filter((c) => c.status === 'suspect')
}

const pct = (v: number) => (Number.isFinite(v) ? `${v >= 0 ? '+' : ''}${(v * 100).toFixed(1)} %` : '–')
const num = (v: number) => (Number.isFinite(v) ? (Math.abs(v) >= 100 ? Math.round(v).toLocaleString('en-US') : v.toPrecision(3)) : '–')

/** The old/new/change table as plain text lines. */
export function formatComparison(c: Comparison): string[] {
  const rows = [['engine', 'figure', 'old', 'new', 'change', 'noise ±', 'p', 'status']]
  const unmatched = c.changes.filter((x) => x.status === 'new' || x.status === 'missing')
  for (const x of c.changes) {
    if (x.status === 'new' || x.status === 'missing') continue
    rows.push([
      x.engine,
      x.label,
      `${num(x.old)} ${x.unit}`,
      `${num(x.new)} ${x.unit}`,
      pct(x.change),
      Number.isFinite(x.allowed) ? `${(x.allowed * 100).toFixed(0)} %` : '–',
      x.p !== undefined ? x.p.toFixed(3) : '–',
      x.status + (x.repeat ? ` (repeat ${pct(x.repeat.change)})` : ''),
    ])
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  const lines = rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd())
  lines.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '))
  const head = `compared with baseline of ${c.baseline.startedAt}${c.baseline.commit ? ` (${c.baseline.commit.slice(0, 10)})` : ''}: ${c.regressions} confirmed regression${c.regressions === 1 ? '' : 's'}`
  const extra = unmatched.length
    ? [`${unmatched.filter((x) => x.status === 'new').length} figure(s) not in the baseline, ${unmatched.filter((x) => x.status === 'missing').length} of the baseline's not measured now`]
    : []
  const drift = Object.entries(c.machineDrift ?? {}).map(([e, d]) => `${e}: the machine measured itself ${(d * 100).toFixed(0)} % slower than at the baseline (CPU calibration); timing tolerances widened by that`)
  return [head, ...(c.note ? [c.note] : []), ...drift, ...(rows.length > 1 ? lines : []), ...extra]
}
