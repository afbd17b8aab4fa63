/**
 * The rehearsal under load. For each migration k: a fresh database migrated to k-1 by the real
 * runner, loaded with generated data (load.ts), a workload of several sessions (workload.ts,
 * operations.ts) measured for a baseline (half without the sampler, half with it: the sampler's
 * cost on the workload), then migration k applied by the real Migrator while the sampler polls
 * pg_locks and pg_stat_activity and the runner's hooks mark each statement (boundaries.ts).
 * Figures per statement (figures.ts) and the verdict from the seeds' thresholds (verdict.ts).
 */
import pg from 'pg'
import { HarnessError } from '../errors.ts'
import { loadManifest, type Requirements } from '../manifest/manifest.ts'
import { discover, refusal } from '../runner/discover.ts'
import { Migrator } from '../runner/migrator.ts'
import type { MigratorHooks } from '../runner/migrator/results.ts'
import type { DatabaseHandle, StartedEngine } from '../engines/types.ts'
import { THRESHOLDS } from '../measure/thresholds.ts'
import { percentileSorted } from '../measure/stats.ts'
import type { Migration } from '../sql/migration.ts'
import { applyRehearseAllow, loadRehearseAllow, type RehearseAllowEntry } from './allow.ts'
import { Boundaries } from './boundaries.ts'
import { buildTimeline } from './timeline.ts'
import { statementFigures, workloadFigures } from './figures.ts'
import { loadGenericAt, loadTelemetryAt, telemetryPlan, type Loaded } from './load.ts'
import { genericOperations, genericSessions, telemetryOperations, telemetrySessions } from './operations.ts'
import type { MigrationRehearsal, RehearsalReport } from './report.ts'
import { DEFAULT_PERIOD_MS, Sampler } from './sampler.ts'
import { findings, type Limits } from './verdict.ts'
import { probeOperations, Workload, type Operation, type SessionPlan } from './workload.ts'
import type { SamplerOverhead } from './types.ts'

