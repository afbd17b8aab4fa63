/**
 * Turning what went wrong into the HarnessError a public method returns. Which code an error
 * gets is decided by the one mapping in harness/sqlstate.ts; the messages and hints here say what
 * state the database is in and what to do next.
 */
import { HarnessError, isHarnessError } from '../../errors.ts'
import { errorCodeFor, isConnectionLoss, serverTrouble, shortageHint, shortageOf, sqlstateOf } from '../../sqlstate.ts'
import type { Migration, MigrationScript } from '../../sql/migration.ts'
import { formatLocated, type LocatedError } from '../locate.ts'
import type { MigrationLog } from '../log-table.ts'
import type { Direction } from './results.ts'

const CHECK_SERVER = 'The migration files are not at fault. Check the server (its log says why the session ended); `pnpm migrate status` shows which migrations completed. Transactional migrations that were running were rolled back by the server.'

/**
 * A migration that failed. `previous` names what the database is at after a rollback (up: the
 * migration before, or the bootstrap). A session that died under the statement is the
 * connection's fault, not the file's: CONNECTION_FAILED, never MIGRATION_FAILED.
 */
export function scriptFailure(direction: Direction, m: Migration, script: MigrationScript, e: LocatedError, previous: string): HarnessError {
  if (e.stall?.kind === 'server' || isConnectionLoss(e)) return connectionLost(script, e, direction === 'up' ? previous : m.name)
  if (e.stall) return stalled(direction, m, script, e, previous)
  const short = shortageOf(e)
  if (short) return shortage(short, direction, m, script, e, previous)
  const hint =
    direction === 'down'
      ? `${script.file} was rolled back: the database is still at ${m.name}. Fix the down file and run \`down\` again.`
      : script.noTransaction
        ? `${script.file} is non-transactional: the statements before statement ${e.statement} stay applied. Fix the file and run \`up\` again; it re-runs from the start, so it must be idempotent.`
        : `${script.file} was rolled back: the database is as it was after ${previous}. Fix the file and run \`up\` again.`
  return new HarnessError('MIGRATION_FAILED', formatLocated(e), { hint, details: { error: e, migration: m.name } })
}

/** Where a failed file leaves the database, for a failure that is not the file's own fault. */
function stateAfter(direction: Direction, m: Migration, script: MigrationScript, e: LocatedError, previous: string): string {
  return direction === 'down'
    ? `${script.file} was rolled back: the database is still at ${m.name}.`
    : script.noTransaction
      ? `${script.file} is non-transactional: the statements before statement ${e.statement} stay applied (status: partial); the next \`up\` re-runs it from the start.`
      : `${script.file} was rolled back: the database is as it was after ${previous}.`
}

/** The watchdog cancelled a statement stuck on a lock: the file may be fine, the lock was not ours to get. */
function stalled(direction: Direction, m: Migration, script: MigrationScript, e: LocatedError, previous: string): HarnessError {
  return new HarnessError('STALLED', formatLocated(e), { hint: `${stateAfter(direction, m, script, e, previous)} ${e.hint ?? ''}`.trim(), details: { error: e, migration: m.name, stall: e.stall } })
}

/** The server ran short of disk, memory or connections under the statement: the file is not shown wrong. */
function shortage(what: string, direction: Direction, m: Migration, script: MigrationScript, e: LocatedError, previous: string): HarnessError {
  return new HarnessError('SERVER_RESOURCES', `the server ran out of ${what} while running statement ${e.statement} of ${script.file}:\n${formatLocated(e)}`, {
    hint: `${stateAfter(direction, m, script, e, previous)} The file is not shown to be at fault. ${shortageHint(what)}`,
    details: { error: e, migration: m.name, sqlstate: e.sqlstate },
  })
}

function connectionLost(script: MigrationScript, e: LocatedError, previous: string): HarnessError {
  const at = `${e.file}:${e.line}:${e.column}`
  const why = e.stall ? 'the server stopped answering (overloaded, paused, or its storage hung): check it, then ' : 'find out why the session ended (server log: terminated by an administrator, restarted, network), then '
  return new HarnessError('CONNECTION_FAILED', `lost the connection to the database (${e.stall ? 'the server stopped answering' : 'the server went away'}) while running ${script.file} (statement ${e.statement} at ${at}): ${e.message}${e.sqlstate ? ` [SQLSTATE ${e.sqlstate}]` : ''}`, {
    hint: script.noTransaction
      ? `${script.file} is non-transactional: the statements before statement ${e.statement} stay applied and migration_log still says 'running' (status: partial). The file is not at fault; ${why}run \`up\` again: it re-runs the file from the start.`
      : `The server rolled ${script.file} back with the session: nothing of it was applied, the database is as it was after ${previous}. The file is not at fault; ${why}run \`up\` again.`,
    details: { error: e, file: script.file, sqlstate: e.sqlstate, ...(e.stall ? { stall: e.stall } : {}) },
  })
}

