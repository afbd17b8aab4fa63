/**
 * The native engine: a throw-away cluster of the PostgreSQL installed on this machine
 * (initdb into a temp dir, a free port on 127.0.0.1, durability off). Real server processes,
 * so concurrent sessions, advisory locks and pg_dump behave exactly as in production; it has
 * TimescaleDB only when that install does.
 *
 * Everything the cluster owns lives in one temp dir (data, unix socket, server.log,
 * owner.json), so teardown is "stop the postmaster, delete the dir". Three layers make sure
 * that happens: stop(), the cleanup registry (signals, process exit) and the reaper (SIGKILL).
 *
 */
import { spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { chown, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { existsSync, rmSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { readEnvironment } from '../config/environment.ts'
import { HarnessError } from '../errors.ts'
import { AdminConnection, databaseFactory, readVersions, serverCapabilities } from './admin.ts'
import { registerCleanup } from './cleanup.ts'
import { asServerUser, isRoot, locatePostgres, run, SERVER_USER, serverUserIds, type PgInstall } from './pg-bin.ts'
import { clusterDir, clusterDirCandidates } from './cluster-dir.ts'
import { NATIVE_DIR_PREFIX, reapStaleClusters, writeOwner } from './reaper.ts'
import type { EngineProvider, EngineSettings, EngineStartOptions, StartedEngine } from './types.ts'

// ---- the native engine ----------------------------------------------------------------------

export interface NativeStartOptions extends EngineStartOptions {
  /**
   * Password authentication for TCP connections (scram-sha-256 in pg_hba.conf for host lines;
   * the unix socket stays trust), with a random superuser password. For suites that need a wrong
   * password to fail or a role with a password. Off by default: the default cluster trusts all.
   */
  passwordAuth?: boolean
  /**
   * Preload TimescaleDB when this install has it (the default). `false` starts the cluster
   * without the preload: PostgreSQL with TimescaleDB installed but unusable, exactly the
   * misconfiguration the pre-flight must catch, made on purpose whatever the machine has.
   */
  timescale?: boolean
}

export interface NativeStartedEngine extends StartedEngine {
  readonly tempDir: string
  readonly dataDir: string
  readonly port: number
  /** Set with `passwordAuth`: the superuser and its password (also inside `url`). */
  readonly credentials?: { user: string; password: string }
  /** For process 'exit' handlers: no promises, no event loop. */
  stopSync(): void
}

const stderrLog = (line: string) => process.stderr.write(`${line}\n`)
const START_ATTEMPTS = 4
// unix socket paths are limited to ~107 bytes; "/.s.PGSQL.65535" takes 15.
const MAX_SOCKET_DIR = 90

function tail(text: string, lines = 20): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n')
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      srv.close(() => (addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port'))))
    })
  })
}

function serverRun(install: PgInstall, tool: string, args: string[], cwd: string, timeoutMs = 60_000) {
  const cmd = asServerUser(path.join(install.binDir, tool), args)
  return run(cmd.file, cmd.args, { cwd, timeoutMs })
}

function pgCtlStopSync(binDir: string, dataDir: string, cwd: string): void {
  const cmd = asServerUser(path.join(binDir, 'pg_ctl'), ['stop', '-D', dataDir, '-m', 'immediate', '-w', '-t', '30'])
  spawnSync(cmd.file, cmd.args, { cwd, stdio: 'ignore', timeout: 40_000 })
}

async function readLog(tempDir: string): Promise<string> {
  return readFile(path.join(tempDir, 'server.log'), 'utf8').catch(() => '')
}

function startFailed(what: string, output: string, hint: string, details: Record<string, unknown>): HarnessError {
  return new HarnessError('ENGINE_START_FAILED', `native: ${what}${output ? `\n${tail(output)}` : ''}`, { hint, details })
}

/** Every server setting on the command line; pg_ctl runs it through /bin/sh, hence the path check in start. */
function serverOptions(port: number, socketDir: string, timescale: boolean, backgroundJobs: boolean): string {
  const settings = [
    'listen_addresses=127.0.0.1',
    `unix_socket_directories=${socketDir}`,
    'fsync=off',
    'synchronous_commit=off',
    'full_page_writes=off',
    'max_connections=100',
    ...(timescale ? ['shared_preload_libraries=timescaledb', 'timescaledb.telemetry_level=off'] : []),
    // No scheduler can start without a worker slot: registered jobs wait for an explicit run_job.
    ...(timescale && !backgroundJobs ? ['timescaledb.max_background_workers=0'] : []),
  ]
  return [`-p ${port}`, ...settings.map((s) => `-c ${s}`)].join(' ')
}

