/**
 * The migration runner: the same code migrates production and is exercised by every suite.
 *
 * Public methods return results and never throw (Kysely's migrator shape): `{ error?, results }`,
 * each result passed | failed | skipped, pre-filled skipped and overwritten step by step,
 * so reports can be built from them. Anything a user can cause is a HarnessError with its code; a
 * bug is returned as INTERNAL.
 *
 * The parts, in migrator/: results.ts (what is returned and emitted), state.ts (files and log
 * classified, and the refusals), bootstrap.ts (version 0), script.ts (one file run and logged),
 * driver-errors.ts (failures turned into HarnessErrors, codes from harness/sqlstate.ts).
 */
import type { Requirements } from '../manifest/manifest.ts'
import type { Migration } from '../sql/migration.ts'
import { acquireLock, lockKey } from './lock.ts'
import { MigrationLog } from './log-table.ts'
import { inferRequirements, preflight, type PreflightReport } from './requirements.ts'
import { bootstrap } from './migrator/bootstrap.ts'
import { asHarnessError, scriptFailure } from './migrator/driver-errors.ts'
import { notExecuted, planStep, scriptFor, type Direction, type MigrationResult, type MigratorEvent, type MigratorOptions, type PlanResult, type RunResult, type StatusResult } from './migrator/results.ts'
import { runScript } from './migrator/script.ts'
import {
  checkConsistency,
  checkStatuses,
  checkTarget,
  driftAccepted,
  readState,
  refuseDrift,
  refuseMissingDown,
  refuseUpBelow,
  stepsFor,
  versionBefore,
  type State,
} from './migrator/state.ts'

export type {
  Direction,
  MigrationResult,
  MigrationState,
  MigrationStatusEntry,
  MigratorEvent,
  MigratorHooks,
  MigratorOptions,
  PlanResult,
  PlanStep,
  ResultStatus,
  RunResult,
  StatusResult,
} from './migrator/results.ts'

const firstLine = (s: string) => s.split('\n')[0] ?? ''

export class Migrator {
  readonly log: MigrationLog
  private readonly o: MigratorOptions

  constructor(options: MigratorOptions) {
    this.o = options
    this.log = new MigrationLog(options.logSchema, options.logTable)
  }

  private emit(e: MigratorEvent) {
    this.o.onEvent?.(e)
  }

  async getMigrations(): Promise<Migration[]> {
    return this.o.provider.getMigrations()
  }

  async status(): Promise<StatusResult> {
    try {
      const s = await this.#state()
      checkStatuses(s, this.log)
      return { logExists: s.logExists, current: s.current, migrations: s.entries }
    } catch (e) {
      return { error: asHarnessError(e), logExists: false, current: 0, migrations: [] }
    }
  }

  /** Drift and log consistency, without changing anything. */
  async check(): Promise<StatusResult> {
    try {
      const s = await this.#state()
      // validate reports drift even when --accept-drift was given: accepting is `up`'s job.
      refuseDrift(checkConsistency(s, this.log, this.o.provider.source), () => false)
      return { logExists: s.logExists, current: s.current, migrations: s.entries }
    } catch (e) {
      return { error: asHarnessError(e), logExists: false, current: 0, migrations: [] }
    }
  }

  /** What `up` (or `down` with direction 'down') would do, in order. Read-only. */
  async plan(options: { to?: number; direction?: Direction } = {}): Promise<PlanResult> {
    const warnings: string[] = []
    try {
      const s = await this.#state()
      const target = checkTarget(s.migrations, options.to)
      this.#refuseDrift(s)
      const direction = options.direction ?? 'up'
      if (direction === 'up') refuseUpBelow(target, s.current)
      const steps = stepsFor(direction, s, target).map((m) => planStep(m, direction))
      for (const e of s.entries) {
        if (e.state === 'partial') warnings.push(`${e.file} is partial: a non-transactional file interrupted halfway; it will run again from the start`)
        if (e.state === 'failed') warnings.push(`${e.file} failed last time: ${firstLine(e.errorMessage ?? '')}`)
      }
      return { from: s.current, to: direction === 'up' ? Math.max(target, s.current) : target, steps, warnings }
    } catch (e) {
      return { error: asHarnessError(e), from: 0, to: 0, steps: [], warnings }
    }
  }

