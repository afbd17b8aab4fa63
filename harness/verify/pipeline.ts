/**
 * `pnpm verify`'s stages, in order, on one disposable database. Each stage returns a verdict
 * with its evidence; a stage that cannot run says why (`skipped` with a reason), never passes
 * silently. The CLI renders these results and the reports are built from them.
 */
import type pg from 'pg'
import { engineDifferences } from '../engines/differences.ts'
import type { StartedEngine } from '../engines/types.ts'
import { HarnessError, isHarnessError } from '../errors.ts'
import { connect } from '../runner/connect.ts'
import { FileMigrationProvider } from '../runner/discover.ts'
import type { Migration } from '../sql/migration.ts'
import { loadReleased, releasedDrift } from '../runner/released.ts'
import { lintDirectory, formatFinding } from '../lint/lint.ts'
import { loadManifest, type Manifest } from '../manifest/manifest.ts'
import { failed, type Stage, type StageResult, type VerifyContext, type VerifyOptions, type VerifyReport } from './stage.ts'
import { downUp, idempotency, postValidation, replay, secondUp } from './stages/schema.ts'
import { faultInjection } from './stages/fault-injection.ts'
import { dataProperties } from './stages/data-properties.ts'
import { backupRoundTripStage } from './stages/backup-round-trip.ts'
import { jobsStage } from './stages/jobs.ts'
import { DIAGNOSTIC_TITLE, diagnosticReplayStage, runDiagnosticReplay } from './stages/diagnostic-replay.ts'

export type { StageResult, VerifyReport, VerifyOptions, Verdict } from './stage.ts'

export const STAGES: Stage[] = [
  { id: 'replay', title: 'Replay all migrations from an empty database', needs: [], run: replay },
  { id: 'diagnostic-replay', title: DIAGNOSTIC_TITLE, needs: [], run: diagnosticReplayStage },
  { id: 'post-validation', title: 'Post-migration validation (manifest, hypertables, policies, log, orphans)', needs: ['replay'], run: postValidation },
  { id: 'jobs', title: 'Registered jobs run explicitly (CALL run_job): effects per job match their config', needs: ['replay'], run: jobsStage },
  { id: 'second-up', title: 'A second up is a no-op', needs: ['replay'], run: secondUp },
  { id: 'idempotency', title: 'Idempotency: every file run again changes nothing', needs: ['replay'], run: idempotency },
  { id: 'down-up', title: 'Down/up round trip for every step', needs: ['replay'], run: downUp },
  { id: 'fault-injection', title: 'Fault injection: a failure after any statement leaves no trace', needs: ['replay'], run: faultInjection },
  { id: 'data-properties', title: 'Property-based data through every upgrade step (fast-check)', needs: ['replay'], run: dataProperties },
  { id: 'backup-round-trip', title: 'Backup → restore round trip shows zero differences', needs: ['replay'], run: backupRoundTripStage },
]

