/**
 * Writing large output (data exports, dumps) so that a full or failing disk ends the work at once.
 *
 * Why not a WriteStream: its error arrives as an event. When ENOSPC struck while the caller was
 * awaiting the database (not `drain`), the stream was destroyed, later writes returned false and
 * `once(out, 'drain')` waited forever, with the export's transaction (and its locks) left open on
 * the server. Here every write is a promise of the file handle that rejects with the errno, so the
 * caller's own try/finally closes the session and removes the partial output.
 */
import { open, rm, type FileHandle } from 'node:fs/promises'

/** Buffered this much before one write(2): few system calls, little memory. */
const CHUNK = 1 << 20

export interface OutFile {
  readonly path: string
  /** Bytes accepted so far (UTF-8). */
  readonly bytes: number
  write(text: string): Promise<void>
  /** Flushes and closes; rejects on a write error (the file is then removed). */
  close(): Promise<void>
  /** Closes and removes the file; never rejects. */
  discard(): Promise<void>
}

/** Creates `file` (mode 0600 by default: dumps hold the database's data) for buffered, fail-fast writing. */
export async function openOutFile(file: string, mode = 0o600): Promise<OutFile> {
  const fh: FileHandle = await open(file, 'w', mode)
  let pending: string[] = []
  let pendingBytes = 0
  let bytes = 0
  let closed = false
  const flush = async () => {
    if (pendingBytes === 0) return
    const text = pending.join('')
    pending = []
    pendingBytes = 0
    try {
      await fh.write(text, null, 'utf8')
    } catch (e) {
      // A file handle's errors carry no path: the message must name the file.
      if (e && typeof e === 'object' && !('path' in e)) Object.assign(e, { path: file })
      throw e
    }
  }
  const discard = async () => {
    if (!closed) {
      closed = true
      await fh.close().catch(() => {})
    }
    await rm(file, { force: true }).catch(() => {})
  }
  return {
    path: file,
    get bytes() {
      return bytes
    },
    async write(text: string) {
      const n = Buffer.byteLength(text)
      bytes += n
      pending.push(text)
      pendingBytes += n
      if (pendingBytes >= CHUNK) await flush()
    },
    async close() {
      try {
        await flush()
        await fh.sync()
        closed = true
        await fh.close()
      } catch (e) {
        await discard()
        throw e
      }
    },
    discard,
  }
}

/** Errnos that mean the disk, not the program, failed: the message names the file and what to do. */
const DISK: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'the disk quota is exhausted',
  EIO: 'an I/O error from the device',
  EROFS: 'the file system is read-only',
  EFBIG: 'the file is larger than the file system allows',
}

/** The disk failure behind `e` ("no space left on the device"), or undefined when it is not one. */
export function diskFailure(e: unknown): { errno: string; reason: string } | undefined {
  const errno = (e as { code?: unknown } | null)?.code
  return typeof errno === 'string' && errno in DISK ? { errno, reason: DISK[errno]! } : undefined
}
