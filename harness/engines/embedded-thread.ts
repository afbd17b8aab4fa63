/**
 * Embedded databases in worker threads. A PGlite instance is PostgreSQL compiled to WASM: it runs
 * on the JavaScript thread that created it, so every embedded database of one process shares one
 * core, and a query running in one holds up the clients of all the others (their replies wait for
 * the thread). An instance in a worker thread runs beside the others: verify's independent
 * stages, each on a database of its own, use both cores of a two-core runner instead of one.
 *
 * A worker boots PGlite from the engine's pristine data directory (given to every worker once, as
 * files: embedded-datadir.ts) or from the snapshot's bytes it is given for
 * `createDatabase(label, { from })`, with the same file-system bundle as an in-process database,
 * serves it on 127.0.0.1 with the same socket server, and answers requests: the data directory as
 * a tar, the WASM pg_dump (embedded-dump.ts, the same steps as in-process), stop.
 *
 * A worker outlives its database: once one is dropped, the worker waits (at most MAX_IDLE of
 * them, not holding the process open) and the next database boots in it. Starting a worker and
 * importing PGlite into it was about 300 ms of a thread database's ~800 ms (the boot itself is now
 * ~0.3 s: embedded-datadir.ts, embedded-bundle.ts).
 * Each database is still a PGlite instance of its own, from its own copy of the bytes: nothing of
 * a dropped database is left for the next (the suite checks it). A worker's first boot is the
 * slow one: an engine started for verify boots its first thread database while it starts (ahead).
 *
 * The worker's code is plain JavaScript given as a string (`eval`), with the modules resolved
 * here: it runs the same under tsx, from the built files or under the `pgverify` bin.
 */
