/**
 * The database a command works on: DATABASE_URL, else the standard libpq variables (PGHOST,
 * PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE), as psql would use them. A URL that cannot
 * be what was meant is a usage error naming the problem, never echoing the URL (it may hold a
 * password), before anything connects: `not a url` used to end as "getaddrinfo ENOTFOUND base".
 */
import os from 'node:os'
import { HarnessError } from '../errors.ts'

export interface PgVariables {
  host?: string
  port?: string
  user?: string
  password?: string
  database?: string
  sslmode?: string
}

const SHAPE = 'postgres://USER@HOST:PORT/DATABASE (a password goes in PGPASSWORD, or in the URL percent-encoded)'

/** Checks a connection URL's shape; returns it unchanged. `source` names where it came from. */
export function checkDatabaseUrl(raw: string, source: string): string {
  const refuse = (problem: string): never => {
    throw new HarnessError('USAGE', `${source} ${problem}`, { hint: `Set it to ${SHAPE}, or unset it.` })
  }
  let url: URL
  try {
    url = new URL(raw.trim())
  } catch {
    // WHATWG's message repeats the input, password included: say what is wrong ourselves.
    return refuse(/^\s*[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? 'is not a valid URL (a port that is not a number, or an unencoded "@", "/" or "#" in the password?)' : 'is not a URL (it does not start with postgres://)')
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') refuse(`has the scheme "${url.protocol}": expected postgres:// or postgresql://`)
  if (!url.hostname && !url.searchParams.get('host')) refuse('names no host (postgres://HOST/…, or ?host=/path/of/the/socket)')
  if (url.pathname.length > 1 && url.pathname.slice(1).includes('/')) refuse(`has a path with more than a database name: "${url.pathname}"`)
  return raw.trim()
}

/** The URL the PG* variables describe, libpq's defaults for what is unset; undefined when none of host, port, user or database is set. */
export function urlFromPgVariables(pg: PgVariables, osUser: string = os.userInfo().username): string | undefined {
  if (pg.host === undefined && pg.port === undefined && pg.user === undefined && pg.database === undefined) return undefined
  const user = pg.user ?? osUser
  const enc = encodeURIComponent
  const socket = pg.host?.startsWith('/')
  const host = socket ? '' : pg.host ?? 'localhost'
  const params = new URLSearchParams()
  if (socket) params.set('host', pg.host!)
  if (pg.sslmode) params.set('sslmode', pg.sslmode)
  const query = params.size ? `?${params}` : ''
  const hostPart = host.includes(':') ? `[${host}]` : host
  return `postgres://${enc(user)}${pg.password !== undefined ? `:${enc(pg.password)}` : ''}@${hostPart}${pg.port ? `:${pg.port}` : ''}/${enc(pg.database ?? user)}${query}`
}
