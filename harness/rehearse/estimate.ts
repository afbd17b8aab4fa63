/**
 * `pgverify plan --rehearse`: each statement's duration, locks and risk at production size.
 *
 * The rehearsal (rehearse.ts) runs twice, at two scales of the same generated data (1× and 3×
 * the default by default: one and three days of MS5.0 telemetry). A statement's N is the rows,
 * at that scale, of the tables it touches: the tables its transaction holds locks on (indexes
 * and chunks counted for their table, catalog/sizes.ts) that the statement names; when it names
 * none of them, those it newly locked; else none (N = 0: the statement is taken as constant). model.ts fits d = a + b·N through
 * the two points and evaluates it at the same tables' production rows (sizes.ts).
 *
 * A lock that stops readers or writers is held from the statement's start to its migration's
 * COMMIT (each migration is one transaction unless marked `--! no-transaction`), so its
 * blocked time at production size is the estimate of that statement and of every one after it.
 */
import pg from 'pg'
import { HarnessError } from '../errors.ts'
import { loadManifest } from '../manifest/manifest.ts'
import { discover, refusal } from '../runner/discover.ts'
import { Migrator } from '../runner/migrator.ts'
import { readRelationOwners, ownerOf, type RelationOwners } from '../catalog/sizes.ts'
import type { StartedEngine } from '../engines/types.ts'
import type { StatementFigures } from './figures.ts'
import { blocks, estimateMs, fit, noiseFloor, riskOf, type BlockingLock, type Fit, type Point, type Risk } from './model.ts'
import { DEFAULTS, limitsFrom, rehearse, type RehearseOptions } from './rehearse.ts'
import type { MigrationRehearsal, RehearsalReport } from './report.ts'
import type { ProductionSizes } from './sizes.ts'
import type { LockHeld } from './types.ts'

export const DEFAULT_SCALES: [number, number] = [1, 3]

export const MODEL = `duration = a + b·N, N = rows of the tables the statement touches, fitted through the two rehearsals (b ≥ 0, a ≥ 0); constant (the larger of the two) where the durations differ by less than the machine's noise (noiseMs: the 90th percentile of how much statements whose data did not grow differ between the two rehearsals; at least 5 ms) or 25 %. Linear holds for scans, rewrites and validations; index builds grow as N log N (a few per cent more per tenfold), and a plan that changes with size (a sort or hash that spills to disk) can be slower than the line. Blocked time = the statement's estimate plus every later one up to its migration's COMMIT. Measured on this machine under the rehearsal's workload: production hardware, concurrency and lock queues differ.`

export interface EstimateOptions extends Omit<RehearseOptions, 'onProgress'> {
  production: ProductionSizes
  /** Multipliers of the default data (days for MS5.0, rows per table otherwise); default [1, 3]. */
  scales?: [number, number]
  onProgress?: (line: string) => void
}

export interface StatementEstimate {
  where: string
  text: string
  /** The tables whose rows N counts. */
  touches: string[]
  /** Measured: N and duration at each rehearsal scale. */
  measured: Point[]
  fit: Fit
  productionRows: number
  estimatedMs: number
  /** Locks that stop readers or writers, with how long at production size. */
  locks: BlockingLock[]
  risk: Risk
}

export interface MigrationEstimate {
  version: number
  file: string
  noTransaction: boolean
  estimatedMs: number
  /** The worst statement's. */
  risk: Risk
  /** The rehearsal's verdict at the first scale (the seeds' thresholds under load). */
  rehearsal: { verdict: MigrationRehearsal['verdict']; findings: number }
  statements: StatementEstimate[]
}

export interface PlanEstimate {
  ok: boolean
  engine: string
  dir: string
  model: string
  scales: { factor: number; data: string; durationMs: number }[]
  production: { source: string; readOnly?: boolean; tables: number; rows: Record<string, number> }
  /** The noise between the two rehearsals below which a difference is not taken as growth (model.ts noiseFloor). */
  noiseMs: number
  limits: { insertMs: number; dashboardMs: number }
  migrations: MigrationEstimate[]
  skipped?: string
  startedAt: string
  durationMs: number
}

