/**
 * Per-statement figures: every operation and sample is attributed to the statement running
 * when it started (the runner's own boundaries), and the workload during a statement is set
 * against the baseline before the migration. After the last statement, until the runner
 * returned, is the migration's commit (its log row, then COMMIT): a transaction's locks are held
 * until then, so work waiting behind them often finishes there.
 */
import { percentileSorted } from '../measure/stats.ts'
import type { LockHeld, OpKind, OpRecord, Sample, Span } from './types.ts'

export interface WorkloadFigures {
  ops: number
  errors: number
  /** Operations per second started in the period. */
  throughput: number
  dashboardP95Ms: number | null
  dashboardP99Ms: number | null
  insertP95Ms: number | null
  insertP99Ms: number | null
  /** The slowest operation of each kind. */
  dashboardMaxMs: number | null
  insertMaxMs: number | null
  /** Samples and medians of each kind (a baseline's p95 from few samples is judged with its median, verdict.ts). */
  dashboardSamples?: number
  insertSamples?: number
  dashboardP50Ms?: number | null
  insertP50Ms?: number | null
}

export interface StatementFigures {
  /** file:line:column, or "<file>: commit" for the commit phase. */
  where: string
  file: string
  line: number
  text: string
  node?: string
  head: string
  durationMs: number
  acquired: LockHeld[]
  held: LockHeld[]
  /** Workload sessions seen waiting behind the migration's backend during the statement. */
  blockedSessions: number
  /** The longest wait seen by the sampler, and the slowest workload operation started then. */
  longestWaitMs: number
  /** What the waiters waited for. */
  waitedFor: LockHeld[]
  workload: WorkloadFigures
  errors: { op: string; sqlstate?: string; message: string }[]
}

const pct = (xs: number[], p: number): number | null => (xs.length ? percentileSorted([...xs].sort((a, b) => a - b), p) : null)

export function workloadFigures(ops: OpRecord[], spanMs: number): WorkloadFigures {
  const lat = (k: OpKind) => ops.filter((o) => o.kind === k).map((o) => o.latencyMs)
  const d = lat('dashboard')
  const i = lat('insert')
  return {
    ops: ops.length,
    errors: ops.filter((o) => !o.ok).length,
    throughput: spanMs > 0 ? (ops.length * 1000) / spanMs : 0,
    dashboardP95Ms: pct(d, 95),
    dashboardP99Ms: pct(d, 99),
    insertP95Ms: pct(i, 95),
    insertP99Ms: pct(i, 99),
    dashboardMaxMs: d.length ? Math.max(...d) : null,
    insertMaxMs: i.length ? Math.max(...i) : null,
    dashboardSamples: d.length,
    insertSamples: i.length,
    dashboardP50Ms: pct(d, 50),
    insertP50Ms: pct(i, 50),
  }
}

const uniq = (ls: LockHeld[]): LockHeld[] => [...new Map(ls.map((l) => [`${l.mode} ${l.relation}`, l])).values()]

/**
 * Statements in order, then the commit phase (`endMs`: when the runner returned). An operation
 * or sample belongs to the last statement that started at or before it.
 */
export function statementFigures(spans: Span[], commit: { file: string; startMs: number; endMs: number } | undefined, ops: OpRecord[], samples: Sample[]): StatementFigures[] {
  // The runner's own start (its lock, checks, log reads) counts with the first statement, so no operation is lost.
  const periods = spans.map((s, i) => ({ s, from: i === 0 && commit ? Math.min(commit.startMs, s.startMs) : s.startMs, to: spans[i + 1]?.startMs ?? s.endMs }))
  const out: StatementFigures[] = []
  const last = spans[spans.length - 1]
  const all = [...periods]
  if (commit && last) all.push({ s: { ...last, line: 0, column: 0, text: 'commit (log row, COMMIT)', head: '', acquired: [], startMs: last.endMs, endMs: commit.endMs }, from: last.endMs, to: commit.endMs })
  for (const [n, p] of all.entries()) {
    const isCommit = commit !== undefined && n === all.length - 1
    const mine = ops.filter((o) => o.startMs >= p.from && o.startMs < p.to)
    const seen = samples.filter((x) => x.atMs >= p.from && x.atMs < p.to)
    const waiters = seen.flatMap((x) => x.waiters)
    const durationMs = p.s.endMs - p.s.startMs
    const slowest = mine.length ? Math.max(...mine.map((o) => o.latencyMs)) : 0
    const sampledWait = waiters.length ? Math.max(...waiters.map((w) => w.waitedMs)) : 0
    out.push({
      where: isCommit ? `${p.s.file}: commit` : `${p.s.file}:${p.s.line}:${p.s.column}`,
      file: p.s.file,
      line: p.s.line,
      text: p.s.text,
      ...(p.s.node ? { node: p.s.node } : {}),
      head: p.s.head,
      durationMs,
      acquired: p.s.acquired,
      held: uniq([...p.s.heldAfter, ...seen.flatMap((x) => x.held)]),
      blockedSessions: new Set(waiters.map((w) => w.pid)).size,
      // A waiter is only seen while it waits: the operation's own latency is its whole wait.
      longestWaitMs: waiters.length ? Math.max(sampledWait, slowest) : sampledWait,
      waitedFor: uniq(waiters.map((w) => w.wants)),
      workload: workloadFigures(mine, p.to - p.from),
      errors: mine.filter((o) => !o.ok).map((o) => ({ op: o.op, ...(o.sqlstate ? { sqlstate: o.sqlstate } : {}), message: o.error ?? '' })),
    })
  }
  return out
}
