/**
 * The migration runner: the same code migrates production and is exercised by every suite.
 *
 * Public methods return results and never throw for anything a user can cause (Kysely's
 * migrator shape): `{ error?, results }`, each result Success | Error | NotExecuted,
 * pre-filled NotExecuted and overwritten step by step, so reports can be built from them.
 */
import { quoteIdent } from '../util/sql.ts'
import type pg from 'pg'
import { HarnessError, isHarnessError } from '../errors.ts'
import type { Requirements } from '../manifest/manifest.ts'
import { acquireLock, lockKey } from './lock.ts'
import { LOG_STATUSES, MigrationLog, type LogRow } from './log-table.ts'
import { formatLocated, locateError, type LocatedError } from './locate.ts'
import type { Migration, MigrationProvider, MigrationScript } from '../sql/migration.ts'
import { checkLicense, inferRequirements, preflight, type PreflightReport } from './requirements.ts'
import { restoreSessionSettings, sessionSettings } from './session-settings.ts'
import type { Statement } from '../sql/split.ts'

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

export type ResultStatus = 'Success' | 'Error' | 'NotExecuted'

export interface MigrationResult {
  version: number
  name: string
  file: string
  direction: 'up' | 'down'
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
  direction: 'up' | 'down'
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
  | { type: 'start'; migration: string; direction: 'up' | 'down'; index: number; total: number }
  | { type: 'done'; migration: string; direction: 'up' | 'down'; durationMs: number }
  | { type: 'failed'; migration: string; direction: 'up' | 'down'; error: LocatedError }
  | { type: 'warning'; message: string }

export interface MigratorHooks {
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
}

interface State {
  migrations: Migration[]
  rows: Map<string, LogRow>
  logExists: boolean
  entries: MigrationStatusEntry[]
  current: number
}

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

  private async requirements(migrations: Migration[]): Promise<Requirements> {
    return this.o.requirements ?? inferRequirements(migrations)
  }

  /** Reads files and log, and classifies every migration. Read-only. */
  private async readState(): Promise<State> {
    const migrations = await this.o.provider.getMigrations()
    const logExists = await this.log.exists(this.o.client)
    const list = logExists ? await this.log.read(this.o.client) : []
    const rows = new Map(list.map((r) => [r.migration_name, r]))
    const entries: MigrationStatusEntry[] = migrations.map((m) => {
      const row = rows.get(m.name)
      const base = {
        version: m.version,
        name: m.name,
        file: m.up.file,
        checksum: m.up.checksum,
        noTransaction: m.up.noTransaction,
        hasDown: m.down !== undefined,
        appliedChecksum: row?.checksum,
        appliedAt: row?.applied_at ? new Date(row.applied_at).toISOString() : null,
        appliedBy: row?.applied_by,
        executionTimeMs: row?.execution_time_ms,
        errorMessage: row?.error_message,
      }
      let state: MigrationState = 'pending'
      if (row?.status === 'completed') state = row.checksum == null ? 'unverified' : row.checksum === m.up.checksum ? 'applied' : 'drifted'
      else if (row?.status === 'failed') state = 'failed'
      else if (row?.status === 'running') state = 'partial'
      return { ...base, state }
    })
    const known = new Set(migrations.map((m) => m.name))
    for (const row of list) {
      if (row.status === 'completed' && !known.has(row.migration_name)) {
        entries.push({
          version: Number(/^(\d+)/.exec(row.migration_name)?.[1] ?? 0),
          name: row.migration_name,
          file: row.migration_file,
          state: 'missing-file',
          appliedChecksum: row.checksum,
          appliedAt: row.applied_at ? new Date(row.applied_at).toISOString() : null,
          appliedBy: row.applied_by,
          executionTimeMs: row.execution_time_ms,
          noTransaction: false,
          hasDown: false,
        })
      }
    }
    let current = 0
    for (const e of entries) if (isApplied(e) && e.version > current) current = e.version
    return { migrations, rows, logExists, entries, current }
  }

  /** A row with a status the runner never writes cannot be classified: refused, never shown as pending. */
  private checkStatuses(state: State): void {
    for (const row of state.rows.values()) {
      if (!LOG_STATUSES.includes(row.status)) {
        throw new HarnessError('MIGRATION_LOG_CORRUPT', `${this.log.schema}.${this.log.table}: row "${row.migration_name}" has unknown status "${row.status}"`, {
          hint: `Valid statuses are ${LOG_STATUSES.join(', ')}. Fix the row by hand (it was edited outside the runner).`,
          details: { migration: row.migration_name, status: row.status },
        })
      }
    }
  }

