/**
 * The orchestrated production migration (seed 000, component 5):
 *
 *   1 environment      migration files read and checked, manifest, log location
 *   2 pre-validation   checks.ts (read-only); a failure stops here: nothing was changed
 *   3 backup           full + schema + data (+ volume copy where the engine has one), then verified
 *   4 migrate          the runner's `up`, each migration in its own transaction
 *   5 post-validation  what `pnpm verify` checks after replay: manifest objects, hypertables,
 *                      policies, log rows and checksums, foreign-key orphans
 *   6 rollback         only after a failure in 4 or 5: restore the backup in place, then prove it
 *                      with the round-trip comparison against the backup's recorded state
 *   7 report           execution log + text report + JSON, under the log directory
 *
 * `dryRun` runs 1 and 2 and prints the plan; it changes nothing in the database and writes no
 * backup (the log and report are still written). Every connection is opened and closed within its
 * step: the embedded engine serves one connection at a time.
 *
 * Never throws for anything a user can cause: the outcome, the database's state in one plain
 * sentence and every step's evidence are in the returned report.
 */
import path from 'node:path'
import { createBackup, type BackupResult } from '../backup/backup.ts'
import { formatComparison, type Comparison } from '../backup/compare.ts'
import { verifyBackup } from '../backup/manifest.ts'
import { restoreBackup } from '../backup/restore.ts'
import type { Target } from '../engines/target.ts'
import { userSchemas } from '../backup/state.ts'
import type { ErrorCode } from '../errors.ts'
import { HarnessError, isHarnessError } from '../errors.ts'
import { connect } from '../runner/connect.ts'
import { FileMigrationProvider } from '../runner/discover.ts'
import { formatLocated } from '../runner/locate.ts'
import type { Migration } from '../sql/migration.ts'
import { Migrator, type MigrationResult, type PlanStep } from '../runner/migrator.ts'
import { expectedAt, validateExpected, validateLog, type CheckResult } from '../validation/expected.ts'
import { loadManifest, type Manifest } from '../manifest/manifest.ts'
import { foreignKeyOrphans } from '../validation/orphans.ts'
import { redact } from '../util/redact.ts'
import type { RetentionImpact } from '../validation/retention.ts'
import { ACCEPT_RETENTION_FLAG, preValidate, type PreCheck } from './checks.ts'
import { ExecutionLog, runFiles, type Level, type RunFiles } from './log.ts'
import { renderReport, writeReportFiles } from './report.ts'

export type Outcome =
  /** All pending migrations applied and validated. */
  | 'migrated'
  /** Nothing pending: no backup taken, nothing changed. */
  | 'nothing-to-do'
  /** Checks ran, plan printed, nothing changed. */
  | 'dry-run'
  /** Stopped before changing anything (files, pre-validation or backup failed). */
  | 'not-started'
  /** A step after the backup failed; the backup was restored and compares equal. */
  | 'restored'
  /** Restored, but the comparison lists differences. */
  | 'restored-with-differences'
  /** The restore itself failed: the database needs attention. */
  | 'rollback-failed'

export interface PhaseResult {
  id: 'environment' | 'pre-validation' | 'backup' | 'migrate' | 'post-validation' | 'rollback'
  title: string
  status: 'passed' | 'failed' | 'skipped' | 'planned'
  durationMs: number
  summary: string
  details: string[]
}

export interface ExecutionReport {
  id: string
  startedAt: string
  finishedAt: string
  durationMs: number
  dryRun: boolean
  target: { engine: string; description: string; postgres: string; timescaledb: string }
  dir: string
  backupRoot: string
  files: RunFiles
  outcome: Outcome
  /** One plain sentence: what happened and what state the database is in. */
  state: string
  /** The error that decided the outcome, if any. */
  error?: { code: ErrorCode; message: string; hint?: string }
  versionBefore: number | null
  versionAfter: number | null
  phases: PhaseResult[]
  checks: PreCheck[]
  plan: PlanStep[]
  backup?: { dir: string; name: string; bytes: number; durationMs: number; tool: string; files: { path: string; bytes: number; sha256: string }[] }
  migration?: { results: MigrationResult[]; located?: string }
  postValidation?: CheckResult[]
  rollback?: { backup: string; durationMs: number; comparison?: Comparison; replaced: string[]; leftAlone: string[]; notes: string[]; error?: string }
  /**
   * The retention policies pending migrations add, and what each deletes on its first run (counted
   * read-only before anything ran); `acknowledged` when --accept-retention-deletes was given.
   */
  retention?: { policies: RetentionImpact[]; deletes: boolean; acknowledged: boolean; flag: string }
}

