/**
 * The data directory of a new PGlite instance, written straight into its in-memory file system
 * from files read once, and taken back from an instance as it shuts down.
 *
 * PGlite's `loadDataDir` untars at every boot: it parses the ~28 MB tar of an empty cluster, and
 * for each of its ~1,000 entries asks Emscripten's file system whether every parent directory
 * exists (a path walk per prefix), then writes the file through another path walk. A CPU profile
 * of fresh databases put ~300 ms of each boot there. The engine's own tars (the pristine cluster,
 * the cached base) are read here once per engine start (tar-stream) into directories and files; a
 * boot makes each directory and file as a node of Emscripten's MEMFS under its parent's node
 * (about 25 ms), or, should that file system's shape ever differ, through its public calls
 * (about 110 ms). Snapshots a caller hands in (`createDatabase(label, { from })`) still go through
 * `loadDataDir`, which accepts gzip and reports a damaged tar.
 *
 * Why a shut-down cluster: `dumpDataDir` copies a running instance, so every database booted from
 * that copy first recovers from a crash (replays the WAL from the last checkpoint and writes an
 * end-of-recovery checkpoint): ~125 ms and ~200 ms of CPU of every fresh database. The engine's
 * caches are therefore taken as an instance closes (`capture`), after PostgreSQL's shutdown
 * checkpoint: databases booted from them start as after a clean stop.
 *
 * The files go in through a MemoryFS (PGlite's default file system) whose `initialSyncFs` fills
 * PGDATA: PGlite calls it once the module runs and before it looks for PG_VERSION; finding one, it
 * resumes that cluster. The bytes sit in one SharedArrayBuffer, so every worker thread reads the
 * same memory instead of a copy (each file is copied out as its node is made). The body is
 * JavaScript source because the same text runs here and in a database's worker thread
 * (embedded-thread.ts).
 */
import { open } from 'node:fs/promises'
import { gunzipSync } from 'node:zlib'
import { writeAtomic } from '../util/write-atomic.ts'
import { readTar, writeTar } from '../util/tar.ts'

/** A data directory: directories in order (parents first), then files over one buffer. */
export interface DataDirFiles {
  dirs: string[]
  files: { path: string; start: number; end: number }[]
  bytes: SharedArrayBuffer
}

/**
 * Where PGlite keeps its cluster (its PREFIX, /tmp/pglite, plus /base): fixed in PGlite's build
 * and not exported. A build that moved it would find no PG_VERSION and run initdb instead, which
 * the suite notices (the database would not be the engine's cluster).
 */
export const PGDATA = '/tmp/pglite/base'

/** Reads a plain tar (as toTar writes it, or PGlite's own dumpDataDir) into directories and files. */
export async function readDataDir(tarBytes: ArrayBuffer): Promise<DataDirFiles> {
  const dirs: string[] = []
  const parts: { path: string; data: Uint8Array }[] = []
  for (const { header, data } of await readTar(new Uint8Array(tarBytes))) {
    const name = '/' + header.name.replace(/^\/+|\/+$/g, '')
    if (header.type === 'directory') dirs.push(name)
    else if (header.type === 'file') parts.push({ path: name, data })
  }
  return pack(dirs, parts)
}

/**
 * The engine's kept clusters (embedded.ts) as files of their own format: a header line, the
 * length of an index, the index (directories, and each file's place in the bytes, as JSON), then
 * the files' bytes, read straight into the shared memory the instances boot from. A tar of the
 * same cluster (~30 MB) took 420–520 ms to read and lay out per engine start, twice (the empty
 * cluster, the engine's own database); this format is one read. A file that is not whole or not
 * of this format is refused (undefined): the caller makes the cluster again.
 */
const CACHE_MAGIC = 'pgverify-datadir 1\n'
/** The header line, then the index's length (uint32, little-endian). */
const HEAD_LENGTH = Buffer.byteLength(CACHE_MAGIC) + 4

export async function writeDataDirFile(file: string, dir: DataDirFiles): Promise<void> {
  const index = Buffer.from(JSON.stringify({ dirs: dir.dirs, files: dir.files.map((f) => [f.path, f.start, f.end]), bytes: dir.bytes.byteLength }))
  const head = Buffer.alloc(HEAD_LENGTH)
  head.write(CACHE_MAGIC)
  head.writeUInt32LE(index.length, head.length - 4)
  await writeAtomic(file, Buffer.concat([head, index, new Uint8Array(dir.bytes)]))
}

