/**
 * The container engine: a PostgreSQL + TimescaleDB image under testcontainers, i.e. the
 * production-like server with TSL features and real server processes. Chosen where a Docker
 * API answers: Docker on CI runners and laptops, Podman's Docker-compatible API elsewhere.
 *
 * What it does not rely on, because Podman lacks it: container health checks (they never run
 * without systemd), Ryuk (the harness labels its containers and reaps a dead run's itself), and
 * a single "ready" log line (the official image logs one for its init server first). Readiness
 * is a real connection answering `SELECT 1`.
 *
 * The superuser password is random per run and only ever lives inside `url`; nothing printed
 * (describe(), log lines, error messages) contains it.
 */
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import os from 'node:os'
import pg from 'pg'
import { readEnvironment } from '../config/environment.ts'
import { HarnessError } from '../errors.ts'
import { addSecret } from '../util/redact.ts'
import { AdminConnection, databaseFactory, readVersions, serverCapabilities } from './admin.ts'
import { registerCleanup } from './cleanup.ts'
import { containerDumpTools } from './container-tools.ts'
import { dockerRuntime } from './docker.ts'
import { alive } from './reaper.ts'
import type { EngineProvider, EngineSettings, EngineStartOptions, StartedEngine } from './types.ts'

/**
 * The one pinned default image: PostgreSQL 15 (production's major) with TimescaleDB 2.28.3
 * (the version the native engine is built with, so both server engines prove the same
 * release), TSL features included (not -oss). PGVERIFY_CONTAINER_IMAGE overrides it.
 */
export const TIMESCALEDB_IMAGE = 'timescale/timescaledb:2.28.3-pg15'
/** Where the container's data directory lives (PGDATA below it): a tmpfs, whatever the image's default. */
export const DATA_TMPFS = '/var/lib/pgverify'
export const CONTAINER_IMAGE_ENV = 'PGVERIFY_CONTAINER_IMAGE'

/** The image to run and where that choice came from. */
export function containerImage(env?: NodeJS.ProcessEnv): { image: string; source: string } {
  const fromEnv = readEnvironment(env).containerImage
  if (fromEnv) return { image: fromEnv, source: CONTAINER_IMAGE_ENV }
  return { image: TIMESCALEDB_IMAGE, source: 'pinned default' }
}

const PG_PORT = 5432
const READY_TIMEOUT_MS = 120_000
const LABEL_OWNER = 'pgverify.owner-pid'
const LABEL_HOST = 'pgverify.owner-host'
const stderrLog = (line: string) => process.stderr.write(`${line}\n`)

type Started = Awaited<ReturnType<import('testcontainers').GenericContainer['start']>>
type BoundPorts = import('testcontainers').BoundPorts
type WaitStrategy = import('testcontainers').WaitStrategy
type RuntimeContainer = Parameters<WaitStrategy['waitUntilReady']>[0]

/**
 * testcontainers' wait strategy, written here: ready means a real connection on the mapped port
 * answers `SELECT 1`. A container that exits meanwhile fails at once instead of at the timeout.
 */
class SqlReady implements WaitStrategy {
  #timeoutMs = READY_TIMEOUT_MS
  #timeoutSet = false
  constructor(private readonly credentials: { user: string; password: string; database: string }) {}

  withStartupTimeout(ms: number): this {
    this.#timeoutMs = ms
    this.#timeoutSet = true
    return this
  }
  isStartupTimeoutSet(): boolean {
    return this.#timeoutSet
  }
  getStartupTimeout(): number {
    return this.#timeoutMs
  }

  async waitUntilReady(container: RuntimeContainer, boundPorts: BoundPorts): Promise<void> {
    const { getContainerRuntimeClient } = await import('testcontainers')
    const host = (await getContainerRuntimeClient()).info.containerRuntime.host
    const port = boundPorts.getBinding(PG_PORT)
    const deadline = Date.now() + this.#timeoutMs
    let last = ''
    for (;;) {
      const client = new pg.Client({ host, port, ...this.credentials, connectionTimeoutMillis: 2_000 })
      client.on('error', () => {})
      try {
        await client.connect()
        await client.query('SELECT 1')
        return
      } catch (e) {
        last = (e as Error).message
      } finally {
        await client.end().catch(() => {})
      }
      const state = (await container.inspect()).State
      if (!state.Running) throw new Error(`the container exited (status ${state.ExitCode}) before accepting connections; last connection error: ${last}`)
      if (Date.now() > deadline) throw new Error(`no connection answered SELECT 1 within ${this.#timeoutMs / 1000} s; last error: ${last}`)
      await new Promise((r) => setTimeout(r, 200))
    }
  }
}

