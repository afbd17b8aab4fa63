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
 * The phases are steps in phases.ts; this file decides, after each, what happens next and what
 * the outcome is. `dryRun` runs 1 and 2 and prints the plan; it changes nothing in the database
 * and writes no backup (the log and report are still written).
 *
 * Never throws for anything a user can cause: the outcome, the database's state in one plain
 * sentence and every step's evidence are in the returned report. Something thrown that is not a
 * HarnessError is a bug: the report's error says INTERNAL.
 */
import path from 'node:path'
import type { BackupResult } from '../backup/backup.ts'
import { HarnessError, type ErrorCode } from '../errors.ts'
import { asHarness } from '../steps/step.ts'
import { redact } from '../util/redact.ts'
import { ExecutionLog, runFiles } from './log.ts'
import { writeExecutionReport } from './report.ts'
import { backupPhase, environmentPhase, migratePhase, notRunPhase, postValidationPhase, preValidationPhase, rollbackPhase, type Run } from './phases.ts'
import type { ExecuteOptions, ExecutionReport, Outcome } from './types.ts'
import { databaseKey, JournalWriter, unfinishedJournals } from './journal.ts'
import { handleInterrupted } from './resume.ts'
import { redactUrl } from '../util/redact.ts'

export type { ExecuteOptions, ExecutionReport, Outcome, PhaseResult } from './types.ts'

const firstLine = (e: unknown) => (e as Error).message.split('\n')[0]

