/**
 * Where a migration is rehearsed: one database with the migration's session (the real runner's),
 * the workload's sessions, the sampler's, and the loader that knows what data it holds.
 *
 * `rehearse(m)` gets the database ready for migration m (data loaded where a table has none, the
 * workload's operations probed where something they use changed), runs the workload for a
 * baseline, applies m with the real Migrator while the sampler polls pg_locks and the runner's
 * hooks mark each statement (boundaries.ts), waits a little, and returns the figures.
 *
 * A scene can rehearse one migration (a fresh copy at k-1: `pgverify rehearse`) or walk up the
 * versions rehearsing each in turn (verify's load stage, rehearse.ts): the sessions stay
 * connected, data loaded at an earlier version is carried forward (migrated by the migrations
 * since, as production's would be), and after each migration one catalog query
 * (relationShapes) says whether anything changed that the loader or the workload must look at.
 */
import pg from 'pg'
import { HarnessError } from '../errors.ts'
import { relationShapes, type RelationShape } from '../catalog/schemas.ts'
import type { Requirements } from '../manifest/manifest.ts'
import { percentileSorted } from '../measure/stats.ts'
import { Migrator } from '../runner/migrator.ts'
import type { MigratorHooks } from '../runner/migrator/results.ts'
import type { DatabaseHandle } from '../engines/types.ts'
import type { Migration } from '../sql/migration.ts'
import { applyRehearseAllow, type RehearseAllowEntry } from './allow.ts'
import { Boundaries } from './boundaries.ts'
import { statementFigures, workloadFigures } from './figures.ts'
import { Loader, telemetryPlan, type Loaded } from './load.ts'
import type { Plan } from '../data/telemetry/index.ts'
import { genericOperations, genericSessions, telemetryOperations, telemetrySessions } from './operations.ts'
import type { MigrationRehearsal } from './report.ts'
import { DEFAULT_PERIOD_MS, Sampler } from './sampler.ts'
import { buildTimeline } from './timeline.ts'
import type { SamplerOverhead } from './types.ts'
import { findings, type Limits } from './verdict.ts'
import { probeOperations, Workload, type Operation } from './workload.ts'

export interface SceneOptions {
  dir: string
  seed: number
  ms5: boolean
  /** MS5.0: days of telemetry; other schemas: rows per table. */
  days: number
  rows: number
  /** Workload before the migration, and after its commit (so waits that end there are recorded as ended). */
  baselineMs: number
  tailMs: number
  periodMs?: number
  limits: Limits
  logSchema: string
  logTable?: string
  requirements?: Requirements
  migrations: Migration[]
  allow: RehearseAllowEntry[]
  /** Entries that covered a finding (collected across migrations). */
  used: Set<RehearseAllowEntry>
}

/** The production runner, exactly as `migrate up` builds it, with the rehearsal's hooks. */
export function migratorFor(client: pg.ClientBase, o: SceneOptions, hooks?: MigratorHooks): Migrator {
  return new Migrator({ client, provider: { source: o.dir, getMigrations: async () => o.migrations }, logSchema: o.logSchema, ...(o.logTable ? { logTable: o.logTable } : {}), ...(o.requirements ? { requirements: o.requirements } : {}), lockWaitMs: 0, ...(hooks ? { hooks } : {}) })
}

