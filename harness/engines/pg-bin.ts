/**
 * Finds a local PostgreSQL server install and runs its binaries.
 *
 * Order: `PG_BIN` (the user said so; no silent fallback when it is wrong), then `pg_config` on
 * PATH, then the newest Debian/Ubuntu-style /usr/lib/postgresql/<major>/bin. Whether
 * TimescaleDB is installed is read from that same install, because `shared_preload_libraries`
 * only works with the library of the server actually started.
 *
 * initdb and postgres refuse to run as root, so when we are root every server command goes
 * through `runuser -u postgres` (or `su` where runuser is missing).
 */
import { execFile, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readdir } from 'node:fs/promises'
import path from 'node:path'
import { readEnvironment } from '../config/environment.ts'
import { HarnessError } from '../errors.ts'

export interface PgInstall {
  binDir: string
  /** major.minor, e.g. "15.18" */
  version: string
  hasTimescale: boolean
}

const SERVER_TOOLS = ['initdb', 'pg_ctl', 'postgres'] as const
export const SERVER_USER = 'postgres'
const INSTALL_HINT = 'install PostgreSQL (Debian/Ubuntu: apt-get update && apt-get install -y postgresql-15) or set PG_BIN to the directory holding initdb, pg_ctl and postgres'

export interface RunResult {
  code: number | null
  stdout: string
  stderr: string
  error?: Error
}

/** Runs a program without a shell; never throws, so callers can put the output into their own errors. */
export function run(file: string, args: readonly string[], options: { cwd?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd: options.cwd, timeout: options.timeoutMs ?? 60_000, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' }, (error, stdout, stderr) => {
      const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? ((error as { code: number }).code) : null) : 0
      resolve({ code, stdout, stderr, ...(error ? { error } : {}) })
    })
  })
}

const missingTools = (binDir: string) => SERVER_TOOLS.filter((t) => !existsSync(path.join(binDir, t)))

async function pgConfig(pgConfigPath: string, flag: string): Promise<string | undefined> {
  const r = await run(pgConfigPath, [flag], { timeoutMs: 5_000 })
  return r.code === 0 ? r.stdout.trim() || undefined : undefined
}

async function candidateBinDir(pgBin: string | undefined): Promise<{ binDir: string; source: string }> {
  const fromEnv = pgBin
  if (fromEnv) {
    const missing = missingTools(fromEnv)
    if (missing.length > 0) {
      throw new HarnessError('ENGINE_UNAVAILABLE', `PG_BIN=${fromEnv} has no ${missing.join(', ')}`, { hint: 'point PG_BIN at the bin directory of a PostgreSQL server install (e.g. /usr/lib/postgresql/15/bin)' })
    }
    return { binDir: fromEnv, source: 'PG_BIN' }
  }
  // pg_config from a client-only package (libpq-dev) reports a bindir without server tools: keep looking then.
  const bindir = await pgConfig('pg_config', '--bindir')
  if (bindir && missingTools(bindir).length === 0) return { binDir: bindir, source: 'pg_config' }

  const root = '/usr/lib/postgresql'
  const majors = existsSync(root) ? (await readdir(root)).filter((d) => /^\d+(\.\d+)?$/.test(d)) : []
  majors.sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a))
  for (const major of majors) {
    const dir = path.join(root, major, 'bin')
    if (missingTools(dir).length === 0) return { binDir: dir, source: root }
  }
  throw new HarnessError('ENGINE_UNAVAILABLE', 'no PostgreSQL server binaries (initdb, pg_ctl, postgres) found', { hint: INSTALL_HINT })
}

async function timescaleInstalled(binDir: string): Promise<boolean> {
  // Prefer the install's own pg_config; fall back to the usual layout next to bin/.
  const own = path.join(binDir, 'pg_config')
  const ask = existsSync(own) ? (flag: string) => pgConfig(own, flag) : async () => undefined
  const pkglibdir = (await ask('--pkglibdir')) ?? path.join(binDir, '..', 'lib')
  const sharedir = (await ask('--sharedir')) ?? path.join(binDir, '..', 'share')
  const libs = existsSync(pkglibdir) ? await readdir(pkglibdir) : []
  if (libs.some((f) => /^timescaledb.*\.so$/.test(f))) return true
  return existsSync(path.join(sharedir, 'extension', 'timescaledb.control'))
}

/** Throws ENGINE_UNAVAILABLE with a fix when no usable server install is found. `pgBin`: PG_BIN. */
export async function locatePostgres(pgBin: string | undefined = readEnvironment().pgBin): Promise<PgInstall> {
  const { binDir, source } = await candidateBinDir(pgBin)
  const r = await run(path.join(binDir, 'postgres'), ['--version'], { timeoutMs: 5_000 })
  const m = /\(PostgreSQL\)\s+(\d+(?:\.\d+)?)/.exec(r.stdout)
  if (r.code !== 0 || !m?.[1]) {
    throw new HarnessError('ENGINE_UNAVAILABLE', `${path.join(binDir, 'postgres')} --version failed (found via ${source}): ${(r.stderr || r.stdout).trim()}`, { hint: INSTALL_HINT })
  }
  return { binDir, version: m[1], hasTimescale: await timescaleInstalled(binDir) }
}

// ---- running server commands as the server user --------------------------------------------

export const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0

function onPath(name: string): string | undefined {
  const dirs = [...readEnvironment().path, '/usr/sbin', '/sbin', '/usr/bin', '/bin']
  for (const d of dirs) if (d && existsSync(path.join(d, name))) return path.join(d, name)
  return undefined
}

const shellQuote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`

/** argv for running `file args` as the server user when we are root; unchanged otherwise. */
export function asServerUser(file: string, args: readonly string[]): { file: string; args: string[] } {
  if (!isRoot()) return { file, args: [...args] }
  const runuser = onPath('runuser')
  if (runuser) return { file: runuser, args: ['-u', SERVER_USER, '--', file, ...args] }
  return { file: onPath('su') ?? 'su', args: [SERVER_USER, '-s', '/bin/sh', '-c', [file, ...args].map(shellQuote).join(' ')] }
}

/** uid/gid of the server user, or undefined when the account does not exist. */
export function serverUserIds(): { uid: number; gid: number } | undefined {
  const uid = spawnSync('id', ['-u', SERVER_USER], { encoding: 'utf8' })
  const gid = spawnSync('id', ['-g', SERVER_USER], { encoding: 'utf8' })
  if (uid.status !== 0 || gid.status !== 0) return undefined
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) }
}
