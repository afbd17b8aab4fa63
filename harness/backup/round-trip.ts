/**
 * The backup round trip as one call, for `pnpm verify` (a stage can wrap it) and for scripts:
 * a fresh database on the engine, the migrations applied, optional data loaded by the caller,
 * a backup, a restore of each kind into another fresh database, and the comparison.
 * Returns a verdict with its evidence (the comparison lines), never throws for a failed check.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import type pg from 'pg'
import type { DatabaseHandle, StartedEngine } from '../engines/types.ts'
import { HarnessError, isHarnessError } from '../errors.ts'
import { asServerTrouble } from '../sqlstate.ts'
import { connect } from '../runner/connect.ts'
import type { Migration } from '../sql/migration.ts'
import { Migrator } from '../runner/migrator.ts'
import { requiredExtensions } from '../runner/requirements.ts'
import type { Manifest } from '../manifest/manifest.ts'
import { createBackup } from './backup.ts'
import { formatComparison } from './compare.ts'
import { restoreBackup, type RestoreKind } from './restore.ts'
import { handleTarget } from '../engines/target.ts'
import type { StepPart } from '../steps/step.ts'

export interface RoundTripOptions {
  dir: string
  migrations: Migration[]
  manifest?: Manifest
  logSchema: string
  /** Loads data into the migrated source database before the backup. */
  load?: (client: pg.ClientBase) => Promise<void>
  kinds?: RestoreKind[]
  /**
   * Where the host of the data-only restore starts (a database migrated by the runner): default an
   * empty database of the engine. Verify hands in a copy of the released base under --changed; the
   * migrator applies whatever it does not hold yet. The source always starts empty: verify starts
   * it beside replay (Stage.early), before any base exists; waiting for the base made the stage,
   * the last to end, later.
   */
  database?: (label: string) => Promise<DatabaseHandle>
  /**
   * Make the restores side by side (default: on a server, where its processes do the work, not on
   * the embedded engine, where every restore is a WASM instance in this process). A caller that
   * already keeps every core busy says false.
   */
  sideBySide?: boolean
}

export interface RoundTripResult {
  verdict: 'passed' | 'failed' | 'skipped'
  summary: string
  /** Why it could not complete, when the server went away or ran short: no finding about the backup. */
  error?: { code: string; message: string }
  details: string[]
  /** Where the time went: migrating the source, loading data, the backup, each restore and its comparison. */
  parts: StepPart[]
  /** Restores made and compared. */
  restores: number
}

export async function backupRoundTrip(engine: StartedEngine, o: RoundTripOptions): Promise<RoundTripResult> {
  const kinds = o.kinds ?? (engine.capabilities.physicalSnapshot ? ['full', 'schema', 'data', 'volume'] : ['full', 'schema', 'data'])
  const root = await mkdtemp(path.join(os.tmpdir(), 'pgverify-roundtrip-'))
  // The clock starts before the source exists: making it is part of "fresh database and migrations".
  let t = performance.now()
  const source = await toMigrate(engine, o, 'roundtrip_source')
  const details: string[] = []
  const parts: StepPart[] = []
  const lap = (label: string) => {
    const now = performance.now()
    parts.push({ label, ms: Math.round(now - t) })
    t = now
  }
  let failed = 0
  let restores = 0
  let uncovered: string | undefined
  try {
    const c = await connect(source.url, { applicationName: 'pgverify round trip' })
    try {
      const r = await migrateUp(c, o)
      if (r.error) return { verdict: 'failed', summary: `migrations failed before the backup: ${r.error.message}`, details: [], parts, restores }
      lap('source: fresh database and migrations')
      await o.load?.(c)
      lap('source: data loaded')
    } finally {
      await c.end().catch(() => {})
    }
    const b = await createBackup(handleTarget(engine, source), { root, manifest: o.manifest, log: { schema: o.logSchema, table: 'migration_log' } })
    details.push(`backup ${b.name}: ${b.manifest.files.length} files, ${(b.bytes / 2 ** 20).toFixed(1)} MiB in ${Math.round(b.durationMs)} ms (${b.manifest.tool.logical})`)
    const pub = b.manifest.publicObjects
    if (pub.length) {
      uncovered = `NOT covered: schema public holds ${pub.length} object${pub.length > 1 ? 's' : ''} of its own (${pub.slice(0, 6).join(', ')}${pub.length > 6 ? ', …' : ''}); pgverify's backups and restores replace whole schemas and never public (extensions live there), so nothing proves them here — keep migrated objects in a schema of their own`
      details.push(uncovered)
      // Nothing else to compare: "0 differences" over no schema at all would prove nothing.
      if (!b.manifest.coveredSchemas.length) return { verdict: 'skipped', summary: `backup round trip not proven: ${uncovered}`, details, parts, restores }
    }
    lap('backup')
    // The restores read only the backup: the source goes now, so its instance is not held beside
    // theirs (on embedded a worker thread and ~150 MB each, one fewer of them at a time).
    await source.drop().catch(() => {})
    // Each restore works on a database of its own and only reads the backup. Side by side on a
    // server (round trip alone on native 6.2–7.2 s → 5.3 s); on the embedded engine one after
    // another: there every restore is a WASM instance in this process (~150 MB each), and side by
    // side measured no faster, with more CPU. The evidence is listed in the kinds' order.
    const one = (kind: RestoreKind) => restoreAndCompare(engine, o, b.dir, kind)
    const restored: Restored[] = []
    if (o.sideBySide ?? engine.capabilities.concurrentConnections) restored.push(...(await Promise.all(kinds.map(one))))
    else for (const kind of kinds) restored.push(await one(kind))
    for (const r of restored) {
      parts.push({ label: `${r.kind} restore and comparison`, ms: r.ms })
      details.push(...r.details)
      if (r.restored) restores++
      if (r.failed) failed++
    }
    // Restores the server could not serve found no difference: the run says why, not "differ".
    const trouble = restored.find((r) => r.trouble)?.trouble
    if (trouble && !restored.some((r) => r.restored && r.failed)) return { verdict: 'failed', summary: `backup round trip could not complete: ${trouble.message.split('\n')[0]}`, details, parts, restores, error: { code: trouble.code, message: trouble.message } }
  } catch (e) {
    const known = asServerTrouble(e)
    return { verdict: 'failed', summary: `backup round trip could not complete: ${(e as Error).message}`, details, parts, restores, ...(known ? { error: { code: known.code, message: known.message } } : {}) }
  } finally {
    await source.drop().catch(() => {})
    await rm(root, { recursive: true, force: true }).catch(() => {})
  }
  return failed
    ? { verdict: 'failed', summary: `backup round trip: ${failed} of ${kinds.length} restores differ from the backed-up state`, details, parts, restores }
    : { verdict: 'passed', summary: `backup round trip: ${kinds.join(', ')} restores each show 0 differences from the backed-up state${uncovered ? `; ${uncovered}` : ''}`, details, parts, restores }
}

