/**
 * Running one migration script and writing its migration_log row. Two paths:
 *   transactional (the default): BEGIN, the statements, the log row, COMMIT; on any failure
 *     ROLLBACK, then a `failed` row in its own statement: all or nothing;
 *   `--! no-transaction`: a `running` row first, then statement by statement in autocommit; a
 *     failure leaves the statements before it applied and the row `failed` (or `running`, if
 *     the session died), and the next `up` runs the whole file again.
 * Never throws for the script's own failure: it returns an Error result with the located error.
 */
import type pg from 'pg'
import type { Migration, MigrationScript } from '../../sql/migration.ts'
import type { Statement } from '../../sql/split.ts'
import { locateError } from '../locate.ts'
import type { MigrationLog } from '../log-table.ts'
import { restoreSessionSettings, sessionSettings } from '../session-settings.ts'
import type { Direction, MigrationResult, MigratorHooks } from './results.ts'
import { describeStall, stallHint, stallOf, type Watchdog } from '../watchdog.ts'

export interface ScriptRunner {
  client: pg.ClientBase
  log: MigrationLog
  statementTimeoutMs?: number
  hooks?: MigratorHooks
  /** Watches every statement from a second session (not on one-connection engines). */
  watchdog?: Watchdog
}

export async function runScript(r: ScriptRunner, m: Migration, script: MigrationScript, direction: Direction): Promise<MigrationResult> {
  const { client, log } = r
  const started = performance.now()
  const result: MigrationResult = { version: m.version, name: m.name, file: script.file, direction, status: 'passed', noTransaction: script.noTransaction, statements: script.statements.length }
  const at = { current: undefined as Statement | undefined }
  const settings = await sessionSettings(client)
  try {
    if (script.noTransaction) {
      if (direction === 'up') await log.recordStatus(client, m.name, script.file, script.checksum, 'running', null, null)
      await dropInvalidIndexes(client, script)
      // Session-wide here (no transaction to scope it); put back by restoreSessionSettings below.
      if (r.statementTimeoutMs !== undefined) await client.query(`SELECT set_config('statement_timeout', $1, false)`, [String(r.statementTimeoutMs)])
      await runStatements(r, m, script, at)
      await recordDone(log, client, m, script, direction, performance.now() - started)
    } else {
      await client.query('BEGIN')
      if (r.statementTimeoutMs !== undefined) await client.query(`SELECT set_config('statement_timeout', $1, true)`, [String(r.statementTimeoutMs)])
      await runStatements(r, m, script, at)
      // A failure from here on (the log row, COMMIT) is located at the last statement.
      at.current = undefined
      await recordDone(log, client, m, script, direction, performance.now() - started)
      await client.query('COMMIT')
    }
    result.durationMs = performance.now() - started
  } catch (e) {
    if (!script.noTransaction) await client.query('ROLLBACK').catch(() => {})
    const err = e as Error & { code?: string; position?: string }
    const stmt = at.current ?? script.statements[script.statements.length - 1]!
    result.status = 'failed'
    result.durationMs = performance.now() - started
    result.error = locateError(script, stmt, err)
    const stall = stallOf(e)
    if (stall && r.watchdog) result.error = { ...result.error, message: `stalled: ${describeStall(stall, r.watchdog.stallMs)}`, hint: stallHint(stall), stall }
    if (direction === 'up') {
      const text = `${result.error.file}:${result.error.line}:${result.error.column}: ${err.code ? `[${err.code}] ` : ''}${err.message}`
      await log.recordStatus(client, m.name, script.file, script.checksum, 'failed', result.durationMs, text).catch(() => {})
    }
  } finally {
    // Files may SET session settings (search_path, timeouts); they must not leak into the next
    // one. Not RESET ALL: that returns to server defaults, not to this session's start state.
    // A transaction that rolled back took its SETs with it (PostgreSQL undoes them on abort):
    // nothing to put back, one pg_settings scan saved on every failed run (fault injection fails
    // a run at every statement boundary).
    const rolledBack = result.status === 'failed' && !script.noTransaction
    if (!rolledBack) await restoreSessionSettings(client, settings).catch(() => {})
  }
  return result
}

/** Every statement in order, the beforeStatement and afterStatement hooks around each; `at.current` says which one failed. */
async function runStatements(r: ScriptRunner, m: Migration, script: MigrationScript, at: { current: Statement | undefined }): Promise<void> {
  const dog = r.watchdog
  const pid = dog ? (await r.client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid : 0
  for (const stmt of script.statements) {
    at.current = stmt
    await r.hooks?.beforeStatement?.(m, script, stmt)
    if (dog) await dog.watch(r.client, pid, () => r.client.query(stmt.text))
    else await r.client.query(stmt.text)
    await r.hooks?.afterStatement?.(m, script, stmt)
  }
}

/** up: the `completed` row with the file's checksum; down: the row becomes `rolled_back`. */
async function recordDone(log: MigrationLog, client: pg.ClientBase, m: Migration, script: MigrationScript, direction: Direction, ms: number): Promise<void> {
  if (direction === 'up') await log.recordCompleted(client, m.name, script.file, script.checksum, ms)
  else await log.recordRolledBack(client, m.name, ms)
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
