/**
 * The container engine where a Docker runtime answers, and the Docker probe everywhere:
 * dockerRuntime() is exercised against real HTTP servers on unix sockets.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { containerEngine, TIMESCALEDB_IMAGE } from '../harness/engines/container.ts'
import { dockerRuntime } from '../harness/engines/docker.ts'
import type { StartedEngine } from '../harness/engines/types.ts'

const docker = await dockerRuntime()
if (!docker.ok) console.warn(`container engine not exercised: ${docker.reason}`)

describe.skipIf(!docker.ok)('container engine', () => {
  let engine: StartedEngine
  beforeAll(async () => {
    engine = await containerEngine.start({ log: () => {} })
  }, 300_000)
  afterAll(async () => {
    await engine?.stop()
  }, 60_000)

  it('runs PostgreSQL 15 with TimescaleDB and its TSL features', () => {
    expect(engine.versions.postgres).toMatch(/^15\./)
    expect(engine.versions.timescaledb).not.toBe('none')
    expect(engine.capabilities).toMatchObject({ timescaledb: true, concurrentConnections: true, backgroundWorkers: true, dumpTool: 'pg_dump' })
  })

  it('never prints its password', () => {
    const password = decodeURIComponent(new URL(engine.url).password)
    expect(password.length).toBeGreaterThanOrEqual(16)
    expect(engine.describe()).not.toContain(password)
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
  })

  it('stops idempotently', async () => {
    await engine.stop()
    await engine.stop()
  }, 60_000)
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
  it.skipIf(!!saved || defaultSockets.some((f) => existsSync(f)))('says why when no Docker socket exists here', async () => {
    const r = await dockerRuntime()
    expect(r.ok).toBe(false)
    expect(r.reason).toMatch(/^no Docker runtime: .*\/var\/run\/docker\.sock.* exist/)
  })

  it('is ok when the daemon answers 200 OK', async () => {
    const socket = await serve('ok.sock', (req, res) => {
      res.end(req.url === '/_ping' ? 'OK' : 'nope')
    })
    process.env.DOCKER_HOST = `unix://${socket}`
    expect(await dockerRuntime()).toEqual({ ok: true, reason: `Docker runtime answered at unix://${socket}` })
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
