/**
 * The embedded engine: PostgreSQL 17 + TimescaleDB compiled to WASM (PGlite fork), served
 * over the wire protocol on 127.0.0.1 so every caller uses `pg` with a URL like any server.
 *
 * One PGlite instance is one PostgreSQL backend with one database. A "fresh database" is
 * therefore a fresh instance cloned from a pristine cluster, made by initdb and shut down once,
 * then written into each new instance (embedded-datadir.ts), which is several times cheaper than
 * a cold boot. That cluster is kept between runs (keyed by the package version), so a start skips
 * initdb, and the package's file-system bundle is read once per process instead of once per
 * instance, as is a TimescaleDB bundle without its upgrade scripts (embedded-bundle.ts).
 * Each instance accepts one client connection at a time: a second concurrent connection is
 * terminated by the socket server, so `concurrentConnections` is false. An instance runs on the
 * thread that made it: `createDatabase(label, { parallel: true })` makes it in a worker thread of
 * its own (embedded-thread.ts), so that databases work in parallel (`parallelDatabases`).
 *
 * `physicalSnapshot`: every handle carries `physical` (the data directory as a tar, and the PGlite
 * instance for in-process tools such as the WASM pg_dump), and `createDatabase(label, { from })`
 * boots a database from such a tar: the embedded counterpart of a volume backup and its restore.
 */
import type { PGlite as PGliteType } from '@electric-sql/pglite'
import { readdir, readFile, rm, stat } from 'node:fs/promises'
import { createRequire } from 'node:module'
import os from 'node:os'
import path from 'node:path'
import { HarnessError } from '../errors.ts'
import { leanTimescaleBundle, timescaleExtension } from './embedded-bundle.ts'
import { capturingFs, type DataDirFiles, dataDirFs, readDataDirFile, runningFiles, toTar, writeDataDirFile } from './embedded-datadir.ts'
import { dumpInProcess } from './embedded-dump.ts'
import { gatherReplies } from './embedded-socket.ts'
import { ThreadDatabases, threadModules } from './embedded-thread.ts'
import type { CreateDatabaseOptions, DatabaseHandle, EngineProvider, EngineStartOptions, EngineVersions, StartedEngine } from './types.ts'
import { withExtensions } from './admin.ts'

interface Served {
  db: PGliteType
  stop(): Promise<void>
  url: string
}

type Modules = {
  PGlite: typeof import('@electric-sql/pglite').PGlite
  MemoryFS: typeof import('@electric-sql/pglite').MemoryFS
  PGLiteSocketServer: typeof import('@electric-sql/pglite-socket').PGLiteSocketServer
}

// Heavy WASM modules are loaded only when this engine is actually used.
async function load(): Promise<Modules> {
  const [{ PGlite, MemoryFS }, { PGLiteSocketServer }] = await Promise.all([import('@electric-sql/pglite'), import('@electric-sql/pglite-socket')])
  return { PGlite, MemoryFS, PGLiteSocketServer }
}

/**
 * PGlite passes PostgreSQL a fixed command line compiled into its WASM, `shared_buffers=128MB`
 * among it, and offers no option to change it; a command-line setting outranks postgresql.conf.
 * Every boot then zeroes about 150 MB of shared memory in WASM code (a fresh database boots in
 * 0.58 s instead of 1.0 s at 16 MB), and each instance keeps 112 MB more memory, for databases
 * that hold a few thousand rows.
 * The argument is rewritten in place (same length, NUL-padded) before the module is compiled;
 * a build without that exact argument is left as it is, and the start-up line says which.
 */
const DEFAULT_BUFFERS = Buffer.from('shared_buffers=128MB\0')
const LEAN_BUFFERS = Buffer.from('shared_buffers=16MB\0\0')

export function leanSharedBuffers(wasm: Buffer<ArrayBuffer>): { wasm: Buffer<ArrayBuffer>; sharedBuffers: string } {
  const at = wasm.indexOf(DEFAULT_BUFFERS)
  if (at < 0 || wasm.indexOf(DEFAULT_BUFFERS, at + 1) >= 0) return { wasm, sharedBuffers: 'as built' }
  const out = Buffer.from(wasm)
  LEAN_BUFFERS.copy(out, at)
  return { wasm: out, sharedBuffers: '16MB' }
}