export interface RehearseOptions {
  dir: string
  seed?: number
  /** MS5.0: days of telemetry (default 1: the seeds' typical production day). */
  days?: number
  /** Other schemas: rows per table (default 100,000, about a typical day's volume). */
  rows?: number
  /** Baseline before the migration (default 2,000 ms: half without the sampler, half with it). */
  baselineMs?: number
  periodMs?: number
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

export const DEFAULTS = { seed: 1, days: 1, rows: 100_000, baselineMs: 2_000 }

export function limitsFrom(t: RehearseOptions['thresholds'] = {}): Limits {
  return {
    dashboardMs: t.dashboard ?? THRESHOLDS.dashboard.limit,
    insertMs: t.insert ?? THRESHOLDS.insert.limit,
    dashboardSource: t.dashboard === undefined ? THRESHOLDS.dashboard.source : 'thresholds.dashboard in the config',
    insertSource: t.insert === undefined ? THRESHOLDS.insert.source : 'thresholds.insert in the config',
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

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
  const data = ms5
    ? `MS5.0 telemetry (harness/data/telemetry/, seed ${seed}): ${span} at scale 1, ~${Math.round(days * 103_680).toLocaleString('en-US')} metric_hist rows plus the other series and reference data`
    : `${(o.rows ?? DEFAULTS.rows).toLocaleString('en-US')} generated rows per table (harness/rehearse/generic.ts, seed ${seed})`
  const allowFile = await loadRehearseAllow(o.dir)
  const allow = o.allow ?? allowFile.entries
  const used = new Set<RehearseAllowEntry>()
  const report: RehearsalReport = { ok: true, engine: engine.describe(), dir: o.dir, seed, data, limits, migrations: [], startedAt: new Date().toISOString(), durationMs: 0 }
  if (!engine.capabilities.concurrentConnections) {
    report.skipped = `${engine.name} has one client connection at a time: a workload cannot run beside the migration, so nothing was rehearsed (use --engine native or container)`
    report.durationMs = performance.now() - t0
    return report
  }
  const one: OneOptions = { ...o, seed, ms5, limits, logSchema: o.logSchema ?? manifest?.schema ?? 'public', requirements: manifest?.requirements, migrations: d.migrations, allow, used }
  // One base database walks up the versions; each rehearsal starts from a copy of it at k-1
  // (CREATE DATABASE … TEMPLATE), so N migrations cost N steps and N copies, not N²/2 steps.
  const base = new Base(engine, one)
  try {
    for (const m of d.migrations) {
      if (o.only && !o.only.includes(m.version)) continue
      o.onProgress?.(`rehearsing ${m.up.file} (from version ${m.version - 1})`)
      const r = await rehearseOne(engine, m, one, await base.copyAt(m))
      report.migrations.push(r)
      o.onProgress?.(`  ${r.verdict}: ${r.statements.length - (r.statements.length ? 1 : 0)} statement(s), ${r.findings.length} finding(s)`)
    }
  } finally {
    await base.drop()
  }
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

interface OneOptions extends RehearseOptions {
  seed: number
  ms5: boolean
  limits: Limits
  logSchema: string
  requirements?: Requirements
  migrations: Migration[]
  allow: RehearseAllowEntry[]
  /** Entries that covered a finding (collected across migrations). */
  used: Set<RehearseAllowEntry>
}

/** The production runner, exactly as `migrate up` builds it, with the rehearsal's hooks. */
function migratorFor(client: pg.ClientBase, o: OneOptions, hooks?: MigratorHooks): Migrator {
  return new Migrator({ client, provider: { source: o.dir, getMigrations: async () => o.migrations }, logSchema: o.logSchema, ...(o.logTable ? { logTable: o.logTable } : {}), ...(o.requirements ? { requirements: o.requirements } : {}), lockWaitMs: 0, ...(hooks ? { hooks } : {}) })
}

/** The database at the version before the next rehearsal, copied for each one. */
class Base {
  #db: DatabaseHandle | undefined
  #version = 0
  constructor(
    private readonly engine: StartedEngine,
    private readonly o: OneOptions,
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

async function rehearseOne(engine: StartedEngine, m: Migration, o: OneOptions, db: DatabaseHandle): Promise<MigrationRehearsal> {
  const client = new pg.Client({ connectionString: db.url, application_name: 'pgverify-rehearse-runner' })
  await client.connect()
  let workload: Workload | undefined
  let sampler: Sampler | undefined
  try {
    // Version 0 is an empty database: nothing to load, the workload has nothing to run on.
    const anchor = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000)
    const plan = telemetryPlan({ seed: o.seed, days: o.days ?? DEFAULTS.days, end: anchor })
    const logTable = `${o.logSchema}.${o.logTable ?? 'migration_log'}`
    let loaded: Loaded = { rows: {}, notLoaded: [], durationMs: 0 }
    let ops: Operation[] = []
    if (m.version > 1 && o.ms5) {
      loaded = await loadTelemetryAt(client, plan)
      ops = telemetryOperations(plan)
    } else if (m.version > 1) {
      const g = await loadGenericAt(client, { seed: o.seed, rows: o.rows ?? DEFAULTS.rows, anchor, exclude: [logTable] })
      loaded = g
      ops = genericOperations(g.schema.tables, o.rows ?? DEFAULTS.rows)
    }
    const probe = await probeOperations(db.url, ops)
    const sessions: SessionPlan[] = o.ms5 ? telemetrySessions(probe.usable) : genericSessions(probe.usable)
    workload = new Workload(db.url, sessions)
    await workload.connect()
    const migrationPid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid
    sampler = new Sampler(db.url, migrationPid, workload.pids, o.periodMs ?? DEFAULT_PERIOD_MS)
    // No workload at this version (nothing exists yet to read or write): no baseline to wait for.
    const baselineMs = sessions.length ? (o.baselineMs ?? DEFAULTS.baselineMs) : 0
    const b0 = performance.now()
    workload.start()
    await sleep(baselineMs / 2)
    const bMid = performance.now()
    await sampler.start()
    await sleep(baselineMs / 2)
    const boundaries = new Boundaries(sampler)
    const migStart = performance.now()
    const run = await migratorFor(client, o, boundaries.hooks()).up({ to: m.version })
    const migEnd = performance.now()
    boundaries.close(migEnd)
    // A little after the commit, so waits that end there are recorded as ended.
    await sleep(100)
    await workload.stop()
    await sampler.stop()
    const endOfRun = performance.now()
    const records = workload.records
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
      loaded: { rows: loaded.rows, notLoaded: loaded.notLoaded, durationMs: Math.round(loaded.durationMs) },
      workload: { operations: probe.usable.map((x) => x.id), unusable: probe.unusable, sessions: sessions.length },
      baseline,
      migration: { status: result?.status ?? (run.error ? 'failed' : 'skipped'), durationMs: migEnd - migStart, ...(run.error ? { error: run.error.message } : {}) },
      statements,
      findings: found,
      sampler: overhead,
      timeline: buildTimeline({ originMs: migStart, fromMs: b0, endMs: migEnd, toMs: endOfRun, records, spans: boundaries.spans, samples: sampler.samples, file: m.up.file }),
    }
  } finally {
    await workload?.close().catch(() => {})
    await sampler?.stop().catch(() => {})
    await client.end().catch(() => {})
    await db.drop().catch(() => {})
  }
}

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
