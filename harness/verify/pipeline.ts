/**
 * `pnpm verify`'s stages, in order, on one disposable database. Each stage returns a verdict
 * with its evidence; a stage that cannot run says why (`skipped` with a reason), never passes
 * silently. The CLI renders these results and the reports are built from them.
 */
import type pg from 'pg'
import type { StartedEngine } from '../engines/types.ts'
import { HarnessError, isHarnessError } from '../errors.ts'
import { connect } from '../runner/connect.ts'
import { FileMigrationProvider } from '../runner/discover.ts'
import { formatLocated, type LocatedError } from '../runner/locate.ts'
import type { Migration } from '../runner/migration.ts'
import { Migrator, type MigratorEvent } from '../runner/migrator.ts'
import { validateExpected } from '../validation/expected.ts'
import { diffSnapshots, fingerprintHash, snapshot, type SchemaSnapshot } from '../validation/fingerprint.ts'
import { loadManifest, type Manifest } from '../validation/manifest.ts'
import { foreignKeyOrphans } from '../validation/orphans.ts'

export type Verdict = 'passed' | 'failed' | 'skipped'

export interface StageResult {
  id: string
  title: string
  verdict: Verdict
  durationMs: number
  /** One line for the terminal and the report. */
  summary: string
  /** Evidence: check lines, diff lines, the located error. */
  details: string[]
  error?: { code: string; message: string; located?: LocatedError }
}

export interface VerifyOptions {
  dir: string
  logSchema?: string
  logTable?: string
  onProgress?: (line: string) => void
}

export interface VerifyContext {
  engine: StartedEngine
  dir: string
  manifest?: Manifest
  migrations: Migration[]
  schemas: string[]
  logSchema: string
  logTable?: string
  /** Fingerprint after each version 0..N, recorded during replay. */
  fingerprints: Map<number, SchemaSnapshot>
  progress: (line: string) => void
}

export interface VerifyReport {
  engine: { name: string; description: string; postgres: string; timescaledb: string; license: string }
  dir: string
  startedAt: string
  durationMs: number
  ok: boolean
  stages: StageResult[]
}

type StageFn = (ctx: VerifyContext, client: pg.Client) => Promise<Omit<StageResult, 'id' | 'title' | 'durationMs'>>

interface Stage {
  id: string
  title: string
  /** Stages that must have passed for this one to mean anything. */
  needs: string[]
  run: StageFn
}

const passed = (summary: string, details: string[] = []) => ({ verdict: 'passed' as const, summary, details })
const failed = (summary: string, details: string[] = [], error?: StageResult['error']) => ({ verdict: 'failed' as const, summary, details, error })

function migratorFor(ctx: VerifyContext, client: pg.ClientBase, onEvent?: (e: MigratorEvent) => void): Migrator {
  return new Migrator({
    client,
    provider: { source: ctx.dir, getMigrations: async () => ctx.migrations },
    logSchema: ctx.logSchema,
    logTable: ctx.logTable,
    requirements: ctx.manifest?.requirements,
    lockWaitMs: 0,
    onEvent,
  })
}

const take = (client: pg.ClientBase, ctx: VerifyContext) => snapshot(client, ctx.schemas)

function diffLines(a: SchemaSnapshot, b: SchemaSnapshot, limit = 40): string[] {
  const d = diffSnapshots(a, b)
  return d.length > limit ? [...d.slice(0, limit), `… ${d.length - limit} more differences`] : d
}

/** Replays every migration from empty, one version at a time, recording the schema after each. */
const replay: StageFn = async (ctx, client) => {
  const migrator = migratorFor(ctx, client)
  ctx.fingerprints.set(0, await take(client, ctx))
  const lines: string[] = []
  let total = 0
  for (const m of ctx.migrations) {
    const r = await migrator.up({ to: m.version })
    if (r.error) {
      const located = r.results.find((x) => x.status === 'Error')?.error
      return failed(`${m.up.file} failed`, located ? formatLocated(located).split('\n') : [r.error.message], { code: r.error.code, message: r.error.message, located })
    }
    const ms = r.results[0]?.durationMs ?? 0
    total += ms
    lines.push(`${m.name}: ${Math.round(ms)} ms, ${m.up.statements.length} statements`)
    ctx.progress(`  replayed ${m.name} (${Math.round(ms)} ms)`)
    ctx.fingerprints.set(m.version, await take(client, ctx))
  }
  const last = ctx.fingerprints.get(ctx.migrations.length)!
  return passed(`${ctx.migrations.length} migrations applied from empty in ${Math.round(total)} ms; schema ${fingerprintHash(last).slice(0, 12)}`, lines)
}