import { Worker } from 'node:worker_threads'
import { HarnessError } from '../errors.ts'
import { DATADIR_FS_BODY, type DataDirFiles, PACK_BODY, PGDATA, READ_FILES_BODY, snapshotFiles, toTar } from './embedded-datadir.ts'
import { DUMP_BODY, dumpToolUrl, toolMissing } from './embedded-dump.ts'
import { GATHER_REPLIES_BODY } from './embedded-socket.ts'
import type { PhysicalAccess } from './types.ts'

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const m = workerData.modules
let db
let server
const modules = (async () => {
  const { PGlite, MemoryFS } = await import(m.pglite)
  const { PGLiteSocketServer } = await import(m.socket)
  // As timescaleExtension (embedded-bundle.ts) describes it, from the same bundle.
  const bundlePath = m.timescaleBundle && require('node:url').pathToFileURL(m.timescaleBundle)
  const extensions = bundlePath ? { timescaledb: { name: 'timescaledb', setup: async (_pg, emscriptenOpts) => ({ emscriptenOpts, bundlePath }) } } : {}
  return { PGlite, MemoryFS, PGLiteSocketServer, extensions }
})()
const pack = (dirs, parts, shared) => {
  ${PACK_BODY}
}
const readFiles = (FS, PGDATA, shared) => {
  ${READ_FILES_BODY}
}
const dataDirFs = (MemoryFS, PGDATA, dataDir, capture) => {
  ${DATADIR_FS_BODY}
}
// Blob-likes over bytes (see inMemory in embedded.ts); PGlite keeps the bundle's files as views of
// its buffer, so every instance gets a copy of the bundle.
const bytes = (b) => ({ size: b.byteLength, type: '', arrayBuffer: async () => b })
const dump = async (args) => {
  if (!m.dumpTool) throw Object.assign(new Error('not installed'), { missing: true })
  let pgDump
  try {
    ;({ pgDump } = await import(m.dumpTool))
  } catch (e) {
    throw Object.assign(e, { missing: true })
  }
  ${DUMP_BODY}
}
const ops = {
  async boot({ snapshot }) {
    const { PGlite, MemoryFS, PGLiteSocketServer, extensions } = await modules
    const from = { fs: dataDirFs(MemoryFS, ${JSON.stringify(PGDATA)}, snapshot ?? workerData.pristine) }
    db = await PGlite.create({ ...from, fsBundle: bytes(workerData.fsBundle.slice(0)), wasmModule: workerData.wasmModule, extensions })
    // A snapshot that already has TimescaleDB: load its library, as an in-process boot does (embedded.ts).
    if (snapshot && (await db.query("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")).rows.length) await db.exec("LOAD 'timescaledb'")
    server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0 })
    ;((server) => {
      ${GATHER_REPLIES_BODY}
    })(server)
    await server.start()
    return server.server.address().port
  },
  async dataDir() {
    // Dirty pages live in shared buffers until a checkpoint: without one the copy boots by crash recovery.
    await db.exec('CHECKPOINT')
    // The files in one buffer, handed over without a copy; the tar is made on the other side.
    return readFiles(db.Module.FS, ${JSON.stringify(PGDATA)}, false)
  },
  pgDump: ({ args }) => dump(args),
  async stop() {
    await server?.stop().catch(() => {})
    await db?.close().catch(() => {})
    server = undefined
    db = undefined
  },
}
parentPort.on('message', (r) => {
  ops[r.op](r)
    .then((value) => parentPort.postMessage({ id: r.id, value }, value instanceof Uint8Array ? [value.buffer] : value && value.bytes instanceof ArrayBuffer ? [value.bytes] : []))
    .catch((e) => parentPort.postMessage({ id: r.id, error: String((e && e.stack) || (e && e.message) || e), missing: Boolean(e && e.missing) }))
})
`

/** Workers kept waiting for a next database: verify drops and makes databases a few at a time. */
const MAX_IDLE = 2

/** A stop that does not answer in this time ends the worker instead (a client that never hung up can hold the instance's close). */
const STOP_WAIT_MS = 5_000

export interface ThreadModules {
  /** Module URLs (import.meta.resolve): PGlite, the socket server, the WASM pg_dump when installed. */
  pglite: string
  socket: string
  dumpTool?: string
  /** The TimescaleDB bundle's path when the instances have the extension (embedded-bundle.ts). */
  timescaleBundle?: string
}

/**
 * What every worker gets once: the file-system bundle, the compiled WASM (a compiled module
 * crosses to a worker without compiling again) and the pristine data directory (shared memory).
 */
export interface ThreadShared {
  fsBundle: ArrayBuffer
  wasmModule: WebAssembly.Module
  pristine: DataDirFiles
}

export interface ThreadDatabase {
  port: number
  physical: PhysicalAccess
  stop(): Promise<void>
}

/** The module URLs a worker imports, resolved from here (the same installs the main thread uses). */
export function threadModules(timescaleBundle: string | undefined): ThreadModules {
  const dumpTool = dumpToolUrl()
  return {
    pglite: import.meta.resolve('@electric-sql/pglite'),
    socket: import.meta.resolve('@electric-sql/pglite-socket'),
    ...(timescaleBundle ? { timescaleBundle } : {}),
    ...(dumpTool ? { dumpTool } : {}),
  }
}

/** One worker thread and its requests. */
class Host {
  readonly worker: Worker
  #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  #next = 0
  /** Set once the worker has failed or exited: it takes no more requests. */
  gone?: string

  constructor(modules: ThreadModules, shared: ThreadShared) {
    // Copies, not transfers: the bundle is given to every worker.
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { modules, ...shared } })
    const lost = (why: string) => {
      this.gone ??= why
      for (const p of this.#pending.values()) p.reject(new HarnessError('CONNECTION_FAILED', `embedded engine: the database's worker thread ${why}`))
      this.#pending.clear()
    }
    // A worker that dies (out of memory) ends its connections: the clients see the loss, and so do requests.
    this.worker.on('error', (e) => lost(`failed: ${e.message}`))
    this.worker.on('exit', (code) => lost(`exited with code ${code}`))
    this.worker.on('message', (m: { id: number; value?: unknown; error?: string; missing?: boolean }) => {
      const p = this.#pending.get(m.id)
      if (!p) return
      this.#pending.delete(m.id)
      if (m.error === undefined) p.resolve(m.value)
      else p.reject(m.missing ? toolMissing(m.error) : new Error(m.error))
    })
  }

  ask<T>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    if (this.gone) return Promise.reject(new HarnessError('CONNECTION_FAILED', `embedded engine: the database's worker thread ${this.gone}`))
    return new Promise<T>((resolve, reject) => {
      const id = ++this.#next
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject })
      this.worker.postMessage({ id, op, ...args })
    })
  }

  async end(): Promise<void> {
    await this.worker.terminate()
  }
}