/**
 * Removes containers this harness started on this host whose owning process is gone (SIGKILL,
 * a cancelled CI job). Ryuk does this on Docker; Podman has no Ryuk, so the harness does it.
 */
async function reapStaleContainers(log: (line: string) => void): Promise<void> {
  const { getContainerRuntimeClient } = await import('testcontainers')
  const client = await getContainerRuntimeClient()
  const host = os.hostname()
  for (const info of await client.container.list()) {
    const pid = Number(info.Labels?.[LABEL_OWNER])
    if (!pid || info.Labels?.[LABEL_HOST] !== host || alive(pid)) continue
    try {
      // A dead run's container is still running (nobody stopped it): removal needs force.
      await client.container.getById(info.Id).remove({ force: true, v: true })
      log(`container: reaped ${info.Id.slice(0, 12)} (${info.Image}), left by process ${pid} which is gone`)
    } catch (e) {
      log(`container: could not reap ${info.Id.slice(0, 12)}: ${(e as Error).message}`)
    }
  }
}

async function startContainer(options: EngineStartOptions = {}): Promise<StartedEngine> {
  const log = options.log ?? stderrLog
  const t0 = Date.now()
  const { image, source } = options.containerImage ?? containerImage()
  const backgroundJobs = options.backgroundJobs === true
  const runtime = await dockerRuntime()
  if (!runtime.ok) throw new HarnessError('ENGINE_UNAVAILABLE', `container: ${runtime.reason}`, { hint: 'Start Docker (or Podman\'s API service and point DOCKER_HOST at its socket), or choose --engine native|embedded.' })
  if (runtime.podman && process.env.TESTCONTAINERS_RYUK_DISABLED === undefined) {
    // Ryuk needs the runtime's socket mounted into a container; the harness reaps instead.
    // testcontainers takes its settings from process.env only: this is setting one for it.
    process.env.TESTCONTAINERS_RYUK_DISABLED = 'true'
    log('container: Podman API: Ryuk disabled, the harness reaps containers of dead runs itself')
  }
  const password = randomBytes(16).toString('hex')
  // Reports and the CLI mask registered secrets wherever they print text.
  addSecret(password)
  const redact = (s: string) => s.replaceAll(password, '***')

  // Heavy (dockerode, ssh2, archiver…): loaded only when this engine is chosen.
  const { GenericContainer } = await import('testcontainers')
  await reapStaleContainers(log).catch((e: Error) => log(`container: could not look for stale containers: ${e.message}`))
  let container: Started
  try {
    container = await new GenericContainer(image)
      .withExposedPorts(PG_PORT)
      .withEnvironment({
        POSTGRES_USER: 'postgres',
        POSTGRES_PASSWORD: password,
        POSTGRES_DB: 'postgres',
        // timescaledb-tune in the official image's init scripts has crashed on cgroup-v2 hosts without a memory limit.
        NO_TS_TUNE: 'true',
        PGDATA: `${DATA_TMPFS}/data`,
      })
      // The cluster is thrown away with the container: in memory, it skips the file system's
      // cost of the many files each CREATE DATABASE makes (see cluster-dir.ts for native).
      .withTmpFs({ [DATA_TMPFS]: 'rw,mode=1777' })
      // No scheduler can start without a worker slot: jobs wait for an explicit run_job.
      .withCommand(['postgres', '-c', `timescaledb.max_background_workers=${backgroundJobs ? 16 : 0}`, '-c', 'timescaledb.telemetry_level=off', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'])
      .withLabels({ [LABEL_OWNER]: String(process.pid), [LABEL_HOST]: os.hostname() })
      .withWaitStrategy(new SqlReady({ user: 'postgres', password, database: 'postgres' }))
      .withStartupTimeout(READY_TIMEOUT_MS)
      .start()
  } catch (e) {
    // No `cause`: the original error may carry the container's environment.
    throw new HarnessError('ENGINE_START_FAILED', `container: could not start ${image} (${source}): ${redact(e instanceof Error ? e.message : String(e))}`, {
      hint: source === CONTAINER_IMAGE_ENV ? `check that ${image} exists for this runtime (${CONTAINER_IMAGE_ENV} names it)` : `check that the runtime can pull ${image} (docker pull ${image}) and has room to run it, or set ${CONTAINER_IMAGE_ENV} to an image it has`,
      details: { image, source },
    })
  }

  const id = container.getId()
  const where = `${container.getHost()}:${container.getMappedPort(PG_PORT)}`
  const u = new URL('postgres://postgres@localhost/postgres')
  u.hostname = container.getHost()
  u.port = String(container.getMappedPort(PG_PORT))
  u.password = password
  const url = u.toString()
  let stopped = false
  // Separate from `stopped`: the exit hook must still act if an async stop() was cut short.
  let gone = false
  let stopping: Promise<void> | undefined
  const admin = new AdminConnection(url)

  const stop = () => {
    stopping ??= (async () => {
      stopped = true
      await admin.close()
      await container.stop({ remove: true, removeVolumes: true, timeout: 2_000 })
      gone = true
      unregister()
    })()
    return stopping
  }
  // At exit there is no event loop for dockerode; the CLI is the best effort left (the reaper covers the rest).
  const stopSync = () => {
    if (gone) return
    stopped = gone = true
    for (const cli of runtime.podman ? ['podman', 'docker'] : ['docker']) {
      if (spawnSync(cli, ['rm', '-f', '-v', id], { stdio: 'ignore', timeout: 15_000 }).status === 0) return
    }
  }
  const unregister = registerCleanup(`container ${id.slice(0, 12)} (${image})`, stop, stopSync)

  try {
    const versions = await readVersions(admin, url)
    const capabilities = serverCapabilities(versions, backgroundJobs)
    if (!capabilities.timescaledb) log(`container: ${image} has no usable TimescaleDB (${versions.timescaledb === 'none' ? 'not installed' : 'installed but cannot be created'})`)
    const jobs = capabilities.timescaledb ? `, background jobs ${backgroundJobs ? 'on' : 'off'}` : ''
    const ts = capabilities.timescaledb ? `+ TimescaleDB ${versions.timescaledb} (${versions.timescaledbLicense} license${jobs})` : 'without TimescaleDB'
    const description = `container: PostgreSQL ${versions.postgres} ${ts} in ${image} at ${where}${runtime.podman ? ' (Podman)' : ''}`
    log(`${description}; ready in ${Date.now() - t0} ms; data directory on a tmpfs (PGDATA=${DATA_TMPFS}/data)`)
    let tools: ReturnType<typeof containerDumpTools> | undefined
    return {
      name: 'container',
      url,
      versions,
      capabilities,
      describe: () => description,
      createDatabase: databaseFactory(admin, url, () => stopped),
      dumpTools: () => (tools ??= containerDumpTools(container, { url, where: `inside container ${id.slice(0, 12)} (${image})` })),
      stop,
    }
  } catch (e) {
    await stop().catch(() => {})
    if (e instanceof HarnessError) throw e
    throw new HarnessError('ENGINE_START_FAILED', `container: ${image} started but ${redact((e as Error).message)}`, {
      hint: 'the container log (docker logs / podman logs) says why; an image without TimescaleDB preloaded or a crashing entrypoint ends like this',
      details: { image, source },
    })
  }
}

export const containerEngine: EngineProvider = {
  name: 'container',
  async probe(settings: EngineSettings = {}) {
    const docker = await dockerRuntime()
    const { image, source } = settings.containerImage ?? containerImage()
    return docker.ok ? { ok: true, reason: `container: ${docker.reason}; image ${image} (${source})` } : { ok: false, reason: `container: ${docker.reason}` }
  },
  start: startContainer,
}