/**
 * What every instance would otherwise read, copy or compile again: the file-system bundle
 * (pglite.data, about 5 MB) read once per process, PostgreSQL's WASM code compiled once per
 * process (a compiled module is shared with worker threads too), and the package version that
 * keys the cached data directory.
 */
async function packageAssets(): Promise<{ fsBundle: ArrayBuffer; wasmModule: WebAssembly.Module; version: string; sharedBuffers: string }> {
  const dist = path.dirname(createRequire(import.meta.url).resolve('@electric-sql/pglite'))
  const [data, wasm, pkg] = await Promise.all([readFile(path.join(dist, 'pglite.data')), readFile(path.join(dist, 'pglite.wasm')), readFile(path.join(dist, '..', 'package.json'), 'utf8')])
  const lean = leanSharedBuffers(wasm)
  return { fsBundle: ownBytes(data), wasmModule: await WebAssembly.compile(lean.wasm), version: String((JSON.parse(pkg) as { version?: string }).version ?? 'unknown'), sharedBuffers: lean.sharedBuffers }
}

/**
 * An empty cluster kept between runs, as PostgreSQL left it at shutdown (embedded-datadir.ts):
 * initdb is the slow part of a cold start, and its result depends only on the PGlite build (the
 * package version) and whether the extension bundle was given. Written whole or not at all (a
 * temporary file renamed into place); one that cannot be read is made again. (Caches named
 * `datadir-…` were copies of a running instance, and `cluster-….tar` tars of the same clusters:
 * neither is read any more: pruneCaches removes them.)
 */
const versionTag = (version: string) => version.replace(/[^\w.-]/g, '_')
const templateCache = (version: string, timescale: boolean) => path.join(os.tmpdir(), 'pgverify-embedded', `cluster-${versionTag(version)}-${timescale ? 'timescaledb' : 'plain'}.datadir`)

/**
 * Removes what no run of this PGlite build reads (other builds' clusters and bundles, the old
 * `datadir-…` and `cluster-….tar` caches, temporaries of a killed write older than a day), when
 * this build makes its first cache there: about 85 MB per build would otherwise pile up in TMPDIR
 * with every upgrade. A checkout on another build makes its own again (a cold start, 2–3 s).
 */
async function pruneCaches(dir: string, version: string): Promise<void> {
  const tag = versionTag(version)
  const cluster = new RegExp(`^cluster-${tag.replace(/[.]/g, '\\.')}-(timescaledb|plain)(-base)?\\.datadir$`)
  const ours = (f: string) => f === `timescaledb-bundle-${tag}.tar.gz` || cluster.test(f)
  const dayAgo = Date.now() - 86_400_000
  for (const f of await readdir(dir).catch(() => [] as string[])) {
    // writeAtomic's temporaries: `.<name>.<pid>.<random>.tmp`.
    const temporary = f.startsWith('.') && f.endsWith('.tmp')
    const name = temporary ? f.slice(1) : f
    if (!/^(cluster-|datadir-|timescaledb-bundle-)/.test(name)) continue
    if (!temporary && ours(name)) continue
    const file = path.join(dir, f)
    if (temporary && ((await stat(file).catch(() => undefined))?.mtimeMs ?? 0) > dayAgo) continue
    await rm(file, { recursive: true, force: true }).catch(() => {})
  }
}

/**
 * The engine's own database once CREATE EXTENSION timescaledb has run in it (0.7 s in WASM, on
 * every start otherwise), shut down and kept beside the empty cluster, and booted instead of it.
 * Fresh databases still come from the empty one.
 */
const baseCache = (template: string) => template.replace(/\.datadir$/, '-base.datadir')

/**
 * PGlite reads its file-system bundle with `Blob.arrayBuffer()`, which in Node 20 streams a Blob's
 * parts back and joins them. This Blob-like hands over the bytes themselves, as a copy per
 * instance (one memcpy of 5 MB): PGlite keeps the bundle's files as views of its buffer.
 */
