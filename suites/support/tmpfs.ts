/** A tmpfs of the test's own, for situations a test must make: a small disk, a memory file system of a given size. */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, statfsSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'

/** Mounts a tmpfs of `size` (bytes, or mount's own units such as "4g"; pages are used only when written); the reason where this process may not mount. */
export function mountTmpfs(size: number | string, prefix = 'pgverify-tmpfs-'): { dir: string } | { reason: string } {
  if (process.getuid?.() !== 0) return { reason: 'a tmpfs of our own needs root (mount -t tmpfs)' }
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix))
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'tmpfs', dir], { stdio: 'pipe' })
    return { dir }
  } catch (e) {
    rmSync(dir, { recursive: true, force: true })
    return { reason: `mount -t tmpfs failed: ${(e as Error).message}` }
  }
}

/** Unmounts (lazily: a file still open there does not keep it) and removes what mountTmpfs made; nothing for a reason. */
export function unmountTmpfs(m: { dir: string } | { reason: string }): void {
  if (!('dir' in m)) return
  execFileSync('umount', ['-l', m.dir])
  rmSync(m.dir, { recursive: true, force: true })
}

/** The file fillLeaving writes; remove it to give the room back. */
export const FILLER = 'filler.bin'

export const freeBytes = (dir: string): number => {
  const s = statfsSync(dir)
  return Number(s.bavail) * Number(s.bsize)
}

/**
 * Fills `dir`'s file system until `leave` bytes remain free (fallocate: instant, no data written).
 * Something writing there meanwhile can take room between the measure and the fallocate (CI saw
 * "No space left on device" from fallocate itself): then it measures again and retries.
 */
export function fillLeaving(dir: string, leave: number): void {
  const file = path.join(dir, FILLER)
  for (let attempt = 1; ; attempt++) {
    rmSync(file, { force: true })
    const fill = freeBytes(dir) - leave
    if (fill <= 0) return
    try {
      execFileSync('fallocate', ['-l', String(fill), file], { stdio: 'pipe' })
      return
    } catch (e) {
      if (attempt >= 20) throw e
    }
  }
}