export async function estimatePlan(engine: StartedEngine, o: EstimateOptions): Promise<PlanEstimate> {
  const t0 = performance.now()
  const scales = o.scales ?? DEFAULT_SCALES
  const limits = limitsFrom(o.thresholds)
  const d = await discover(o.dir)
  const refused = refusal(d.diagnostics)
  if (refused) throw refused
  const out: PlanEstimate = {
    ok: true,
    engine: engine.describe(),
    dir: o.dir,
    model: MODEL,
    scales: [],
    production: { source: o.production.source, ...(o.production.readOnly !== undefined ? { readOnly: o.production.readOnly } : {}), tables: Object.keys(o.production.rows).length, rows: {} },
    limits: { insertMs: limits.insertMs, dashboardMs: limits.dashboardMs },
    noiseMs: 0,
    migrations: [],
    startedAt: new Date().toISOString(),
    durationMs: 0,
  }
  const reports: RehearsalReport[] = []
  for (const factor of scales) {
    o.onProgress?.(`rehearsal at ${factor}× the default data`)
    const r = await rehearse(engine, { ...o, days: (o.days ?? DEFAULTS.days) * factor, rows: Math.round((o.rows ?? DEFAULTS.rows) * factor), onProgress: (l) => o.onProgress?.(`  ${l}`) })
    if (r.skipped) {
      out.skipped = r.skipped
      out.durationMs = performance.now() - t0
      return out
    }
    reports.push(r)
    out.scales.push({ factor, data: r.data, durationMs: Math.round(r.durationMs) })
  }
  const owners = await ownersAt(engine, o)
  const pairs = d.migrations.flatMap((m) => {
    const a = reports[0]!.migrations.find((x) => x.version === m.version)
    const b = reports[1]!.migrations.find((x) => x.version === m.version)
    return a && b ? [{ m, a, b }] : []
  })
  // First every statement's two points, for the machine's noise; then the fits against it.
  const points = pairs.flatMap(({ a, b }) => measuredPoints(a, b, owners, o.production.rows).map((s) => s.measured)).filter((p): p is [Point, Point] => p.length === 2)
  out.noiseMs = noiseFloor(points)
  for (const { m, a, b } of pairs) out.migrations.push(estimateMigration(m.version, m.up.file, m.up.noTransaction, a, b, owners, o.production.rows, limits, out.noiseMs))
  const touched = new Set(out.migrations.flatMap((m) => m.statements.flatMap((s) => s.touches)))
  out.production.rows = Object.fromEntries([...touched].sort().map((t) => [t, o.production.rows[t] ?? 0]))
  out.ok = out.migrations.every((m) => m.risk.level !== 'high')
  out.durationMs = performance.now() - t0
  return out
}

/** The owners of indexes and chunks, read from a scratch database migrated to the last version (then dropped). */
async function ownersAt(engine: StartedEngine, o: EstimateOptions): Promise<RelationOwners> {
  const manifest = await loadManifest(o.dir)
  const db = await engine.createDatabase('plan_owners')
  const client = new pg.Client({ connectionString: db.url, application_name: 'pgverify-plan owners' })
  await client.connect()
  try {
    const migrator = new Migrator({
      client,
      provider: { source: o.dir, getMigrations: async () => (await discover(o.dir)).migrations },
      logSchema: o.logSchema ?? manifest?.schema ?? 'public',
      ...(o.logTable ? { logTable: o.logTable } : {}),
      ...(manifest?.requirements ? { requirements: manifest.requirements } : {}),
      lockWaitMs: 0,
    })
    const r = await migrator.up()
    if (r.error) throw new HarnessError('MIGRATION_FAILED', `plan --rehearse: migrating a scratch database to read the owners of indexes and chunks failed: ${r.error.message}`, { hint: 'Fix the migration first (pnpm verify shows where).' })
    return await readRelationOwners(client)
  } finally {
    await client.end().catch(() => {})
    await db.drop().catch(() => {})
  }
}

type Rows = Record<string, number>

/** The user tables of a set of locks (indexes and chunks counted for their table). */
function tablesOf(locks: LockHeld[], owners: RelationOwners, known: ReadonlySet<string>): string[] {
  return [...new Set(locks.map((l) => ownerOf(l.relation, owners, known)).filter((t): t is string => !!t))].sort()
}

