/**
 * The native engine against the real PostgreSQL of this machine: a working server, real
 * concurrency, and nothing left behind — neither by stop() nor by a harness process that is
 * signalled or SIGKILLed.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { chmodSync, existsSync, readdirSync, readFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { clusterDir } from '../harness/engines/cluster-dir.ts'
import { startNative, type NativeStartedEngine } from '../harness/engines/native.ts'
import { locatePostgres } from '../harness/engines/pg-bin.ts'
import { alive, reapStaleClusters } from '../harness/engines/reaper.ts'
import { emptyDir, withOwnTmpdir } from './support/dirs.ts'
import { engineCases } from './support/engines.ts'
import { mountTmpfs, unmountTmpfs } from './support/tmpfs.ts'

// Probed (and a reason printed) by support/engines.ts, which also honours SUITE_ENGINES.
const [nativeCase] = await engineCases(['native'])
const probe = { ok: nativeCase!.available, reason: nativeCase!.reason }
const install = probe.ok ? await locatePostgres() : undefined

const ROOT = path.resolve(import.meta.dirname, '..')

/** TimescaleDB's default_version as the install's control file has it (read from disk, not from a server), or 'none'. */
function installedTimescale(binDir: string): string {
  let sharedir = path.join(binDir, '..', 'share')
  try {
    sharedir = execFileSync(path.join(binDir, 'pg_config'), ['--sharedir'], { encoding: 'utf8' }).trim()
  } catch {
    // no pg_config next to the server: the usual layout
  }
  const control = path.join(sharedir, 'extension', 'timescaledb.control')
  if (!existsSync(control)) return 'none'
  return /^default_version\s*=\s*'([^']+)'/m.exec(readFileSync(control, 'utf8'))?.[1] ?? 'unreadable control file'
}
const quiet = () => {}

async function query<R extends pg.QueryResultRow>(url: string, sql: string): Promise<R[]> {
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  try {
    return (await c.query<R>(sql)).rows
  } finally {
    await c.end()
  }
}

/**
 * Waits until kill(pid, 0) says ESRCH. An exited postmaster is reparented to PID 1 and stays a
 * zombie until PID 1 collects it (about 2 s on this machine); an init that never collects
 * (a container without --init) would leave a zombie forever, which has exited all the same.
 */
async function waitGone(pid: number, ms = 10_000): Promise<'gone' | 'zombie' | 'alive'> {
  const until = Date.now() + ms
  for (;;) {
    try {
      process.kill(pid, 0)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ESRCH') return 'gone'
    }
    if (Date.now() > until) return alive(pid) ? 'alive' : 'zombie'
    await new Promise((r) => setTimeout(r, 100))
  }
}

function postmasterPid(dataDir: string): number {
  return Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0])
}

async function expectNothingLeft(info: { url: string; tempDir: string }, pid: number) {
  // Exited at once (a zombie counts: it holds no port, files or memory)...
  const until = Date.now() + 5_000
  while (alive(pid) && Date.now() < until) await new Promise((r) => setTimeout(r, 50))
  expect(alive(pid), `postmaster ${pid} still running`).toBe(false)
  // ...and gone for good (ESRCH) once collected.
  const fate = await waitGone(pid)
  if (fate === 'zombie') console.warn(`postmaster ${pid} exited but PID 1 has not collected it after 10 s`)
  expect(fate).not.toBe('alive')
  await expect(query(info.url, 'select 1')).rejects.toThrow()
  expect(existsSync(info.tempDir)).toBe(false)
}

