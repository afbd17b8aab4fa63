/**
 * The one mapping from what the driver or the server raised to a HarnessError code (and so, through
 * cli/exit-codes.ts, to an exit code). Callers keep their own message and hint, because they know
 * what was being done (connecting, bootstrapping, restoring); which code an error gets is decided
 * here only.
 *
 * Server errors carry a SQLSTATE in `code` (five characters, e.g. 42501); socket errors carry a Node
 * errno there instead (ECONNRESET, EPIPE: also five characters for some, so they are told apart by
 * name); errors the pg client makes up itself ("Connection terminated unexpectedly", "Client has
 * encountered a connection error and is not queryable") have only a message.
 */
import { HarnessError, type ErrorCode } from './errors.ts'

/** The fields of a pg error (or of a LocatedError, which keeps the SQLSTATE as `sqlstate`) this mapping reads. */
export interface DriverErrorLike {
  code?: unknown
  sqlstate?: unknown
  message?: unknown
}

/** Node errno codes of a socket that failed or went away. */
const SOCKET_ERRNO = /^E(CONNRESET|CONNREFUSED|CONNABORTED|PIPE|TIMEDOUT|HOSTUNREACH|NETUNREACH|HOSTDOWN|NETDOWN|NOTFOUND|AI_AGAIN)$/

/** Class 08 (connection exception) and 57P01-57P03 (terminated by an administrator, crash, shutdown). */
const CONNECTION_LOSS_SQLSTATE = /^(08[0-9A-Z]{3}|57P0[123])$/

/** What the pg client and Node say, without a code, when the session died under a query. */
const CONNECTION_LOSS_MESSAGE =
  /Connection terminated|terminating connection|connection (is |was )?(closed|ended)|Client was closed|Client has encountered a connection error|not queryable|socket hang up|\bE(CONNRESET|CONNREFUSED|CONNABORTED|PIPE|TIMEDOUT)\b/i

/** What libpq's tools (pg_dump, pg_restore, psql) print when the server crashed, shut down or cannot be reached. */
const TOOL_SERVER_GONE =
  /server closed the connection unexpectedly|terminating connection|connection to server .* failed|Connection refused|could not receive data from server|could not send data to server|no connection to the server|the database system is (shutting down|starting up|in recovery mode)/i

/** SQLSTATEs with a code of their own; every other SQLSTATE is a failed statement. */
const BY_SQLSTATE: Record<string, ErrorCode> = {
  '28000': 'AUTH_FAILED', // invalid_authorization_specification: no such role, no pg_hba.conf entry
  '28P01': 'AUTH_FAILED', // invalid_password
  '3D000': 'DATABASE_NOT_FOUND', // invalid_catalog_name
  '42501': 'PERMISSION_DENIED', // insufficient_privilege
}

/**
 * Class 53, insufficient resources: what the server ran short of. A statement that fails so is
 * not wrong; the server needs room (and a disk that fills mid-write often takes the server down).
 */
const SHORTAGE: Record<string, string> = {
  '53000': 'resources',
  '53100': 'disk space',
  '53200': 'memory',
  '53300': 'connections',
  '53400': 'room under a configured limit (temp_file_limit, max_locks_per_transaction …)',
}

/** What the server ran short of, for an error of class 53; undefined for any other. */
export function shortageOf(e: unknown): string | undefined {
  const state = sqlstateOf(e)
  return state?.startsWith('53') ? (SHORTAGE[state] ?? 'resources') : undefined
}

/** What to do about a shortage, said once for every caller. */
export function shortageHint(what: string): string {
  if (what === 'disk space') return 'Free space on the file system that holds the server\'s data directory (and its WAL), then run again.'
  if (what === 'memory') return 'Give the server more memory (or lower work_mem / maintenance_work_mem for this run), then run again.'
  if (what === 'connections') return 'Close idle sessions or raise max_connections, then run again.'
  return 'Check the server log for the limit it hit, then run again.'
}

/**
 * The error for a server that went away or ran short of resources under any statement of ours
 * (a catalog read, a comparison): not a bug of pgverify's and not the migrations' fault. Other
 * errors: undefined (the caller decides).
 */
