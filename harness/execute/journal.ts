/**
 * The execute journal: what an interrupted `pnpm execute` leaves so that no later command takes
 * a half-migrated database as a new baseline without saying so.
 *
 * Written next to the pre-migration backup (`<backup root>/execute-<id>.journal.json`, atomically)
 * once the backup is verified and before the first migration runs: which database, which backup,
 * the version the run started from, and each phase as it completes. A run that ends in a known
 * state (migrated, restored with 0 differences, nothing changed) removes it. One that is killed,
 * loses its machine or fails its rollback leaves it, and every later `execute`, `restore` and
 * `migrate up/down` against the same database finds it (its writer's process is gone) and offers
 * the two safe ways out: finish the rollback (restore that backup in place and prove it with the
 * round-trip comparison) or accept the current state explicitly.
 */
import { readdir, readFile, rm } from 'node:fs/promises'
import path from 'node:path'
import { processAlive } from '../backup/work-dir.ts'
import { HarnessError } from '../errors.ts'
import { connect } from '../runner/connect.ts'
import { redactUrl } from '../util/redact.ts'
import { qualify } from '../util/sql.ts'
import { writeAtomic } from '../util/write-atomic.ts'

export const FINISH_ROLLBACK_FLAG = '--finish-rollback'
export const ACCEPT_STATE_FLAG = '--accept-current-state'

const SUFFIX = '.journal.json'

export interface JournalData {
  format: 'pgverify-execute-journal/1'
  /** The execution id (its log and report carry the same). */
  id: string
  /** Which database: host, port, name and oid (no password), as databaseKey() reads it. */
  database: string
  url: string
  pid: number
  startedAt: string
  versionBefore: number
  /** The version the run was going to. */
  versionTarget: number
  backup: { dir: string; name: string }
  /** Where the migration log lives (to say which version the database is at now). */
  log: { schema: string; table: string }
  /** Phases completed, in order, with when. */
  phases: { id: string; at: string; note?: string }[]
}

export interface Journal extends JournalData {
  file: string
}

/** One identity for "this database" across URLs of the same server (the oid survives renames of the URL, not of the cluster). */
export async function databaseKey(url: string): Promise<string> {
  const c = await connect(url, { applicationName: 'pgverify-journal' })
  try {
    const r = (await c.query<{ db: string; oid: string; port: string }>(`SELECT current_database() AS db, (SELECT oid::text FROM pg_database WHERE datname = current_database()) AS oid, current_setting('port') AS port`)).rows[0]!
    return `${new URL(url).hostname}:${r.port}/${r.db}#${r.oid}`
  } finally {
    await c.end().catch(() => {})
  }
}

export class JournalWriter {
  private constructor(
    readonly file: string,
    private readonly data: JournalData,
  ) {}

  /** Written (and synced) before the first change; the caller removes it when the run ends in a known state. */
  static async open(root: string, data: Omit<JournalData, 'format' | 'pid' | 'phases'>, first: { id: string; note?: string }): Promise<JournalWriter> {
    // The first phase goes in with the first write: a journal never exists without saying how far the run got.
    const phases = [{ id: first.id, at: new Date().toISOString(), ...(first.note ? { note: first.note } : {}) }]
    const w = new JournalWriter(path.join(root, `execute-${data.id}${SUFFIX}`), { format: 'pgverify-execute-journal/1', pid: process.pid, phases, ...data })
    await w.save()
    return w
  }

  private pending: Promise<void> = Promise.resolve()

  /** Records a completed phase; writes are serialised, so callers may fire them from event callbacks. */
  phase(id: string, note?: string): Promise<void> {
    this.data.phases.push({ id, at: new Date().toISOString(), ...(note ? { note } : {}) })
    this.pending = this.pending.then(() => this.save())
    return this.pending
  }

  async close(): Promise<void> {
    await this.pending.catch(() => {})
    await rm(this.file, { force: true })
  }

  private save(): Promise<void> {
    return writeAtomic(this.file, JSON.stringify(this.data, null, 2) + '\n')
  }
}

