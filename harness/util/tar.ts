/**
 * Whole tars in memory, through tar-stream: the entries of an archive with their bytes, and an
 * archive from entries. For small archives the engines keep or rewrite (the embedded engine's
 * cached clusters, its TimescaleDB bundle); streams of unknown size use tar-stream directly.
 */
import { Readable } from 'node:stream'
import tar, { type Header } from 'tar-stream'

export interface TarEntry {
  header: Header
  data: Buffer
}

/** Every entry of a plain (not gzipped) tar, in the archive's order. */
export async function readTar(bytes: Uint8Array): Promise<TarEntry[]> {
  const extract = tar.extract()
  Readable.from([Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)]).pipe(extract)
  const out: TarEntry[] = []
  for await (const entry of extract) {
    const chunks: Buffer[] = []
    for await (const chunk of entry) chunks.push(chunk as Buffer)
    out.push({ header: entry.header, data: Buffer.concat(chunks) })
  }
  return out
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