/** The engine's databases in worker threads, and the workers waiting for the next one. */
export class ThreadDatabases {
  #idle: Host[] = []
  #closed = false
  /** A pristine database booted ahead (see ahead), until a start takes it. */
  #spare?: { host: Host; port: Promise<number> }

  constructor(
    private readonly modules: ThreadModules,
    private readonly shared: ThreadShared,
  ) {}

  /**
   * Boots a database in a worker and serves it: the pristine one, or from `from`: a tar made by
   * dumpDataDir (plain or gzip), or a cluster's files (the engine's kept cluster with TimescaleDB);
   * resolves once it accepts connections.
   */
  async start(from?: Uint8Array | DataDirFiles): Promise<ThreadDatabase> {
    // A snapshot's files are written into the instance's MEMFS as the pristine cluster's are. PGlite's
    // loadDataDir untars file by file: a copy of the migrated nine (37 MB) booted in 0.52–0.71 s
    // that way, 0.41–0.52 s this way.
    const snapshot = from instanceof Uint8Array ? await snapshotFiles(from) : from
    const spare = snapshot ? undefined : this.#spare
    if (spare) this.#spare = undefined
    let host = spare?.host ?? this.#idle.pop()
    // One that died while it waited (out of memory, a module that failed to load) is not used.
    while (host?.gone && host !== spare?.host) {
      void host.end()
      host = this.#idle.pop()
    }
    host?.worker.ref()
    host ??= new Host(this.modules, this.shared)
    let port: number
    try {
      port = await (spare ? spare.port : host.ask<number>('boot', { snapshot }))
    } catch (e) {
      // A worker whose boot failed is not used again.
      void host.end()
      throw new HarnessError('ENGINE_START_FAILED', `embedded engine: a database in a worker thread did not start: ${(e as Error).message}`, {
        hint: snapshot ? 'The snapshot must be a tar made by dumpDataDir() of this same PGlite build (gzip or plain); check that the file is complete.' : 'Run `pnpm install`; each embedded database needs about 150 MB of free memory.',
      })
    }
    const h = host
    let stopped: Promise<void> | undefined
    // Once dropped, the worker may hold the next database: this handle must not reach it.
    const ask = <T>(op: string, args: Record<string, unknown>) => (stopped ? Promise.reject(new HarnessError('CONNECTION_FAILED', 'embedded engine: the database was dropped')) : h.ask<T>(op, args))
    return {
      port,
      physical: {
        dumpDataDir: async () => toTar(await ask<DataDirFiles>('dataDir', {})),
        pgDump: (args) => ask<Uint8Array>('pgDump', { args }),
      },
      stop: () => (stopped ??= this.#release(h)),
    }
  }

  /**
   * Boots a pristine database in a new worker now, for the next pristine `start` to take as it
   * is. A worker's first boot is the slow one (~1.5 s: the worker loads PostgreSQL's JavaScript
   * before it can boot); made ahead, beside whatever the caller does meanwhile, the first database
   * is ready when it is asked for.
   */
  ahead(): void {
    if (this.#closed || this.#spare) return
    const host = new Host(this.modules, this.shared)
    host.worker.unref()
    const port = host.ask<number>('boot', {})
    port.catch(() => {}) // said by the start that takes it
    this.#spare = { host, port }
  }

  /** Ends the waiting workers; a database still running ends with its own stop. */
  async close(): Promise<void> {
    this.#closed = true
    const spare = this.#spare?.host
    this.#spare = undefined
    await Promise.all([...this.#idle.splice(0), ...(spare ? [spare] : [])].map((h) => h.end()))
  }

  async #release(host: Host): Promise<void> {
    const closed = await Promise.race([host.ask('stop').then(() => true, () => false), new Promise<false>((r) => setTimeout(() => r(false), STOP_WAIT_MS).unref())])
    if (closed && !host.gone && !this.#closed && this.#idle.length < MAX_IDLE) {
      // Waiting for the next database must not keep the process alive.
      host.worker.unref()
      this.#idle.push(host)
      return
    }
    await host.end()
  }
}