export function serverTrouble(e: unknown): HarnessError | undefined {
  const message = text((e as DriverErrorLike | null)?.message) ?? String(e)
  const state = sqlstateOf(e)
  const short = shortageOf(e)
  if (short) return new HarnessError('SERVER_RESOURCES', `the server ran out of ${short}: ${message} [SQLSTATE ${state}]`, { hint: shortageHint(short), details: { sqlstate: state }, cause: e })
  if (isConnectionLoss(e)) return new HarnessError('CONNECTION_FAILED', `lost the connection to the database (the server went away): ${message}${state ? ` [SQLSTATE ${state}]` : ''}`, { hint: 'Check the server (its log says why the session ended): out of disk or memory, restarted, or stopped.', details: state ? { sqlstate: state } : undefined, cause: e })
  return undefined
}

/** `e` as the server's trouble: a HarnessError that already says so, or what serverTrouble makes of a driver error. */
export function asServerTrouble(e: unknown): HarnessError | undefined {
  if (e instanceof HarnessError) return e.code === 'CONNECTION_FAILED' || e.code === 'SERVER_RESOURCES' ? e : undefined
  return serverTrouble(e)
}

/** TimescaleDB's own words when its library is installed but not in shared_preload_libraries. */
const NOT_PRELOADED_MESSAGE = /must be preloaded|shared_preload_libraries/i

const text = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)

/** The SQLSTATE of a server error; undefined for socket errors (a Node errno is not a SQLSTATE) and plain errors. */
export function sqlstateOf(e: unknown): string | undefined {
  if (typeof e !== 'object' || e === null) return undefined
  const x = e as DriverErrorLike
  const code = text(x.sqlstate) ?? text(x.code)
  return code !== undefined && /^[0-9A-Z]{5}$/.test(code) && !SOCKET_ERRNO.test(code) ? code : undefined
}

/**
 * The session died under the statement (terminated by an administrator, server crash or shutdown,
 * socket closed or reset): not the fault of what ran on it. A server error with any other SQLSTATE
 * is never a connection loss, whatever its message says.
 */
export function isConnectionLoss(e: unknown): boolean {
  if (typeof e !== 'object' || e === null) return false
  const x = e as DriverErrorLike
  const state = sqlstateOf(x)
  if (state) return CONNECTION_LOSS_SQLSTATE.test(state)
  const code = text(x.sqlstate) ?? text(x.code)
  if (code && SOCKET_ERRNO.test(code)) return true
  return CONNECTION_LOSS_MESSAGE.test(text(x.message) ?? '')
}

/** A client tool's stderr says the server went away (not that what it ran was wrong). */
export function toolLostServer(stderr: string): boolean {
  return TOOL_SERVER_GONE.test(stderr)
}

/**
 * The HarnessError code for an error the driver or server raised:
 *   'connect'  while opening a session: authentication, database and privilege errors have their
 *              own codes, anything else means the server could not be reached (CONNECTION_FAILED);
 *   'session'  on an open session: a lost connection is CONNECTION_FAILED and a shortage of disk,
 *              memory or connections SERVER_RESOURCES (never a failed migration), TimescaleDB not
 *              preloaded, privileges, and any other SQLSTATE is a failed statement (MIGRATION_FAILED).
 * undefined: not an error of the database or the connection at all (a bug: INTERNAL for the caller).
 */
export function errorCodeFor(e: unknown, during: 'connect' | 'session'): ErrorCode | undefined {
  const state = sqlstateOf(e)
  const byState = state ? BY_SQLSTATE[state] : undefined
  if (during === 'connect') return byState ?? 'CONNECTION_FAILED'
  if (isConnectionLoss(e)) return 'CONNECTION_FAILED'
  if (shortageOf(e)) return 'SERVER_RESOURCES'
  if (NOT_PRELOADED_MESSAGE.test(text((e as DriverErrorLike | null)?.message) ?? '')) return 'TIMESCALEDB_NOT_PRELOADED'
  if (byState) return byState
  return state ? 'MIGRATION_FAILED' : undefined
}