/** A database the runner will migrate: it gets the bootstrap's extensions made already (engines/types.ts, extensions). */
const toMigrate = (engine: StartedEngine, o: RoundTripOptions, label: string) => engine.createDatabase(label, { extensions: requiredExtensions(o.manifest?.requirements, o.migrations) })

/** The round trip's migrations applied on `client` (the source, and the host of a data-only restore). */
const migrateUp = (client: pg.ClientBase, o: RoundTripOptions) =>
  new Migrator({ client, provider: { source: o.dir, getMigrations: async () => o.migrations }, logSchema: o.logSchema, requirements: o.manifest?.requirements, lockWaitMs: 0 }).up()

interface Restored {
  kind: RestoreKind
  /** A restore was made and compared (whatever the comparison found). */
  restored: boolean
  failed: boolean
  details: string[]
  ms: number
  /** The server went away or ran short under it: it proves nothing either way. */
  trouble?: HarnessError
}


/** One kind of restore from the backup into a database of its own, compared with the backed-up state. */
async function restoreAndCompare(engine: StartedEngine, o: RoundTripOptions, backupDir: string, kind: RestoreKind): Promise<Restored> {
  const t = performance.now()
  const done = (r: Omit<Restored, 'kind' | 'ms'>): Restored => ({ kind, ...r, ms: Math.round(performance.now() - t) })
  // A volume restore boots a database of its own from the copy: no host to make for it.
  let host: DatabaseHandle | undefined
  try {
    // Only the data-only restore goes into a migrated database; the others into empty ones.
    const make = kind === 'data' ? (o.database ?? ((label: string) => toMigrate(engine, o, label))) : (label: string) => engine.createDatabase(label)
    host = kind === 'volume' ? undefined : await make(`roundtrip_${kind}`)
    if (kind === 'data') {
      const hc = await connect(host!.url)
      try {
        const r = await migrateUp(hc, o)
        if (r.error) throw r.error
      } finally {
        await hc.end().catch(() => {})
      }
    }
    const r = await restoreBackup(backupDir, handleTarget(engine, host), { kind, mode: kind === 'data' ? 'in-place' : 'fresh' })
    const n = r.comparison.differences.length
    await r.target.drop?.()
    return done({ restored: true, failed: n > 0, details: [`${kind} restore (${Math.round(r.durationMs)} ms): ${n} differences`, ...formatComparison(r.comparison).map((l) => `  ${l}`)] })
  } catch (e) {
    const trouble = asServerTrouble(e)
    return done({ restored: false, failed: true, details: [`${kind} restore failed: ${isHarnessError(e) ? `[${e.code}] ` : ''}${(e as Error).message}`], ...(trouble ? { trouble } : {}) })
  } finally {
    await host?.drop().catch(() => {})
  }
}