export async function execute(o: ExecuteOptions): Promise<ExecutionReport> {
  const t0 = performance.now()
  const startedAt = o.now ?? new Date()
  const files = runFiles(path.resolve(o.logDir), startedAt)
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
  const run: Run = { o, dir, log, report, migrations: [], logAt: { schema: 'public', table: 'migration_log' } }
  const decide = (outcome: Outcome, state: string, error?: unknown) => {
    report.outcome = outcome
    report.state = state
    if (error) {
      const he = asHarness(error)
      report.error = { code: he.code, message: redact(he.message), ...(he.hint ? { hint: he.hint } : {}) }
    }
  }

  log.info(`execution ${files.id}${o.dryRun ? ' (dry run: checks and plan only, nothing is changed)' : ''}`)
  log.info(`target: ${o.target.describe}`)
  log.info(`migrations: ${dir} · backups: ${report.backupRoot} · log: ${files.log}`)

  let backup: BackupResult | undefined
  try {
    try {
      await environmentPhase(run)
    } catch (e) {
      decide('not-started', 'NOT CHANGED: the migration files were refused before any connection was made; the database was not touched.', e)
      return report
    }

    // An earlier execute of this database that never finished is never taken as a baseline silently.
    const key = await databaseKey(o.target.url)
    const open = await unfinishedJournals(report.backupRoot, key)
    if ((open.length || o.finishRollback) && (await handleInterrupted(run, open, decide))) return report

    const pv = await preValidationPhase(run)
    if (!pv.ok) {
      const first = pv.checks.find((c) => c.status === 'failed')!
      for (const id of ['backup', 'migrate', 'post-validation'] as const) notRunPhase(run, id, 'skipped', 'not run: pre-migration validation failed')
      decide('not-started', `NOT CHANGED: pre-migration validation failed (${first.id}); nothing was run and the database is as it was${pv.current ? ` (version ${pv.current})` : ''}.`, new HarnessError((first.code as ErrorCode) ?? 'VALIDATION_FAILED', `${first.id}: ${first.message}`, { hint: first.hint }))
      report.versionAfter = pv.current
      return report
    }
    if (pv.plan.length === 0) {
      for (const id of ['backup', 'migrate', 'post-validation'] as const) notRunPhase(run, id, 'skipped', `not needed: database already at version ${pv.current}`)
      decide('nothing-to-do', `UNCHANGED: nothing to apply; the database is at version ${pv.current}. No backup was taken.`)
      report.versionAfter = pv.current
      return report
    }
    const target = pv.plan[pv.plan.length - 1]!.version
    const count = `${pv.plan.length} migration${pv.plan.length > 1 ? 's' : ''}`
    if (o.dryRun) {
      notRunPhase(run, 'backup', 'planned', `would write a full, schema-only and data-only backup to ${report.backupRoot}/pre-migration-…/ and verify it`)
      notRunPhase(run, 'migrate', 'planned', `would apply ${count}: version ${pv.current} → ${target}`)
      notRunPhase(run, 'post-validation', 'planned', 'would validate the manifest objects, hypertables, policies, the migration log and foreign keys')
      notRunPhase(run, 'rollback', 'planned', 'would restore the backup in place and compare it, if a step after the backup failed')
      decide('dry-run', `UNCHANGED (dry run): checks passed; ${count} would be applied (version ${pv.current} → ${target}).`)
      report.versionAfter = pv.current
      return report
    }

    try {
      backup = await backupPhase(run)
    } catch (e) {
      notRunPhase(run, 'migrate', 'skipped', 'not run: no verified backup')
      notRunPhase(run, 'post-validation', 'skipped', 'not run: no verified backup')
      decide('not-started', `NOT CHANGED: the backup failed, so no migration was run; the database is as it was (version ${pv.current}).`, e)
      report.versionAfter = pv.current
      return report
    }

    // The journal, before the first change: which backup, the starting version, each phase done.
    try {
      run.journal = await JournalWriter.open(report.backupRoot, { id: files.id, database: key, url: redactUrl(o.target.url), startedAt: startedAt.toISOString(), versionBefore: pv.current ?? 0, versionTarget: target, backup: { dir: backup.dir, name: backup.name }, log: run.logAt }, { id: 'backup', note: `the backup ${backup.name}` })
    } catch (e) {
      notRunPhase(run, 'migrate', 'skipped', 'not run: the execute journal could not be written')
      decide('not-started', `NOT CHANGED: the execute journal could not be written next to the backup (${firstLine(e)}), so no migration was run; the database is as it was (version ${pv.current}).`, e)
      report.versionAfter = pv.current
      return report
    }

    let failure = await migratePhase(run)
    if (!failure) {
      await run.journal.phase('migrate')
      failure = await postValidationPhase(run, target)
      if (!failure) await run.journal.phase('post-validation')
    } else notRunPhase(run, 'post-validation', 'skipped', 'not run: the migration failed')
    if (!failure) {
      decide('migrated', `MIGRATED: version ${pv.current} → ${target}; post-migration validation passed. Pre-migration backup: ${backup.dir}.`)
      report.versionAfter = target
      return report
    }

    const failedFile = report.migration?.results.find((r) => r.status === 'failed')?.file
    const what = failure.phase === 'migrate' ? `migration ${failedFile ?? ''} failed` : 'post-migration validation failed'
    log.warn(`${what}: restoring the pre-migration backup ${backup.name} in place (automatic rollback)`)
    await run.journal.phase('rollback-started', what)
    try {
      await rollbackPhase(run, backup)
    } catch (e) {
      report.rollback = { backup: backup.dir, durationMs: report.phases[report.phases.length - 1]?.durationMs ?? 0, replaced: [], leftAlone: [], notes: [], error: redact((e as Error).message) }
      decide('rollback-failed', `ATTENTION: ${what}, and the automatic restore of ${backup.dir} failed (${firstLine(e)}). The restore runs in one transaction, so the database is as the failed step left it: partially migrated, ${report.migration ? `at version ${report.migration.results.filter((x) => x.status === 'passed').pop()?.version ?? pv.current}` : 'state unknown'}. The backup is intact: restore it by hand with \`pnpm restore ${backup.dir} --yes\` after fixing the cause.`, e)
      return report
    }
    const diffs = report.rollback!.comparison!.differences.length
    report.versionAfter = pv.current
    if (diffs === 0) {
      decide('restored', `RESTORED: ${what}; the database was restored from ${backup.dir} and is in its pre-migration state (version ${pv.current}): the comparison with the state recorded at backup time shows 0 differences.`, failure.error)
      // The runner's hint describes the state before the rollback; say what holds now.
      report.error!.hint = `Fix the cause above${report.migration?.located ? ` (${failedFile})` : ''} and run \`pnpm execute\` again: the database is back at version ${pv.current}, exactly as before this run.`
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
        ? `ATTENTION: the execution stopped unexpectedly after the backup (${firstLine(e)}); the database may be partially migrated. The backup is at ${backup.dir}: check \`pnpm migrate status\` and restore with \`pnpm restore ${backup.dir} --yes\` if needed.`
        : `NOT CHANGED: the execution stopped before the backup (${firstLine(e)}); no migration was run.`,
      e,
    )
    return report
  } finally {
    // A known state ends the journal; an unknown one (rollback failed or left differences, a crash) keeps it.
    if (run.journal && (report.outcome === 'migrated' || report.outcome === 'restored')) await run.journal.close().catch(() => {})
    report.finishedAt = new Date().toISOString()
    report.durationMs = Math.round(performance.now() - t0)
    log.write(report.outcome === 'migrated' || report.outcome === 'nothing-to-do' || report.outcome === 'dry-run' || report.outcome === 'restored' ? 'INFO' : 'ERROR', report.state)
    try {
      await writeExecutionReport(report)
      log.info(`report: ${files.report} · ${files.json}`)
    } catch (e) {
      // The outcome stands (the caller prints it); a report that cannot be written is said, not thrown.
      log.error(`the report could not be written: ${(e as Error).message}. Free space in ${path.dirname(files.report)} to keep reports.`)
    }
  }
}
