/** Writes a file so that a reader never sees it half-written: temp name, fsync, rename. */
import { randomBytes } from 'node:crypto'
import { mkdir, open, rename, rm } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'

export async function writeAtomic(file: string, content: string | Uint8Array): Promise<void> {
  const dir = dirname(resolve(file))
  await mkdir(dir, { recursive: true })
  const tmp = join(dir, `.${file.split(/[\\/]/).pop()}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
  try {
    const fh = await open(tmp, 'wx', 0o644)
    try {
      await fh.writeFile(content, typeof content === 'string' ? 'utf8' : undefined)
      await fh.sync()
    } finally {
      await fh.close()
    }
    await rename(tmp, file)
  } catch (e) {
    await rm(tmp, { force: true })
    throw e
  }
}
