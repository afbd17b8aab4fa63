/**
 * The container engine where a Docker API answers (Docker, or Podman's Docker-compatible API),
 * and the Docker probe everywhere: dockerRuntime() is exercised against real HTTP servers on
 * unix sockets.
 *
 * Against the runtime, every claim is checked through the runtime itself or from inside the
 * container, not through the engine's own word: versions and license against the image's
 * control file and libraries, the dump tools by where their connection comes from, stop() by
 * the container list, and the reaper with a container labelled as left by a dead process.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { CONTAINER_IMAGE_ENV, containerEngine, containerImage, DATA_TMPFS, TIMESCALEDB_IMAGE } from '../harness/engines/container.ts'
import { dockerRuntime } from '../harness/engines/docker.ts'
import { alive } from '../harness/engines/reaper.ts'
import type { StartedEngine } from '../harness/engines/types.ts'
import { HarnessError } from '../harness/errors.ts'
import { engineCases, skipWith } from './support/engines.ts'

// Probed (and a reason printed) by support/engines.ts, which also honours SUITE_ENGINES.
const [containerCase] = await engineCases(['container'])
const docker = containerCase!.available ? await dockerRuntime() : { ok: false, podman: false, reason: containerCase!.reason }

const LABEL_OWNER = 'pgverify.owner-pid'
const LABEL_HOST = 'pgverify.owner-host'

async function query<R extends pg.QueryResultRow>(url: string, sql: string): Promise<R[]> {
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  try {
    return (await c.query<R>(sql)).rows
  } finally {
    await c.end()
  }
}

/** The runtime's own view, through testcontainers' client (loaded only when a runtime answers). */
async function runtime() {
  const { getContainerRuntimeClient } = await import('testcontainers')
  const client = await getContainerRuntimeClient()
  return {
    /** Running containers of this host labelled as started by process `pid`. */
    async ownedBy(pid: number): Promise<string[]> {
      return (await client.container.list()).filter((c) => c.Labels?.[LABEL_OWNER] === String(pid) && c.Labels?.[LABEL_HOST] === os.hostname()).map((c) => c.Id)
    },
    async exists(id: string): Promise<boolean> {
      return (await client.container.list()).some((c) => c.Id === id)
    },
    async exec(id: string, command: string[]): Promise<{ exitCode: number; stdout: string }> {
      return client.container.exec(client.container.getById(id), command)
    },
    async remove(id: string): Promise<void> {
      await client.container.getById(id).remove({ force: true, v: true })
    },
  }
}

/** A parked container of the engine's image with the harness's owner labels: what a killed run leaves behind. */
async function parked(labels: Record<string, string>): Promise<string> {
  const { GenericContainer, Wait } = await import('testcontainers')
  const c = await new GenericContainer(containerImage().image)
    .withEntrypoint(['sh', '-c'])
    .withCommand(['echo parked; exec sleep 600'])
    .withExposedPorts(5432)
    .withLabels(labels)
    .withWaitStrategy(Wait.forLogMessage('parked'))
    .start()
  return c.getId()
}

