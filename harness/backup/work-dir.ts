/**
 * Private scratch directories for plaintext copies of a database (pg_restore's script), and the
 * liveness test of the process that wrote a partial backup or a scratch directory.
 *
 * A scratch directory is made by mkdtemp (mode 0700: no one else can read what is inside), goes
 * on every exit path this process sees (return, throw, Ctrl-C, SIGTERM, process.exit), and one a
 * SIGKILL left behind is removed by the next caller: its writer's process id is in its name.
 */
import { rmSync } from 'node:fs'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { registerCleanup } from '../engines/cleanup.ts'

/** Whether a process with this id runs (EPERM: it runs, as another user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export interface WorkDir {
  dir: string
  remove(): Promise<void>
}

/** A fresh 0700 directory `<tmp>/<prefix><pid>-XXXXXX`, after sweeping those of dead processes. */
export async function openWorkDir(prefix: string, tmpRoot: string = os.tmpdir()): Promise<WorkDir> {
  const pattern = new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(\\d+)-`)
  for (const n of await readdir(tmpRoot).catch(() => [] as string[])) {
    const pid = Number(pattern.exec(n)?.[1] ?? NaN)
    if (Number.isInteger(pid) && pid !== process.pid && !processAlive(pid)) await rm(path.join(tmpRoot, n), { recursive: true, force: true }).catch(() => {})
  }
  const dir = await mkdtemp(path.join(tmpRoot, `${prefix}${process.pid}-`))
  const unregister = registerCleanup(`scratch directory ${dir}`, () => rm(dir, { recursive: true, force: true }), () => rmSync(dir, { recursive: true, force: true }))
  return {
    dir,
    async remove() {
      await rm(dir, { recursive: true, force: true }).catch(() => {})
      unregister()
    },
  }
}