export async function readDataDirFile(file: string): Promise<DataDirFiles | undefined> {
  const fh = await open(file).catch(() => undefined)
  if (!fh) return undefined
  try {
    const size = (await fh.stat()).size
    const head = Buffer.alloc(HEAD_LENGTH)
    if ((await fh.read(head, 0, head.length, 0)).bytesRead !== head.length || head.subarray(0, head.length - 4).toString() !== CACHE_MAGIC) return undefined
    const indexLength = head.readUInt32LE(head.length - 4)
    const index = Buffer.alloc(indexLength)
    if ((await fh.read(index, 0, indexLength, head.length)).bytesRead !== indexLength) return undefined
    const parsed = JSON.parse(index.toString()) as { dirs: string[]; files: [string, number, number][]; bytes: number }
    if (size !== head.length + indexLength + parsed.bytes) return undefined
    const bytes = new SharedArrayBuffer(parsed.bytes)
    const view = new Uint8Array(bytes)
    for (let at = 0; at < parsed.bytes; ) {
      const n = (await fh.read(view, at, parsed.bytes - at, head.length + indexLength + at)).bytesRead
      if (n === 0) return undefined
      at += n
    }
    return { dirs: parsed.dirs, files: parsed.files.map(([path, start, end]) => ({ path, start, end })), bytes }
  } catch {
    return undefined
  } finally {
    await fh.close()
  }
}

/**
 * The files of a snapshot made by dumpDataDir (a tar, plain or gzip-compressed), ready to boot
 * an instance from (dataDirFs).
 */
export async function snapshotFiles(tar: Uint8Array): Promise<DataDirFiles> {
  const plain = tar[0] === 0x1f && tar[1] === 0x8b ? gunzipSync(tar) : tar
  return readDataDir(plain.buffer.slice(plain.byteOffset, plain.byteOffset + plain.byteLength) as ArrayBuffer)
}

/** A tar of `dir` (the engine's cache files, a running instance's files), readable by readDataDir and by PGlite's loadDataDir. */
export function toTar(dir: RunningFiles | DataDirFiles): Promise<Uint8Array> {
  const bytes = new Uint8Array(dir.bytes)
  return writeTar([
    ...dir.dirs.map((d) => ({ header: { name: d, type: 'directory' as const, mode: 0o700 } })),
    ...dir.files.map((f) => ({ header: { name: f.path, mode: 0o600 }, data: bytes.subarray(f.start, f.end) })),
  ])
}

/**
 * `(dirs, parts, shared) => { dirs, files, bytes }`: files laid one after another in one buffer (a
 * SharedArrayBuffer when `shared`, which every worker reads; else an ArrayBuffer, which a worker
 * hands over without a copy). JavaScript source: a database's worker thread runs it too.
 */
export const PACK_BODY = `
  const bytes = new (shared ? SharedArrayBuffer : ArrayBuffer)(parts.reduce((s, p) => s + p.data.length, 0))
  const view = new Uint8Array(bytes)
  let at = 0
  const files = parts.map((p) => {
    view.set(p.data, at)
    at += p.data.length
    return { path: p.path, start: at - p.data.length, end: at }
  })
  return { dirs, files, bytes }
`
const packAny = new Function('dirs', 'parts', 'shared', PACK_BODY) as (dirs: string[], parts: { path: string; data: Uint8Array }[], shared: boolean) => RunningFiles
const pack = (dirs: string[], parts: { path: string; data: Uint8Array }[]): DataDirFiles => packAny(dirs, parts, true) as DataDirFiles

/**
 * `(FS, PGDATA, shared) => DataDirFiles` (with `pack`, PACK_BODY, in scope): the directories
 * (parents first) and files under PGDATA of an instance's Emscripten file system, the files
 * copied into one buffer (shared: the engine's kept clusters; not: a copy a worker hands over).
 * JavaScript source for the same reason as DATADIR_FS_BODY.
 */
export const READ_FILES_BODY = `
  const dirs = []
  const files = []
  const walk = (rel) => {
    for (const name of FS.readdir(PGDATA + rel)) {
      if (name === '.' || name === '..') continue
      const p = rel + '/' + name
      if (FS.isDir(FS.stat(PGDATA + p).mode)) {
        dirs.push(p)
        walk(p)
      } else files.push({ path: p, data: FS.readFile(PGDATA + p) })
    }
  }
  walk('')
  return pack(dirs, files, shared)
`