const bundleBytes = (bytes: ArrayBuffer): Blob => ({ size: bytes.byteLength, type: '', arrayBuffer: async () => bytes.slice(0) }) as unknown as Blob

/** A file's bytes in an ArrayBuffer of their own (readFile may hand back a slice of a pooled one). */
const ownBytes = (b: Buffer): ArrayBuffer => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer

/** Not a secret (the socket server accepts any password), but masked in output like one. */
const EMBEDDED_PASSWORD = 'anypassword'

const urlFor = (port: number) => `postgres://postgres:${EMBEDDED_PASSWORD}@127.0.0.1:${port}/postgres?sslmode=disable`

async function serve(m: Modules, db: PGliteType): Promise<Served> {
  const server = new m.PGLiteSocketServer({ db, host: '127.0.0.1', port: 0 })
  gatherReplies(server)
  await server.start()
  // The server object keeps the bound net.Server privately; port 0 means we must ask it.
  const address = (server as unknown as { server: import('node:net').Server }).server.address()
  if (!address || typeof address === 'string') throw new HarnessError('ENGINE_START_FAILED', 'embedded engine: socket server did not bind a TCP port')
  let stopped = false
  return {
    db,
    // sslmode=disable: the socket server speaks no TLS, and psql would otherwise try it first.
    // The password: the socket server asks for one (and accepts any); without one in the URL,
    // psql prompts, and an empty answer ends in "server closed the connection unexpectedly".
    // A word that appears in no other text: passwords are masked wherever they appear in output.
    url: urlFor(address.port),
    async stop() {
      if (stopped) return
      stopped = true
      await server.stop().catch(() => {})
      await db.close().catch(() => {})
    },
  }
}

async function readVersions(db: PGliteType): Promise<EngineVersions> {
  const pgv = await db.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)
  // The engine's own database has the extension already (its cached copy): pg_extension says which
  // version, and the library is loaded (loadExtensionLibraries), so no CREATE EXTENSION is needed.
  const installed = (await db.query<{ v: string }>(`SELECT extversion AS v FROM pg_extension WHERE extname = 'timescaledb'`)).rows[0]?.v
  const timescaledb = installed ?? (await db.query<{ v: string | null }>(`SELECT default_version AS v FROM pg_available_extensions WHERE name = 'timescaledb'`)).rows[0]?.v ?? 'none'
  let license = 'none'
  if (timescaledb !== 'none') {
    // The license GUC only exists once the library is loaded; the default database keeps the extension.
    if (!installed) await db.exec(`CREATE EXTENSION IF NOT EXISTS timescaledb`)
    license = (await db.query<{ l: string }>(`SELECT current_setting('timescaledb.license') AS l`)).rows[0]?.l ?? 'none'
  }
  return { postgres: pgv.rows[0]?.v ?? 'unknown', timescaledb, timescaledbLicense: license }
}

/**
 * A server with TimescaleDB preloads its library; a PGlite instance loads it on CREATE EXTENSION.
 * An instance booted from a snapshot that already has the extension has neither: until the
 * library is loaded its planner hooks are missing and compressed chunks read as empty. Load it;
 * the answer says whether the snapshot had the extension.
 */
async function loadExtensionLibraries(db: PGliteType): Promise<boolean> {
  const has = await db.query(`SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'`)
  if (has.rows.length) await db.exec(`LOAD 'timescaledb'`)
  return has.rows.length > 0
}

export interface EmbeddedStartOptions extends EngineStartOptions {
  /**
   * Give the instances TimescaleDB (the default). `false` boots PGlite without the extension
   * bundle: a PostgreSQL on which `timescaledb` is not available at all, made on purpose
   * whatever the machine has installed (the pre-flight's "TimescaleDB missing" case).
   */
  timescale?: boolean
}

/** Starts the embedded engine; `embeddedEngine.start` with the embedded-only options. */
export const startEmbedded = (options: EmbeddedStartOptions = {}): Promise<StartedEngine> => embeddedEngine.start(options)