describe.skipIf(!probe.ok)('native engine', () => {
  let engine: NativeStartedEngine
  beforeAll(async () => {
    engine = await startNative({ log: quiet })
  }, 60_000)
  afterAll(async () => {
    await engine?.stop()
  })

  it('accepts connections', async () => {
    expect(await query<{ one: number }>(engine.url, 'select 1 as one')).toEqual([{ one: 1 }])
    expect(engine.url).toMatch(/^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/)
  })

  it('reports the version of the binaries it runs', () => {
    expect(engine.versions.postgres.startsWith(install!.version)).toBe(true)
    expect(engine.describe()).toContain(engine.versions.postgres)
  })

  it('reports TimescaleDB exactly as the install has it', async () => {
    // Independent of the engine: the install's control file, and what a database says once the extension exists.
    const onDisk = installedTimescale(install!.binDir)
    expect(install!.hasTimescale).toBe(onDisk !== 'none')
    expect(engine.versions.timescaledb).toBe(onDisk)
    if (!install!.hasTimescale) {
      expect(engine.capabilities.timescaledb).toBe(false)
      expect(engine.versions.timescaledb).toBe('none')
      expect(engine.capabilities.timescaledbCompression).toBe(false)
    } else {
      expect(engine.capabilities.timescaledb).toBe(true)
      expect(engine.versions.timescaledb).not.toBe('none')
      const db = await engine.createDatabase('ts_as_installed')
      try {
        await query(db.url, 'CREATE EXTENSION timescaledb')
        const [row] = await query<{ v: string; lic: string }>(db.url, `SELECT extversion AS v, current_setting('timescaledb.license') AS lic FROM pg_extension WHERE extname = 'timescaledb'`)
        expect(row).toEqual({ v: onDisk, lic: engine.versions.timescaledbLicense })
        expect(engine.capabilities.timescaledbCompression).toBe(row!.lic === 'timescale')
        expect(engine.describe()).toContain(`TimescaleDB ${onDisk} (${row!.lic} license, background jobs off)`)
      } finally {
        await db.drop()
      }
    }
    expect(engine.capabilities).toMatchObject({ concurrentConnections: true, dumpTool: 'pg_dump', disposable: true, physicalSnapshot: false, backgroundWorkers: false })
  })

  it('started without the preload: TimescaleDB is not usable, and the engine says why', async () => {
    const e = await startNative({ timescale: false, log: quiet })
    try {
      const onDisk = installedTimescale(install!.binDir)
      expect(e.versions).toMatchObject({ timescaledb: onDisk, timescaledbLicense: 'none' })
      expect(e.capabilities).toMatchObject({ timescaledb: false, timescaledbCompression: false, backgroundWorkers: false, concurrentConnections: true })
      expect(e.describe()).toMatch(install!.hasTimescale ? /PostgreSQL \d+\.\d+ with TimescaleDB installed but not preloaded/ : /PostgreSQL \d+\.\d+ without TimescaleDB/)
      expect(await query(e.url, `SELECT current_setting('shared_preload_libraries') AS spl`)).toEqual([{ spl: '' }])
    } finally {
      await e.stop()
    }
  }, 60_000)

  it('serves two concurrent sessions (advisory locks are real)', async () => {
    const a = new pg.Client({ connectionString: engine.url })
    const b = new pg.Client({ connectionString: engine.url })
    await Promise.all([a.connect(), b.connect()])
    try {
      await a.query('select pg_advisory_lock(1)')
      const { rows } = await b.query<{ got: boolean }>('select pg_try_advisory_lock(1) as got')
      expect(rows[0]!.got).toBe(false)
    } finally {
      await Promise.all([a.end(), b.end()])
    }
  })

  it('creates empty, connectable databases and drops them idempotently', async () => {
    const db = await engine.createDatabase('Some Label / with-odd chars')
    expect(db.name).toMatch(/^verify_[a-z0-9_]+_\d+$/)
    const rows = await query<{ n: string }>(db.url, `select count(*) as n from pg_class c join pg_namespace s on s.oid = c.relnamespace where s.nspname = 'public'`)
    expect(rows[0]!.n).toBe('0')
    expect(await query(db.url, 'select current_database() as d')).toEqual([{ d: db.name }])

    await db.drop()
    await db.drop()
    expect(await query(engine.url, `select datname from pg_database where datname = '${db.name}'`)).toEqual([])
  })

  it('stop() leaves no process, no port and no temp dir', async () => {
    const e = await startNative({ log: quiet })
    const pid = postmasterPid(e.dataDir)
    expect(alive(pid)).toBe(true)
    await e.stop()
    await e.stop()
    await expectNothingLeft(e, pid)
  }, 60_000)
})

// ---- a harness process that dies ------------------------------------------------------------

interface ChildInfo {
  pid: number
  url: string
  dataDir: string
  tempDir: string
}

const children: ChildProcess[] = []

function startChild(): Promise<{ child: ChildProcess; info: ChildInfo; stderr: () => string; exited: Promise<number | null> }> {
  const child = spawn('pnpm', ['exec', 'tsx', 'fixtures/engine-child.ts'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  children.push(child)
  let out = ''
  let err = ''
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      const line = out.split('\n').find((l) => l.startsWith('{'))
      if (line) resolve({ child, info: JSON.parse(line) as ChildInfo, stderr: () => err, exited })
    })
    void exited.then((code) => reject(new Error(`engine-child exited (${code}) before reporting:\n${err}`)))
  })
}

