/**
 * The container engine: Timescale's own image under testcontainers, i.e. the production-like
 * PostgreSQL 15 + TimescaleDB with TSL features and background workers. Chosen where a Docker
 * runtime answers (CI runners, laptops); this machine has none, so it is written against the
 * installed @testcontainers/postgresql 11.9 API and only type-checked here.
 *
 * The superuser password is random per run and only ever lives inside `url`; nothing printed
 * (describe(), log lines, error messages) contains it.
 */
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { HarnessError } from '../errors.ts'
import { addSecret } from '../util/redact.ts'
import { registerCleanup } from './cleanup.ts'
import { dockerRuntime } from './docker.ts'
import { AdminConnection, databaseFactory, readVersions, serverCapabilities } from './admin.ts'
import type { EngineProvider, EngineStartOptions, StartedEngine } from './types.ts'

/** The one place the image is pinned: PostgreSQL 15, TimescaleDB 2.17 with TSL features (not -oss). */
export const TIMESCALEDB_IMAGE = 'timescale/timescaledb:2.17.2-pg15'

const stderrLog = (line: string) => process.stderr.write(`${line}\n`)

async function startContainer(options: EngineStartOptions = {}): Promise<StartedEngine> {
  const log = options.log ?? stderrLog
  const t0 = Date.now()
  const password = randomBytes(16).toString('hex')
  // Reports and the CLI mask registered secrets wherever they print text.
  addSecret(password)
  const redact = (s: string) => s.replaceAll(password, '***')

  // Heavy (dockerode, ssh2, archiver…): loaded only when this engine is chosen.
  const { PostgreSqlContainer } = await import('@testcontainers/postgresql')
  let container: Awaited<ReturnType<InstanceType<typeof PostgreSqlContainer>['start']>>
  try {
    container = await new PostgreSqlContainer(TIMESCALEDB_IMAGE)
      .withDatabase('postgres')
      .withUsername('postgres')
      .withPassword(password)
      // timescaledb-tune in the image's init scripts has crashed on cgroup-v2 hosts without a memory limit.
      .withEnvironment({ NO_TS_TUNE: 'true' })
      .start()
  } catch (e) {
    // No `cause`: the original error may carry the container's environment.
    throw new HarnessError('ENGINE_START_FAILED', `container: could not start ${TIMESCALEDB_IMAGE}: ${redact(e instanceof Error ? e.message : String(e))}`, {
      hint: 'check that Docker can pull the image (docker pull ' + TIMESCALEDB_IMAGE + ') and has room to run it',
      details: { image: TIMESCALEDB_IMAGE },
    })
  }

  const id = container.getId()
  const where = `${container.getHost()}:${container.getPort()}`
  const url = container.getConnectionUri()
  let stopped = false
  // Separate from `stopped`: the exit hook must still act if an async stop() was cut short.
  let gone = false
  let stopping: Promise<void> | undefined
  const admin = new AdminConnection(url)

  const stop = () => {
    stopping ??= (async () => {
      stopped = true
      await admin.close()
      await container.stop({ remove: true, removeVolumes: true })
      gone = true
      unregister()
    })()
    return stopping
  }
  // At exit there is no event loop for dockerode; the CLI is the best effort left (Ryuk covers the rest).
  const stopSync = () => {
    if (gone) return
    stopped = gone = true
    spawnSync('docker', ['rm', '-f', '-v', id], { stdio: 'ignore', timeout: 15_000 })
  }
  const unregister = registerCleanup(`container ${id.slice(0, 12)} (${TIMESCALEDB_IMAGE})`, stop, stopSync)

  try {
    const versions = await readVersions(admin, url)
    const capabilities = serverCapabilities(versions)
    const description = `container: PostgreSQL ${versions.postgres} + TimescaleDB ${versions.timescaledb} (${versions.timescaledbLicense} license) in ${TIMESCALEDB_IMAGE} at ${where}`
    log(`${description}; ready in ${Date.now() - t0} ms`)
    return {
      name: 'container',
      url,
      versions,
      capabilities,
      describe: () => description,
      createDatabase: databaseFactory(admin, url, () => stopped),
      stop,
    }
  } catch (e) {
    await stop().catch(() => {})
    if (e instanceof Error) e.message = redact(e.message)
    throw e
  }
}

export const containerEngine: EngineProvider = {
  name: 'container',
  async probe() {
    const docker = await dockerRuntime()
    return docker.ok ? { ok: true, reason: `container: ${docker.reason}; image ${TIMESCALEDB_IMAGE}` } : { ok: false, reason: `container: ${docker.reason}` }
  },
  start: startContainer,
}
