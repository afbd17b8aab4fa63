/**
 * What the Migrator's public methods return and emit, and what it is given. Results are data,
 * never throws (Kysely's migrator shape): `{ error?, results }`, each result passed | failed |
 * skipped, pre-filled skipped and overwritten step by step, so reports can be built
 * from them.
 */
import type pg from 'pg'
import type { HarnessError } from '../../errors.ts'
import type { Requirements } from '../../manifest/manifest.ts'
import type { Migration, MigrationProvider, MigrationScript } from '../../sql/migration.ts'
import type { Statement } from '../../sql/split.ts'
import type { LocatedError } from '../locate.ts'
import type { Status } from '../../steps/step.ts'
import type { Watchdog } from '../watchdog.ts'
import type { PreflightReport } from '../requirements.ts'

export type Direction = 'up' | 'down'

export type MigrationState = 'applied' | 'pending' | 'drifted' | 'unverified' | 'failed' | 'partial' | 'missing-file'

export interface MigrationStatusEntry {
  version: number
  name: string
  file: string
  state: MigrationState
  checksum?: string
  appliedChecksum?: string | null
  appliedAt?: string | null
  appliedBy?: string | null
  executionTimeMs?: number | null
  errorMessage?: string | null
  noTransaction: boolean
  hasDown: boolean
}

export interface StatusResult {
  error?: HarnessError
  logExists: boolean
  current: number
  migrations: MigrationStatusEntry[]
}

/**
 * A migration's outcome in a run, in the words every step of pgverify uses (verify's stages,
 * execute's phases, bench's groups): passed, failed, or skipped (not executed: after a failure,
 * or not reached).
 */
export type ResultStatus = Extract<Status, 'passed' | 'failed' | 'skipped'>

export interface MigrationResult {
  version: number
  name: string
  file: string
  direction: Direction
  status: ResultStatus
  durationMs?: number
  statements?: number
  noTransaction: boolean
  error?: LocatedError
}

export interface RunResult {
  error?: HarnessError
  /** Version before and after the run (highest completed migration). */
  from?: number
  to?: number
  results: MigrationResult[]
  preflight?: PreflightReport
  warnings: string[]
}

export interface PlanStep {
  version: number
  name: string
  file: string
  direction: Direction
  statements: number
  noTransaction: boolean
  checksum: string
}

export interface PlanResult {
  error?: HarnessError
  from: number
  to: number
  steps: PlanStep[]
  warnings: string[]
}

export type MigratorEvent =
  | { type: 'lock-wait'; holder: string }
  | { type: 'bootstrap'; created: string[] }
  | { type: 'start'; migration: string; direction: Direction; index: number; total: number }
  | { type: 'done'; migration: string; direction: Direction; durationMs: number }
  | { type: 'failed'; migration: string; direction: Direction; error: LocatedError }
  | { type: 'warning'; message: string }

export interface MigratorHooks {
  /** Called right before each statement is sent (the rehearsal marks where a statement starts). */
  beforeStatement?: (migration: Migration, script: MigrationScript, statement: Statement) => void | Promise<void>
  /** Called after each statement of a migration ran; throwing here fails the migration (fault injection). */
  afterStatement?: (migration: Migration, script: MigrationScript, statement: Statement) => void | Promise<void>
}

export interface MigratorOptions {
  client: pg.ClientBase
  provider: MigrationProvider
  logSchema?: string
  logTable?: string
  /** Defaults to what the migrations' SQL implies (TimescaleDB ≥ 2.11 when they use it). */
  requirements?: Requirements
  /** How long to wait for another runner's lock; 0 = fail fast. Default 60 s. */
  lockWaitMs?: number
  /** statement_timeout for every statement of every migration (ms); unset = the session's. A file's own SET LOCAL wins. */
  statementTimeoutMs?: number
  /** Applied migrations whose changed files are accepted (checksum re-recorded, logged); 'all' for every one. */
  acceptDrift?: string[] | 'all'
  onEvent?: (event: MigratorEvent) => void
  hooks?: MigratorHooks
  /** A second session that cancels a statement stuck on a lock (runner/watchdog.ts); the caller opens and closes it. */
  watchdog?: Watchdog
}

/** The script a migration runs in this direction (callers checked that a down file exists). */
export const scriptFor = (m: Migration, direction: Direction): MigrationScript => (direction === 'up' ? m.up : m.down!)

export function notExecuted(m: Migration, direction: Direction): MigrationResult {
  const script = scriptFor(m, direction)
  return { version: m.version, name: m.name, file: script.file, direction, status: 'skipped', noTransaction: script.noTransaction }
}

export function planStep(m: Migration, direction: Direction): PlanStep {
  if (direction === 'up') return { version: m.version, name: m.name, file: m.up.file, direction, statements: m.up.statements.length, noTransaction: m.up.noTransaction, checksum: m.up.checksum }
  return { version: m.version, name: m.name, file: m.down?.file ?? `${m.name}.down.sql (missing)`, direction, statements: m.down?.statements.length ?? 0, noTransaction: m.down?.noTransaction ?? false, checksum: m.down?.checksum ?? '' }
}
