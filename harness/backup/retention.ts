/**
 * Retention (seed 000: "automatic cleanup of old backups, 7-day retention"), with three rules
 * the seed's `find -mtime +7 -exec rm -rf` does not keep:
 *   - never the newest complete backup, however old it is;
 *   - never a backup still being written (`.pre-migration-….partial-PID` whose process runs), nor
 *     anything else without a readable manifest (a foreign directory is not ours to delete);
 *   - but an interrupted backup (the partial directory of a process that is gone) is removed
 *     whatever its age: it never becomes a backup, and it holds a copy of the data;
 *   - age comes from the manifest's createdAt, not the directory's mtime (a copy or `touch` does
 *     not make a backup young or old).
 * `dryRun` lists what would go without deleting.
 */
import { readdir, readFile, rm } from 'node:fs/promises'
import path from 'node:path'
import { processAlive } from './work-dir.ts'
import { BACKUP_NAME_RE, MANIFEST_JSON, PARTIAL_RE } from './layout.ts'

export interface PruneOptions {
  /** Backups older than this many days go (default 7). */
  keepDays?: number
  dryRun?: boolean
  now?: Date
}

export interface PruneEntry {
  name: string
  dir: string
  createdAt?: string
  ageDays?: number
  reason: string
}

export interface PruneResult {
  root: string
  keepDays: number
  dryRun: boolean
  /** Removed (or, in a dry run, would be removed). */
  removed: PruneEntry[]
  kept: PruneEntry[]
  /** Left alone without judging their age: in progress, interrupted, or not a backup. */
  skipped: PruneEntry[]
}

const DAY = 86_400_000


export async function pruneBackups(root: string, options: PruneOptions = {}): Promise<PruneResult> {
  const keepDays = options.keepDays ?? 7
  const now = options.now ?? new Date()
  const abs = path.resolve(root)
  const res: PruneResult = { root: abs, keepDays, dryRun: Boolean(options.dryRun), removed: [], kept: [], skipped: [] }
  let entries: { name: string; isDir: boolean }[]
  try {
    entries = (await readdir(abs, { withFileTypes: true })).map((e) => ({ name: e.name, isDir: e.isDirectory() }))
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return res
    throw e
  }
  const complete: (PruneEntry & { created: number })[] = []
  for (const e of entries.filter((x) => x.isDir).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const dir = path.join(abs, e.name)
    const partial = PARTIAL_RE.exec(e.name)
    if (partial) {
      const pid = Number(partial[1])
      if (processAlive(pid)) res.skipped.push({ name: e.name, dir, reason: `being written (process ${pid} is running)` })
      else res.removed.push({ name: e.name, dir, reason: `an interrupted backup (process ${pid} is gone): partial, never a backup, and it holds a copy of the data` })
      continue
    }
    if (!BACKUP_NAME_RE.test(e.name)) continue
    let createdAt: string | undefined
    try {
      createdAt = (JSON.parse(await readFile(path.join(dir, MANIFEST_JSON), 'utf8')) as { createdAt?: string }).createdAt
    } catch {
      createdAt = undefined
    }
    const created = createdAt ? Date.parse(createdAt) : NaN
    if (!createdAt || Number.isNaN(created)) {
      res.skipped.push({ name: e.name, dir, reason: `no readable ${MANIFEST_JSON}: not a complete backup, left alone` })
      continue
    }
    complete.push({ name: e.name, dir, createdAt, created, ageDays: (now.getTime() - created) / DAY, reason: '' })
  }
  complete.sort((a, b) => b.created - a.created)
  for (const [i, b] of complete.entries()) {
    const { created: _created, ...entry } = b
    const age = `${entry.ageDays!.toFixed(1)} days old`
    if (i === 0) res.kept.push({ ...entry, reason: `newest backup (${age}): always kept` })
    else if (entry.ageDays! > keepDays) res.removed.push({ ...entry, reason: `${age}, older than ${keepDays} days` })
    else res.kept.push({ ...entry, reason: `${age}, within ${keepDays} days` })
  }
  if (!res.dryRun) for (const r of res.removed) await rm(r.dir, { recursive: true, force: true })
  return res
}