  async up(options: { to?: number } = {}): Promise<RunResult> {
    return this.#migrate('up', options.to)
  }

  async down(options: { to: number }): Promise<RunResult> {
    return this.#migrate('down', options.to)
  }

  /**
   * up and down, one skeleton: files and target, (up: pre-flight), the lock, (up: bootstrap),
   * files and log checked against each other, then each migration in turn until one fails.
   */
  async #migrate(direction: Direction, to: number | undefined): Promise<RunResult> {
    const warnings: string[] = []
    const results: MigrationResult[] = []
    let release: (() => Promise<void>) | undefined
    let report: PreflightReport | undefined
    try {
      const migrations = await this.o.provider.getMigrations()
      const target = checkTarget(migrations, to)
      let req: Requirements | undefined
      if (direction === 'up') {
        req = this.o.requirements ?? inferRequirements(migrations)
        report = await preflight(this.o.client, req)
      }
      release = await acquireLock(this.o.client, lockKey(this.log.qualified), {
        waitMs: this.o.lockWaitMs ?? 60_000,
        onWait: (holder) => this.emit({ type: 'lock-wait', holder }),
      })
      if (req) {
        const created = await bootstrap(this.o.client, this.log, req)
        if (created.length) this.emit({ type: 'bootstrap', created })
      }
      const s = await this.#state()
      const drifted = this.#refuseDrift(s)
      if (direction === 'up') {
        await this.#acceptDrift(drifted, warnings)
        refuseUpBelow(target, s.current)
      }
      const todo = stepsFor(direction, s, target)
      if (direction === 'down') refuseMissingDown(todo, target)
      const withPreflight = report ? { preflight: report } : {}
      for (const m of todo) results.push(notExecuted(m, direction))
      for (const [i, m] of todo.entries()) {
        const script = scriptFor(m, direction)
        if (direction === 'up' && s.entries.find((e) => e.name === m.name)!.state === 'partial') {
          // Said as it happens (progress), not only in the result: the operator sees it before the re-run.
          const msg = `${m.up.file} is partial: a non-transactional file interrupted halfway last time; running it again from the start`
          warnings.push(msg)
          this.emit({ type: 'warning', message: msg })
        }
        this.emit({ type: 'start', migration: m.name, direction, index: i + 1, total: todo.length })
        const r = await runScript({ client: this.o.client, log: this.log, statementTimeoutMs: this.o.statementTimeoutMs, hooks: this.o.hooks, watchdog: this.o.watchdog }, m, script, direction)
        results[i] = r
        if (r.status === 'failed') {
          this.emit({ type: 'failed', migration: m.name, direction, error: r.error! })
          const error = scriptFailure(direction, m, script, r.error!, versionBefore(s, m, i === 0))
          return { error, from: s.current, to: direction === 'up' ? m.version - 1 : m.version, results, ...withPreflight, warnings }
        }
        this.emit({ type: 'done', migration: m.name, direction, durationMs: r.durationMs ?? 0 })
      }
      const reached = direction === 'up' ? (todo.length ? todo[todo.length - 1]!.version : s.current) : Math.min(target, s.current)
      return { from: s.current, to: reached, results, ...withPreflight, warnings }
    } catch (e) {
      return { error: asHarnessError(e), results, warnings }
    } finally {
      await release?.()
    }
  }

  #state(): Promise<State> {
    return readState(this.o.client, this.log, this.o.provider)
  }

  /** Refuses an inconsistent log, and drift that --accept-drift does not name; returns the drifted. */
  #refuseDrift(s: State) {
    const drifted = checkConsistency(s, this.log, this.o.provider.source)
    refuseDrift(drifted, (d) => driftAccepted(this.o.acceptDrift, d))
    return drifted
  }

  /** Accepted drift is written into the log (new checksum, and the override in error_message). */
  async #acceptDrift(drifted: ReturnType<typeof checkConsistency>, warnings: string[]): Promise<void> {
    for (const d of drifted) {
      await this.log.acceptChecksum(this.o.client, d.name, d.appliedChecksum ?? null, d.checksum!)
      const msg = `drift accepted for ${d.file}: recorded checksum ${d.appliedChecksum ?? 'none'} replaced by ${d.checksum} (written to ${this.log.table})`
      warnings.push(msg)
      this.emit({ type: 'warning', message: msg })
    }
  }
}