export async function runVerify(engine: StartedEngine, options: VerifyOptions, stages: Stage[] = STAGES): Promise<VerifyReport> {
  const started = Date.now()
  const progress = options.onProgress ?? (() => {})
  const results: StageResult[] = []
  const report: VerifyReport = {
    engine: {
      name: engine.name,
      description: engine.describe(),
      postgres: engine.versions.postgres,
      timescaledb: engine.versions.timescaledb,
      license: engine.versions.timescaledbLicense,
      differences: engineDifferences(engine.capabilities),
    },
    dir: options.dir,
    startedAt: new Date(started).toISOString(),
    durationMs: 0,
    ok: false,
    stages: results,
  }
  // Lint first and always: it reads every file on its own, so it reports on the rest even
  // when the directory is refused or a migration fails later.
  const l0 = Date.now()
  try {
    const lint = await lintDirectory(options.dir)
    report.lint = lint
    const details = lint.findings.map((f) => formatFinding(f))
    const summary = `${lint.errors} error${lint.errors === 1 ? '' : 's'}, ${lint.warnings} warning${lint.warnings === 1 ? '' : 's'}, ${lint.allowed} allowed by lint-allow.json`
    results.push({ id: 'lint', title: 'Lint the migration files (static, before any database work)', verdict: lint.errors > 0 ? 'failed' : 'passed', durationMs: Date.now() - l0, summary, details, ...(lint.errors > 0 ? { error: { code: 'LINT', message: summary } } : {}) })
  } catch (e) {
    if (!isHarnessError(e)) throw e
    results.push({ id: 'lint', title: 'Lint the migration files (static, before any database work)', verdict: 'failed', durationMs: Date.now() - l0, summary: e.message, details: e.hint ? [e.hint] : [], error: { code: e.code, message: e.message } })
  }
  progress(`▸ lint: ${results[0]!.summary}`)

  const fileStage = { id: 'files', title: 'Read and check the migration files' }
  let manifest: Manifest | undefined
  let migrations: Migration[]
  const t0 = Date.now()
  try {
    manifest = await loadManifest(options.dir)
    migrations = await new FileMigrationProvider(options.dir).getMigrations()
    const released = await loadReleased(options.dir)
    const drift = released ? releasedDrift(released, migrations) : []
    if (drift.length) {
      throw new HarnessError('MIGRATION_DRIFT', `released migration${drift.length > 1 ? 's were' : ' was'} edited (drift): ${drift.join('; ')}`, {
        hint: 'Restore the released file(s) from the release and put the change in a new migration; production would refuse the edited file.',
        details: { drift },
      })
    }
    results.push({ ...fileStage, verdict: 'passed', durationMs: Date.now() - t0, summary: `${migrations.length} migrations, ${migrations.filter((m) => m.down).length} with down files${manifest ? ', manifest found' : ', no manifest'}${released ? `, ${Object.keys(released.migrations).length} released unchanged` : ', no released.json'}`, details: migrations.map((m) => `${m.up.file} sha256 ${m.up.checksum}`) })
  } catch (e) {
    if (!isHarnessError(e)) throw e
    results.push({ ...fileStage, verdict: 'failed', durationMs: Date.now() - t0, summary: e.message, details: e.hint ? [e.hint] : [], error: { code: e.code, message: e.message } })
    for (const s of stages) {
      // The diagnostic replay reads the files itself: it runs on refused files (not on drift or a bad manifest).
      if (s.id === 'diagnostic-replay' && /^MIGRATION_(?!DRIFT$)/.test(e.code) && !options.skip?.includes(s.id)) {
        const d0 = Date.now()
        const r = await runDiagnosticReplay(engine, options.dir, manifest, progress, options.logSchema).catch((x: Error) => ({ verdict: 'failed' as const, summary: `diagnostic-replay could not complete: ${x.message}`, details: [] }))
        results.push({ id: s.id, title: s.title, ...r, durationMs: Date.now() - d0 })
        continue
      }
      results.push({ id: s.id, title: s.title, verdict: 'skipped', durationMs: 0, summary: 'skipped: the migration files were refused', details: [] })
    }
    report.durationMs = Date.now() - started
    return report
  }
  const schemas = [...new Set([manifest?.schema, options.logSchema, ...(manifest?.tables ?? []).map((t) => t.split('.')[0])].filter((s): s is string => !!s))]
  const logSchema = options.logSchema ?? manifest?.schema ?? 'public'
  if (!schemas.includes(logSchema)) schemas.push(logSchema)
  const ctx: VerifyContext = { engine, dir: options.dir, manifest, migrations, schemas, logSchema, logTable: options.logTable, fingerprints: new Map(), progress, options }

  const db = await engine.createDatabase('verify')
  let client: pg.Client | undefined
  try {
    client = await connect(db.url, { applicationName: 'pgverify verify' })
    for (const stage of stages) {
      if (options.skip?.includes(stage.id)) {
        results.push({ id: stage.id, title: stage.title, verdict: 'skipped', durationMs: 0, summary: `skipped: --skip ${stage.id} was given (not verified in this run)`, details: [] })
        continue
      }
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