const postValidation: StageFn = async (ctx, client) => {
  if (!ctx.manifest) return { verdict: 'skipped', summary: `no manifest.json in ${ctx.dir}: expected objects not checked`, details: [] }
  const checks = await validateExpected(client, ctx.manifest, {
    scope: 'all',
    log: { schema: ctx.logSchema, table: ctx.logTable ?? 'migration_log' },
    migrations: ctx.migrations,
  })
  const orphans = await foreignKeyOrphans(client, ctx.schemas)
  checks.push({ id: 'foreign-key-orphans', ok: orphans.length === 0, message: orphans.length ? orphans.join('; ') : 'no rows reference a missing parent' })
  await client.query('ANALYZE')
  checks.push({ id: 'analyze', ok: true, message: 'ANALYZE completed' })
  const bad = checks.filter((c) => !c.ok)
  const details = checks.map((c) => `${c.ok ? 'ok  ' : 'FAIL'} ${c.id}: ${c.message}`)
  return bad.length ? failed(`${bad.length} of ${checks.length} checks failed: ${bad.map((c) => c.id).join(', ')}`, details) : passed(`${checks.length} checks passed`, details)
}

const secondUp: StageFn = async (ctx, client) => {
  const before = await take(client, ctx)
  const r = await migratorFor(ctx, client).up()
  if (r.error) return failed(`second up failed: ${r.error.message}`, [], { code: r.error.code, message: r.error.message })
  const applied = r.results.filter((x) => x.status === 'Success').map((x) => x.name)
  const diff = diffLines(before, await take(client, ctx))
  if (applied.length || diff.length) return failed(`second up was not a no-op: applied ${applied.length}`, [...applied.map((a) => `applied again: ${a}`), ...diff])
  return passed('a second up applies nothing and changes nothing')
}

export const STAGES: Stage[] = [
  { id: 'replay', title: 'Replay all migrations from an empty database', needs: [], run: replay },
  { id: 'post-validation', title: 'Post-migration validation (manifest, hypertables, policies, log, orphans)', needs: ['replay'], run: postValidation },
  { id: 'second-up', title: 'A second up is a no-op', needs: ['replay'], run: secondUp },
]

export async function runVerify(engine: StartedEngine, options: VerifyOptions, stages: Stage[] = STAGES): Promise<VerifyReport> {
  const started = Date.now()
  const progress = options.onProgress ?? (() => {})
  const results: StageResult[] = []
  const report: VerifyReport = {
    engine: { name: engine.name, description: engine.describe(), postgres: engine.versions.postgres, timescaledb: engine.versions.timescaledb, license: engine.versions.timescaledbLicense },
    dir: options.dir,
    startedAt: new Date(started).toISOString(),
    durationMs: 0,
    ok: false,
    stages: results,
  }
  const fileStage = { id: 'files', title: 'Read and check the migration files' }
  let manifest: Manifest | undefined
  let migrations: Migration[]
  const t0 = Date.now()
  try {
    manifest = await loadManifest(options.dir)
    migrations = await new FileMigrationProvider(options.dir).getMigrations()
    results.push({ ...fileStage, verdict: 'passed', durationMs: Date.now() - t0, summary: `${migrations.length} migrations, ${migrations.filter((m) => m.down).length} with down files${manifest ? ', manifest found' : ', no manifest'}`, details: migrations.map((m) => `${m.up.file} sha256 ${m.up.checksum}`) })
  } catch (e) {
    if (!isHarnessError(e)) throw e
    results.push({ ...fileStage, verdict: 'failed', durationMs: Date.now() - t0, summary: e.message, details: e.hint ? [e.hint] : [], error: { code: e.code, message: e.message } })
    for (const s of stages) results.push({ id: s.id, title: s.title, verdict: 'skipped', durationMs: 0, summary: 'skipped: the migration files were refused', details: [] })
    report.durationMs = Date.now() - started
    return report
  }
  const schemas = [...new Set([manifest?.schema, options.logSchema, ...(manifest?.tables ?? []).map((t) => t.split('.')[0])].filter((s): s is string => !!s))]
  const logSchema = options.logSchema ?? manifest?.schema ?? 'public'
  if (!schemas.includes(logSchema)) schemas.push(logSchema)
  const ctx: VerifyContext = { engine, dir: options.dir, manifest, migrations, schemas, logSchema, logTable: options.logTable, fingerprints: new Map(), progress }

  const db = await engine.createDatabase('verify')
  let client: pg.Client | undefined
  try {
    client = await connect(db.url, { applicationName: 'pgverify verify' })
    for (const stage of stages) {
      const blocked = stage.needs.find((n) => results.find((r) => r.id === n)?.verdict !== 'passed')
      if (blocked) {
        results.push({ id: stage.id, title: stage.title, verdict: 'skipped', durationMs: 0, summary: `skipped: needs stage "${blocked}" to pass`, details: [] })
        continue
      }
      progress(`▸ ${stage.title}`)
      const s0 = Date.now()
      let r: Omit<StageResult, 'id' | 'title' | 'durationMs'>
      try {
        r = await stage.run(ctx, client)
      } catch (e) {
        const he = isHarnessError(e) ? e : new HarnessError('VALIDATION_FAILED', (e as Error).message)
        r = failed(`${stage.id} could not complete: ${he.message}`, he.hint ? [he.hint] : [], { code: he.code, message: he.message })
      }
      results.push({ id: stage.id, title: stage.title, durationMs: Date.now() - s0, ...r })
    }
  } finally {
    await client?.end().catch(() => {})
    await db.drop().catch(() => {})
  }
  report.durationMs = Date.now() - started
  report.ok = results.every((r) => r.verdict !== 'failed')
  return report
}
