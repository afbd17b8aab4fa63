/**
 * The verdict from the seeds' thresholds (the same limits as `pnpm bench`, from the config):
 * a migration fails the rehearsal when, during any of its statements (or its commit), the
 * dashboard queries' p95 or the inserts' p95 break their limit, or the workload saw an error.
 * Each finding names the statement it happened during, the lock the workload waited for and the
 * statement that took it (file:line), the blocked time, and the fix for that kind of statement.
 */
import { MIN_SAMPLES } from '../measure/thresholds.ts'
import type { StatementFigures, WorkloadFigures } from './figures.ts'
import { STRENGTH, type Allowance, type LockHeld } from './types.ts'

export interface Limits {
  dashboardMs: number
  insertMs: number
  /** Where each limit comes from (printed with a failure). */
  dashboardSource: string
  insertSource: string
}

export interface Finding {
  /** file:line:column of the statement during which it happened ("baseline" before the migration). */
  during: string
  what: string
  /** The lock waited for, and where it was taken (file:line:column), when the sampler saw it. */
  lock?: LockHeld & { takenAt?: string }
  blockedMs: number
  blockedSessions: number
  fix: string
  /** Set when rehearse-allow.json accepts it (allow.ts): it does not fail the migration. */
  allowed?: Allowance
}

const strongest = (ls: LockHeld[]): LockHeld | undefined => [...ls].sort((a, b) => STRENGTH.indexOf(b.mode) - STRENGTH.indexOf(a.mode))[0]

/** What to do instead, by the kind of statement that took the lock. */
export function fixFor(head: string): string {
  const s = head.replace(/\s+/g, ' ').trim()
  if (/^CREATE (UNIQUE )?INDEX (?!CONCURRENTLY)/i.test(s))
    return 'build the index with CREATE INDEX CONCURRENTLY in a `--! no-transaction` file: writes go on while it builds (a plain CREATE INDEX holds SHARE, which blocks every insert, update and delete until it commits)'
  if (/^ALTER TABLE .* ALTER (COLUMN )?\S+ (SET DATA )?TYPE /i.test(s))
    return 'this type change rewrites the table under ACCESS EXCLUSIVE: add a new column, backfill it in batches, switch readers and writers, then drop the old column (or choose a change that needs no rewrite, e.g. varchar(n) to text)'
  if (/^ALTER TABLE .* ALTER (COLUMN )?\S+ SET NOT NULL/i.test(s))
    return 'SET NOT NULL scans the table under ACCESS EXCLUSIVE, held until COMMIT: add CHECK (col IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT it, then SET NOT NULL (PostgreSQL 12+ skips the scan when a valid CHECK proves it), and run it in a short transaction of its own'
  if (/^ALTER TABLE .* ADD (CONSTRAINT \S+ )?(FOREIGN KEY|CHECK)/i.test(s))
    return 'add the constraint NOT VALID, then VALIDATE CONSTRAINT in a later statement: validation takes only SHARE UPDATE EXCLUSIVE, so reads and writes go on'
  if (/^(UPDATE|DELETE|INSERT)\b/i.test(s)) return 'batch it: a few thousand rows per transaction, so each holds its row locks briefly'
  if (/^LOCK\b/i.test(s))
    return 'do not hold an explicit lock while slow work runs: take it last and commit at once, with SET lock_timeout (e.g. 2s) and a retry, so the queue behind it stays short'
  return 'keep the lock short: SET lock_timeout (e.g. 2s) and retry the migration, and move slow work out of the transaction that holds the lock (batches, CONCURRENTLY, NOT VALID then VALIDATE)'
}

const ms = (v: number) => `${Math.round(v).toLocaleString('en-US')} ms`

function breaches(w: WorkloadFigures, limits: Limits): string[] {
  const out: string[] = []
  if (w.dashboardP95Ms !== null && w.dashboardP95Ms > limits.dashboardMs) out.push(`dashboard p95 ${ms(w.dashboardP95Ms)} > ${limits.dashboardMs} ms (${limits.dashboardSource})`)
  if (w.insertP95Ms !== null && w.insertP95Ms > limits.insertMs) out.push(`insert p95 ${ms(w.insertP95Ms)} > ${limits.insertMs} ms (${limits.insertSource})`)
  if (w.errors > 0) out.push(`${w.errors} workload error${w.errors === 1 ? '' : 's'}`)
  return out
}

/**
 * The baseline is judged as `pnpm bench` judges a figure (measure/thresholds.ts MIN_SAMPLES): a
 * p95 from fewer than 20 operations breaks a limit only when the median breaks it too, so one slow
 * query on a busy machine in a short baseline does not call the server unable to carry the load.
 * (A statement's own figures are not softened: one operation blocked behind it is the finding.)
 */
function baselineBreaches(w: WorkloadFigures, limits: Limits): string[] {
  const few = (n: number | undefined) => n !== undefined && n < MIN_SAMPLES.p95
  return breaches(
    {
      ...w,
      dashboardP95Ms: few(w.dashboardSamples) && (w.dashboardP50Ms ?? 0) <= limits.dashboardMs ? null : w.dashboardP95Ms,
      insertP95Ms: few(w.insertSamples) && (w.insertP50Ms ?? 0) <= limits.insertMs ? null : w.insertP95Ms,
    },
    limits,
  )
}

export function findings(statements: StatementFigures[], baseline: WorkloadFigures, limits: Limits): Finding[] {
  const out: Finding[] = []
  const base = baselineBreaches(baseline, limits)
  if (base.length)
    out.push({ during: 'baseline', what: `before the migration: ${base.join('; ')}`, blockedMs: 0, blockedSessions: 0, fix: 'the server cannot carry the workload even without the migration: rehearse on a quieter or larger server (this is not a verdict on the migration)' })
  for (const st of statements) {
    const b = breaches(st.workload, limits)
    if (!b.length) continue
    // The lock the waiters wanted, and the statement that took it (this one or an earlier one of the transaction).
    const wanted = strongest(st.waitedFor)
    const relation = wanted?.relation
    const heldOnIt = strongest(st.held.filter((l) => l.relation === relation)) ?? strongest(st.held)
    const taker = heldOnIt ? statements.find((s) => s.acquired.some((l) => l.relation === heldOnIt.relation && l.mode === heldOnIt.mode)) : undefined
    const source = taker ?? st
    const errors = st.errors.length ? `; errors: ${[...new Set(st.errors.map((e) => `${e.op}: ${e.sqlstate ? `[${e.sqlstate}] ` : ''}${e.message}`))].slice(0, 3).join('; ')}` : ''
    out.push({
      during: st.where,
      what: `${b.join('; ')}${errors}`,
      ...(heldOnIt ? { lock: { ...heldOnIt, ...(taker ? { takenAt: taker.where } : {}) } } : {}),
      blockedMs: st.longestWaitMs,
      blockedSessions: st.blockedSessions,
      fix: fixFor(source.head),
    })
  }
  return out
}

export function describeFinding(f: Finding): string {
  const lock = f.lock ? ` — ${f.lock.mode} on ${f.lock.relation}${f.lock.takenAt ? ` taken at ${f.lock.takenAt}` : ''}` : ''
  const blocked = f.blockedSessions ? `; ${f.blockedSessions} session${f.blockedSessions === 1 ? '' : 's'} blocked, longest wait ${ms(f.blockedMs)}` : ''
  return `${f.during}: ${f.what}${lock}${blocked}. Fix: ${f.fix}`
}
