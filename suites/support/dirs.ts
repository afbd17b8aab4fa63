/** Throw-away copies of migration directories that a test may break on purpose. */
import { chmodSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll } from 'vitest'

export const ROOT = path.resolve(import.meta.dirname, '../..')
export const MIGRATIONS = path.join(ROOT, 'migrations')
export const PLAIN = path.join(ROOT, 'fixtures/plain-migrations')

const made: string[] = []
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true })
})

export function copyDir(from: string, files?: (name: string) => boolean): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pgverify-migs-'))
  made.push(dir)
  cpSync(from, dir, { recursive: true, filter: (src) => src === from || !files || files(path.basename(src)) })
  return dir
}

export function emptyDir(prefix = 'pgverify-migs-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix))
  made.push(dir)
  return dir
}

export function write(dir: string, file: string, content: string | Buffer): void {
  writeFileSync(path.join(dir, file), content)
}

export function edit(dir: string, file: string, fn: (s: string) => string): void {
  const p = path.join(dir, file)
  writeFileSync(p, fn(readFileSync(p, 'utf8')))
}

/**
 * Runs `fn` with TMPDIR (what os.tmpdir() follows, so where the engines keep their caches) set to
 * an empty directory of its own, traversable by the server's OS user; TMPDIR is put back after.
 */
export async function withOwnTmpdir<T>(prefix: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const saved = process.env.TMPDIR
  const dir = emptyDir(prefix)
  chmodSync(dir, 0o755)
  process.env.TMPDIR = dir
  try {
    return await fn(dir)
  } finally {
    if (saved === undefined) delete process.env.TMPDIR
    else process.env.TMPDIR = saved
  }
}
