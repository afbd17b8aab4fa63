/**
 * Removes native clusters left behind by harness processes that died without cleaning up
 * (SIGKILL, OOM killer, a CI runner cancelling hard). Each native temp dir carries an
 * owner.json naming the node process that made it; if that process is gone, nobody will ever
 * stop the server or delete the dir, so the next start() does it.
 */
import { existsSync, readFileSync } from 'node:fs'
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { asServerUser, run } from './pg-bin.ts'

export const NATIVE_DIR_PREFIX = 'pgverify-native-'
export const OWNER_FILE = 'owner.json'
// A dir without owner.json was abandoned between mkdtemp and the first write (owner.json is
// written before initdb, so no server can be running in it); give a live writer time anyway.
const UNOWNED_GRACE_MS = 10 * 60_000

export interface OwnerRecord {
  /** pid of the node process that owns the cluster */
  pid: number
  port: number | null
  pgdata: string
  /** bin dir of the install that created it, so the matching pg_ctl stops it */
  binDir: string
}

export async function writeOwner(dir: string, owner: OwnerRecord): Promise<void> {
  await writeFile(path.join(dir, OWNER_FILE), JSON.stringify(owner, null, 2) + '\n')
}

/** Whether pid is a live process; zombies (exited, not yet collected) count as dead. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch (e) {
    // EPERM: it exists but belongs to someone else, so it is alive.
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
  if (!existsSync('/proc/self/stat')) return true // no /proc (macOS): trust kill()
  try {
    // /proc/<pid>/stat: "pid (comm) S …"; comm may contain spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.charAt(stat.lastIndexOf(')') + 2) !== 'Z'
  } catch {
    return false // vanished since kill()
  }
}

async function readOwner(dir: string): Promise<OwnerRecord | undefined> {
  try {
    const o = JSON.parse(await readFile(path.join(dir, OWNER_FILE), 'utf8')) as Partial<OwnerRecord>
    if (typeof o.pid !== 'number' || typeof o.pgdata !== 'string' || typeof o.binDir !== 'string') return undefined
    return { pid: o.pid, port: typeof o.port === 'number' ? o.port : null, pgdata: o.pgdata, binDir: o.binDir }
  } catch {
    return undefined
  }
}

/** Stops and deletes every stale native cluster under tmpRoot; returns the dirs reaped. */
export async function reapStaleClusters(log: (line: string) => void, tmpRoot: string = os.tmpdir()): Promise<string[]> {
  let names: string[]
  try {
    names = (await readdir(tmpRoot)).filter((n) => n.startsWith(NATIVE_DIR_PREFIX))
  } catch {
    return []
  }
  const reaped: string[] = []
  for (const name of names) {
    const dir = path.join(tmpRoot, name)
    const owner = await readOwner(dir)
    if (owner && alive(owner.pid)) continue
    if (!owner) {
      const st = await stat(dir).catch(() => undefined)
      if (!st?.isDirectory() || Date.now() - st.mtimeMs < UNOWNED_GRACE_MS) continue
    }
    let stopped = ''
    if (owner && existsSync(path.join(owner.pgdata, 'postmaster.pid'))) {
      const cmd = asServerUser(path.join(owner.binDir, 'pg_ctl'), ['stop', '-D', owner.pgdata, '-m', 'immediate', '-w', '-t', '30'])
      const r = await run(cmd.file, cmd.args, { cwd: dir, timeoutMs: 40_000 })
      // If this fails the dir goes anyway: a postmaster whose lock file vanished shuts itself down.
      stopped = r.code === 0 ? ', server stopped' : `, pg_ctl stop failed: ${(r.stderr || r.stdout).trim().split('\n').pop() ?? ''}`
    }
    try {
      await rm(dir, { recursive: true, force: true })
      reaped.push(dir)
      const who = owner ? `owner pid ${owner.pid} is gone${owner.port ? `, port ${owner.port}` : ''}` : 'no owner.json'
      log(`reaped stale native cluster ${dir} (${who}${stopped})`)
    } catch (e) {
      log(`could not remove stale native cluster ${dir}: ${(e as Error).message}`)
    }
  }
  return reaped
}