/**
 * `(MemoryFS, PGDATA, dataDir, capture) => Filesystem` (with `readFiles`, READ_FILES_BODY, in scope): a MemoryFS that writes `dataDir` (when
 * given) into PGDATA when PGlite first syncs it, and, when `capture` is given, hands it PGDATA's
 * directories and files as the instance closes (after PostgreSQL's shutdown, before the file
 * system goes).
 */
export const DATADIR_FS_BODY = `
  const write = (FS) => {
    const bytes = new Uint8Array(dataDir.bytes)
    FS.mkdirTree(PGDATA)
    const MEMFS = FS.filesystems && FS.filesystems.MEMFS
    const root = FS.lookupPath(PGDATA).node
    if (MEMFS && typeof MEMFS.createNode === 'function' && MEMFS.ops_table && root.node_ops === MEMFS.ops_table.dir.node) {
      const nodes = new Map([['', root]])
      const parent = (p) => nodes.get(p.slice(0, p.lastIndexOf('/')))
      const base = (p) => p.slice(p.lastIndexOf('/') + 1)
      for (const d of dataDir.dirs) nodes.set(d, MEMFS.createNode(parent(d), base(d), 0o40777, 0))
      for (const f of dataDir.files) {
        const node = MEMFS.createNode(parent(f.path), base(f.path), 0o100666, 0)
        node.contents = bytes.slice(f.start, f.end)
        node.usedBytes = f.end - f.start
      }
      return
    }
    for (const d of dataDir.dirs) if (!FS.analyzePath(PGDATA + d).exists) FS.mkdir(PGDATA + d)
    for (const f of dataDir.files) FS.writeFile(PGDATA + f.path, bytes.subarray(f.start, f.end))
  }
  class DataDirMemoryFS extends MemoryFS {
    async initialSyncFs() {
      if (dataDir) write(this.pg.Module.FS)
    }
    async closeFs() {
      if (capture) capture(readFiles(this.pg.Module.FS, PGDATA, true))
      return super.closeFs()
    }
  }
  return new DataDirMemoryFS()
`

type MemoryFSClass = typeof import('@electric-sql/pglite').MemoryFS
type Filesystem = InstanceType<MemoryFSClass>
type EmscriptenFS = unknown
type RunningFiles = Omit<DataDirFiles, 'bytes'> & { bytes: ArrayBufferLike }
const readFilesWith = new Function('FS', 'PGDATA', 'shared', 'pack', READ_FILES_BODY) as (FS: EmscriptenFS, pgdata: string, shared: boolean, pack: typeof packAny) => RunningFiles
const readFiles = (FS: EmscriptenFS, pgdata: string, shared: boolean) => readFilesWith(FS, pgdata, shared, packAny)
const make = new Function('MemoryFS', 'PGDATA', 'dataDir', 'capture', 'readFiles', DATADIR_FS_BODY) as (MemoryFS: MemoryFSClass, pgdata: string, dataDir: DataDirFiles | undefined, capture: ((c: DataDirFiles) => void) | undefined, read: typeof readFiles) => Filesystem

/** A running instance's data directory as it is on its file system (checkpoint first: dirty pages are in shared buffers). */
export const runningFiles = (FS: EmscriptenFS): RunningFiles => readFiles(FS, PGDATA, false)

/** A file system for one PGlite instance (`PGlite.create({ fs })`) that boots the cluster in `dataDir`. */
export function dataDirFs(MemoryFS: MemoryFSClass, dataDir: DataDirFiles): Filesystem {
  return make(MemoryFS, PGDATA, dataDir, undefined, readFiles)
}

/**
 * A file system for an instance whose cluster is wanted once it is shut down: from `dataDir`, or
 * made by initdb when there is none. `closed` resolves with the cluster when the instance closes.
 */
export function capturingFs(MemoryFS: MemoryFSClass, dataDir?: DataDirFiles): { fs: Filesystem; closed: Promise<DataDirFiles> } {
  let done!: (d: DataDirFiles) => void
  const closed = new Promise<DataDirFiles>((resolve) => (done = resolve))
  const fs = make(MemoryFS, PGDATA, dataDir, done, readFiles)
  return { fs, closed }
}
