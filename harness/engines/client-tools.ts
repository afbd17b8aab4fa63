/**
 * The local install's client tools as a DumpTools (engines/types.ts): what a target without an
 * engine of its own (DATABASE_URL, the native engine) dumps and restores with. The dump tools,
 * chosen by the engine's `dumpTool` capability:
 *
 *   pg_dump       PostgreSQL's pg_dump / pg_restore / psql of the server's major version: the
 *                 engine's own (inside the container engine's container), else the local
 *                 install's, found here. A different major is refused: a newer pg_dump writes
 *                 archives an older pg_restore cannot read, and an older one refuses the server
 *                 ("server version mismatch").
 *   wasm-pg_dump  `@electric-sql/pglite-tools`' pg_dump compiled to WASM, driving the embedded
 *                 engine's PGlite instance in-process (plain SQL with INSERTs).
 *
 * Passwords go to the tools through PGPASSWORD, never on the command line.
 */
import { spawn } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import path from 'node:path'
import { readEnvironment } from '../config/environment.ts'
import { HarnessError } from '../errors.ts'
import type { DumpTools, ToolArg, ToolName, ToolRun } from './types.ts'
import { registerCleanup } from './cleanup.ts'
import { redact, redactUrl } from '../util/redact.ts'

export type { DumpTools, ToolRun }

export interface ClientTools {
  binDir: string
  /** e.g. "15.18" */
  version: string
  major: number
  pgDump: string
  pgRestore: string
  psql: string
}

/** Runs a program without a shell; never throws for a non-zero exit (the caller words the error). */
export function runTool(file: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<ToolRun> {
  const t0 = performance.now()
  return new Promise((resolve) => {
    const child = spawn(file, args, { env: { ...process.env, ...options.env }, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    const cap = (s: string, add: string) => (s.length > 1_000_000 ? s : s + add)
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout = cap(stdout, d)))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = cap(stderr, d)))
    const timer = options.timeoutMs ? setTimeout(() => child.kill('SIGTERM'), options.timeoutMs) : undefined
    // On Ctrl-C/SIGTERM (or an early exit) the tool goes too: a pg_dump left running would keep its
    // session, snapshot and locks, and keep writing a dump nobody will use.
    const unregister = registerCleanup(`${path.basename(file)} (pid ${child.pid})`, async () => void child.kill('SIGTERM'), () => void child.kill('SIGKILL'))
    child.on('error', (e) => {
      unregister()
      if (timer) clearTimeout(timer)
      resolve({ code: null, stdout, stderr: stderr + String(e.message), durationMs: performance.now() - t0 })
    })
    child.on('close', (code) => {
      unregister()
      if (timer) clearTimeout(timer)
      resolve({ code, stdout, stderr, durationMs: performance.now() - t0 })
    })
  })
}

/** libpq connection for the tools: the URL without its password, and the password in the environment. */
export function toolConnection(url: string): { dbname: string; env: NodeJS.ProcessEnv } {
  const u = new URL(url)
  const password = u.password ? decodeURIComponent(u.password) : undefined
  u.password = ''
  return { dbname: u.toString(), env: password ? { PGPASSWORD: password } : {} }
}

async function versionOf(binDir: string): Promise<{ version: string; major: number } | undefined> {
  const file = path.join(binDir, 'pg_dump')
  if (!existsSync(file)) return undefined
  const r = await runTool(file, ['--version'], { timeoutMs: 10_000 })
  const m = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?/.exec(r.stdout)
  if (r.code !== 0 || !m) return undefined
  return { version: `${m[1]}${m[2] ? `.${m[2]}` : ''}`, major: Number(m[1]) }
}

function candidates(major: number, pgBin: string | undefined): { dir: string; source: string }[] {
  const out: { dir: string; source: string }[] = []
  if (pgBin) out.push({ dir: pgBin, source: 'PG_BIN' })
  out.push({ dir: `/usr/lib/postgresql/${major}/bin`, source: 'Debian/Ubuntu layout' })
  out.push({ dir: `/usr/pgsql-${major}/bin`, source: 'RHEL layout' })
  out.push({ dir: `/opt/homebrew/opt/postgresql@${major}/bin`, source: 'Homebrew' })
  out.push({ dir: `/usr/local/opt/postgresql@${major}/bin`, source: 'Homebrew' })
  for (const d of readEnvironment().path) out.push({ dir: d, source: 'PATH' })
  // Other installed majors, only to name them in the error.
  if (existsSync('/usr/lib/postgresql')) for (const m of readdirSync('/usr/lib/postgresql')) out.push({ dir: `/usr/lib/postgresql/${m}/bin`, source: 'Debian/Ubuntu layout' })
  return out
}

