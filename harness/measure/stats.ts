/**
 * Statistics of benchmark samples: percentiles, spread, and a rank test. Pure functions, no
 * dependencies, so the regression decision can be tested without a database.
 */

export interface Summary {
  /** Number of samples. */
  n: number
  mean: number
  min: number
  max: number
  p50: number
  p95: number
  p99: number
  /** Sample standard deviation (0 for n < 2). */
  stdev: number
  /** Median absolute deviation. */
  mad: number
  /**
   * Relative spread: 1.4826 × MAD / median (a robust estimate of stdev/mean that one slow
   * outlier does not inflate); falls back to stdev/mean when the MAD is 0 but values differ.
   */
  spread: number
}

/** Percentile by linear interpolation between closest ranks (p in 0..100) of sorted values. */
export function percentileSorted(sorted: readonly number[], p: number): number {
  if (!sorted.length) return NaN
  if (sorted.length === 1) return sorted[0]!
  const rank = (Math.min(100, Math.max(0, p)) / 100) * (sorted.length - 1)
  const lo = Math.floor(rank)
  const hi = Math.ceil(rank)
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (rank - lo)
}

export const median = (values: readonly number[]): number => percentileSorted([...values].sort((a, b) => a - b), 50)

export function summarize(values: readonly number[]): Summary {
  const xs = values.filter((v) => Number.isFinite(v))
  const n = xs.length
  if (!n) return { n: 0, mean: NaN, min: NaN, max: NaN, p50: NaN, p95: NaN, p99: NaN, stdev: NaN, mad: NaN, spread: NaN }
  const sorted = [...xs].sort((a, b) => a - b)
  const mean = xs.reduce((s, v) => s + v, 0) / n
  const stdev = n > 1 ? Math.sqrt(xs.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1)) : 0
  const p50 = percentileSorted(sorted, 50)
  const mad = percentileSorted(
    xs.map((v) => Math.abs(v - p50)).sort((a, b) => a - b),
    50,
  )
  let spread = p50 !== 0 ? (1.4826 * mad) / Math.abs(p50) : 0
  if (spread === 0 && stdev > 0 && mean !== 0) spread = stdev / Math.abs(mean)
  return { n, mean, min: sorted[0]!, max: sorted[n - 1]!, p50, p95: percentileSorted(sorted, 95), p99: percentileSorted(sorted, 99), stdev, mad, spread }
}

/** Standard normal cumulative distribution (Abramowitz–Stegun 7.1.26, |error| < 1.5e-7). */
export function normalCdf(z: number): number {
  const t = 1 / (1 + 0.3275911 * (Math.abs(z) / Math.SQRT2))
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-(z * z) / 2)
  return z >= 0 ? (1 + y) / 2 : (1 - y) / 2
}

/**
 * One-sided Mann–Whitney U test: the probability of seeing samples `b` at least this much
 * larger than `a` if both came from the same distribution (normal approximation with tie
 * correction; fine from ~5 samples a side). Small p: `b` is really larger.
 */
export function mannWhitneyGreater(a: readonly number[], b: readonly number[]): number {
  const n1 = a.length
  const n2 = b.length
  if (!n1 || !n2) return 1
  const all = [...a.map((v) => ({ v, g: 0 })), ...b.map((v) => ({ v, g: 1 }))].sort((x, y) => x.v - y.v)
  const ranks = new Array<number>(all.length)
  let tieTerm = 0
  for (let i = 0; i < all.length; ) {
    let j = i
    while (j + 1 < all.length && all[j + 1]!.v === all[i]!.v) j++
    const r = (i + j) / 2 + 1
    for (let k = i; k <= j; k++) ranks[k] = r
    const t = j - i + 1
    tieTerm += t ** 3 - t
    i = j + 1
  }
  let r2 = 0
  for (let k = 0; k < all.length; k++) if (all[k]!.g === 1) r2 += ranks[k]!
  const u2 = r2 - (n2 * (n2 + 1)) / 2
  const mu = (n1 * n2) / 2
  const n = n1 + n2
  const sigma = Math.sqrt(((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1))))
  if (sigma === 0) return u2 > mu ? 0 : 1
  const z = (u2 - mu - 0.5) / sigma
  return 1 - normalCdf(z)
}

/** Keeps at most `max` samples, evenly spaced (order kept), for reports and baselines. */
export function thin(values: readonly number[], max = 200): number[] {
  if (values.length <= max) return [...values]
  const out: number[] = []
  for (let i = 0; i < max; i++) out.push(values[Math.floor((i * values.length) / max)]!)
  return out
}