export interface ExecuteOptions {
  target: Target
  dir: string
  backupRoot: string
  logDir: string
  dryRun?: boolean
  logSchema?: string
  logTable?: string
  lockWaitMs?: number
  /** --accept-retention-deletes: accept what the pending retention policies will delete (recorded in the log and report). */
  acceptRetentionDeletes?: boolean
  /** Every log line as it is written (CLI progress). */
  echo?: (level: Level, line: string) => void
  now?: Date
}

const TITLES: Record<PhaseResult['id'], string> = {
  environment: 'Environment and migration files',
  'pre-validation': 'Pre-migration validation',
  backup: 'Backup (verified)',
  migrate: 'Migrate (up)',
  'post-validation': 'Post-migration validation',
  rollback: 'Automatic rollback: restore the backup and compare',
}

export async function execute(o: ExecuteOptions): Promise<ExecutionReport> {
  const t0 = performance.now()
  const startedAt = o.now ?? new Date()
  const logDir = path.resolve(o.logDir)
  const files = runFiles(logDir, startedAt)
  const log = new ExecutionLog(files.log, o.echo)
  const dir = path.resolve(o.dir)
  const report: ExecutionReport = {
    id: files.id,
    startedAt: startedAt.toISOString(),
    finishedAt: '',
    durationMs: 0,
    dryRun: Boolean(o.dryRun),
    target: { engine: o.target.engineName, description: redact(o.target.describe), postgres: o.target.versions.postgres, timescaledb: o.target.versions.timescaledb },
    dir,
    backupRoot: path.resolve(o.backupRoot),
    files,
    outcome: 'not-started',
    state: '',
    versionBefore: null,
    versionAfter: null,
    phases: [],
    checks: [],
    plan: [],
  }
  const phase = async <T>(id: PhaseResult['id'], fn: (p: PhaseResult) => Promise<T>): Promise<T> => {
    const p: PhaseResult = { id, title: TITLES[id], status: 'passed', durationMs: 0, summary: '', details: [] }
    report.phases.push(p)
    log.step(`${TITLES[id]} …`)
    const s = performance.now()
    try {
      return await fn(p)
    } catch (e) {
      p.status = 'failed'
      if (!p.summary) p.summary = (e as Error).message.split('\n')[0] ?? ''
      throw e
    } finally {
      p.durationMs = Math.round(performance.now() - s)
      log.write(p.status === 'failed' ? 'ERROR' : 'INFO', `${TITLES[id]}: ${p.status.toUpperCase()}${p.summary ? ` — ${p.summary}` : ''} (${p.durationMs} ms)`)
    }
  }
  const planned = (id: PhaseResult['id'], summary: string) => report.phases.push({ id, title: TITLES[id], status: 'planned', durationMs: 0, summary, details: [] })
  const skipped = (id: PhaseResult['id'], summary: string) => report.phases.push({ id, title: TITLES[id], status: 'skipped', durationMs: 0, summary, details: [] })
  const decide = (outcome: Outcome, state: string, error?: unknown) => {
    report.outcome = outcome
    report.state = state
    if (error) {
      const he = isHarnessError(error) ? error : new HarnessError('MIGRATION_FAILED', (error as Error).message)
      report.error = { code: he.code, message: redact(he.message), ...(he.hint ? { hint: he.hint } : {}) }
    }
  }

  log.info(`execution ${files.id}${o.dryRun ? ' (dry run: checks and plan only, nothing is changed)' : ''}`)
  log.info(`target: ${o.target.describe}`)
  log.info(`migrations: ${dir} · backups: ${report.backupRoot} · log: ${files.log}`)

  let migrations: Migration[] = []
  let manifest: Manifest | undefined
  let logAt = { schema: 'public', table: 'migration_log' }
  let backup: BackupResult | undefined
  try {
    // ---- 1 environment -------------------------------------------------------------------------
    try {
      await phase('environment', async (p) => {
        manifest = await loadManifest(dir)
        migrations = await new FileMigrationProvider(dir).getMigrations()
        logAt = { schema: o.logSchema ?? manifest?.schema ?? 'public', table: o.logTable ?? 'migration_log' }
        p.summary = `${migrations.length} migration files accepted, ${manifest ? 'manifest found' : 'no manifest'}; log ${logAt.schema}.${logAt.table}; Node ${process.versions.node}`
        p.details = migrations.map((m) => `${m.up.file} sha256 ${m.up.checksum}${m.up.noTransaction ? ' [no-transaction]' : ''}`)
      })
    } catch (e) {
      decide('not-started', 'NOT CHANGED: the migration files were refused before any connection was made; the database was not touched.', e)
      return report
    }

    // ---- 2 pre-validation ----------------------------------------------------------------------------
    const pv = await phase('pre-validation', async (p) => {
      const r = await preValidate({ target: o.target, dir, migrations, manifest, log: logAt, backupRoot: o.backupRoot, dryRun: Boolean(o.dryRun), lockWaitMs: o.lockWaitMs ?? 60_000, acceptRetentionDeletes: o.acceptRetentionDeletes })
      report.checks = r.checks
      report.plan = r.plan
      report.versionBefore = r.current
      if (r.retention) {
        const deletes = r.retention.some((x) => x.status === 'would-delete' || x.status === 'unknown')
        report.retention = { policies: r.retention, deletes, acknowledged: deletes && Boolean(o.acceptRetentionDeletes), flag: ACCEPT_RETENTION_FLAG }
      }
      for (const c of r.checks) log.write(c.status === 'fail' ? 'ERROR' : c.status === 'warn' ? 'WARN' : 'INFO', `  ${c.status.padEnd(4)} ${c.id}: ${c.message}${c.hint ? ` — what to do: ${c.hint}` : ''}`)
      p.details = r.checks.map((c) => `${c.status.padEnd(4)} ${c.id}: ${c.message}`)
      const failed = r.checks.filter((c) => c.status === 'fail')
      const warned = r.checks.filter((c) => c.status === 'warn')
      p.summary = `${r.checks.length - failed.length - warned.length} ok, ${warned.length} warnings, ${failed.length} failed`
      if (failed.length) p.status = 'failed'
      return r
    })
    for (const s of pv.plan) log.info(`  plan: ↑ ${s.file} (${s.statements} statements${s.noTransaction ? ', no-transaction: not atomic' : ''})`)
    if (report.retention?.deletes) {
      if (report.retention.acknowledged) log.warn(`RETENTION DELETES ACKNOWLEDGED (${ACCEPT_RETENTION_FLAG} given): the first run of the pending retention policies deletes what is counted below`)
      else log.error(`RETENTION DELETES NOT ACKNOWLEDGED: refusing; run again with ${ACCEPT_RETENTION_FLAG} to accept what is counted below`)
      for (const x of report.retention.policies) log.write(x.status === 'would-delete' || x.status === 'unknown' ? 'WARN' : 'INFO', `  retention: ${x.message}`)
    }
    if (!pv.ok) {
      const first = pv.checks.find((c) => c.status === 'fail')!
      for (const id of ['backup', 'migrate', 'post-validation'] as const) skipped(id, 'not run: pre-migration validation failed')
      decide('not-started', `NOT CHANGED: pre-migration validation failed (${first.id}); nothing was run and the database is as it was${pv.current ? ` (version ${pv.current})` : ''}.`, new HarnessError((first.code as ErrorCode) ?? 'VALIDATION_FAILED', `${first.id}: ${first.message}`, { hint: first.hint }))
      report.versionAfter = pv.current
      return report
    }
    if (pv.plan.length === 0) {
      for (const id of ['backup', 'migrate', 'post-validation'] as const) skipped(id, `not needed: database already at version ${pv.current}`)
      decide('nothing-to-do', `UNCHANGED: nothing to apply; the database is at version ${pv.current}. No backup was taken.`)
      report.versionAfter = pv.current
      return report
    }
    const target = pv.plan[pv.plan.length - 1]!.version
    if (o.dryRun) {
      planned('backup', `would write a full, schema-only and data-only backup to ${report.backupRoot}/pre-migration-…/ and verify it`)
      planned('migrate', `would apply ${pv.plan.length} migration${pv.plan.length > 1 ? 's' : ''}: version ${pv.current} → ${target}`)
      planned('post-validation', 'would validate the manifest objects, hypertables, policies, the migration log and foreign keys')
      planned('rollback', 'would restore the backup in place and compare it, if a step after the backup failed')
      decide('dry-run', `UNCHANGED (dry run): checks passed; ${pv.plan.length} migration${pv.plan.length > 1 ? 's' : ''} would be applied (version ${pv.current} → ${target}).`)
      report.versionAfter = pv.current
      return report
    }

    // ---- 3 backup ------------------------------------------------------------------------------------
    try {
      backup = await phase('backup', async (p) => {
        const b = await createBackup(o.target, { root: o.backupRoot, manifest, log: logAt, onLog: (l) => log.info(`  ${l}`) })
        const v = await verifyBackup(b.dir)
        if (!v.ok) throw new HarnessError('BACKUP_CORRUPT', `the new backup ${b.dir} does not verify: ${v.problems.map((x) => `${x.file}: ${x.problem}`).join('; ')}`, { hint: 'Check the disk; nothing was migrated.' })
        p.summary = `${b.name}: ${b.manifest.files.length} files, ${(b.bytes / 2 ** 20).toFixed(1)} MiB in ${Math.round(b.durationMs)} ms, every checksum verified`
        p.details = b.manifest.files.map((f) => `${f.path} ${f.bytes} bytes sha256 ${f.sha256}`)
        report.backup = { dir: b.dir, name: b.name, bytes: b.bytes, durationMs: Math.round(b.durationMs), tool: `${b.manifest.tool.logical}${b.manifest.tool.physical ? ` + ${b.manifest.tool.physical}` : ''}`, files: b.manifest.files.map((f) => ({ path: f.path, bytes: f.bytes, sha256: f.sha256 })) }
        return b
      })
    } catch (e) {
      skipped('migrate', 'not run: no verified backup')
      skipped('post-validation', 'not run: no verified backup')
      decide('not-started', `NOT CHANGED: the backup failed, so no migration was run; the database is as it was (version ${pv.current}).`, e)
      report.versionAfter = pv.current
      return report
    }

    // ---- 4 migrate -----------------------------------------------------------------------------------
    let failure: { phase: string; error: HarnessError } | undefined
    await phase('migrate', async (p) => {
      const client = await connect(o.target.url, { applicationName: 'pgverify-execute up' })
      try {
        const migrator = new Migrator({
          client,
          provider: { source: dir, getMigrations: async () => migrations },
          logSchema: logAt.schema,
          logTable: logAt.table,
          requirements: manifest?.requirements,
          lockWaitMs: o.lockWaitMs ?? 60_000,
          onEvent: (e) => {
            if (e.type === 'start') log.info(`  ↑ [${e.index}/${e.total}] ${e.migration} …`)
            else if (e.type === 'done') log.info(`  ✓ ${e.migration} (${Math.round(e.durationMs)} ms)`)
            else if (e.type === 'failed') log.error(`  ✗ ${e.migration} FAILED`)
            else if (e.type === 'lock-wait') log.warn(`  waiting for the migration lock held by ${e.holder}`)
            else if (e.type === 'bootstrap') log.info(`  bootstrap: created ${e.created.join(', ')}`)
            else if (e.type === 'warning') log.warn(`  ${e.message}`)
          },
        })
        const r = await migrator.up()
        const located = r.results.find((x) => x.status === 'Error')?.error
        report.migration = { results: r.results, ...(located ? { located: formatLocated(located) } : {}) }
        p.details = r.results.map((x) => `${x.status.padEnd(11)} ${x.file}${x.durationMs !== undefined ? ` ${Math.round(x.durationMs)} ms` : ''}`)
        if (r.error) {
          p.status = 'failed'
          p.summary = located ? `${located.file}:${located.line}:${located.column}${located.sqlstate ? ` [SQLSTATE ${located.sqlstate}]` : ''} ${located.message}` : r.error.message
          if (located) for (const l of formatLocated(located).split('\n')) log.error(`  ${l}`)
          else log.error(`  ${r.error.message}`)
          failure = { phase: 'migrate', error: r.error }
        } else p.summary = `version ${r.from} → ${r.to}: ${r.results.length} applied`
      } finally {
        await client.end().catch(() => {})
      }
    })

    // ---- 5 post-validation ---------------------------------------------------------------------------
    if (!failure) {
      await phase('post-validation', async (p) => {
        const client = await connect(o.target.url, { applicationName: 'pgverify-execute post-validation' })
        try {
          const checks: CheckResult[] = manifest
            ? await validateExpected(client, manifest, { scope: expectedAt(manifest, migrations, target), log: logAt, migrations, version: target })
            : [await validateLog(client, logAt, migrations, target)]
          const schemas = await userSchemas(client)
          const orphans = await foreignKeyOrphans(client, schemas)
          checks.push({ id: 'foreign-key-orphans', ok: orphans.length === 0, message: orphans.length ? orphans.join('; ') : 'no rows reference a missing parent' })
          report.postValidation = checks
          p.details = checks.map((c) => `${c.ok ? 'ok  ' : 'FAIL'} ${c.id}: ${c.message}`)
          for (const d of p.details) log.write(d.startsWith('FAIL') ? 'ERROR' : 'INFO', `  ${d}`)
          const bad = checks.filter((c) => !c.ok)
          p.summary = bad.length ? `${bad.length} of ${checks.length} checks failed: ${bad.map((c) => c.id).join(', ')}` : `${checks.length} checks passed`
          if (bad.length) {
            p.status = 'failed'
            failure = { phase: 'post-validation', error: new HarnessError('VALIDATION_FAILED', `post-migration validation failed: ${bad.map((c) => `${c.id}: ${c.message}`).join('; ')}`) }
          }
        } finally {
          await client.end().catch(() => {})
        }
      })
    } else skipped('post-validation', 'not run: the migration failed')

    if (!failure) {
      decide('migrated', `MIGRATED: version ${pv.current} → ${target}; post-migration validation passed. Pre-migration backup: ${backup.dir}.`)
      report.versionAfter = target
      return report
    }

    // ---- 6 rollback ----------------------------------------------------------------------------------
    const what = failure.phase === 'migrate' ? `migration ${report.migration?.results.find((r) => r.status === 'Error')?.file ?? ''} failed` : 'post-migration validation failed'
    log.warn(`${what}: restoring the pre-migration backup ${backup.name} in place (automatic rollback)`)
    try {
      await phase('rollback', async (p) => {
        const r = await restoreBackup(backup!.dir, o.target, { kind: 'full', mode: 'in-place', onLog: (l) => log.info(`  ${l}`) })
        report.rollback = { backup: backup!.dir, durationMs: Math.round(r.durationMs), comparison: r.comparison, replaced: r.replaced, leftAlone: r.leftAlone, notes: r.notes }
        p.details = formatComparison(r.comparison)
        for (const l of p.details) log.write(r.comparison.differences.length ? 'WARN' : 'INFO', `  ${l}`)
        p.summary = `${r.replaced.length ? `schemas ${r.replaced.join(', ')} dropped and re-created` : 'restored'} from ${backup!.name} in ${Math.round(r.durationMs)} ms; comparison with the pre-migration state: ${r.comparison.differences.length} differences`
        if (r.comparison.differences.length) p.status = 'failed'
      })
    } catch (e) {
      report.rollback = { backup: backup.dir, durationMs: report.phases[report.phases.length - 1]?.durationMs ?? 0, replaced: [], leftAlone: [], notes: [], error: redact((e as Error).message) }
      decide('rollback-failed', `ATTENTION: ${what}, and the automatic restore of ${backup.dir} failed (${(e as Error).message.split('\n')[0]}). The restore runs in one transaction, so the database is as the failed step left it: partially migrated, ${report.migration ? `at version ${report.migration.results.filter((x) => x.status === 'Success').pop()?.version ?? pv.current}` : 'state unknown'}. The backup is intact: restore it by hand with \`pnpm restore ${backup.dir} --yes\` after fixing the cause.`, e)
      return report
    }
    const diffs = report.rollback!.comparison!.differences.length
    report.versionAfter = pv.current
    if (diffs === 0) {
      decide('restored', `RESTORED: ${what}; the database was restored from ${backup.dir} and is in its pre-migration state (version ${pv.current}): the comparison with the state recorded at backup time shows 0 differences.`, failure.error)
      // The runner's hint describes the state before the rollback; say what holds now.
      report.error!.hint = `Fix the cause above${report.migration?.located ? ` (${report.migration.results.find((r) => r.status === 'Error')?.file})` : ''} and run \`pnpm execute\` again: the database is back at version ${pv.current}, exactly as before this run.`
    } else {
      decide('restored-with-differences', `ATTENTION: ${what}; the database was restored from ${backup.dir}, but the comparison with the pre-migration state shows ${diffs} difference${diffs > 1 ? 's' : ''} (listed in the report). Check them before the application writes again.`, failure.error)
    }
    return report
  } catch (e) {
    // Anything unexpected (lost connection mid-step, a bug): say what we know.
    log.error(`unexpected: ${(e as Error).stack ?? String(e)}`)
    decide(
      backup ? 'rollback-failed' : 'not-started',
      backup
        ? `ATTENTION: the execution stopped unexpectedly after the backup (${(e as Error).message.split('\n')[0]}); the database may be partially migrated. The backup is at ${backup.dir}: check \`pnpm migrate status\` and restore with \`pnpm restore ${backup.dir} --yes\` if needed.`
        : `NOT CHANGED: the execution stopped before the backup (${(e as Error).message.split('\n')[0]}); no migration was run.`,
      e,
    )
    return report
  } finally {
    report.finishedAt = new Date().toISOString()
    report.durationMs = Math.round(performance.now() - t0)
    log.write(report.outcome === 'migrated' || report.outcome === 'nothing-to-do' || report.outcome === 'dry-run' || report.outcome === 'restored' ? 'INFO' : 'ERROR', report.state)
    await writeReportFiles(report, renderReport(report))
    log.info(`report: ${files.report} · ${files.json}`)
  }
}

