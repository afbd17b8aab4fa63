/**
 * The rehearsal under load. For each migration k: the database at version k-1 loaded with
 * generated data (load.ts), a workload of several sessions (workload.ts, operations.ts) measured
 * for a baseline, then migration k applied by the real Migrator while a sampler polls pg_locks
 * and pg_stat_activity and the runner's hooks mark each statement (scene.ts). Figures per
 * statement (figures.ts) and the verdict from the seeds' thresholds (verdict.ts).
 *
 * Two ways to get the database at k-1 (`walk`):
 *   - a copy per migration (default; `pgverify rehearse`, `plan --rehearse`): a base database
 *     walks up the versions unloaded and each rehearsal gets a fresh copy of it
 *     (CREATE DATABASE … TEMPLATE), loaded from nothing. Each migration's figures stand alone:
 *     the same generated rows in every table (the estimate's N), the sampler's cost measured
 *     each time, a failing migration measured on data no earlier rehearsal touched.
 *   - the walk (verify's load stage): one database goes up the versions and each migration is
 *     rehearsed on it as it comes, sessions kept, data loaded once per table when it first
 *     exists and carried forward. Per migration only a catalog query, the new tables' rows, the
 *     baseline and the migration itself: the cost does not grow with the migrations before it.
 */
import pg from 'pg'
import { HarnessError } from '../errors.ts'
import { loadManifest } from '../manifest/manifest.ts'
import { discover, refusal } from '../runner/discover.ts'
import type { DatabaseHandle, StartedEngine } from '../engines/types.ts'
import { THRESHOLDS } from '../measure/thresholds.ts'
import type { Migration } from '../sql/migration.ts'
import { loadRehearseAllow, type RehearseAllowEntry } from './allow.ts'
import type { MigrationRehearsal, RehearsalReport } from './report.ts'
import { migratorFor, Scene, type SceneOptions } from './scene.ts'
import type { Limits } from './verdict.ts'

export interface RehearseOptions {
  dir: string
  seed?: number
  /** MS5.0: days of telemetry (default 1: the seeds' typical production day). */
  days?: number
  /** Other schemas: rows per table (default 100,000, about a typical day's volume). */
  rows?: number
  /** Baseline before the migration (default 2,000 ms; the first of a run: half without the sampler, half with it). */
  baselineMs?: number
  /** Workload after the migration's commit (default 100 ms), so waits that end there are recorded as ended. */
  tailMs?: number
  periodMs?: number
  /** One database walks up the versions, each migration rehearsed on it in turn (verify's load stage); default: a fresh copy per migration. */
  walk?: boolean
  /** Only these versions (default: every migration). */
  only?: number[]
  logSchema?: string
  logTable?: string
  /** The seeds' limits, as the config sets them for `pnpm bench` (thresholds.dashboard, thresholds.insert). */
  thresholds?: { dashboard?: number; insert?: number }
  onProgress?: (line: string) => void
  /** Findings accepted on purpose (default: `<dir>/rehearse-allow.json`, allow.ts); `[]` accepts none. */
  allow?: RehearseAllowEntry[]
}

export const DEFAULTS = { seed: 1, days: 1, rows: 100_000, baselineMs: 2_000, tailMs: 100 }

export function limitsFrom(t: RehearseOptions['thresholds'] = {}): Limits {
  return {
    dashboardMs: t.dashboard ?? THRESHOLDS.dashboard.limit,
    insertMs: t.insert ?? THRESHOLDS.insert.limit,
    dashboardSource: t.dashboard === undefined ? THRESHOLDS.dashboard.source : 'thresholds.dashboard in the config',
    insertSource: t.insert === undefined ? THRESHOLDS.insert.source : 'thresholds.insert in the config',
  }
}

