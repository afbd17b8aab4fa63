/**
 * The extrapolation model of `pgverify plan --rehearse`, pure (no database), so its properties
 * are checked without one.
 *
 * A statement's duration is taken to be linear in N, the rows of the tables it touches:
 * d(N) = a + b·N, fitted through the two rehearsals (N₁, d₁) and (N₂, d₂), b ≥ 0, a ≥ 0. When
 * the two durations differ by less than the noise (the machine's, measured: noiseFloor; at least
 * NOISE_MS; or NOISE_FRACTION of the smaller), or N did not grow, the statement is taken as
 * constant: the larger of the two. So a statement
 * that does not read its table (CREATE FUNCTION, add_compression_policy) is not scaled by noise.
 *
 * Limits, said plainly in the report: linear is right for a scan, a rewrite or a validation
 * (they read every row once); an index build is N log N (under-estimated by a factor of
 * log N₃/log N₂, a few per cent per tenfold), and anything whose plan changes with size (a
 * hash that spills to disk, a sort that no longer fits work_mem) can be much slower than the
 * line. Lock waits on a busy production server are not in the figure: it is the statement's own
 * work on this machine, under the rehearsal's workload.
 */
import type { LockHeld } from './types.ts'

export const NOISE_MS = 5
export const NOISE_FRACTION = 0.25

export interface Point {
  rows: number
  ms: number
}

export interface Fit {
  kind: 'linear' | 'constant'
  /** Milliseconds at zero rows. */
  interceptMs: number
  /** Milliseconds per row. */
  msPerRow: number
}

export function fit(p1: Point, p2: Point, noiseMs: number = NOISE_MS): Fit {
  const [lo, hi] = p1.rows <= p2.rows ? [p1, p2] : [p2, p1]
  const noise = Math.max(NOISE_MS, noiseMs, NOISE_FRACTION * Math.min(lo.ms, hi.ms))
  if (hi.rows <= lo.rows || hi.ms - lo.ms <= noise) return { kind: 'constant', interceptMs: Math.max(lo.ms, hi.ms), msPerRow: 0 }
  const msPerRow = (hi.ms - lo.ms) / (hi.rows - lo.rows)
  return { kind: 'linear', interceptMs: Math.max(0, lo.ms - msPerRow * lo.rows), msPerRow }
}

/**
 * The machine's own noise between the two rehearsals: how much statements whose data did not
 * grow (N the same at both scales) differ, at the 90th percentile; at least NOISE_MS, and
 * NOISE_MS when fewer than ten such statements say so. On a busy machine it is tens of ms.
 */
export function noiseFloor(pairs: [Point, Point][]): number {
  const d = pairs.filter(([a, b]) => a.rows === b.rows).map(([a, b]) => Math.abs(a.ms - b.ms)).sort((x, y) => x - y)
  if (d.length < 10) return NOISE_MS
  return Math.max(NOISE_MS, d[Math.min(d.length - 1, Math.floor(0.9 * d.length))]!)
}

/** The fitted duration at `rows`: never below the intercept, non-decreasing in rows. */
export const estimateMs = (f: Fit, rows: number): number => f.interceptMs + f.msPerRow * Math.max(0, rows)

/** What a lock mode stops, on the table it is on (PostgreSQL's conflict table, for the workload's own locks). */
export function blocks(mode: string): 'readers and writers' | 'writers' | undefined {
  if (mode === 'AccessExclusiveLock') return 'readers and writers'
  // INSERT/UPDATE/DELETE take RowExclusiveLock, which these conflict with; SELECT's AccessShareLock does not.
  if (mode === 'ExclusiveLock' || mode === 'ShareRowExclusiveLock' || mode === 'ShareLock') return 'writers'
  return undefined
}

export interface Risk {
  level: 'high' | 'medium' | 'low'
  text: string
}

export interface BlockingLock extends LockHeld {
  stops: 'readers and writers' | 'writers'
  /** Rows of the table at production size. */
  rows: number
  /** From the statement's start to the end of its transaction (COMMIT), estimated. */
  heldMs: number
}

const secs = (ms: number) => (ms < 1000 ? `${Math.round(ms)} ms` : ms < 60_000 ? `${(ms / 1000).toFixed(1)} s` : `${(ms / 60_000).toFixed(1)} min`)

/**
 * The risk of a statement's locks at production size: high when it stops writers longer than
 * the insert limit or readers longer than the dashboard limit, medium when it stops them for
 * less, low when it stops nobody on a table that has rows.
 */
export function riskOf(locks: BlockingLock[], limits: { insertMs: number; dashboardMs: number }): Risk {
  const live = locks.filter((l) => l.rows > 0)
  if (!live.length) return { level: 'low', text: locks.length ? `locks only tables that are empty in production (${locks.map((l) => l.relation).join(', ')})` : 'takes no lock that stops reads or writes' }
  const worst = live.reduce((a, b) => (b.heldMs > a.heldMs || (b.heldMs === a.heldMs && b.stops.length > a.stops.length) ? b : a))
  const what = live.map((l) => `${l.stops} on ${l.relation} (${l.mode.replace(/Lock$/, '')})`).join('; ')
  const over = live.some((l) => l.heldMs > limits.insertMs || (l.stops === 'readers and writers' && l.heldMs > limits.dashboardMs))
  return { level: over ? 'high' : 'medium', text: `blocks ${what} for ~${secs(worst.heldMs)}` }
}

export { secs as formatDuration }