/**
 * initdb's output kept between runs (about a second of every start): a trust-authentication
 * cluster depends only on the install and initdb's arguments, so the first start copies it aside
 * and later ones copy it back (`cp -a`: owner and modes kept). Written under a temporary name and
 * renamed, so a kept copy is whole or absent; a password cluster is never kept (its password is
 * new every time).
 */
const INITDB = ['--no-sync', '-U', 'postgres', '-E', 'UTF8', '--locale=C']
const INITDB_TRUST = [...INITDB, '-A', 'trust']
const initdbCache = (install: PgInstall) =>
  path.join(os.tmpdir(), 'pgverify-initdb', createHash('sha256').update([install.binDir, install.version, String(process.getuid?.() ?? ''), ...INITDB_TRUST].join('\0')).digest('hex').slice(0, 16))

async function copyFromCache(cache: string, dataDir: string): Promise<boolean> {
  if (!existsSync(path.join(cache, 'PG_VERSION'))) return false
  if ((await run('cp', ['-a', cache, dataDir])).code === 0) return true
  await rm(dataDir, { recursive: true, force: true })
  return false
}

async function keepInCache(cache: string, dataDir: string): Promise<void> {
  const partial = `${cache}.${process.pid}.partial`
  await mkdir(path.dirname(cache), { recursive: true })
  // Another start that got there first has kept the same cluster: the rename fails, ours goes.
  if ((await run('cp', ['-a', dataDir, partial])).code === 0) await rename(partial, cache).catch(() => {})
  await rm(partial, { recursive: true, force: true })
}