/** The shortest baseline the sampler's cost is measured on: 200 ms each side, ~8 dashboard queries per side. */
export const OVERHEAD_BASELINE_MS = 400

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export class Scene {
  readonly #plan: Plan
  #loader: Loader
  #workload: Workload
  #sampler: Sampler
  #shapes?: Map<string, RelationShape>
  #candidates: Operation[] = []
  #usable: Operation[] = []
  #unusable: { op: string; reason: string }[] = []
  /** Operations that failed in the last run: probed again before the next. */
  #failing = new Set<string>()
  #probes = 0
  #overheadMeasured = false

  private constructor(
    private readonly db: DatabaseHandle,
    private readonly client: pg.Client,
    migrationPid: number,
    /** The version the database is at. */
    public version: number,
    private readonly o: SceneOptions,
  ) {
    // The newest generated timestamp: the hour this scene was opened (one anchor for a whole walk).
    const anchor = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000)
    this.#plan = telemetryPlan({ seed: o.seed, days: o.days, end: anchor })
    this.#loader = new Loader(o.ms5 ? { ms5: true, plan: this.#plan } : { ms5: false, seed: o.seed, rows: o.rows, anchor, exclude: [`${o.logSchema}.${o.logTable ?? 'migration_log'}`] })
    this.#workload = new Workload(db.url)
    this.#sampler = new Sampler(db.url, migrationPid, o.periodMs ?? DEFAULT_PERIOD_MS)
  }

  static async open(db: DatabaseHandle, version: number, o: SceneOptions): Promise<Scene> {
    const client = new pg.Client({ connectionString: db.url, application_name: 'pgverify-rehearse-runner' })
    await client.connect()
    try {
      const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid
      return new Scene(db, client, pid, version, o)
    } catch (e) {
      await client.end().catch(() => {})
      throw e
    }
  }

  /** Migrates to version `to` with the real runner, unmeasured (versions not rehearsed on the way). */
  async catchUp(to: number, rehearsing: Migration): Promise<void> {
    if (this.version >= to) return
    const prev = await migratorFor(this.client, this.o).up({ to })
    if (prev.error) throw new HarnessError('MIGRATION_FAILED', `rehearsal of ${rehearsing.up.file}: migrating to version ${to} first failed: ${prev.error.message}`, { hint: 'Fix the earlier migration first (pnpm verify shows where).' })
    this.version = to
  }

  async close(): Promise<void> {
    await this.#workload.close().catch(() => {})
    await this.#sampler.close().catch(() => {})
    await this.client.end().catch(() => {})
  }

  /**
   * Data and operations for the next migration. Nothing is done when no relation changed since
   * the last time and no operation failed: the data and the probes still hold. Otherwise the
   * loader tops up (tables with no loaded data yet) and an operation is probed again when it is
   * new, its SQL changed, it did not work before, it failed in the last run, or a relation it
   * may use changed (its table; MS5.0's queries join several, so any change).
   */
  async #prepare(): Promise<Loaded> {
    const shapes = await relationShapes(this.client)
    const before = this.#shapes
    const changed = new Set([...shapes].filter(([name, s]) => before?.get(name)?.shape !== s.shape).map(([name]) => name))
    for (const name of before?.keys() ?? []) if (!shapes.has(name)) changed.add(name)
    this.#shapes = shapes
    if (before && !changed.size && !this.#failing.size) return this.#loader.loaded
    const tablesChanged = !before || [...changed].some((n) => shapes.get(n)?.kind !== 'v' && shapes.get(n)?.kind !== 'm')
    const loaded = tablesChanged ? await this.#loader.topUp(this.client, before ? { present: new Set(shapes.keys()), changed } : undefined) : this.#loader.loaded
    this.#candidates = this.o.ms5 ? (this.#candidates.length ? this.#candidates : telemetryOperations(this.#plan)) : genericOperations(this.#loader.tables, this.o.rows)
    const worked = new Map(this.#usable.map((op) => [op.id, op.sql]))
    const again = (op: Operation) => worked.get(op.id) !== op.sql || this.#failing.has(op.id) || (op.table ? changed.has(op.table) : changed.size > 0)
    const probe = await probeOperations(this.db.url, this.#candidates.filter(again), this.#probes++)
    const ok = new Set(probe.usable)
    this.#usable = this.#candidates.filter((op) => (again(op) ? ok.has(op) : true))
    this.#unusable = probe.unusable
    this.#failing.clear()
    return loaded
  }

  /** Migration m (the database is at m.version - 1) applied under the workload, measured. */
  async rehearse(m: Migration): Promise<MigrationRehearsal> {
    const o = this.o
    // Version 0 is an empty database: nothing to load, the workload has nothing to run on.
    const loaded = m.version > 1 ? await this.#prepare() : this.#loader.loaded
    const ops = m.version > 1 ? this.#usable : []
    const sessions = o.ms5 ? telemetrySessions(ops) : genericSessions(ops)
    await this.#workload.plan(sessions)
    // The sampler's cost on the workload: the first baseline of a scene (the only one of a copy)
    // runs half of it without the sampler, and long enough for a few queries on each side.
    const first = sessions.length > 0 && !this.#overheadMeasured
    if (first) this.#overheadMeasured = true
    // No workload at this version (nothing exists yet to read or write): no baseline to wait for.
    const baselineMs = !sessions.length ? 0 : first ? Math.max(o.baselineMs, OVERHEAD_BASELINE_MS) : o.baselineMs
    const withoutMs = first ? baselineMs / 2 : 0
    const sampler = this.#sampler
    const b0 = performance.now()
    this.#workload.start()
    if (withoutMs) await sleep(withoutMs)
    // Without a half without the sampler, no operation counts as one (the sessions start at once).
    const bMid = withoutMs ? performance.now() : b0
    await sampler.start(this.#workload.pids)
    await sleep(baselineMs - withoutMs)
    const boundaries = new Boundaries(sampler)
    const migStart = performance.now()
    const run = await migratorFor(this.client, o, boundaries.hooks()).up({ to: m.version })
    const migEnd = performance.now()
    boundaries.close(migEnd)
    await sleep(o.tailMs)
    await this.#workload.stop()
    await sampler.stop()
    const endOfRun = performance.now()
    if (!run.error) this.version = m.version
    const records = this.#workload.records
    this.#failing = new Set(records.filter((r) => !r.ok).map((r) => r.op))
    const result = run.results.find((x) => x.version === m.version)
    const baselineOps = records.filter((r) => r.startMs >= b0 && r.startMs < migStart)
    const statements = statementFigures(boundaries.spans, { file: m.up.file, startMs: migStart, endMs: migEnd }, records, sampler.samples)
    const baseline = workloadFigures(baselineOps, migStart - b0)
    const judged = applyRehearseAllow(findings(statements, baseline, o.limits), statements, o.allow.filter((e) => e.file === m.up.file), (line) => m.up.statements.find((s) => s.line === line)?.text)
    for (const e of judged.used) o.used.add(e)
    const found = judged.findings
    if (run.error) found.push({ during: result?.error ? `${result.error.file}:${result.error.line}:${result.error.column}` : m.up.file, what: `the migration itself failed: ${run.error.message}`, blockedMs: 0, blockedSessions: 0, fix: 'fix the migration (pnpm verify locates the failure)' })
    const overhead = samplerOverhead(sampler, baselineOps.filter((r) => r.startMs < bMid), baselineOps.filter((r) => r.startMs >= bMid), migStart, migEnd)
    return {
      version: m.version,
      file: m.up.file,
      verdict: found.some((f) => !f.allowed) ? 'failed' : 'passed',
      loaded: { rows: loaded.rows, notLoaded: loaded.notLoaded, added: loaded.added, durationMs: Math.round(loaded.durationMs) },
      workload: { operations: ops.map((x) => x.id), unusable: m.version > 1 ? this.#unusable : [], sessions: sessions.length },
      baseline,
      migration: { status: result?.status ?? (run.error ? 'failed' : 'skipped'), durationMs: migEnd - migStart, ...(run.error ? { error: run.error.message } : {}) },
      statements,
      findings: found,
      sampler: overhead,
      timeline: buildTimeline({ originMs: migStart, fromMs: b0, endMs: migEnd, toMs: endOfRun, records, spans: boundaries.spans, samples: sampler.samples, file: m.up.file }),
    }
  }
}

/** The sampler's polls, and the dashboard p95 without it (null when this run had no such half) and with it. */
function samplerOverhead(s: Sampler, without: { kind: string; latencyMs: number }[], withIt: { kind: string; latencyMs: number }[], from: number, to: number): SamplerOverhead {
  const polls = s.samples.map((x) => x.pollMs).sort((a, b) => a - b)
  const times = s.samples.map((x) => x.atMs).filter((t) => t >= from && t <= to).sort((a, b) => a - b)
  let maxGap = 0
  for (let i = 1; i < times.length; i++) maxGap = Math.max(maxGap, times[i]! - times[i - 1]!)
  const p95 = (xs: { kind: string; latencyMs: number }[]) => {
    const d = xs.filter((x) => x.kind === 'dashboard').map((x) => x.latencyMs).sort((a, b) => a - b)
    return d.length ? percentileSorted(d, 95) : null
  }
  return {
    polls: polls.length,
    periodMs: s.periodMs,
    pollMeanMs: polls.length ? polls.reduce((a, b) => a + b, 0) / polls.length : 0,
    pollP95Ms: polls.length ? percentileSorted(polls, 95) : 0,
    maxGapMs: maxGap,
    dashboardP95WithoutMs: p95(without),
    dashboardP95WithMs: p95(withIt),
  }
}
