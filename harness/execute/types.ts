/**
 * What `pnpm execute` returns and writes: the execution report (seed 000) with its phases as
 * steps (steps/step.ts). Types only, so the reports core renders them without importing the
 * execution itself.
 */
import type { Comparison } from '../backup/compare.ts'
import type { Target } from '../engines/target.ts'
import type { ErrorCode } from '../errors.ts'
import type { LocatedError } from '../runner/locate.ts'
import type { MigrationResult, PlanStep } from '../runner/migrator.ts'
import type { StepResult } from '../steps/step.ts'
import type { CheckResult } from '../validation/expected.ts'
import type { RetentionImpact } from '../validation/retention.ts'
import type { PreCheck } from './checks.ts'
import type { Level, RunFiles } from './log.ts'

export type Outcome =
  /** All pending migrations applied and validated. */
  | 'migrated'
  /** Nothing pending: no backup taken, nothing changed. */
  | 'nothing-to-do'
  /** Checks ran, plan printed, nothing changed. */
  | 'dry-run'
  /** Stopped before changing anything (files, pre-validation or backup failed). */
  | 'not-started'
  /** A step after the backup failed; the backup was restored and compares equal. */
  | 'restored'
  /** Restored, but the comparison lists differences. */
  | 'restored-with-differences'
  /** The restore itself failed: the database needs attention. */
  | 'rollback-failed'
  /** --finish-rollback: an interrupted execute's backup was restored and compares equal. */
  | 'rollback-finished'

export type PhaseId = 'environment' | 'pre-validation' | 'backup' | 'migrate' | 'post-validation' | 'rollback'

/** One phase of the execution: a step whose verdict may also be `planned` (dry run); migrate's error points into the file. */
export interface PhaseResult extends StepResult<LocatedError> {
  id: PhaseId
}

export interface ExecutionReport {
  id: string
  startedAt: string
  finishedAt: string
  durationMs: number
  dryRun: boolean
  target: { engine: string; description: string; postgres: string; timescaledb: string }
  dir: string
  backupRoot: string
  files: RunFiles
  outcome: Outcome
  /** One plain sentence: what happened and what state the database is in. */
  state: string
  /** The error that decided the outcome, if any. */
  error?: { code: ErrorCode; message: string; hint?: string }
  versionBefore: number | null
  versionAfter: number | null
  phases: PhaseResult[]
  checks: PreCheck[]
  plan: PlanStep[]
  backup?: { dir: string; name: string; bytes: number; durationMs: number; tool: string; files: { path: string; bytes: number; sha256: string }[] }
  migration?: { results: MigrationResult[]; located?: string }
  postValidation?: CheckResult[]
  rollback?: { backup: string; durationMs: number; comparison?: Comparison; replaced: string[]; leftAlone: string[]; notes: string[]; error?: string }
  /**
   * The retention policies pending migrations add, and what each deletes on its first run (counted
   * read-only before anything ran); `acknowledged` when --accept-retention-deletes was given.
   */
  retention?: { policies: RetentionImpact[]; deletes: boolean; acknowledged: boolean; flag: string }
}

export interface ExecuteOptions {
  target: Target
  dir: string
  backupRoot: string
  logDir: string
  dryRun?: boolean
  logSchema?: string
  logTable?: string
  lockWaitMs?: number
  /** The watchdog's limit on a migration statement waiting for a table lock (ms; 0: off). Default 60 s. */
  stallTimeoutMs?: number
  /** --accept-retention-deletes: accept what the pending retention policies will delete (recorded in the log and report). */
  acceptRetentionDeletes?: boolean
  /** --finish-rollback: restore the backup of an interrupted execute of this database (its journal) and prove it. */
  finishRollback?: boolean
  /** --accept-current-state: take the state an interrupted execute left as this run's baseline, explicitly. */
  acceptCurrentState?: boolean
  /** Every log line as it is written (CLI progress). */
  echo?: (level: Level, line: string) => void
  now?: Date
}