  /** Refuses a log that does not match the files (missing files, holes, unknown statuses); returns the drifted. */
  private checkConsistency(state: State): MigrationStatusEntry[] {
    const missing = state.entries.filter((e) => e.state === 'missing-file')
    if (missing.length > 0) {
      throw new HarnessError('MIGRATION_MISSING_FILE', `applied migration${missing.length > 1 ? 's' : ''} without a file in ${this.o.provider.source}: ${missing.map((m) => m.file).join(', ')}`, {
        hint: 'Restore the deleted file(s) from version control: applied migrations must stay in the directory, unchanged.',
        details: { missing: missing.map((m) => m.name) },
      })
    }
    this.checkStatuses(state)
    const applied = state.entries.filter(isApplied)
    for (const e of applied) {
      const hole = state.entries.find((p) => p.version < e.version && !isApplied(p))
      if (hole) {
        throw new HarnessError('MIGRATION_LOG_CORRUPT', `${this.log.schema}.${this.log.table}: ${e.name} is recorded as applied but ${hole.name} is not (${hole.state})`, {
          hint: 'The log was edited by hand or migrations were renumbered after being applied. Compare the log with the files and repair the log; nothing was changed.',
          details: { applied: e.name, hole: hole.name },
        })
      }
    }
    return applied.filter((e) => e.state === 'drifted' || e.state === 'unverified')
  }

  /** Drift is refused unless each drifted migration was accepted explicitly. */
  private refuseDrift(drifted: MigrationStatusEntry[], accepted = (d: MigrationStatusEntry) => this.driftAccepted(d)): void {
    const refused = drifted.filter((d) => !accepted(d))
    if (refused.length === 0) return
    const lines = refused.map((d) =>
      d.state === 'unverified'
        ? `${d.file}: applied without a recorded checksum (file has ${d.checksum})`
        : `${d.file}: applied with checksum ${d.appliedChecksum}, file now has ${d.checksum}`,
    )
    throw new HarnessError('MIGRATION_DRIFT', `applied migration file${refused.length > 1 ? 's have' : ' has'} changed since it ran ("drift"); nothing was changed:\n  ${lines.join('\n  ')}`, {
      hint: 'Restore the applied file(s) and put the change in a new migration. If the edit is deliberate (e.g. a comment), re-run `up` with --accept-drift ' + refused.map((d) => d.name).join(',') + ' to record the new checksum in the log.',
      details: { drifted: refused.map((d) => ({ file: d.file, recorded: d.appliedChecksum, actual: d.checksum })) },
    })
  }

  private driftAccepted(entry: MigrationStatusEntry): boolean {
    const a = this.o.acceptDrift
    return a === 'all' || (Array.isArray(a) && (a.includes(entry.name) || a.includes(String(entry.version)) || a.includes(entry.name.slice(0, 3))))
  }

  async status(): Promise<StatusResult> {
    try {
      const s = await this.readState()
      this.checkStatuses(s)
      return { logExists: s.logExists, current: s.current, migrations: s.entries }
    } catch (e) {
      return { error: asHarnessError(e), logExists: false, current: 0, migrations: [] }
    }
  }

  private checkTarget(migrations: Migration[], to: number | undefined): number {
    const last = migrations.length === 0 ? 0 : migrations[migrations.length - 1]!.version
    if (to === undefined) return last
    if (!Number.isInteger(to) || to < 0 || to > last) {
      throw new HarnessError('MIGRATION_TARGET_UNKNOWN', `--to ${to}: no such migration (known: 0 … ${last})`, {
        hint: `Use a number between 0 and ${last}; \`pnpm migrate status\` lists them.`,
        details: { to, last },
      })
    }
    return to
  }