/**
 * pg_dump, pg_restore and psql of exactly the server's major version, or BACKUP_TOOL_MISMATCH
 * naming what was found and how to get the right one.
 */
export async function locateClientTools(serverVersion: string, pgBin: string | undefined = readEnvironment().pgBin): Promise<ClientTools> {
  const major = Number(/^(\d+)/.exec(serverVersion)?.[1] ?? NaN)
  const found: string[] = []
  const seen = new Set<string>()
  for (const c of candidates(major, pgBin)) {
    const dir = path.resolve(c.dir)
    if (seen.has(dir)) continue
    seen.add(dir)
    const v = await versionOf(dir)
    if (!v) continue
    found.push(`${path.join(dir, 'pg_dump')} (PostgreSQL ${v.version}, from ${c.source})`)
    if (v.major !== major) continue
    const missing = ['pg_restore', 'psql'].filter((t) => !existsSync(path.join(dir, t)))
    if (missing.length) {
      found.push(`  …but ${missing.join(' and ')} missing next to it`)
      continue
    }
    return { binDir: dir, version: v.version, major, pgDump: path.join(dir, 'pg_dump'), pgRestore: path.join(dir, 'pg_restore'), psql: path.join(dir, 'psql') }
  }
  throw new HarnessError('BACKUP_TOOL_MISMATCH', `no pg_dump/pg_restore/psql of PostgreSQL ${major} found for a PostgreSQL ${serverVersion} server${found.length ? `; found: ${found.join('; ')}` : ''}`, {
    hint: `Install the client tools of the server's major version (Debian/Ubuntu: apt-get install -y postgresql-client-${major}; they land in /usr/lib/postgresql/${major}/bin), or set PG_BIN to their directory. A different major is refused: its archives are not portable both ways.`,
    details: { serverVersion, found },
  })
}

/** An error from a tool, with what it printed (passwords redacted) and what to do. */
export function toolError(code: 'BACKUP_FAILED' | 'RESTORE_FAILED', what: string, r: ToolRun, url: string, hint: string): HarnessError {
  const said = redact(toolSaid(r.stderr))
  return new HarnessError(code, `${what} failed (exit ${r.code ?? 'signal'}) on ${redactUrl(url)}${said ? `:\n${said}` : ''}`, { hint, details: { exitCode: r.code } })
}

/**
 * A tool's stderr for a message: its last `keep` lines, and before them the first error line and
 * the two after it when those fell outside. pg_dump prints its error first and then the whole
 * query it was running ("detail: Query was: …", twenty lines and more): the last lines alone
 * showed the query and not why it failed (nor that the server had gone away, which decides the
 * exit code).
 */
export function toolSaid(stderr: string, keep = 12): string {
  const lines = stderr.trim().split('\n')
  if (lines.length <= keep) return lines.join('\n').trim()
  const tailFrom = lines.length - keep
  const first = lines.findIndex((l) => /\b(error|fatal|panic)\b/i.test(l))
  if (first < 0 || first >= tailFrom) return lines.slice(tailFrom).join('\n')
  const head = lines.slice(first, Math.min(first + 3, tailFrom))
  const skipped = tailFrom - first - head.length
  return [...head, ...(skipped > 0 ? [`… (${skipped} more line${skipped > 1 ? 's' : ''})`] : []), ...lines.slice(tailFrom)].join('\n')
}

/** The local install's tools of the server's major version, as a toolbox. */
export async function localDumpTools(serverVersion: string, pgBin?: string): Promise<DumpTools> {
  const t = await locateClientTools(serverVersion, pgBin)
  const files: Record<ToolName, string> = { pg_dump: t.pgDump, pg_restore: t.pgRestore, psql: t.psql }
  return {
    version: t.version,
    where: t.binDir,
    run(tool: ToolName, args: readonly ToolArg[], options: { connect?: string; env?: Record<string, string>; timeoutMs?: number } = {}) {
      const argv = args.map((a) => (typeof a === 'string' ? a : `${a.prefix ?? ''}${a.in ?? a.out}`))
      let env: NodeJS.ProcessEnv = { ...options.env }
      if (options.connect) {
        const conn = toolConnection(options.connect)
        argv.push(`--dbname=${conn.dbname}`)
        env = { ...env, ...conn.env }
      }
      return runTool(files[tool], argv, { env, ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}) })
    },
  }
}