export async function rehearse(engine: StartedEngine, o: RehearseOptions): Promise<RehearsalReport> {
  const t0 = performance.now()
  const seed = o.seed ?? DEFAULTS.seed
  const limits = limitsFrom(o.thresholds)
  const d = await discover(o.dir)
  const refused = refusal(d.diagnostics)
  if (refused) throw refused
  const manifest = await loadManifest(o.dir)
  const ms5 = manifest?.schema === 'factory_telemetry' && (manifest.tables ?? []).includes('factory_telemetry.metric_hist')
  const days = o.days ?? DEFAULTS.days
  // verify's load stage asks for hours (a fraction of a day).
  const span = days >= 1 ? `${days} day(s)` : `${+(days * 24).toFixed(2)} hour(s)`
  const carried = o.walk ? '; each table loaded when it first exists, carried forward' : ''
  const data = ms5
    ? `MS5.0 telemetry (harness/data/telemetry/, seed ${seed}): ${span} at scale 1, ~${Math.round(days * 103_680).toLocaleString('en-US')} metric_hist rows plus the other series and reference data${carried}`
    : `${(o.rows ?? DEFAULTS.rows).toLocaleString('en-US')} generated rows per table (harness/rehearse/generic.ts, seed ${seed})${carried}`
  const allowFile = await loadRehearseAllow(o.dir)
  const allow = o.allow ?? allowFile.entries
  const used = new Set<RehearseAllowEntry>()
  const report: RehearsalReport = { ok: true, engine: engine.describe(), dir: o.dir, seed, data, limits, migrations: [], startedAt: new Date().toISOString(), durationMs: 0 }
  if (!engine.capabilities.concurrentConnections) {
    report.skipped = `${engine.name} has one client connection at a time: a workload cannot run beside the migration, so nothing was rehearsed (use --engine native or container)`
    report.durationMs = performance.now() - t0
    return report
  }
  const one: SceneOptions = {
    dir: o.dir,
    seed,
    ms5,
    days,
    rows: o.rows ?? DEFAULTS.rows,
    baselineMs: o.baselineMs ?? DEFAULTS.baselineMs,
    tailMs: o.tailMs ?? DEFAULTS.tailMs,
    ...(o.periodMs ? { periodMs: o.periodMs } : {}),
    limits,
    logSchema: o.logSchema ?? manifest?.schema ?? 'public',
    ...(o.logTable ? { logTable: o.logTable } : {}),
    ...(manifest?.requirements ? { requirements: manifest.requirements } : {}),
    migrations: d.migrations,
    allow,
    used,
  }
  const todo = d.migrations.filter((m) => !o.only || o.only.includes(m.version))
  const each = (r: MigrationRehearsal) => {
    report.migrations.push(r)
    o.onProgress?.(`  ${r.verdict}: ${r.statements.length - (r.statements.length ? 1 : 0)} statement(s), ${r.findings.length} finding(s)`)
  }
  if (o.walk) await walk(engine, todo, one, o.onProgress, each)
  else await copies(engine, todo, one, o.onProgress, each)
  const rehearsed = new Set(report.migrations.map((r) => r.file))
  report.allow = {
    file: o.allow ? 'given by the caller' : allowFile.path,
    entries: allow.length,
    notSeen: allow.filter((e) => rehearsed.has(e.file) && !used.has(e)).map((e) => ({ file: e.file, line: e.line, reason: e.reason })),
  }
  report.ok = report.migrations.every((r) => r.verdict !== 'failed')
  report.durationMs = performance.now() - t0
  return report
}

type Progress = ((line: string) => void) | undefined

/**
 * A copy per migration: one base database walks up the versions (no data, no workload); each
 * rehearsal starts from a copy of it at k-1 (CREATE DATABASE … TEMPLATE), so N migrations cost N
 * steps and N copies, not N²/2 steps.
 */
async function copies(engine: StartedEngine, todo: Migration[], o: SceneOptions, progress: Progress, each: (r: MigrationRehearsal) => void): Promise<void> {
  const base = new Base(engine, o)
  try {
    for (const m of todo) {
      progress?.(`rehearsing ${m.up.file} (from version ${m.version - 1})`)
      const db = await base.copyAt(m)
      const scene = await Scene.open(db, m.version - 1, o).catch(async (e) => {
        await db.drop().catch(() => {})
        throw e
      })
      try {
        each(await scene.rehearse(m))
      } finally {
        await scene.close()
        await db.drop().catch(() => {})
      }
    }
  } finally {
    await base.drop()
  }
}

/** The walk: one database, each migration rehearsed on it as the runner takes it up (scene.ts). */
async function walk(engine: StartedEngine, todo: Migration[], o: SceneOptions, progress: Progress, each: (r: MigrationRehearsal) => void): Promise<void> {
  const db = await engine.createDatabase('rehearse_walk')
  let scene: Scene | undefined
  try {
    scene = await Scene.open(db, 0, o)
    for (const m of todo) {
      progress?.(`rehearsing ${m.up.file} (from version ${m.version - 1})`)
      await scene.catchUp(m.version - 1, m)
      each(await scene.rehearse(m))
    }
  } finally {
    await scene?.close()
    await db.drop().catch(() => {})
  }
}

/** The database at the version before the next rehearsal, copied for each one. */
class Base {
  #db: DatabaseHandle | undefined
  #version = 0
  constructor(
    private readonly engine: StartedEngine,
    private readonly o: SceneOptions,
  ) {}

  /** A fresh database at version m-1: the base migrated that far (no session left on it), then copied. */
  async copyAt(m: Migration): Promise<DatabaseHandle> {
    this.#db ??= await this.engine.createDatabase('rehearse_base')
    if (this.#version < m.version - 1) {
      await this.migrate(this.#db, m)
      this.#version = m.version - 1
    }
    try {
      return await this.engine.createDatabase(`rehearse_${m.version}`, { template: this.#db.name })
    } catch {
      // A server whose TimescaleDB scheduler sits in every database (a url server with background
      // workers) refuses a copy while it is there: build this one from nothing instead.
      const db = await this.engine.createDatabase(`rehearse_${m.version}`)
      await this.migrate(db, m)
      return db
    }
  }

  private async migrate(db: DatabaseHandle, m: Migration): Promise<void> {
    if (m.version <= 1) return
    const client = new pg.Client({ connectionString: db.url, application_name: 'pgverify-rehearse-base' })
    await client.connect()
    try {
      const prev = await migratorFor(client, this.o).up({ to: m.version - 1 })
      if (prev.error) throw new HarnessError('MIGRATION_FAILED', `rehearsal of ${m.up.file}: migrating to version ${m.version - 1} first failed: ${prev.error.message}`, { hint: 'Fix the earlier migration first (pnpm verify shows where).' })
    } finally {
      await client.end().catch(() => {})
    }
  }

  async drop(): Promise<void> {
    await this.#db?.drop().catch(() => {})
  }
}