/** The pid of a process that has exited (and been collected). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', ''])
  expect(alive(r.pid)).toBe(false)
  return r.pid
}

describe.skipIf(!docker.ok)('container engine', () => {
  let engine: StartedEngine
  let id: string
  const lines: string[] = []
  beforeAll(async () => {
    const before = await (await runtime()).ownedBy(process.pid)
    engine = await containerEngine.start({ log: (l) => lines.push(l) })
    const after = (await (await runtime()).ownedBy(process.pid)).filter((x) => !before.includes(x))
    expect(after, 'exactly one new container labelled with this process').toHaveLength(1)
    id = after[0]!
  }, 300_000)
  afterAll(async () => {
    await engine?.stop()
  }, 60_000)

  it('runs the image it was given (PGVERIFY_CONTAINER_IMAGE or the pin) and says so', () => {
    const { image, source } = containerImage()
    expect(engine.describe()).toContain(` in ${image} at `)
    if (docker.podman) expect(engine.describe()).toMatch(/\(Podman\)$/)
    expect(lines.join('\n')).toMatch(/container: PostgreSQL 15\.\d+ \+ TimescaleDB .* ready in \d+ ms/)
    console.log(`[engines-container] ${engine.describe()} (image from ${source})`)
  })

  it('keeps its data directory on a tmpfs mount, whatever the image\'s PGDATA', async () => {
    const [row] = await query<{ dir: string }>(engine.url, 'SELECT current_setting(\'data_directory\') AS dir')
    expect(row!.dir).toBe(`${DATA_TMPFS}/data`)
    const mounts = await (await runtime()).exec(id, ['cat', '/proc/mounts'])
    expect(mounts.stdout.split('\n').map((l) => l.split(' ')).find((f) => f[1] === DATA_TMPFS)?.[2]).toBe('tmpfs')
    expect(lines.join('\n')).toContain(`data directory on a tmpfs (PGDATA=${DATA_TMPFS}/data)`)
  })

  it('reports PostgreSQL 15, and TimescaleDB version and license exactly as the image has them', async () => {
    expect(engine.versions.postgres).toMatch(/^15\.\d+$/)
    expect(engine.versions.timescaledb).not.toBe('none')
    const rt = await runtime()
    const [dirs] = await query<{ share: string; lib: string }>(
      engine.url,
      `SELECT (SELECT setting FROM pg_config WHERE name = 'SHAREDIR') AS share, (SELECT setting FROM pg_config WHERE name = 'PKGLIBDIR') AS lib`,
    )
    // Read inside the container: the control file's default version, and whether the TSL library ships.
    const control = await rt.exec(id, ['cat', `${dirs!.share}/extension/timescaledb.control`])
    expect(control.exitCode).toBe(0)
    expect(/^default_version\s*=\s*'([^']+)'/m.exec(control.stdout)?.[1]).toBe(engine.versions.timescaledb)
    const libs = await rt.exec(id, ['ls', dirs!.lib])
    const tsl = libs.stdout.split('\n').includes(`timescaledb-tsl-${engine.versions.timescaledb}.so`)
    expect(engine.versions.timescaledbLicense).toBe(tsl ? 'timescale' : 'apache')
    // And what a database says once the extension exists.
    const db = await engine.createDatabase('as_the_image_has_it')
    try {
      await query(db.url, 'CREATE EXTENSION timescaledb')
      expect(await query(db.url, `SELECT extversion AS v, current_setting('timescaledb.license') AS lic FROM pg_extension WHERE extname = 'timescaledb'`)).toEqual([
        { v: engine.versions.timescaledb, lic: engine.versions.timescaledbLicense },
      ])
      expect(await query(db.url, `SELECT split_part(current_setting('server_version'), ' ', 1) AS v`)).toEqual([{ v: engine.versions.postgres }])
    } finally {
      await db.drop()
    }
  })

  it('has the capabilities of a real server, TSL features as licensed, background jobs off by default', async () => {
    expect(engine.capabilities).toEqual({
      concurrentConnections: true,
      timescaledb: true,
      timescaledbCompression: engine.versions.timescaledbLicense === 'timescale',
      backgroundWorkers: false,
      nonTransactionalIndexBuilds: true,
      dumpTool: 'pg_dump',
      physicalSnapshot: false,
      disposable: true,
      parallelDatabases: true,
    })
    expect(engine.describe()).toMatch(/background jobs off/)
    expect(await query(engine.url, `SELECT current_setting('timescaledb.max_background_workers') AS n`)).toEqual([{ n: '0' }])
    // Real concurrent sessions: an advisory lock held by one is refused to the other.
    const a = new pg.Client({ connectionString: engine.url })
    const b = new pg.Client({ connectionString: engine.url })
    await Promise.all([a.connect(), b.connect()])
    try {
      await a.query('SELECT pg_advisory_lock(7)')
      expect((await b.query<{ got: boolean }>('SELECT pg_try_advisory_lock(7) AS got')).rows[0]!.got).toBe(false)
    } finally {
      await Promise.all([a.end(), b.end()])
    }
  })

  it('never prints its password', () => {
    const password = decodeURIComponent(new URL(engine.url).password)
    expect(password.length).toBeGreaterThanOrEqual(16)
    expect(engine.describe()).not.toContain(password)
    expect(lines.join('\n')).not.toContain(password)
  })

  it('creates an empty database (template0: no extension) and drops it', async () => {
    const db = await engine.createDatabase('container check')
    const c = new pg.Client({ connectionString: db.url })
    await c.connect()
    const { rows } = await c.query<{ n: string }>(`select count(*) as n from pg_extension where extname = 'timescaledb'`)
    await c.end()
    expect(rows[0]!.n).toBe('0')
    await db.drop()
    await db.drop()
    expect(await query(engine.url, `SELECT datname FROM pg_database WHERE datname = '${db.name}'`)).toEqual([])
  })

  it('runs pg_dump, pg_restore and psql inside its container, at the server\'s version, with files crossing both ways', async () => {
    const tools = await engine.dumpTools!()
    expect(tools.version).toBe(engine.versions.postgres)
    expect(tools.where).toBe(`inside container ${id.slice(0, 12)} (${containerImage().image})`)
    const db = await engine.createDatabase('tools')
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pgverify-ctools-'))
    try {
      await query(db.url, `CREATE TABLE t (id int PRIMARY KEY, note text); INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 100) g`)
      // psql inside the container reaches the server over the container's own loopback.
      const who = await tools.run('psql', ['-X', '-tA', '-c', `SELECT inet_client_addr()::text || ' ' || split_part(version(), ' ', 2)`], { connect: db.url })
      expect(who.code, who.stderr).toBe(0)
      expect(who.stdout.trim()).toBe(`127.0.0.1/32 ${engine.versions.postgres}`)
      const seenFromHost = await query<{ a: string }>(db.url, `SELECT inet_client_addr()::text AS a`)
      expect(seenFromHost[0]!.a).not.toBe('127.0.0.1/32')
      const file = path.join(dir, 'db.dump')
      const dump = await tools.run('pg_dump', ['--format=custom', { out: file, prefix: '--file=' }], { connect: db.url })
      expect(dump.code, dump.stderr).toBe(0)
      expect(readFileSync(file).subarray(0, 5).toString()).toBe('PGDMP')
      const list = await tools.run('pg_restore', ['--list', { in: file }])
      expect(list.code, list.stderr).toBe(0)
      expect(list.stdout).toMatch(/TABLE DATA public t /)
      expect(list.stdout).toMatch(new RegExp(`Dumped by pg_dump version: ${engine.versions.postgres.replace('.', '\\.')}`))
    } finally {
      rmSync(dir, { recursive: true, force: true })
      await db.drop()
    }
  })

  it('stop() removes the container (the runtime no longer has it); a second stop is a no-op', async () => {
    const rt = await runtime()
    expect(await rt.exists(id)).toBe(true)
    const url = engine.url
    await engine.stop()
    await engine.stop()
    expect(await rt.exists(id)).toBe(false)
    expect(await rt.ownedBy(process.pid)).not.toContain(id)
    const probe = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 })
    probe.on('error', () => {})
    await expect(probe.connect()).rejects.toThrow()
    await probe.end().catch(() => {})
  }, 60_000)
})

describe.skipIf(!docker.ok)('container engine: what a dead run left, the image choice', () => {
  it('a container left by a dead process is reaped by the next start; live owners and other hosts are left alone', async () => {
    const rt = await runtime()
    const keep = [await parked({ [LABEL_OWNER]: String(process.pid), [LABEL_HOST]: os.hostname() }), await parked({ [LABEL_OWNER]: String(deadPid()), [LABEL_HOST]: `not-${os.hostname()}` })]
    const deads: string[] = []
    try {
      // Other suites start container engines in parallel, and any start reaps: if one of them
      // got to our dead run's container first, leave another and try again.
      let proved = false
      for (let attempt = 1; attempt <= 3 && !proved; attempt++) {
        const pid = deadPid()
        const dead = await parked({ [LABEL_OWNER]: String(pid), [LABEL_HOST]: os.hostname() })
        deads.push(dead)
        const lines: string[] = []
        const engine = await containerEngine.start({ log: (l) => lines.push(l) })
        try {
          expect(await rt.exists(dead), lines.join('\n')).toBe(false)
          proved = lines.some((l) => l === `container: reaped ${dead.slice(0, 12)} (${containerImage().image}), left by process ${pid} which is gone`)
          if (!proved) console.warn(`[engines-container] attempt ${attempt}: ${dead.slice(0, 12)} was reaped by another run's start before ours; trying again`)
        } finally {
          await engine.stop()
        }
      }
      expect(proved, 'the next start reaped the dead run\'s container and said so').toBe(true)
      for (const k of keep) expect(await rt.exists(k), `${k.slice(0, 12)} must be left alone`).toBe(true)
    } finally {
      for (const k of keep) await rt.remove(k)
      // Reaped already when the test passed; a failed run must not leave them behind either.
      for (const d of deads) await rt.remove(d).catch(() => {})
    }
  }, 300_000)

  it(`${CONTAINER_IMAGE_ENV} overrides the pinned image; blank means the pin`, () => {
    expect(containerImage({ [CONTAINER_IMAGE_ENV]: 'registry.example/ts:9.9.9-pg15' })).toEqual({ image: 'registry.example/ts:9.9.9-pg15', source: CONTAINER_IMAGE_ENV })
    expect(containerImage({ [CONTAINER_IMAGE_ENV]: '  ' })).toEqual({ image: TIMESCALEDB_IMAGE, source: 'pinned default' })
    expect(containerImage({})).toEqual({ image: TIMESCALEDB_IMAGE, source: 'pinned default' })
  })

  it('with background jobs asked for, TimescaleDB\'s workers run', async () => {
    const engine = await containerEngine.start({ log: () => {}, backgroundJobs: true })
    try {
      expect(engine.capabilities).toMatchObject({ timescaledb: true, concurrentConnections: true, backgroundWorkers: true, dumpTool: 'pg_dump' })
      expect(engine.describe()).toMatch(/background jobs on/)
      expect(Number((await query<{ n: string }>(engine.url, `SELECT current_setting('timescaledb.max_background_workers') AS n`))[0]!.n)).toBeGreaterThan(0)
    } finally {
      await engine.stop()
    }
  }, 300_000)

  it('an image that does not exist: ENGINE_START_FAILED naming the image and where it came from; nothing left running', async () => {
    const saved = process.env[CONTAINER_IMAGE_ENV]
    const image = `localhost/pgverify-test/no-such-image:${process.pid}`
    process.env[CONTAINER_IMAGE_ENV] = image
    try {
      const before = await (await runtime()).ownedBy(process.pid)
      const e = await containerEngine.start({ log: () => {} }).then(
        (started) => started.stop().then(() => undefined),
        (x: unknown) => x,
      )
      expect(e).toBeInstanceOf(HarnessError)
      expect((e as HarnessError).code).toBe('ENGINE_START_FAILED')
      expect((e as HarnessError).message).toContain(`container: could not start ${image} (${CONTAINER_IMAGE_ENV})`)
      expect((e as HarnessError).hint).toContain(`check that ${image} exists for this runtime (${CONTAINER_IMAGE_ENV} names it)`)
      expect(await (await runtime()).ownedBy(process.pid)).toEqual(before)
    } finally {
      if (saved === undefined) delete process.env[CONTAINER_IMAGE_ENV]
      else process.env[CONTAINER_IMAGE_ENV] = saved
    }
  }, 300_000)
})

describe('container image pin', () => {
  it('is a concrete PostgreSQL 15 tag with TSL features (not latest, not -oss)', () => {
    expect(TIMESCALEDB_IMAGE).toMatch(/^timescale\/timescaledb:\d+\.\d+\.\d+-pg15$/)
  })
})

// ---- dockerRuntime(): real servers on unix sockets, selected through DOCKER_HOST ---------------

describe('dockerRuntime', () => {
  const saved = process.env.DOCKER_HOST
  let dir: string
  let server: http.Server | undefined
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'pgverify-docker-test-'))
  })
  afterEach(async () => {
    if (saved === undefined) delete process.env.DOCKER_HOST
    else process.env.DOCKER_HOST = saved
    server?.closeAllConnections()
    await new Promise((r) => (server ? server.close(r) : r(undefined)))
    server = undefined
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  async function serve(name: string, handler: http.RequestListener): Promise<string> {
    const socket = path.join(dir, name)
    server = http.createServer(handler)
    await new Promise<void>((r) => server!.listen(socket, r))
    return socket
  }

  const defaultSockets = ['/var/run/docker.sock', path.join(os.homedir(), '.docker/run/docker.sock'), path.join(process.env.XDG_RUNTIME_DIR ?? `/run/user/${process.getuid?.() ?? 0}`, 'docker.sock')]
  it('says why when no Docker socket exists here', async (ctx) => {
    const present = saved ? `DOCKER_HOST is set (${saved})` : defaultSockets.filter((f) => existsSync(f)).join(', ')
    if (present) skipWith(ctx, `the "no Docker socket" case needs a machine without one: ${saved ? present : `${present} exist${present.includes(',') ? '' : 's'} here`}`)
    const r = await dockerRuntime()
    expect(r.ok).toBe(false)
    expect(r.reason).toMatch(/^no Docker runtime: .*\/var\/run\/docker\.sock.* exist/)
  })

  it('is ok when the daemon answers 200 OK', async () => {
    const socket = await serve('ok.sock', (req, res) => {
      res.end(req.url === '/_ping' ? 'OK' : 'nope')
    })
    process.env.DOCKER_HOST = `unix://${socket}`
    expect(await dockerRuntime()).toEqual({ ok: true, podman: false, reason: `Docker runtime answered at unix://${socket}` })
  })

  it('recognises Podman\'s Docker-compatible API by its Server header', async () => {
    const socket = await serve('podman.sock', (req, res) => {
      res.setHeader('Server', 'Libpod/4.3.1 (linux)')
      res.end(req.url === '/_ping' ? 'OK' : 'nope')
    })
    process.env.DOCKER_HOST = `unix://${socket}`
    expect(await dockerRuntime()).toEqual({ ok: true, podman: true, reason: `Podman's Docker-compatible API answered at unix://${socket}` })
  })

  it('is not ok when something else answers', async () => {
    const socket = await serve('bad.sock', (_req, res) => {
      res.statusCode = 500
      res.end('boom')
    })
    process.env.DOCKER_HOST = `unix://${socket}`
    const r = await dockerRuntime()
    expect(r.ok).toBe(false)
    expect(r.reason).toContain('HTTP 500')
  })

  it('gives up on a socket that never answers after about 1.5 s', async () => {
    const socket = await serve('hang.sock', () => {})
    process.env.DOCKER_HOST = `unix://${socket}`
    const t0 = Date.now()
    const r = await dockerRuntime()
    expect(r.ok).toBe(false)
    expect(r.reason).toContain('no answer within')
    expect(Date.now() - t0).toBeLessThan(3_000)
  })

  it('names a missing socket and rejects unknown schemes', async () => {
    process.env.DOCKER_HOST = `unix://${path.join(dir, 'missing.sock')}`
    expect(await dockerRuntime()).toEqual({ ok: false, reason: `no Docker runtime: ${path.join(dir, 'missing.sock')} does not exist` })
    process.env.DOCKER_HOST = 'ssh://somewhere'
    expect((await dockerRuntime()).reason).toMatch(/not a unix:\/\/, tcp:\/\/ or npipe:\/\/ address/)
  })

  it('is not ok when nothing listens on a tcp:// address', async () => {
    process.env.DOCKER_HOST = 'tcp://127.0.0.1:1'
    const r = await dockerRuntime()
    expect(r.ok).toBe(false)
    expect(r.reason).toContain('ECONNREFUSED')
  })
})