/** The bootstrap (extensions, log schema and table) failed and was rolled back. */
export function bootstrapError(e: unknown, log: MigrationLog): HarnessError {
  if (isHarnessError(e)) return e
  const err = e as { message?: string }
  const sqlstate = sqlstateOf(e)
  switch (errorCodeFor(e, 'session')) {
    case 'TIMESCALEDB_NOT_PRELOADED':
      return new HarnessError('TIMESCALEDB_NOT_PRELOADED', `TimescaleDB is installed but not preloaded: ${err.message}; nothing was changed`, {
        hint: "Add shared_preload_libraries = 'timescaledb' to postgresql.conf and restart the server.",
        details: { sqlstate },
      })
    case 'PERMISSION_DENIED':
      return new HarnessError('PERMISSION_DENIED', `cannot create the migration log or extensions: ${err.message}; nothing was changed`, {
        hint: `Run as a role that may create schemas (CREATE on the database) and the extension (superuser or database owner), or pre-create schema ${log.schema}.`,
        details: { sqlstate },
      })
    case 'CONNECTION_FAILED':
      return lostConnection(e)
    case 'SERVER_RESOURCES': {
      const short = serverTrouble(e)!
      return new HarnessError('SERVER_RESOURCES', `bootstrap (migration log / extensions) failed: ${short.message}; nothing was changed`, { hint: short.hint, details: short.details })
    }
    case undefined:
      return internal(e)
    default:
      return new HarnessError('MIGRATION_FAILED', `bootstrap (migration log / extensions) failed: ${err.message}${sqlstate ? ` [SQLSTATE ${sqlstate}]` : ''}; nothing was changed`, {
        hint: 'Check the role privileges and the server log.',
        details: { sqlstate },
      })
  }
}

/**
 * Anything that reached a public method's top: user-caused errors are HarnessErrors already; a
 * driver or server error gets its code from the one mapping; anything else is a bug, returned
 * as INTERNAL (exit 70) rather than thrown, so the methods keep their promise to return results.
 */
export function asHarnessError(e: unknown): HarnessError {
  if (isHarnessError(e)) return e
  const err = e as { message?: string }
  const sqlstate = sqlstateOf(e)
  const code = errorCodeFor(e, 'session')
  switch (code) {
    case 'PERMISSION_DENIED':
      return new HarnessError('PERMISSION_DENIED', `${err.message}`, { hint: 'Run as a role with the needed privileges.', details: { sqlstate }, cause: e })
    case 'CONNECTION_FAILED':
      return lostConnection(e)
    case 'SERVER_RESOURCES':
      return serverTrouble(e)!
    case undefined:
      return internal(e)
    default:
      return new HarnessError(code, `${err.message}${sqlstate ? ` [SQLSTATE ${sqlstate}]` : ''}`, { details: { sqlstate }, cause: e })
  }
}

function lostConnection(e: unknown): HarnessError {
  const err = e as { message?: string }
  const sqlstate = sqlstateOf(e)
  return new HarnessError('CONNECTION_FAILED', `lost the connection to the database (the server went away): ${err.message}${sqlstate ? ` [SQLSTATE ${sqlstate}]` : ''}`, {
    hint: CHECK_SERVER,
    ...(sqlstate ? { details: { sqlstate } } : {}),
    cause: e,
  })
}

function internal(e: unknown): HarnessError {
  const err = e as { name?: string; message?: string; stack?: string } | null
  const message = err?.message !== undefined ? `${err.name ?? 'Error'}: ${err.message}` : String(e)
  return new HarnessError('INTERNAL', message, {
    hint: 'This is a bug in the harness; please report it with this output (--json adds the stack trace).',
    details: err?.stack ? { stack: err.stack } : undefined,
    cause: e,
  })
}