describe.skipIf(!probe.ok)('native engine: initdb kept between starts', () => {
  it('the first start runs initdb and keeps its output; the next copies it and works the same; a password cluster never uses it', async () => {
    await withOwnTmpdir('pgverify-initdb-test-', async (dir) => {
      const kept = () => (existsSync(path.join(dir, 'pgverify-initdb')) ? readdirSync(path.join(dir, 'pgverify-initdb')) : [])
      for (const [run, how, options] of [
        ['first start', /; initdb \d+ ms, ready/, {}],
        ['second start', /; cluster copied from initdb's kept output in \d+ ms, ready/, {}],
        ['password authentication', /, password authentication .*; initdb \d+ ms, ready/, { passwordAuth: true }],
      ] as const) {
        const lines: string[] = []
        const engine = await startNative({ ...options, log: (l) => lines.push(l) })
        try {
          expect(lines.join('\n'), run).toMatch(how)
          const db = await engine.createDatabase('kept')
          expect(await query<{ u: string; enc: string }>(db.url, `SELECT current_user AS u, pg_encoding_to_char(encoding) AS enc FROM pg_database WHERE datname = current_database()`), run).toEqual([{ u: 'postgres', enc: 'UTF8' }])
          await db.drop()
        } finally {
          await engine.stop()
        }
        // One kept cluster, the trust one: the password run adds none.
        expect(kept(), run).toHaveLength(1)
      }
    })
  }, 120_000)
})

describe.skipIf(!probe.ok)('native engine: harness process death', () => {
  afterEach(async () => {
    // A failed test must not leave its child (or the child's cluster) behind.
    for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
    await new Promise((r) => setTimeout(r, 200))
  })
  afterAll(async () => {
    await reapStaleClusters(quiet)
  })

  it('SIGTERM: the cleanup registry stops the server and removes the dir', async () => {
    const { info, stderr, exited } = await startChild()
    const pid = postmasterPid(info.dataDir)
    expect(alive(pid)).toBe(true)
    process.kill(info.pid, 'SIGTERM')
    await exited
    expect(stderr()).toMatch(/cleanup: native cluster .* done/)
    await expectNothingLeft(info, pid)
  }, 60_000)

  it('SIGKILL: the cluster stays behind until the next start() reaps it', async () => {
    const { info, exited } = await startChild()
    const pid = postmasterPid(info.dataDir)
    process.kill(info.pid, 'SIGKILL')
    await exited
    expect(await waitGone(info.pid)).toBe('gone')
    // Nothing could clean up after SIGKILL: the server is an orphan now.
    expect(alive(pid)).toBe(true)
    expect(existsSync(info.tempDir)).toBe(true)

    const lines: string[] = []
    const next = await startNative({ log: (l) => lines.push(l) })
    try {
      await expectNothingLeft(info, pid)
    } finally {
      await next.stop()
    }
  }, 60_000)
})

describe.skipIf(!probe.ok)('native engine: where the cluster lives', () => {
  const mounts: ReturnType<typeof mountTmpfs>[] = []
  afterAll(() => mounts.forEach(unmountTmpfs))

  it('PGVERIFY_CLUSTER_DIR, else TMPDIR, else a roomy tmpfs, else the temp directory', async (t) => {
    expect(await clusterDir({ clusterDir: '/somewhere', tmpDir: '/x' })).toEqual({ dir: '/somewhere', source: 'PGVERIFY_CLUSTER_DIR' })
    expect(await clusterDir({ tmpDir: '/x' })).toEqual({ dir: os.tmpdir(), source: 'TMPDIR' })
    // A directory on a disk file system is no tmpfs, however much room it has.
    const disk = emptyDir('pgverify-disk-')
    expect(await clusterDir({}, disk)).toEqual({ dir: os.tmpdir(), source: 'the system temporary directory' })
    const [small, roomy] = [mountTmpfs('64m', 'pgverify-shm-'), mountTmpfs('4g', 'pgverify-shm-')]
    mounts.push(small, roomy)
    if (!('dir' in small) || !('dir' in roomy)) {
      t.skip(`the tmpfs cases need a tmpfs of their own: ${'reason' in small ? small.reason : (roomy as { reason: string }).reason}`)
      return
    }
    // 64 MB is what a container's /dev/shm has by default: too small, the temp directory it is.
    expect(await clusterDir({}, small.dir)).toEqual({ dir: os.tmpdir(), source: 'the system temporary directory' })
    expect(await clusterDir({}, roomy.dir)).toEqual({ dir: roomy.dir, source: expect.stringMatching(/^tmpfs .*, 4\.0 GiB free$/) })
  })

  it('a start puts its cluster where it was told, says where, and stop() removes it', async () => {
    const dir = emptyDir('pgverify-clusters-')
    chmodSync(dir, 0o755)
    const lines: string[] = []
    const engine = await startNative({ clusterEnv: { clusterDir: dir }, log: (l) => lines.push(l) })
    try {
      expect(path.dirname(engine.tempDir)).toBe(dir)
      expect(lines.join('\n')).toMatch(new RegExp(`, ready in \\d+ ms; cluster in ${dir}/pgverify-native-\\w+ \\(PGVERIFY_CLUSTER_DIR\\)$`))
      expect(await query<{ one: number }>(engine.url, 'SELECT 1 AS one')).toEqual([{ one: 1 }])
    } finally {
      await engine.stop()
    }
    expect(readdirSync(dir)).toEqual([])
  }, 60_000)
})