  /** What `up` (or `down` with direction 'down') would do, in order. Read-only. */
  async plan(options: { to?: number; direction?: 'up' | 'down' } = {}): Promise<PlanResult> {
    const warnings: string[] = []
    try {
      const s = await this.readState()
      const target = this.checkTarget(s.migrations, options.to)
      this.refuseDrift(this.checkConsistency(s))
      const direction = options.direction ?? 'up'
      if (direction === 'up' && target < s.current) {
        throw new HarnessError('MIGRATION_TARGET_UNKNOWN', `--to ${target} is below the current version ${s.current}; \`up\` never reverts`, { hint: `Use \`pnpm migrate down --to ${target}\`.` })
      }
      const steps: PlanStep[] =
        direction === 'up'
          ? s.migrations
              .filter((m) => m.version <= target && m.version > s.current)
              .map((m) => ({ version: m.version, name: m.name, file: m.up.file, direction, statements: m.up.statements.length, noTransaction: m.up.noTransaction, checksum: m.up.checksum }))
          : s.migrations
              .filter((m) => m.version > target && m.version <= s.current)
              .reverse()
              .map((m) => ({ version: m.version, name: m.name, file: m.down?.file ?? `${m.name}.down.sql (missing)`, direction, statements: m.down?.statements.length ?? 0, noTransaction: m.down?.noTransaction ?? false, checksum: m.down?.checksum ?? '' }))
      for (const e of s.entries) {
        if (e.state === 'partial') warnings.push(`${e.file} was interrupted halfway (non-transactional); it will run again from the start`)
        if (e.state === 'failed') warnings.push(`${e.file} failed last time: ${firstLine(e.errorMessage ?? '')}`)
      }
      return { from: s.current, to: direction === 'up' ? Math.max(target, s.current) : target, steps, warnings }
    } catch (e) {
      return { error: asHarnessError(e), from: 0, to: 0, steps: [], warnings }
    }
  }

  async up(options: { to?: number } = {}): Promise<RunResult> {
    const warnings: string[] = []
    const results: MigrationResult[] = []
    let release: (() => Promise<void>) | undefined
    const client = this.o.client
    try {
      const migrations = await this.o.provider.getMigrations()
      const target = this.checkTarget(migrations, options.to)
      const req = await this.requirements(migrations)
      const report = await preflight(client, req)
      release = await acquireLock(client, lockKey(this.log.qualified), {
        waitMs: this.o.lockWaitMs ?? 60_000,
        onWait: (holder) => this.emit({ type: 'lock-wait', holder }),
      })
      await this.bootstrap(req)
      const s = await this.readState()
      const drifted = this.checkConsistency(s)
      this.refuseDrift(drifted)
      for (const d of drifted) {
        await this.log.acceptChecksum(client, d.name, d.appliedChecksum ?? null, d.checksum!)
        const msg = `drift accepted for ${d.file}: recorded checksum ${d.appliedChecksum ?? 'none'} replaced by ${d.checksum} (written to ${this.log.table})`
        warnings.push(msg)
        this.emit({ type: 'warning', message: msg })
      }
      if (target < s.current) {
        throw new HarnessError('MIGRATION_TARGET_UNKNOWN', `--to ${target} is below the current version ${s.current}; \`up\` never reverts`, { hint: `Use \`pnpm migrate down --to ${target}\`.` })
      }
      const pending = s.migrations.filter((m) => m.version <= target && m.version > s.current)
      for (const m of pending) results.push(notExecuted(m, 'up'))
      for (const [i, m] of pending.entries()) {
        const entry = s.entries.find((e) => e.name === m.name)!
        if (entry.state === 'partial') warnings.push(`${m.up.file} was interrupted halfway last time; running it again from the start`)
        this.emit({ type: 'start', migration: m.name, direction: 'up', index: i + 1, total: pending.length })
        const r = await this.runScript(m, m.up, 'up')
        results[i] = r
        if (r.status === 'Error') {
          this.emit({ type: 'failed', migration: m.name, direction: 'up', error: r.error! })
          if (isConnectionLoss(r.error!)) {
            return { error: connectionLost(m.up, r.error!, s.current === 0 && i === 0 ? 'bootstrap (version 0)' : (s.migrations[m.version - 2]?.name ?? 'version 0')), from: s.current, to: m.version - 1, results, preflight: report, warnings }
          }
          return {
            error: new HarnessError('MIGRATION_FAILED', formatLocated(r.error!), {
              hint: m.up.noTransaction
                ? `${m.up.file} is non-transactional: the statements before statement ${r.error!.statement} stay applied. Fix the file and run \`up\` again; it re-runs from the start, so it must be idempotent.`
                : `${m.up.file} was rolled back: the database is as it was after ${i === 0 && s.current === 0 ? 'bootstrap (version 0)' : s.migrations[m.version - 2]?.name}. Fix the file and run \`up\` again.`,
              details: { error: r.error, migration: m.name },
            }),
            from: s.current,
            to: m.version - 1,
            results,
            preflight: report,
            warnings,
          }
        }
        this.emit({ type: 'done', migration: m.name, direction: 'up', durationMs: r.durationMs ?? 0 })
      }
      return { from: s.current, to: pending.length ? pending[pending.length - 1]!.version : s.current, results, preflight: report, warnings }
    } catch (e) {
      return { error: asHarnessError(e), results, warnings }
    } finally {
      await release?.()
    }
  }

