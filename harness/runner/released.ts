/**
 * `released.json` next to the migrations: the checksums of migrations that have reached
 * production. A pull request that edits one of them is drift before any database sees it;
 * `pnpm verify` refuses it, as the runner would refuse it on the production database.
 */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { HarnessError } from '../errors.ts'
import { readOptionalFile } from '../util/files.ts'
import type { Migration } from '../sql/migration.ts'

export const RELEASED_FILE = 'released.json'

export interface Released {
  /** migration name → SHA-256 of the file as released */
  migrations: Record<string, string>
}

export async function loadReleased(dir: string): Promise<Released | undefined> {
  const path = join(dir, RELEASED_FILE)
  const text = await readOptionalFile(path)
  if (text === undefined) return undefined
  try {
    const parsed = JSON.parse(text) as Released
    if (typeof parsed?.migrations !== 'object' || Object.values(parsed.migrations).some((v) => typeof v !== 'string' || !/^[0-9a-f]{64}$/.test(v))) throw new Error('"migrations" must map names to sha256 hex strings')
    return parsed
  } catch (e) {
    throw new HarnessError('MANIFEST_INVALID', `${path}: ${(e as Error).message}`, { hint: 'Regenerate it with `pnpm migrate release`.' })
  }
}

/** Lines describing released migrations that changed or disappeared; empty when none did. */
export function releasedDrift(released: Released, migrations: Migration[]): string[] {
  const byName = new Map(migrations.map((m) => [m.name, m]))
  const out: string[] = []
  for (const [name, sum] of Object.entries(released.migrations).sort()) {
    const m = byName.get(name)
    if (!m) out.push(`${name}.sql was released but is missing from the directory`)
    else if (m.up.checksum !== sum) out.push(`${m.up.file} was released with checksum ${sum}, the file now has ${m.up.checksum}`)
  }
  return out
}

/** Records every current migration as released; refuses to rewrite a released checksum. */
export async function writeReleased(dir: string, migrations: Migration[], accept: (name: string) => boolean): Promise<{ added: string[]; changed: string[] }> {
  const current = (await loadReleased(dir)) ?? { migrations: {} }
  const drift = releasedDrift(current, migrations)
  const changed = migrations.filter((m) => current.migrations[m.name] && current.migrations[m.name] !== m.up.checksum)
  const refused = changed.filter((m) => !accept(m.name))
  if (refused.length || drift.some((d) => d.includes('missing'))) {
    throw new HarnessError('MIGRATION_DRIFT', `released migrations changed:\n  ${drift.join('\n  ')}`, {
      hint: 'Restore the released files and add a new migration instead; --accept-drift NAME re-records a deliberate change.',
    })
  }
  const added = migrations.filter((m) => !current.migrations[m.name]).map((m) => m.name)
  const next: Released = { migrations: Object.fromEntries(migrations.map((m) => [m.name, m.up.checksum])) }
  await writeFile(join(dir, RELEASED_FILE), JSON.stringify(next, null, 2) + '\n')
  return { added, changed: changed.map((m) => m.name) }
}