const bare = (t: string) => t.slice(t.lastIndexOf('.') + 1).replaceAll('"', '')
const names = (head: string, table: string) => new RegExp(`\\b${bare(table).replace(/[$]/g, '\\$&')}\\b`).test(head)

function touchedBy(s: StatementFigures, owners: RelationOwners, known: ReadonlySet<string>): string[] {
  const held = tablesOf(s.held, owners, known)
  const named = held.filter((t) => names(s.head || s.text, t))
  if (named.length) return named
  // Not "everything held": a CREATE TABLE after a big CREATE INDEX in the same transaction holds its
  // lock, but does not touch its rows (noise there would be scaled by the index's table).
  return tablesOf(s.acquired, owners, known)
}

const sum = (tables: string[], rows: Rows) => tables.reduce((n, t) => n + (rows[t] ?? 0), 0)

/** Each statement of the migration at the two scales: the tables it touches and its two (N, ms). */
function measuredPoints(a: MigrationRehearsal, b: MigrationRehearsal, owners: RelationOwners, production: Rows) {
  const known = new Set([...Object.keys(a.loaded.rows), ...Object.keys(b.loaded.rows), ...Object.keys(production)])
  return a.statements.map((sa, i) => {
    const sb = b.statements.find((x) => x.where === sa.where) ?? b.statements[i]
    const touches = [...new Set([...touchedBy(sa, owners, known), ...(sb ? touchedBy(sb, owners, known) : [])])].sort()
    const measured: Point[] = [{ rows: sum(touches, a.loaded.rows), ms: sa.durationMs }, ...(sb ? [{ rows: sum(touches, b.loaded.rows), ms: sb.durationMs }] : [])]
    return { sa, sb, touches, measured, known }
  })
}

function estimateMigration(version: number, file: string, noTransaction: boolean, a: MigrationRehearsal, b: MigrationRehearsal, owners: RelationOwners, production: Rows, limits: { insertMs: number; dashboardMs: number }, noiseMs: number): MigrationEstimate {
  const partial = measuredPoints(a, b, owners, production).map(({ sa, sb, touches, measured, known }) => {
    const f = measured.length === 2 ? fit(measured[0]!, measured[1]!, noiseMs) : { kind: 'constant' as const, interceptMs: sa.durationMs, msPerRow: 0 }
    const productionRows = sum(touches, production)
    const acquired = [...sa.acquired, ...(sb?.acquired ?? [])]
    const stopping = new Map<string, { mode: string; relation: string; stops: 'readers and writers' | 'writers' }>()
    for (const l of acquired) {
      const stops = blocks(l.mode)
      const table = ownerOf(l.relation, owners, known)
      if (stops && table) stopping.set(`${l.mode} ${table}`, { mode: l.mode, relation: table, stops })
    }
    return { where: sa.where, text: sa.text, touches, measured, fit: f, productionRows, estimatedMs: estimateMs(f, productionRows), stopping: [...stopping.values()] }
  })
  const statements: StatementEstimate[] = partial.map((p, i) => {
    // Locks are kept until COMMIT: the blocked time runs to the end of the migration's transaction.
    const heldMs = noTransaction ? p.estimatedMs : partial.slice(i).reduce((s, x) => s + x.estimatedMs, 0)
    const locks: BlockingLock[] = p.stopping.map((l) => ({ ...l, rows: production[l.relation] ?? 0, heldMs }))
    const { stopping: _, ...rest } = p
    return { ...rest, locks, risk: riskOf(locks, limits) }
  })
  const order = { high: 2, medium: 1, low: 0 }
  const worst = statements.reduce<Risk>((w, s) => (order[s.risk.level] > order[w.level] ? s.risk : w), { level: 'low', text: 'no statement stops reads or writes on a table with rows' })
  return {
    version,
    file,
    noTransaction,
    estimatedMs: statements.reduce((s, x) => s + x.estimatedMs, 0),
    risk: worst,
    rehearsal: { verdict: a.verdict, findings: a.findings.length },
    statements,
  }
}
