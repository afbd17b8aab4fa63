/**
 * What a rehearsal records and reports. Times are milliseconds on one clock (`performance.now()`
 * of this process), so workload operations, sampler polls and statement boundaries line up.
 */

/** Which seed threshold an operation is held to: dashboard queries (p95 < 100 ms) or inserts (< 500 ms). */
export type OpKind = 'dashboard' | 'insert'

export interface OpRecord {
  op: string
  kind: OpKind
  session: number
  startMs: number
  latencyMs: number
  ok: boolean
  error?: string
  sqlstate?: string
}

/** PostgreSQL's table lock modes, weakest first. */
export const STRENGTH = ['AccessShareLock', 'RowShareLock', 'RowExclusiveLock', 'ShareUpdateExclusiveLock', 'ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock']

/** A lock as pg_locks shows it: mode and what it is on (a relation's name, else the lock type). */
export interface LockHeld {
  mode: string
  relation: string
}

/** One statement of the migration as the runner ran it: its own boundaries, from the runner's hooks. */
export interface Span {
  file: string
  line: number
  column: number
  /** The statement's first line, shortened. */
  text: string
  /** The parser's node type (IndexStmt, AlterTableStmt, LockStmt…), when it parsed. */
  node?: string
  /** The statement's start, for the advice (what kind of ALTER TABLE it is). */
  head: string
  startMs: number
  endMs: number
  /** Locks the migration's backend held right after this statement that it did not hold before it. */
  acquired: LockHeld[]
  /** Every lock held right after the statement (a transaction keeps them until COMMIT). */
  heldAfter: LockHeld[]
}

/** A workload session waiting for a lock the migration's backend holds, seen by one sampler poll. */
export interface Waiter {
  pid: number
  /** How long its current query has waited so far (clock_timestamp() - query_start). */
  waitedMs: number
  /** The lock it waits for. */
  wants: LockHeld
}

export interface Sample {
  atMs: number
  /** The poll's own round trip. */
  pollMs: number
  held: LockHeld[]
  waiters: Waiter[]
}

/** The sampler's cost, measured: its polls, and the workload's p95 without and with it. */
export interface SamplerOverhead {
  polls: number
  periodMs: number
  /** Mean and p95 round trip of one poll. */
  pollMeanMs: number
  pollP95Ms: number
  /** Longest gap between two polls while sampling (the period actually achieved at worst). */
  maxGapMs: number
  /** Dashboard p95 over the baseline without the sampler, then with it. */
  dashboardP95WithoutMs: number | null
  dashboardP95WithMs: number | null
}

/** A finding accepted by an entry of rehearse-allow.json (allow.ts): reported as allowed, with why. */
export interface Allowance {
  file: string
  line: number
  reason: string
  /** The figure measured when the entry was written. */
  measured: string
  /** The longest blocked time the entry accepts. */
  upToMs?: number
}
