/**
 * The one step-and-report model. Verify's stages, execute's phases and bench's groups are
 * steps, and every step ends in one result shape: a verdict, how long it took, one summary
 * line, the evidence (details) and, when it failed, the error with its location in a file.
 * The reports core (reports/) renders these results as HTML, JSON and JUnit.
 *
 * Types and tiny helpers only: no I/O. A step that throws a HarnessError failed for a reason a
 * user can act on, and so did one whose server went away or ran out of disk, memory or
 * connections under it (sqlstate.ts, serverTrouble); anything else thrown is a bug in the
 * harness: its result says INTERNAL (exit 70), never an ordinary failure.
 */
import { HarnessError, isHarnessError } from '../errors.ts'
import { serverTrouble } from '../sqlstate.ts'

/**
 * The one vocabulary of outcomes, everywhere a status reaches JSON or a report: verify's stages,
 * execute's phases and pre-checks, migration results, bench thresholds and targets. A second set
 * of words for the same idea (ok/warn/fail, pass/fail, Success/Error) makes every consumer map.
 */
export type Status = 'passed' | 'failed' | 'warning' | 'skipped' | 'planned' | 'info'

/** A step's verdict: never `warning` (a step passes with warnings in its details) nor `info`. */
export type Verdict = Extract<Status, 'passed' | 'failed' | 'skipped' | 'planned'>

/**
 * Where a problem is, when a file position is known: the runner's LocatedError (runner/locate.ts)
 * is one, with a snippet and the server's detail besides.
 */
export interface Location {
  file: string
  line: number
  column: number
  message: string
  sqlstate?: string
}

export interface StepError<L extends Location = Location> {
  /** An ErrorCode (errors.ts), `INTERNAL` for a bug, or a step's own code (`LINT`). */
  code: string
  message: string
  located?: L
}

/** One part of a step's time (a migration, a starting version, a restore kind). */
export interface StepPart {
  label: string
  ms: number
}

export interface StepResult<L extends Location = Location> {
  id: string
  title: string
  verdict: Verdict
  durationMs: number
  /** One line for the terminal and the reports. */
  summary: string
  /** Evidence: check lines, diff lines, the located error. */
  details: string[]
  error?: StepError<L>
  /** Where the step's time went, by part (verify's stages fill it; see verify/meter.ts). */
  breakdown?: StepPart[]
  /** The work the step did, counted (migrations applied, snapshots taken, fault points, datasets). */
  counts?: Record<string, number>
}

/** What a step's body returns; the runner adds id, title and duration. */
export type StepOutcome<L extends Location = Location> = Omit<StepResult<L>, 'id' | 'title' | 'durationMs'>

export const passed = (summary: string, details: string[] = []) => ({ verdict: 'passed' as const, summary, details })
export const failed = <L extends Location = Location>(summary: string, details: string[] = [], error?: StepError<L>) => ({ verdict: 'failed' as const, summary, details, error })

/** A step that did not run, with the reason (its summary). */
export const notRun = <L extends Location = Location>(step: { id: string; title: string }, summary: string, verdict: 'skipped' | 'planned' = 'skipped'): StepResult<L> => ({ id: step.id, title: step.title, verdict, durationMs: 0, summary, details: [] })

/** The result of a bug: what was thrown, where (its stack), and that it is one. */
export function internalOutcome<L extends Location = Location>(e: unknown): StepOutcome<L> {
  const err = e instanceof Error ? e : new Error(String(e))
  const message = err.message.split('\n')[0] ?? String(e)
  return {
    verdict: 'failed',
    summary: `internal error (a bug in pgverify, please report it): ${message}`,
    details: (err.stack ?? message).split('\n'),
    error: { code: 'INTERNAL', message },
  }
}

/** A HarnessError as a failed step: its message and hint. */
export const harnessOutcome = <L extends Location = Location>(e: HarnessError, summary: string = e.message): StepOutcome<L> => failed<L>(summary, e.hint ? [e.hint] : [], { code: e.code, message: e.message })

/** True when the step failed because of a bug in the harness. */
export const isInternal = (r: Pick<StepResult, 'error'>): boolean => r.error?.code === 'INTERNAL'

/** Turns anything thrown into a HarnessError: itself, or an INTERNAL one for a bug. */
export function asHarness(e: unknown): HarnessError {
  if (isHarnessError(e)) return e
  const err = e instanceof Error ? e : new Error(String(e))
  return new HarnessError('INTERNAL', err.message, { hint: 'This is a bug in pgverify; please report it with the output above.', cause: err })
}

/**
 * Runs one step's body and times it. A HarnessError, or a server's going away or running short,
 * becomes a failed step through `onError` (default: its message and hint); anything else becomes
 * an INTERNAL one.
 */
export async function runStep<L extends Location = Location>(
  step: { id: string; title: string },
  body: () => Promise<StepOutcome<L>>,
  onError: (e: HarnessError) => StepOutcome<L> = (e) => harnessOutcome<L>(e),
): Promise<StepResult<L>> {
  const t0 = performance.now()
  let outcome: StepOutcome<L>
  try {
    outcome = await body()
  } catch (e) {
    const known = isHarnessError(e) ? e : serverTrouble(e)
    outcome = known ? onError(known) : internalOutcome<L>(e)
  }
  return { id: step.id, title: step.title, durationMs: Math.round(performance.now() - t0), ...outcome }
}