  async down(options: { to: number }): Promise<RunResult> {
    const warnings: string[] = []
    const results: MigrationResult[] = []
    let release: (() => Promise<void>) | undefined
    try {
      const migrations = await this.o.provider.getMigrations()
      const target = this.checkTarget(migrations, options.to)
      release = await acquireLock(this.o.client, lockKey(this.log.qualified), {
        waitMs: this.o.lockWaitMs ?? 60_000,
        onWait: (holder) => this.emit({ type: 'lock-wait', holder }),
      })
      const s = await this.readState()
      this.refuseDrift(this.checkConsistency(s))
      const todo = s.migrations.filter((m) => m.version > target && m.version <= s.current).reverse()
      const noDown = todo.filter((m) => !m.down)
      if (noDown.length > 0) {
        throw new HarnessError('MIGRATION_NO_DOWN', `cannot revert to ${target}: no down file for ${noDown.map((m) => m.name).join(', ')}; nothing was changed`, {
          hint: `Write ${noDown.map((m) => `${m.name}.down.sql`).join(', ')}, or restore from a backup instead.`,
          details: { missing: noDown.map((m) => m.name) },
        })
      }
      for (const m of todo) results.push(notExecuted(m, 'down'))
      for (const [i, m] of todo.entries()) {
        this.emit({ type: 'start', migration: m.name, direction: 'down', index: i + 1, total: todo.length })
        const r = await this.runScript(m, m.down!, 'down')
        results[i] = r
        if (r.status === 'Error') {
          this.emit({ type: 'failed', migration: m.name, direction: 'down', error: r.error! })
          if (isConnectionLoss(r.error!)) return { error: connectionLost(m.down!, r.error!, m.name), from: s.current, to: m.version, results, warnings }
          return {
            error: new HarnessError('MIGRATION_FAILED', formatLocated(r.error!), {
              hint: `${m.down!.file} was rolled back: the database is still at ${m.name}. Fix the down file and run \`down\` again.`,
              details: { error: r.error, migration: m.name },
            }),
            from: s.current,
            to: m.version,
            results,
            warnings,
          }
        }
        this.emit({ type: 'done', migration: m.name, direction: 'down', durationMs: r.durationMs ?? 0 })
      }
      return { from: s.current, to: Math.min(target, s.current), results, warnings }
    } catch (e) {
      return { error: asHarnessError(e), results, warnings }
    } finally {
      await release?.()
    }
  }

  /** Drift and log consistency, without changing anything. */
  async check(): Promise<StatusResult> {
    try {
      const s = await this.readState()
      // validate reports drift even when --accept-drift was given: accepting is `up`'s job.
      this.refuseDrift(this.checkConsistency(s), () => false)
      return { logExists: s.logExists, current: s.current, migrations: s.entries }
    } catch (e) {
      return { error: asHarnessError(e), logExists: false, current: 0, migrations: [] }
    }
  }

