/**
 * The one place that reads environment variables. Everything else receives these values: the
 * CLI reads them once per command (config/index.ts) and hands them down; library callers that
 * pass nothing get `readEnvironment()` as the default, read at that moment.
 *
 * Not read here, on purpose: the Docker client's own variables (DOCKER_HOST, DOCKER_TLS_VERIFY,
 * DOCKER_CERT_PATH, XDG_RUNTIME_DIR) stay in engines/docker.ts, because testcontainers reads the
 * very same variables itself when it starts a container; the harness's probe must see what
 * testcontainers will see at that moment, not a copy taken earlier. Building a child process's
 * environment (`{ ...process.env, PGPASSWORD }`) is not reading it either.
 */
import path from 'node:path'
import { HarnessError } from '../errors.ts'
import type { PgVariables } from './database-url.ts'

export interface Environment {
  /** DATABASE_URL: the database a command works on (the production case). */
  databaseUrl?: string
  /** VERIFY_ENGINE: the engine when no --engine is given. */
  engine?: string
  /** PGVERIFY_CONTAINER_IMAGE: the container engine's image instead of the pinned one. */
  containerImage?: string
  /** PG_BIN: the bin directory of the PostgreSQL install (server for the native engine, client tools for dumps). */
  pgBin?: string
  /** PGVERIFY_CLUSTER_DIR: where the native engine puts its disposable cluster (engines/cluster-dir.ts). */
  clusterDir?: string
  /** TMPDIR, when set: the user's place for temporary files, which the native cluster then follows too. */
  tmpDir?: string
  /** MIGRATION_LOG_SCHEMA: the schema of the migration log. */
  logSchema?: string
  /** PSQL: the psql the benchmarks' \copy reference uses. */
  psql?: string
  /** GITHUB_SHA: the commit of a CI run, when git cannot say. */
  githubSha?: string
  /** PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE: the database when DATABASE_URL is not set. */
  pg: PgVariables
  /** NO_COLOR set (to anything non-empty): no colour on any stream (https://no-color.org). */
  noColor: boolean
  /** FORCE_COLOR set to anything but 0/false: colour even where the stream is not a terminal. */
  forceColor: boolean
  /** PATH, split: where programs are looked for. */
  path: string[]
  /**
   * PGCONNECT_TIMEOUT, as libpq reads it: seconds to wait for a connection (1 counts as 2, as in
   * libpq); 0 or negative waits without limit. A value that is not a whole number is kept as text
   * so that the connection names it rather than ignoring it.
   */
  connectTimeout?: number | string
}

export const ENV = {
  databaseUrl: 'DATABASE_URL',
  engine: 'VERIFY_ENGINE',
  containerImage: 'PGVERIFY_CONTAINER_IMAGE',
  pgBin: 'PG_BIN',
  clusterDir: 'PGVERIFY_CLUSTER_DIR',
  tmpDir: 'TMPDIR',
  logSchema: 'MIGRATION_LOG_SCHEMA',
  psql: 'PSQL',
  githubSha: 'GITHUB_SHA',
} as const

export const PG: Record<keyof PgVariables, string> = {
  host: 'PGHOST',
  port: 'PGPORT',
  user: 'PGUSER',
  password: 'PGPASSWORD',
  database: 'PGDATABASE',
  sslmode: 'PGSSLMODE',
}

/** A set variable with something in it; blank counts as unset. */
const value = (env: NodeJS.ProcessEnv, name: string): string | undefined => {
  const v = env[name]
  return v !== undefined && v.trim() !== '' ? v : undefined
}

export function readEnvironment(env: NodeJS.ProcessEnv = process.env): Environment {
  const force = env.FORCE_COLOR
  const out: Environment = {
    noColor: Boolean(env.NO_COLOR),
    forceColor: force !== undefined && force !== '0' && force.toLowerCase() !== 'false',
    path: (env.PATH ?? '').split(path.delimiter).filter(Boolean),
    pg: {},
  }
  for (const [key, name] of Object.entries(PG) as [keyof PgVariables, string][]) {
    // PGPASSWORD may be blank on purpose; the others blank mean unset.
    const v = key === 'password' ? env[name] : value(env, name)
    if (v !== undefined) out.pg[key] = v
  }
  for (const [key, name] of Object.entries(ENV) as [keyof typeof ENV, string][]) {
    const v = value(env, name)
    if (v !== undefined) out[key] = key === 'containerImage' ? v.trim() : v
  }
  const timeout = value(env, 'PGCONNECT_TIMEOUT')?.trim()
  if (timeout !== undefined) out.connectTimeout = /^-?\d+$/.test(timeout) ? Number(timeout) : timeout
  return out
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000

/**
 * How long a connection may wait for the server, from PGCONNECT_TIMEOUT as libpq reads it (0 or
 * negative: no limit, which is pg's 0; 1 counts as libpq's shortest, 2 s), else 10 s. A value that
 * is not whole seconds is a usage error: the CLI meets it in its config, before any engine.
 */
export function connectTimeoutMs(env: Pick<Environment, 'connectTimeout'>): number {
  const t = env.connectTimeout
  if (t === undefined) return DEFAULT_CONNECT_TIMEOUT_MS
  if (typeof t === 'string') {
    throw new HarnessError('USAGE', `PGCONNECT_TIMEOUT is ${JSON.stringify(t)}, not a whole number of seconds`, {
      hint: 'Set it to seconds as for psql (e.g. PGCONNECT_TIMEOUT=30; 0 waits without limit), or unset it for the default of 10 s.',
    })
  }
  return t <= 0 ? 0 : Math.max(2, t) * 1000
}
