/** Opening a connection, with the failure turned into a HarnessError that says what to do. */
import pg from 'pg'
import { HarnessError } from '../errors.ts'
import { errorCodeFor, serverTrouble, shortageHint, shortageOf } from '../sqlstate.ts'
import { addSecretsFromUrl, redactUrl } from '../util/redact.ts'
import { connectTimeoutMs, readEnvironment } from '../config/environment.ts'

export interface ConnectOptions {
  connectTimeoutMs?: number
  applicationName?: string
}

export async function connect(url: string, options: ConnectOptions = {}): Promise<pg.Client> {
  addSecretsFromUrl(url)
  const client = new pg.Client({
    connectionString: url,
    // The caller's own limit, else PGCONNECT_TIMEOUT read now (library callers pass nothing), else 10 s.
    connectionTimeoutMillis: options.connectTimeoutMs ?? connectTimeoutMs(readEnvironment()),
    application_name: options.applicationName ?? 'pgverify',
    // Lets this process notice a server that vanished. The other direction (the server ending a
    // killed runner's session, and so its advisory lock) is set up per session in lock.ts.
    keepAlive: true,
  })
  // An idle client whose server goes away emits 'error'; without a listener Node would crash.
  client.on('error', () => {})
  try {
    await client.connect()
    return client
  } catch (e) {
    await client.end().catch(() => {})
    throw connectionError(url, e)
  }
}

/**
 * A server on this machine that accepted the TCP connection and closed it at once: what a
 * one-connection server (the embedded engine's socket server) does with a second client. Not a
 * host, port or firewall problem, and said so without waiting for a timeout.
 */
function closedOnOpen(url: string, err: { code?: string; message?: string }): boolean {
  let host: string
  try {
    host = new URL(url).hostname
  } catch {
    return false
  }
  const local = host === 'localhost' || host === '[::1]' || host.startsWith('127.')
  return local && (err.code === 'ECONNRESET' || err.code === 'EPIPE' || /Connection terminated unexpectedly|Too many connections/i.test(err.message ?? ''))
}

/**
 * A hint when the password in a URL looks not percent-encoded: an `@`, a `%` not starting an
 * escape, or `#`, `/`, `?`, white space. Such a password is split or decoded wrongly before it
 * reaches the server, which then reports a plain authentication (or host) failure. The password
 * itself is never printed.
 */
export function passwordEncodingHint(url: string): string | undefined {
  const scheme = url.indexOf('://')
  if (scheme < 0) return undefined
  const rest = url.slice(scheme + 3)
  const at = rest.lastIndexOf('@')
  if (at < 0) return undefined
  const userinfo = rest.slice(0, at)
  const colon = userinfo.indexOf(':')
  if (colon < 0) return undefined
  const password = userinfo.slice(colon + 1)
  if (!/@|%(?![0-9A-Fa-f]{2})|[#/?\s]/.test(password)) return undefined
  return 'The password in DATABASE_URL contains characters that must be percent-encoded in a URL (@ → %40, % → %25, # → %23, / → %2F, ? → %3F, space → %20); encode it, e.g. node -e "console.log(encodeURIComponent(process.argv[1]))" \'the password\'.'
}

/** What the server says when it cannot write the files a new session needs (its disk full or failing). */
const SESSION_FILE_UNWRITABLE = /could not write init file|No space left on device/i

/** Why a session could not be opened; the code comes from the one mapping in harness/sqlstate.ts. */
export function connectionError(url: string, e: unknown): HarnessError {
  const err = e as { code?: string; message?: string }
  const where = redactUrl(url)
  const msg = err.message ?? String(e)
  switch (errorCodeFor(e, 'connect')) {
    case 'AUTH_FAILED':
      return new HarnessError('AUTH_FAILED', `authentication failed for ${where}: ${msg}`, {
        hint: passwordEncodingHint(url) ?? 'Check the user and password in DATABASE_URL (the password is not shown here).',
        details: { sqlstate: err.code },
        cause: e,
      })
    case 'DATABASE_NOT_FOUND':
      return new HarnessError('DATABASE_NOT_FOUND', `${where}: ${msg}`, {
        hint: 'Create the database first (e.g. `createdb NAME`), or fix the database name in DATABASE_URL.',
        details: { sqlstate: err.code },
        cause: e,
      })
    case 'PERMISSION_DENIED':
      return new HarnessError('PERMISSION_DENIED', `${where}: ${msg}`, { hint: 'Grant CONNECT on the database to this role.', details: { sqlstate: err.code }, cause: e })
    default:
      if (closedOnOpen(url, err)) {
        return new HarnessError('CONNECTION_FAILED', `cannot connect to ${where}: the server closed the connection as soon as it was opened (${msg || err.code})`, {
          hint: 'A local server that serves one connection at a time is busy with another client: the embedded engine of `pgverify db` does so — close the other client (psql, another runner) and run again. Otherwise the server refuses new connections (max_connections, pg_hba.conf).',
          details: { code: err.code, busy: true },
          cause: e,
        })
      }
      // A server short of disk refuses a session it cannot set up: with SQLSTATE 53100, or with
      // the first session of a database, which writes a relation-cache file (FATAL, XX000).
      const short = shortageOf(e) && serverTrouble(e)
      if (short) return new HarnessError('CONNECTION_FAILED', `cannot connect to ${where}: ${short.message}`, { hint: short.hint, details: short.details, cause: e })
      if (SESSION_FILE_UNWRITABLE.test(msg)) return new HarnessError('CONNECTION_FAILED', `cannot connect to ${where}: ${msg} (the server could not write a file the new session needs: its disk is probably full)`, { hint: shortageHint('disk space'), details: { code: err.code }, cause: e })
      return new HarnessError('CONNECTION_FAILED', `cannot connect to ${where}: ${msg || err.code}`, {
        hint:
          passwordEncodingHint(url) ??
          `Is the server running and reachable from here? Check host, port and firewall; \`pg_isready -d "$DATABASE_URL"\` tells.${/timeout expired/i.test(msg) ? ' A server that is only slow to answer gets longer with PGCONNECT_TIMEOUT (seconds; 0 waits without limit).' : ''}`,
        details: { code: err.code },
        cause: e,
      })
  }
}