  /** Required extensions, the log schema and table: committed before any migration, in one transaction. */
  private async bootstrap(req: Requirements): Promise<void> {
    const client = this.o.client
    const created: string[] = []
    const installed = new Set((await client.query<{ extname: string }>(`SELECT extname FROM pg_extension`)).rows.map((r) => r.extname))
    const logExists = await this.log.exists(client)
    const missingExt = Object.keys(req.extensions ?? {}).filter((e) => !installed.has(e))
    if (missingExt.length === 0 && logExists) return
    await client.query('BEGIN')
    try {
      // Extensions first and committed on their own: TimescaleDB refuses to be created again in a
      // session where a rolled-back CREATE EXTENSION already loaded it.
      for (const ext of missingExt) {
        await client.query(`CREATE EXTENSION IF NOT EXISTS ${quoteIdent(ext)}`)
        created.push(`extension ${ext}`)
        if (ext === 'timescaledb') {
          const lic = (await client.query<{ l: string | null }>(`SELECT current_setting('timescaledb.license', true) AS l`)).rows[0]?.l ?? undefined
          checkLicense(req.extensions![ext]!, lic)
        }
      }
      for (const sql of this.log.bootstrapSql()) await client.query(sql)
      if (!logExists) created.push(`${this.log.schema}.${this.log.table}`)
      await client.query('COMMIT')
    } catch (e) {
      await client.query('ROLLBACK').catch(() => {})
      if (isHarnessError(e)) throw e
      const err = e as { code?: string; message: string }
      if (/must be preloaded|shared_preload_libraries/i.test(err.message)) {
        throw new HarnessError('TIMESCALEDB_NOT_PRELOADED', `TimescaleDB is installed but not preloaded: ${err.message}; nothing was changed`, {
          hint: "Add shared_preload_libraries = 'timescaledb' to postgresql.conf and restart the server.",
          details: { sqlstate: err.code },
        })
      }
      if (err.code === '42501') {
        throw new HarnessError('PERMISSION_DENIED', `cannot create the migration log or extensions: ${err.message}; nothing was changed`, {
          hint: `Run as a role that may create schemas (CREATE on the database) and the extension (superuser or database owner), or pre-create schema ${this.log.schema}.`,
          details: { sqlstate: err.code },
        })
      }
      throw new HarnessError('MIGRATION_FAILED', `bootstrap (migration log / extensions) failed: ${err.message}${err.code ? ` [SQLSTATE ${err.code}]` : ''}; nothing was changed`, {
        hint: 'Check the role privileges and the server log.',
        details: { sqlstate: err.code },
      })
    }
    if (created.length) this.emit({ type: 'bootstrap', created })
  }

  private async runScript(m: Migration, script: MigrationScript, direction: 'up' | 'down'): Promise<MigrationResult> {
    const client = this.o.client
    const started = performance.now()
    const result: MigrationResult = { version: m.version, name: m.name, file: script.file, direction, status: 'Success', noTransaction: script.noTransaction, statements: script.statements.length }
    let current: Statement | undefined
    const settings = await sessionSettings(client)
    try {
      if (script.noTransaction) {
        if (direction === 'up') await this.log.recordStatus(client, m.name, script.file, script.checksum, 'running', null, null)
        await dropInvalidIndexes(client, script)
        // Session-wide here (no transaction to scope it); put back by restoreSessionSettings below.
        if (this.o.statementTimeoutMs !== undefined) await client.query(`SELECT set_config('statement_timeout', $1, false)`, [String(this.o.statementTimeoutMs)])
        for (const stmt of script.statements) {
          current = stmt
          await client.query(stmt.text)
          await this.o.hooks?.afterStatement?.(m, script, stmt)
        }
        const ms = performance.now() - started
        if (direction === 'up') await this.log.recordCompleted(client, m.name, script.file, script.checksum, ms)
        else await this.log.recordRolledBack(client, m.name, ms)
      } else {
        await client.query('BEGIN')
        if (this.o.statementTimeoutMs !== undefined) await client.query(`SELECT set_config('statement_timeout', $1, true)`, [String(this.o.statementTimeoutMs)])
        for (const stmt of script.statements) {
          current = stmt
          await client.query(stmt.text)
          await this.o.hooks?.afterStatement?.(m, script, stmt)
        }
        current = undefined
        const ms = performance.now() - started
        if (direction === 'up') await this.log.recordCompleted(client, m.name, script.file, script.checksum, ms)
        else await this.log.recordRolledBack(client, m.name, ms)
        await client.query('COMMIT')
      }
      result.durationMs = performance.now() - started
    } catch (e) {
      if (!script.noTransaction) await client.query('ROLLBACK').catch(() => {})
      const err = e as Error & { code?: string; position?: string }
      const stmt = current ?? script.statements[script.statements.length - 1]!
      result.status = 'Error'
      result.durationMs = performance.now() - started
      result.error = locateError(script, stmt, err)
      if (direction === 'up') {
        const text = `${result.error.file}:${result.error.line}:${result.error.column}: ${err.code ? `[${err.code}] ` : ''}${err.message}`
        await this.log.recordStatus(client, m.name, script.file, script.checksum, 'failed', result.durationMs, text).catch(() => {})
      }
    } finally {
      // Files may SET session settings (search_path, timeouts); they must not leak into the next
      // one. Not RESET ALL: that returns to server defaults, not to this session's start state.
      await restoreSessionSettings(client, settings).catch(() => {})
    }
    return result
  }
}


/**
 * A failed `CREATE INDEX CONCURRENTLY` leaves an INVALID index that blocks a retry under the
 * same name (IF NOT EXISTS then skips it silently). Before re-running a non-transactional
 * migration, such leftovers of this very file are dropped.
 */