export async function startNative(options: NativeStartOptions = {}): Promise<NativeStartedEngine> {
  const log = options.log ?? stderrLog
  const t0 = Date.now()
  const install = await locatePostgres(options.pgBin)
  const ids = isRoot() ? serverUserIds() : undefined
  if (isRoot() && !ids) {
    throw new HarnessError('ENGINE_UNAVAILABLE', `native: running as root, but there is no '${SERVER_USER}' OS user to run the server as (initdb and postgres refuse root)`, {
      hint: `create it (useradd --system ${SERVER_USER}) or run the harness as a non-root user`,
    })
  }

  const where = await clusterDir(options.clusterEnv ?? readEnvironment())
  for (const root of clusterDirCandidates(where)) await reapStaleClusters(log, root)
  const preload = install.hasTimescale && options.timescale !== false
  const backgroundJobs = options.backgroundJobs === true

  const tempDir = await mkdtemp(path.join(where.dir, NATIVE_DIR_PREFIX))
  const dataDir = path.join(tempDir, 'data')
  const logFile = path.join(tempDir, 'server.log')
  let stopped = false
  // Separate from `stopped`: the exit hook must still act if an async stop() was cut short.
  let gone = false
  let admin: AdminConnection | undefined

  const stopSync = () => {
    if (gone) return
    stopped = true
    gone = true
    pgCtlStopSync(install.binDir, dataDir, os.tmpdir())
    rmSync(tempDir, { recursive: true, force: true })
  }
  let stopping: Promise<void> | undefined
  const stop = () => {
    stopping ??= (async () => {
      if (stopped) return
      stopped = true
      await admin?.close()
      // -m immediate: the cluster is disposable, so skip the shutdown checkpoint.
      await serverRun(install, 'pg_ctl', ['stop', '-D', dataDir, '-m', 'immediate', '-w', '-t', '30'], os.tmpdir(), 40_000)
      await rm(tempDir, { recursive: true, force: true })
      gone = true
      // Only now: if this stop is cut short, the exit hook still runs stopSync.
      unregister()
    })()
    return stopping
  }
  // Registered before initdb so a signal during start-up also removes the dir.
  const unregister = registerCleanup(`native cluster ${tempDir}`, stop, stopSync)

  try {
    await writeOwner(tempDir, { pid: process.pid, port: null, pgdata: dataDir, binDir: install.binDir })
    if (!/^[A-Za-z0-9_./-]+$/.test(tempDir) || tempDir.length > MAX_SOCKET_DIR) {
      throw startFailed(`temp dir ${tempDir} (chosen by ${where.source}) is unusable as a unix socket directory (too long, or characters that need quoting)`, '', 'set PGVERIFY_CLUSTER_DIR to a short plain path such as /tmp', { tempDir })
    }
    if (ids) await chown(tempDir, ids.uid, ids.gid)

    const tInit = Date.now()
    let credentials: { user: string; password: string } | undefined
    let args = INITDB_TRUST
    const cache = options.passwordAuth ? undefined : initdbCache(install)
    const copied = cache ? await copyFromCache(cache, dataDir) : false
    if (options.passwordAuth) {
      credentials = { user: 'postgres', password: randomBytes(12).toString('hex') }
      const pwfile = path.join(tempDir, 'pwfile')
      await writeFile(pwfile, `${credentials.password}\n`, { mode: 0o600 })
      if (ids) await chown(pwfile, ids.uid, ids.gid)
      args = [...INITDB, '--auth-local=trust', '--auth-host=scram-sha-256', `--pwfile=${pwfile}`]
    }
    if (!copied) {
      const init = await serverRun(install, 'initdb', [...args, '-D', dataDir], tempDir)
      if (credentials) await rm(path.join(tempDir, 'pwfile'), { force: true })
      if (init.code !== 0) {
        throw startFailed(`initdb failed (${install.binDir})`, `${init.stdout}\n${init.stderr}`, ids ? `the '${SERVER_USER}' user must be able to reach ${where.dir} (chosen by ${where.source}); set PGVERIFY_CLUSTER_DIR to a world-traversable directory if it cannot` : 'check the output above', { tempDir, binDir: install.binDir })
      }
      if (cache) await keepInCache(cache, dataDir)
    }
    const initMs = Date.now() - tInit

    let port = 0
    for (let attempt = 1; ; attempt++) {
      port = await freePort()
      await writeOwner(tempDir, { pid: process.pid, port, pgdata: dataDir, binDir: install.binDir })
      const r = await serverRun(install, 'pg_ctl', ['start', '-w', '-t', '60', '-D', dataDir, '-l', logFile, '-o', serverOptions(port, tempDir, preload, backgroundJobs)], tempDir, 90_000)
      if (r.code === 0) break
      const serverLog = await readLog(tempDir)
      // Someone else took the port between our probe and the bind: try another one.
      if (/could not bind|Address already in use/i.test(serverLog) && attempt < START_ATTEMPTS) {
        log(`native: port ${port} was taken, retrying`)
        continue
      }
      throw startFailed(`pg_ctl start failed on port ${port}`, `${r.stdout}\n${r.stderr}\n--- server.log ---\n${serverLog}`, install.hasTimescale ? 'the server log above says why; a TimescaleDB built for another PostgreSQL version fails at shared_preload_libraries' : 'the server log above says why', { tempDir, port })
    }

    const url = credentials ? `postgres://postgres:${credentials.password}@127.0.0.1:${port}/postgres` : `postgres://postgres@127.0.0.1:${port}/postgres`
    admin = new AdminConnection(url)
    const versions = await readVersions(admin, url)
    const capabilities = serverCapabilities(versions, backgroundJobs)
    const ts = capabilities.timescaledb
      ? `+ TimescaleDB ${versions.timescaledb} (${versions.timescaledbLicense} license${backgroundJobs ? ', background jobs on' : ', background jobs off'})`
      : install.hasTimescale && !preload ? 'with TimescaleDB installed but not preloaded' : 'without TimescaleDB'
    const description = `native: PostgreSQL ${versions.postgres} ${ts} on 127.0.0.1:${port}${credentials ? ', password authentication' : ''} (${install.binDir})`
    log(`${description}; ${copied ? `cluster copied from initdb's kept output in ${initMs} ms` : `initdb ${initMs} ms`}, ready in ${Date.now() - t0} ms; cluster in ${tempDir} (${where.source})`)

    return {
      name: 'native',
      url,
      versions,
      capabilities,
      tempDir,
      dataDir,
      port,
      credentials,
      describe: () => description,
      storage: `the native engine's cluster is in ${tempDir} (${where.source}); set PGVERIFY_CLUSTER_DIR to a directory on a file system with more room`,
      createDatabase: databaseFactory(admin, url, () => stopped),
      stop,
      stopSync,
    }
  } catch (e) {
    await stop().catch(() => {})
    throw e
  }
}

export const nativeEngine: EngineProvider = {
  name: 'native',
  async probe(settings: EngineSettings = {}) {
    try {
      const i = await locatePostgres(settings.pgBin)
      if (isRoot() && !serverUserIds()) {
        return { ok: false, reason: `native: PostgreSQL ${i.version} at ${i.binDir}, but running as root without a '${SERVER_USER}' OS user to run it as` }
      }
      return { ok: true, reason: `native: PostgreSQL ${i.version} at ${i.binDir}, ${i.hasTimescale ? 'with' : 'without'} TimescaleDB installed there` }
    } catch (e) {
      const err = e as HarnessError
      return { ok: false, reason: `native: ${err.message}${err.hint ? ` (${err.hint})` : ''}` }
    }
  },
  start: startNative,
}