/** Journals under `root` for `database` whose writer is gone (oldest first): runs that never finished. */
export async function unfinishedJournals(root: string, database: string): Promise<Journal[]> {
  const names = (await readdir(root).catch(() => [] as string[])).filter((n) => n.startsWith('execute-') && n.endsWith(SUFFIX))
  const out: Journal[] = []
  for (const n of names) {
    const file = path.join(root, n)
    let j: JournalData
    try {
      j = JSON.parse(await readFile(file, 'utf8')) as JournalData
    } catch {
      continue
    }
    if (j.format !== 'pgverify-execute-journal/1' || j.database !== database) continue
    if (j.pid !== process.pid && processAlive(j.pid)) continue
    out.push({ ...j, file })
  }
  return out.sort((a, b) => (a.startedAt < b.startedAt ? -1 : 1))
}

/** "an execute started at 18:02 UTC from version 6 was interrupted after 008; the pre-migration backup is …" */
export function describeJournal(j: Journal, currentVersion: number | null): string {
  const last = j.phases[j.phases.length - 1]
  const at = j.startedAt.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')
  return `an execute started at ${at} from version ${j.versionBefore} (to ${j.versionTarget}) was interrupted${last ? ` after ${last.note ?? last.id}` : ''}; the database is now at version ${currentVersion ?? 'unknown'}; the pre-migration backup is ${j.backup.dir} (journal ${j.file})`
}

/** The refusal every command gives while a journal is unfinished, with the two ways out. */
export function interruptedError(j: Journal, currentVersion: number | null, command: string): HarnessError {
  return new HarnessError('EXECUTE_INTERRUPTED', `${command} refused: ${describeJournal(j, currentVersion)}. Its state is not a baseline to build on until you choose`, {
    hint: `Either finish the rollback: \`pnpm execute ${FINISH_ROLLBACK_FLAG}\` restores ${j.backup.name} in place and proves it with the round-trip comparison (the same as \`pnpm restore ${j.backup.dir} --yes\`); or accept the current state (version ${currentVersion ?? '?'}) explicitly: run again with ${ACCEPT_STATE_FLAG}.`,
    details: { journal: j.file, backup: j.backup.dir, versionBefore: j.versionBefore, currentVersion, url: redactUrl(j.url) },
  })
}

/** Closes journals after the state they describe was dealt with (a finished rollback, or accepted). */
export async function closeJournals(journals: Journal[]): Promise<void> {
  for (const j of journals) await rm(j.file, { force: true })
}

/** The version the migration log says the database is at (null when it cannot be read). */
export async function versionNow(url: string, log: { schema: string; table: string }): Promise<number | null> {
  const c = await connect(url, { applicationName: 'pgverify-journal' })
  try {
    const rows = (await c.query<{ n: string }>(`SELECT migration_name AS n FROM ${qualify(log.schema, log.table)} WHERE status = 'completed'`)).rows
    return rows.reduce((v, r) => Math.max(v, Number(/^(\d+)/.exec(r.n)?.[1] ?? 0)), 0)
  } catch {
    return null
  } finally {
    await c.end().catch(() => {})
  }
}

/**
 * For `migrate up/down` and `restore`: refuses while an execute of this database is unfinished,
 * unless the state is accepted (the journals are then closed) or the restore is of that execute's
 * own backup (the caller closes the journals once the comparison shows 0 differences).
 */
export async function checkInterrupted(url: string, roots: string[], command: string, accept: boolean, restoring?: string): Promise<{ journals: Journal[]; notice?: string }> {
  const key = await databaseKey(url)
  const journals: Journal[] = []
  for (const r of [...new Set(roots.map((x) => path.resolve(x)))]) journals.push(...(await unfinishedJournals(r, key)))
  if (journals.length === 0) return { journals }
  const j = journals[journals.length - 1]!
  const v = await versionNow(url, j.log)
  if (restoring && journals.every((x) => path.resolve(x.backup.dir) === path.resolve(restoring))) return { journals, notice: `finishing the rollback: ${describeJournal(j, v)}` }
  if (!accept) throw interruptedError(j, v, command)
  await closeJournals(journals)
  return { journals: [], notice: `ACCEPTED (${ACCEPT_STATE_FLAG}): ${describeJournal(j, v)}; the current state (version ${v ?? 'unknown'}) is taken as the baseline, as asked` }
}