async function dropInvalidIndexes(client: pg.ClientBase, script: MigrationScript): Promise<void> {
  const names = new Set<string>()
  for (const s of script.statements) {
    const m = /\bCREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+(?:IF\s+NOT\s+EXISTS\s+)?("?[\w$]+"?)/i.exec(s.text)
    if (m) names.add(m[1]!.replace(/"/g, ''))
  }
  if (names.size === 0) return
  const r = await client.query<{ q: string }>(
    `SELECT format('%I.%I', n.nspname, c.relname) AS q FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE NOT i.indisvalid AND c.relname = ANY($1::text[])`,
    [[...names]],
  )
  for (const row of r.rows) await client.query(`DROP INDEX CONCURRENTLY IF EXISTS ${row.q}`)
}

/** Class 08 (connection exception) and 57P01-57P03 (terminated by an administrator, crash, shutdown). */
const CONNECTION_LOSS_SQLSTATE = /^(08[0-9A-Z]{3}|57P0[123])$/

/** The session died under the statement (terminated, server gone, socket closed): not the file's fault. */
function isConnectionLoss(e: LocatedError): boolean {
  if (e.sqlstate) return CONNECTION_LOSS_SQLSTATE.test(e.sqlstate)
  return /Connection terminated|connection (is )?(closed|ended)|ECONNRESET|EPIPE|ETIMEDOUT|Client has encountered a connection error/i.test(e.message)
}

function connectionLost(script: MigrationScript, e: LocatedError, previous: string): HarnessError {
  const at = `${e.file}:${e.line}:${e.column}`
  return new HarnessError('CONNECTION_FAILED', `lost the connection to the database while running ${script.file} (statement ${e.statement} at ${at}): ${e.message}${e.sqlstate ? ` [SQLSTATE ${e.sqlstate}]` : ''}`, {
    hint: script.noTransaction
      ? `${script.file} is non-transactional: the statements before statement ${e.statement} stay applied and migration_log still says 'running' (status: partial). Find out why the session ended (server log: terminated, restarted, network), then run \`up\` again: it re-runs the file from the start.`
      : `The server rolled ${script.file} back with the session: nothing of it was applied, the database is as it was after ${previous}. The file is not at fault; find out why the session ended (server log: terminated by an administrator, restarted, network), then run \`up\` again.`,
    details: { error: e, file: script.file, sqlstate: e.sqlstate },
  })
}

const isApplied = (e: MigrationStatusEntry) => e.state === 'applied' || e.state === 'drifted' || e.state === 'unverified'

function notExecuted(m: Migration, direction: 'up' | 'down'): MigrationResult {
  const script = direction === 'up' ? m.up : m.down!
  return { version: m.version, name: m.name, file: script.file, direction, status: 'NotExecuted', noTransaction: script.noTransaction }
}

const firstLine = (s: string) => s.split('\n')[0] ?? ''

/** Anything a user can cause is a HarnessError already; a raw driver error here is a lost connection. */
function asHarnessError(e: unknown): HarnessError {
  if (isHarnessError(e)) return e
  const err = e as { code?: string; message?: string }
  if (err.code === '42501') {
    return new HarnessError('PERMISSION_DENIED', `${err.message}`, { hint: 'Run as a role with the needed privileges.', details: { sqlstate: err.code }, cause: e })
  }
  if (err.code && CONNECTION_LOSS_SQLSTATE.test(err.code)) {
    return new HarnessError('CONNECTION_FAILED', `lost the connection to the database: ${err.message} [SQLSTATE ${err.code}]`, {
      hint: 'Check the server; `pnpm migrate status` shows which migrations completed. Transactional migrations that were running were rolled back by the server.',
      details: { sqlstate: err.code },
      cause: e,
    })
  }
  if (err.code && /^[0-9A-Z]{5}$/.test(err.code)) {
    return new HarnessError('MIGRATION_FAILED', `${err.message} [SQLSTATE ${err.code}]`, { details: { sqlstate: err.code }, cause: e })
  }
  if (err.message && /terminat|ECONN|closed|timeout|EPIPE|ended/i.test(err.message + (err.code ?? ''))) {
    return new HarnessError('CONNECTION_FAILED', `lost the connection to the database: ${err.message}`, {
      hint: 'Check the server; `pnpm migrate status` shows which migrations completed. Transactional migrations that were running were rolled back by the server.',
      cause: e,
    })
  }
  throw e
}
