/**
 * `verify --changed`: which migrations get full depth and which are only replayed. Released
 * migrations (migrations/released.json, checksum unchanged) or, with `--since REF`, those whose
 * files git shows unchanged since REF, were proven when they were new: they are replayed once,
 * as the base. The others (new or changed) get fault injection, data properties carried from
 * every version before them, down/up and idempotency. The report says which is which.
 */
import { execFile } from 'node:child_process'
import path from 'node:path'
import { promisify } from 'node:util'
import { HarnessError } from '../errors.ts'
import { loadReleased } from '../runner/released.ts'
import type { Migration } from '../sql/migration.ts'
import type { JobSnapshot } from '../validation/fingerprint/index.ts'
import type { JobsByVersion } from '../validation/jobs/index.ts'

export interface VerifyScope {
  mode: 'changed'
  /** What "already proven" was read from: released.json, or git since a ref. */
  base: string
  /** Migrations proven at full depth in this run. */
  fullDepth: string[]
  /** Migrations only replayed (as the base for the others). */
  replayedOnly: string[]
}

export async function changedScope(dir: string, migrations: Migration[], since?: string): Promise<VerifyScope> {
  const unchanged = since === undefined ? await releasedUnchanged(dir, migrations) : await gitUnchanged(dir, migrations, since)
  // Everything after the first new or changed migration depends on it: it gets full depth too.
  const first = migrations.findIndex((m) => !unchanged.has(m.name))
  const cut = first < 0 ? migrations.length : first
  return {
    mode: 'changed',
    base: since === undefined ? `${path.join(path.basename(dir), 'released.json')}` : `git ${since}`,
    fullDepth: migrations.slice(cut).map((m) => m.name),
    replayedOnly: migrations.slice(0, cut).map((m) => m.name),
  }
}

/**
 * Whether a registered job is proven again under --changed: one a new or changed migration
 * registers, one on a hypertable such a migration names (its effect depends on that table), and
 * any custom job (its procedure may read anything). A policy of a released migration on a
 * table no new migration mentions was proven when it was released: running it again proves
 * nothing new (the nightly full run still runs every job).
 */
export function jobInScope(job: { kind: string; hypertable?: string; registeredBy?: { migration: string } }, focused: Migration[]): boolean {
  if (job.kind === 'custom') return true
  if (job.registeredBy && focused.some((m) => m.name === job.registeredBy!.migration)) return true
  const table = job.hypertable?.split('.').pop()
  if (!table) return true
  const escaped = table.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  const word = new RegExp(`(^|[^a-z0-9_$])"?${escaped}"?($|[^a-z0-9_$])`, 'i')
  return focused.some((m) => [m.up, m.down].some((f) => f?.statements.some((st) => word.test(st.text))))
}

/**
 * The jobs replay recorded at the last version, each attributed to the first version from which
 * every later version holds it: what jobInScope needs, without a database (so
 * --changed can leave the jobs stage out before it migrates one).
 */
export function jobsAtLast(jobsAt: JobsByVersion, migrations: Migration[]): { kind: 'policy' | 'custom'; hypertable?: string; registeredBy?: { migration: string } }[] {
  const last = migrations[migrations.length - 1]?.version ?? 0
  const key = (s: JobSnapshot) => `${s.hypertable}|${s.procName}|${JSON.stringify(s.config)}`
  return (jobsAt.get(last) ?? []).map((s) => {
    let v = last
    while (v > 0 && jobsAt.get(v - 1)?.some((x) => key(x) === key(s))) v--
    const m = migrations.find((x) => x.version === v)
    return { kind: s.procName.startsWith('policy_') ? 'policy' : 'custom', ...(s.hypertable ? { hypertable: s.hypertable } : {}), ...(m ? { registeredBy: { migration: m.name } } : {}) }
  })
}

async function releasedUnchanged(dir: string, migrations: Migration[]): Promise<Set<string>> {
  const released = await loadReleased(dir)
  if (!released) return new Set()
  return new Set(migrations.filter((m) => released.migrations[m.name] === m.up.checksum).map((m) => m.name))
}

async function gitUnchanged(dir: string, migrations: Migration[], ref: string): Promise<Set<string>> {
  const run = promisify(execFile)
  const git = async (args: string[]) => {
    try {
      return (await run('git', args, { cwd: dir })).stdout
    } catch (e) {
      throw new HarnessError('USAGE', `--since ${ref}: git ${args.join(' ')} failed: ${((e as { stderr?: string }).stderr || (e as Error).message).trim()}`, { hint: 'Give a commit, branch or tag git knows here, e.g. --since origin/main (fetch it first in CI).' })
    }
  }
  await git(['rev-parse', '--verify', '--quiet', `${ref}^{commit}`])
  const changed = [...(await git(['diff', '--name-only', '--relative', ref, '--', '.'])).split('\n'), ...(await git(['ls-files', '--others', '--exclude-standard', '.'])).split('\n')]
    .map((f) => path.basename(f.trim()))
    .filter(Boolean)
  const touched = (m: Migration) => changed.includes(m.up.file) || (m.down !== undefined && changed.includes(m.down.file))
  return new Set(migrations.filter((m) => !touched(m)).map((m) => m.name))
}