export const embeddedEngine: EngineProvider = {
  name: 'embedded',

  async probe() {
    try {
      await import('@electric-sql/pglite')
      return { ok: true, reason: 'embedded PostgreSQL + TimescaleDB (WASM) is installed with the project' }
    } catch (e) {
      return { ok: false, reason: `embedded engine not installed (${(e as Error).message}): run \`pnpm install\`` }
    }
  },

  async start(options: EmbeddedStartOptions = {}): Promise<StartedEngine> {
    const log = options.log ?? ((l: string) => process.stderr.write(l + '\n'))
    const started = Date.now()
    let m: Modules
    let base: PGliteType | undefined
    let extensions: Record<string, never>
    let fsBundle: ArrayBuffer
    let wasmModule: WebAssembly.Module
    // The empty cluster every fresh database starts from, as files (embedded-datadir.ts).
    let pristine: DataDirFiles
    // The same cluster with TimescaleDB created (the engine's own database's), for databases asked for with it (extensions).
    let withTimescale: DataDirFiles | undefined
    let sharedBuffers: string
    let bootedFrom = ''
    // Databases in worker threads (options.parallel), made when the first is asked for, or while
    // this boots when the caller said its first database will be one (threadAhead).
    let threads: ThreadDatabases | undefined
    let timescaleBundle: string | undefined
    try {
      m = await load()
      const assets = await packageAssets()
      fsBundle = assets.fsBundle
      wasmModule = assets.wasmModule
      sharedBuffers = assets.sharedBuffers
      const cacheFile = templateCache(assets.version, options.timescale !== false)
      timescaleBundle = options.timescale === false ? undefined : await leanTimescaleBundle(path.dirname(cacheFile), assets.version)
      extensions = timescaleBundle ? { timescaledb: timescaleExtension(timescaleBundle) as never } : {}
      const boot = (fs: ReturnType<typeof dataDirFs>) => m.PGlite.create({ fs, extensions, fsBundle: bundleBytes(fsBundle), wasmModule })
      // A cluster made once and shut down: it is kept, and every database booted from it starts
      // as after a clean stop (see embedded-datadir.ts).
      const make = async (from: DataDirFiles | undefined, work: (db: PGliteType) => Promise<unknown>, file: string) => {
        const made = capturingFs(m.MemoryFS, from)
        const db = await boot(made.fs)
        try {
          await work(db)
        } catch (e) {
          await db.close().catch(() => {})
          throw e
        }
        await db.close()
        const dir = await made.closed
        await writeDataDirFile(file, dir).catch(() => {})
        return dir
      }
      // A kept cluster that cannot be read is made again.
      const kept = await readDataDirFile(cacheFile)
      pristine = kept ?? (await make(undefined, async () => {}, cacheFile))
      if (!kept) await pruneCaches(path.dirname(cacheFile), assets.version)
      bootedFrom = kept ? 'the cached empty data directory' : 'initdb (nothing cached yet)'
      if (options.threadAhead) {
        threads = new ThreadDatabases(threadModules(timescaleBundle), { fsBundle, wasmModule, pristine })
        threads.ahead()
      }
      if (timescaleBundle) {
        // The engine's own database keeps TimescaleDB (readVersions): made once, with the extension created.
        const baseFile = baseCache(cacheFile)
        const keptBase = kept && (await readDataDirFile(baseFile))
        if (keptBase) {
          base = await boot(dataDirFs(m.MemoryFS, keptBase)).catch(() => undefined)
          if (base && (await loadExtensionLibraries(base).catch(() => false))) {
            bootedFrom = 'its cached database with TimescaleDB'
            withTimescale = keptBase
          } else {
            await base?.close().catch(() => {})
            base = undefined
          }
        }
        if (!base) {
          const made = await make(pristine, (db) => db.exec('CREATE EXTENSION IF NOT EXISTS timescaledb'), baseFile)
          base = await boot(dataDirFs(m.MemoryFS, made))
          await loadExtensionLibraries(base)
          withTimescale = made
        }
      } else base = await boot(dataDirFs(m.MemoryFS, pristine))
    } catch (e) {
      await threads?.close()
      throw new HarnessError('ENGINE_START_FAILED', `embedded engine failed to boot: ${(e as Error).message}`, {
        hint: 'Run `pnpm install` and check that Node is 20.19 or newer; the WASM heap needs about 300 MB free memory.',
        cause: e,
      })
    }
    const versions = await readVersions(base)
    const main = await serve(m, base)
    const databases = new Set<{ stop(): Promise<void> }>()
    let counter = 0
    let stopped = false
    const ts = versions.timescaledb === 'none' ? 'without TimescaleDB' : `+ TimescaleDB ${versions.timescaledb} (${versions.timescaledbLicense} license)`
    log(`embedded: PostgreSQL ${versions.postgres} (WASM, shared_buffers ${sharedBuffers}) ${ts} ready in ${Date.now() - started} ms, from ${bootedFrom}`)

    const engine: StartedEngine = {
      name: 'embedded',
      url: main.url,
      versions,
      capabilities: {
        concurrentConnections: false,
        timescaledb: versions.timescaledb !== 'none',
        timescaledbCompression: versions.timescaledbLicense === 'timescale',
        backgroundWorkers: false,
        nonTransactionalIndexBuilds: false,
        dumpTool: 'wasm-pg_dump',
        physicalSnapshot: true,
        disposable: true,
        parallelDatabases: true,
      },
      describe: () => `embedded: PostgreSQL ${versions.postgres} (WASM, single connection, no background workers) ${ts}`,

      async createDatabase(label = 'db', options: CreateDatabaseOptions = {}): Promise<DatabaseHandle> {
        if (stopped) throw new HarnessError('ENGINE_UNAVAILABLE', 'embedded engine is stopped')
        const name = (n: number) => `${label.replace(/[^a-z0-9_]/gi, '_').slice(0, 40)}_${n}`
        // TimescaleDB from the kept cluster that has it; any other extension asked for by CREATE EXTENSION once the database serves.
        const wanted = options.from ? [] : (options.extensions ?? [])
        const cluster = wanted.includes('timescaledb') ? withTimescale : undefined
        const rest = wanted.filter((e) => !(cluster && e === 'timescaledb'))
        const ready = (db: DatabaseHandle) => withExtensions(db, rest)
        if (options.parallel) {
          threads ??= new ThreadDatabases(threadModules(timescaleBundle), { fsBundle, wasmModule, pristine })
          const t = await threads.start(options.from ?? cluster)
          databases.add(t)
          return ready({
            url: urlFor(t.port),
            name: name(++counter),
            physical: t.physical,
            async drop() {
              databases.delete(t)
              await t.stop()
            },
          })
        }
        let db: PGliteType
        try {
          const from = options.from ? { loadDataDir: new Blob([options.from as Uint8Array<ArrayBuffer>]) } : { fs: dataDirFs(m.MemoryFS, cluster ?? pristine) }
          db = await m.PGlite.create({ ...from, extensions, fsBundle: bundleBytes(fsBundle), wasmModule })
        } catch (e) {
          if (!options.from) throw e
          throw new HarnessError('ENGINE_START_FAILED', `embedded engine: cannot boot a database from the given data directory snapshot: ${(e as Error).message}`, {
            hint: 'The snapshot must be a tar made by dumpDataDir() of this same PGlite build (gzip or plain); check that the file is complete.',
            cause: e,
          })
        }
        if (options.from || cluster) await loadExtensionLibraries(db)
        const served = await serve(m, db)
        databases.add(served)
        return ready({
          url: served.url,
          name: name(++counter),
          physical: {
            pgDump: (args) => dumpInProcess(db, args),
            async dumpDataDir() {
              // Dirty pages live in shared buffers until a checkpoint: without one the copy boots
              // by crash recovery, and sequences come back advanced (migration_log_id_seq 9 → 33 seen).
              await db.exec('CHECKPOINT')
              return toTar(runningFiles(db.Module.FS))
            },
          },
          async drop() {
            databases.delete(served)
            await served.stop()
          },
        })
      },

      async stop() {
        if (stopped) return
        stopped = true
        await Promise.all([...databases].map((d) => d.stop()))
        databases.clear()
        await threads?.close()
        await main.stop()
      },
    }
    return engine
  },
}
