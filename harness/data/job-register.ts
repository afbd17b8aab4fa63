/**
 * Which migration registers which TimescaleDB job, found by doing it: the migrations applied one
 * version at a time, the jobs listed after each (above the runner, which it drives; the job model
 * itself is harness/validation/jobs/).
 */
import type pg from 'pg'
import type { Migrator } from '../runner/migrator.ts'
import type { Migration } from '../sql/migration.ts'
import { jobKey, listJobs, type RegisteredBy, type RegisteredJob } from '../validation/jobs/index.ts'

/**
 * From the current version (usually 0, bootstrapped), applies the migrations one version at a
 * time and attributes every job that appears to the migration that made it appear. Jobs removed
 * by a later migration disappear; one re-registered with another config is attributed anew.
 */
export async function registerStepwise(
  client: pg.ClientBase,
  migrator: Migrator,
  migrations: Migration[],
): Promise<{ jobs: RegisteredJob[]; error?: { message: string; code: string; migration: string } }> {
  let previous = await listJobs(client)
  const by = new Map<string, RegisteredBy[]>()
  for (const m of migrations) {
    const r = await migrator.up({ to: m.version })
    if (r.error) return { jobs: previous, error: { message: r.error.message, code: r.error.code, migration: m.name } }
    const now = await listJobs(client)
    const before = new Map<string, number>()
    for (const j of previous) before.set(jobKey(j), (before.get(jobKey(j)) ?? 0) + 1)
    const seen = new Map<string, number>()
    for (const j of now) {
      const k = jobKey(j)
      const n = (seen.get(k) ?? 0) + 1
      seen.set(k, n)
      if (n > (before.get(k) ?? 0)) (by.get(k) ?? by.set(k, []).get(k)!).push({ migration: m.name, file: m.up.file, version: m.version, how: 'replay' })
    }
    // Keep only as many attributions per key as there are jobs (a removal forgets the oldest).
    for (const [k, list] of by) {
      const n = seen.get(k) ?? 0
      if (list.length > n) by.set(k, list.slice(list.length - n))
    }
    previous = now
  }
  const used = new Map<string, number>()
  const jobs = previous.map((j) => {
    const k = jobKey(j)
    const i = used.get(k) ?? 0
    used.set(k, i + 1)
    const r = by.get(k)?.[i]
    return r ? { ...j, registeredBy: r } : j
  })
  return { jobs }
}
