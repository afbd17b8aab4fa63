/**
 * Where the native engine puts its disposable cluster: the one place that decides.
 *
 * A verify run creates and drops dozens of databases, each a few thousand files. On ext4 the
 * inode allocator slows down as recently deleted inodes pile up (perf, native full verify:
 * `find_inode_bit`, `recently_deleted` and `find_get_block_common` took 22 % of all CPU, and a
 * run on /tmp took 26–27 s against 17–19 s on /dev/shm, interleaved on one machine). A tmpfs
 * has no such cost, and the cluster is thrown away anyway (fsync is off already). So, in order:
 *   1. PGVERIFY_CLUSTER_DIR, when set: the user's choice;
 *   2. TMPDIR, when set: the user chose where temporary files go, and we follow;
 *   3. /dev/shm, when it is a tmpfs this process may write, with room to spare (MIN_FREE);
 *      containers give it 64 MB by default, which falls through to 4;
 *   4. the system's temporary directory.
 */
import { constants } from 'node:fs'
import { access, statfs } from 'node:fs/promises'
import os from 'node:os'
import type { Environment } from '../config/environment.ts'

export interface ClusterDir {
  dir: string
  /** Why this one, for the engine's start line (e.g. "tmpfs /dev/shm, 11.7 GiB free"). */
  source: string
}

const SHM = '/dev/shm'
const TMPFS_MAGIC = 0x01021994
// Ten times what a full verify of MS5.0 held at its peak (187 MB, sampled every 0.2 s): room for
// larger sets and for rehearse's data, and a tmpfs nearly full is someone else's memory.
const MIN_FREE = 2 * 1024 ** 3

/** `shm`: the memory file system to prefer; only suites name another (a tmpfs of their own). */
export async function clusterDir(env: Pick<Environment, 'clusterDir' | 'tmpDir'>, shm = SHM): Promise<ClusterDir> {
  if (env.clusterDir) return { dir: env.clusterDir, source: 'PGVERIFY_CLUSTER_DIR' }
  if (env.tmpDir) return { dir: os.tmpdir(), source: 'TMPDIR' }
  const free = await roomyTmpfs(shm)
  if (free) return { dir: shm, source: `tmpfs ${shm}, ${(free / 1024 ** 3).toFixed(1)} GiB free` }
  return { dir: os.tmpdir(), source: 'the system temporary directory' }
}

/** The directories a cluster of an earlier process may have been left in, whatever it chose. */
export function clusterDirCandidates(chosen: ClusterDir): string[] {
  return [...new Set([chosen.dir, os.tmpdir(), SHM])]
}

async function roomyTmpfs(dir: string): Promise<number | undefined> {
  try {
    const s = await statfs(dir)
    await access(dir, constants.W_OK | constants.X_OK)
    const free = s.bavail * s.bsize
    return s.type === TMPFS_MAGIC && free >= MIN_FREE ? free : undefined
  } catch {
    return undefined
  }
}
