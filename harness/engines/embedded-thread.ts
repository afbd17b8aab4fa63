/**
 * An embedded database in a worker thread of its own. A PGlite instance is PostgreSQL compiled to
 * WASM: it runs on the JavaScript thread that created it, so every embedded database of one
 * process shares one core, and a query running in one holds up the clients of all the others
 * (their replies wait for the thread). An instance in a worker thread runs beside the others:
 * verify's independent stages, each on a database of its own, use both cores of a two-core
 * runner instead of one.
 *
 * The worker boots PGlite from the bytes it is given (the pristine data directory, or a snapshot
 * for `createDatabase(label, { from })`) with the same file-system bundle as an in-process
 * database, serves it on 127.0.0.1 with the same socket server, and answers requests: the data
 * directory as a tar, the WASM pg_dump (embedded-dump.ts, the same steps as in-process), stop.
 *
 * The worker's code is plain JavaScript given as a string (`eval`), with the modules resolved
 * here: it runs the same under tsx, from the built files or under the `pgverify` bin.
 */
import { Worker } from 'node:worker_threads'
import { HarnessError } from '../errors.ts'
import { DUMP_BODY, dumpToolUrl, toolMissing } from './embedded-dump.ts'
import { GATHER_REPLIES_BODY } from './embedded-socket.ts'
import type { PhysicalAccess } from './types.ts'

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const m = workerData.modules
let db
let server
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
  async dumpDataDir({ compression }) {
    // Dirty pages live in shared buffers until a checkpoint: without one the copy boots by crash recovery.
    await db.exec('CHECKPOINT')
    return new Uint8Array(await (await db.dumpDataDir(compression)).arrayBuffer())
  },
  pgDump: ({ args }) => dump(args),
  async stop() {
    await server?.stop().catch(() => {})
    await db?.close().catch(() => {})
  },
}
parentPort.on('message', (r) => {
  ops[r.op](r)
    .then((value) => parentPort.postMessage({ id: r.id, value }, value instanceof Uint8Array ? [value.buffer] : []))
    .catch((e) => parentPort.postMessage({ id: r.id, error: String((e && e.message) || e), missing: Boolean(e && e.missing) }))
})
;(async () => {
  const { PGlite } = await import(m.pglite)
  const { PGLiteSocketServer } = await import(m.socket)
  const extensions = m.timescaledb ? { timescaledb: (await import(m.timescaledb)).timescaledb } : {}
  // Blob-likes over the bytes this thread was given (its own copies): see inMemory in embedded.ts.
  const bytes = (b) => ({ size: b.byteLength, type: '', arrayBuffer: async () => b })
  db = await PGlite.create({ loadDataDir: bytes(workerData.dataDir), fsBundle: bytes(workerData.fsBundle), wasmModule: workerData.wasmModule, extensions })
  // A snapshot that already has TimescaleDB: load its library, as an in-process boot does (embedded.ts).
  if (workerData.snapshot && (await db.query("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")).rows.length) await db.exec("LOAD 'timescaledb'")
  server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0 })
  ;((server) => {
    ${GATHER_REPLIES_BODY}
  })(server)
  await server.start()
  parentPort.postMessage({ port: server.server.address().port })
})().catch((e) => parentPort.postMessage({ error: String((e && e.stack) || e) }))
`

export interface ThreadModules {
  /** Module URLs (import.meta.resolve): PGlite, the socket server, the TimescaleDB bundle when the instances have it, the WASM pg_dump when installed. */
  pglite: string
  socket: string
  timescaledb?: string
  dumpTool?: string
}

/** What a worker boots from: a data directory (the pristine one, or a database's own snapshot), the file-system bundle, the compiled WASM. */
export interface ThreadBoot {
  dataDir: ArrayBuffer
  fsBundle: ArrayBuffer
  /** Compiled once by the engine; a compiled module crosses to a worker without compiling again. */
  wasmModule: WebAssembly.Module
  /** The data directory is a database's own snapshot (not the pristine one). */
  snapshot?: boolean
}

export interface ThreadDatabase {
  port: number
  physical: PhysicalAccess
  stop(): Promise<void>
}

/** The module URLs a worker imports, resolved from here (the same installs the main thread uses). */
export function threadModules(timescale: boolean): ThreadModules {
  const dumpTool = dumpToolUrl()
  return {
    pglite: import.meta.resolve('@electric-sql/pglite'),
    socket: import.meta.resolve('@electric-sql/pglite-socket'),
    ...(timescale ? { timescaledb: import.meta.resolve('@electric-sql/pglite/timescaledb') } : {}),
    ...(dumpTool ? { dumpTool } : {}),
  }
}

/** Boots a database in a new worker thread and serves it; resolves once it accepts connections. */
export async function startThreadDatabase(modules: ThreadModules, boot: ThreadBoot): Promise<ThreadDatabase> {
  const snapshot = boot.snapshot ?? false
  // Copies, not transfers: the pristine directory and the bundle are reused for every database.
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { modules, ...boot, snapshot } })
  const port = await new Promise<number>((resolve, reject) => {
    const fail = (message: string) => {
      void worker.terminate()
      reject(new HarnessError('ENGINE_START_FAILED', `embedded engine: a database in a worker thread did not start: ${message}`, { hint: snapshot ? 'The snapshot must be a tar made by dumpDataDir() of this same PGlite build (gzip or plain); check that the file is complete.' : 'Run `pnpm install`; each embedded database needs about 150 MB of free memory.' }))
    }
    worker.once('error', (e) => fail(e.message))
    worker.once('exit', (code) => fail(`the worker exited with code ${code}`))
    worker.once('message', (m: { port?: number; error?: string }) => (m.port ? resolve(m.port) : fail(m.error ?? 'no port')))
  })
  worker.removeAllListeners('exit')
  worker.removeAllListeners('error')

  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  let next = 0
  const gone = (why: string) => {
    for (const p of pending.values()) p.reject(new HarnessError('CONNECTION_FAILED', `embedded engine: the database's worker thread ${why}`))
    pending.clear()
  }
  // A worker that dies (out of memory) ends its connections: the clients see the loss, and so do requests.
  worker.on('error', (e) => gone(`failed: ${e.message}`))
  worker.on('exit', (code) => gone(`exited with code ${code}`))
  worker.on('message', (m: { id: number; value?: unknown; error?: string; missing?: boolean }) => {
    const p = pending.get(m.id)
    if (!p) return
    pending.delete(m.id)
    if (m.error === undefined) p.resolve(m.value)
    else p.reject(m.missing ? toolMissing(m.error) : new Error(m.error))
  })
  const ask = <T>(op: string, args: Record<string, unknown> = {}): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const id = ++next
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject })
      worker.postMessage({ id, op, ...args })
    })

  let stopped: Promise<void> | undefined
  return {
    port,
    physical: {
      dumpDataDir: async (compression = 'none') => new Blob([await ask<Uint8Array<ArrayBuffer>>('dumpDataDir', { compression })]),
      pgDump: (args) => ask<Uint8Array>('pgDump', { args }),
    },
    stop() {
      stopped ??= (async () => {
        // Closing the instance can hang on a client that never hung up: give it a moment, then end the thread.
        await Promise.race([ask('stop').catch(() => {}), new Promise((r) => setTimeout(r, 5_000).unref())])
        await worker.terminate()
      })()
      return stopped
    },
  }
}
