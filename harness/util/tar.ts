/**
 * Whole tars in memory: the entries of an archive with their bytes (modern-tar), and an archive
 * from entries (tar-stream). For archives the engines keep or rewrite (the embedded engine's
 * cached clusters and snapshots, its TimescaleDB bundle); streams of unknown size use tar-stream
 * directly.
 *
 * Reading is on the path of every embedded engine start (two cached clusters, ~30 MB each) and of
 * every database booted from a snapshot: tar-stream's extract, an entry at a time through streams,
 * took 280–450 ms per 30 MB; modern-tar's unpackTar 14–170 ms (less once warm). Writing stays
 * with tar-stream: modern-tar's packTar was slower (190–280 ms against ~145 ms for 35 MB).
 */
import { unpackTar } from 'modern-tar'
import tar, { type Header } from 'tar-stream'

export interface TarEntry {
  header: Pick<Header, 'name' | 'type'> & Partial<Header>
  data: Uint8Array
}

/** Every entry of a plain (not gzipped) tar, in the archive's order. */
export async function readTar(bytes: Uint8Array): Promise<TarEntry[]> {
  return (await unpackTar(bytes)).map((e) => ({
    header: { name: e.header.name, type: e.header.type as Header['type'], size: e.header.size, mode: e.header.mode, mtime: e.header.mtime },
    data: e.data ?? new Uint8Array(0),
  }))
}

/** A plain tar of `entries`, in their order. */
export async function writeTar(entries: Iterable<{ header: Partial<Header> & Pick<Header, 'name'>; data?: Uint8Array }>): Promise<Buffer> {
  const pack = tar.pack()
  const chunks: Buffer[] = []
  pack.on('data', (b: unknown) => chunks.push(b as Buffer))
  const ended = new Promise<void>((resolve, reject) => pack.on('end', resolve).on('error', reject))
  // An entry without data (a directory) is written at once; one with data is given it whole.
  for (const e of entries) e.data === undefined ? pack.entry(e.header) : pack.entry(e.header, e.data)
  pack.finalize()
  await ended
  return Buffer.concat(chunks)
}
