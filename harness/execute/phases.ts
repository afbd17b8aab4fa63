/**
 * The phases of `pnpm execute`, one function each, over one shared run. Each phase is a step
 * (steps/step.ts): `phase()` records its result in the report before it runs, logs its start
 * and end, and times it. A phase fails either by setting its verdict (checks that found
 * something) or by throwing: a HarnessError for what a user can act on, anything else is a bug
 * and marked INTERNAL. Every connection is opened and closed within its phase: the embedded
 * engine serves one connection at a time.
 */
import { createBackup, type BackupResult } from '../backup/backup.ts'
import { formatComparison } from '../backup/compare.ts'
import { verifyBackup } from '../backup/manifest.ts'
import { restoreBackup } from '../backup/restore.ts'
import { userSchemas } from '../catalog/schemas.ts'
import { HarnessError } from '../errors.ts'
import { loadManifest, type Manifest } from '../manifest/manifest.ts'
import { connect } from '../runner/connect.ts'
import { FileMigrationProvider } from '../runner/discover.ts'
import { formatLocated } from '../runner/locate.ts'
import { Migrator } from '../runner/migrator.ts'
import { openWatchdog, type Watchdog } from '../runner/watchdog.ts'
import type { Migration } from '../sql/migration.ts'
import { asHarness } from '../steps/step.ts'
import { expectedAt, validateExpected, validateLog, type CheckResult } from '../validation/expected.ts'
import { foreignKeyOrphans } from '../validation/orphans.ts'
import { ACCEPT_RETENTION_FLAG, preValidate, type PreValidation } from './checks.ts'
import type { ExecutionLog } from './log.ts'
import type { JournalWriter } from './journal.ts'
import type { ExecuteOptions, ExecutionReport, PhaseId, PhaseResult } from './types.ts'

export const TITLES: Record<PhaseId, string> = {
  environment: 'Environment and migration files',
  'pre-validation': 'Pre-migration validation',
  backup: 'Backup (verified)',
  migrate: 'Migrate (up)',
  'post-validation': 'Post-migration validation',
  rollback: 'Automatic rollback: restore the backup and compare',
}

/** What the phases share: the options, the log, the report being written, and what earlier phases found. */
export interface Run {
  o: ExecuteOptions
  dir: string
  log: ExecutionLog
  report: ExecutionReport
  migrations: Migration[]
  manifest?: Manifest
  logAt: { schema: string; table: string }
  /** Written once the backup is verified; records each completed migration and phase. */
  journal?: JournalWriter
}

/** A phase that failed after the backup: what rolls back, and why. */
export interface Failure {
  phase: PhaseId
  error: HarnessError
}

/** Runs one phase as a step; rethrows what its body throws (the orchestrator decides the outcome). */
export async function phase<T>(run: Run, id: PhaseId, body: (p: PhaseResult) => Promise<T>): Promise<T> {
  const p: PhaseResult = { id, title: TITLES[id], verdict: 'passed', durationMs: 0, summary: '', details: [] }
  run.report.phases.push(p)
  run.log.step(`${TITLES[id]} …`)
  const s = performance.now()
  try {
    return await body(p)
  } catch (e) {
    const he = asHarness(e)
    p.verdict = 'failed'
    p.error = { code: he.code, message: he.message }
    if (!p.summary) p.summary = he.message.split('\n')[0] ?? ''
    throw e
  } finally {
    p.durationMs = Math.round(performance.now() - s)
    run.log.write(p.verdict === 'failed' ? 'ERROR' : 'INFO', `${TITLES[id]}: ${p.verdict.toUpperCase()}${p.summary ? ` — ${p.summary}` : ''} (${p.durationMs} ms)`)
  }
}

/** A phase that did not run (`skipped`) or would run (`planned`, dry run), with the reason. */
export function notRunPhase(run: Run, id: PhaseId, verdict: 'skipped' | 'planned', summary: string): void {
  run.report.phases.push({ id, title: TITLES[id], verdict, durationMs: 0, summary, details: [] })
}

/** 1: the migration files read and checked, the manifest, where the log lives. No connection. */
export async function environmentPhase(run: Run): Promise<void> {
  await phase(run, 'environment', async (p) => {
    run.manifest = await loadManifest(run.dir)
    run.migrations = await new FileMigrationProvider(run.dir).getMigrations()
    run.logAt = { schema: run.o.logSchema ?? run.manifest?.schema ?? 'public', table: run.o.logTable ?? 'migration_log' }
    p.summary = `${run.migrations.length} migration files accepted, ${run.manifest ? 'manifest found' : 'no manifest'}; log ${run.logAt.schema}.${run.logAt.table}; Node ${process.versions.node}`
    p.details = run.migrations.map((m) => `${m.up.file} sha256 ${m.up.checksum}${m.up.noTransaction ? ' [no-transaction]' : ''}`)
  })
}

/** 2: read-only checks (checks.ts), the plan, and what pending retention policies will delete. */
export async function preValidationPhase(run: Run): Promise<PreValidation> {
  const { o, report, log } = run
  const pv = await phase(run, 'pre-validation', async (p) => {
    const r = await preValidate({ target: o.target, dir: run.dir, migrations: run.migrations, manifest: run.manifest, log: run.logAt, backupRoot: o.backupRoot, dryRun: Boolean(o.dryRun), lockWaitMs: o.lockWaitMs ?? 60_000, acceptRetentionDeletes: o.acceptRetentionDeletes })
    report.checks = r.checks
    report.plan = r.plan
    report.versionBefore = r.current
    if (r.retention) {
      const deletes = r.retention.some((x) => x.status === 'would-delete' || x.status === 'unknown')
      report.retention = { policies: r.retention, deletes, acknowledged: deletes && Boolean(o.acceptRetentionDeletes), flag: ACCEPT_RETENTION_FLAG }
    }
    for (const c of r.checks) log.write(c.status === 'failed' ? 'ERROR' : c.status === 'warning' ? 'WARN' : 'INFO', `  ${c.status.padEnd(7)} ${c.id}: ${c.message}${c.hint ? ` — what to do: ${c.hint}` : ''}`)
    p.details = r.checks.map((c) => `${c.status.padEnd(4)} ${c.id}: ${c.message}`)
    const failed = r.checks.filter((c) => c.status === 'failed')
    const warned = r.checks.filter((c) => c.status === 'warning')
    p.summary = `${r.checks.length - failed.length - warned.length} ok, ${warned.length} warnings, ${failed.length} failed`
    if (failed.length) p.verdict = 'failed'
    return r
  })
  for (const s of pv.plan) log.info(`  plan: ↑ ${s.file} (${s.statements} statements${s.noTransaction ? ', no-transaction: not atomic' : ''})`)
  if (report.retention?.deletes) {
    if (report.retention.acknowledged) log.warn(`RETENTION DELETES ACKNOWLEDGED (${ACCEPT_RETENTION_FLAG} given): the first run of the pending retention policies deletes what is counted below`)
    else log.error(`RETENTION DELETES NOT ACKNOWLEDGED: refusing; run again with ${ACCEPT_RETENTION_FLAG} to accept what is counted below`)
    for (const x of report.retention.policies) log.write(x.status === 'would-delete' || x.status === 'unknown' ? 'WARN' : 'INFO', `  retention: ${x.message}`)
  }
  return pv
}

/** 3: full + schema + data (+ the volume copy where the engine has one), then every checksum verified. */
export function backupPhase(run: Run): Promise<BackupResult> {
  const { o, report, log } = run
  return phase(run, 'backup', async (p) => {
    const b = await createBackup(o.target, { root: o.backupRoot, manifest: run.manifest, log: run.logAt, onLog: (l) => log.info(`  ${l}`), lockTimeoutMs: o.stallTimeoutMs ?? 60_000 })
    const v = await verifyBackup(b.dir)
    if (!v.ok) throw new HarnessError('BACKUP_CORRUPT', `the new backup ${b.dir} does not verify: ${v.problems.map((x) => `${x.file}: ${x.problem}`).join('; ')}`, { hint: 'Check the disk; nothing was migrated.' })
    p.summary = `${b.name}: ${b.manifest.files.length} files, ${(b.bytes / 2 ** 20).toFixed(1)} MiB in ${Math.round(b.durationMs)} ms, every checksum verified`
    p.details = b.manifest.files.map((f) => `${f.path} ${f.bytes} bytes sha256 ${f.sha256}`)
    report.backup = { dir: b.dir, name: b.name, bytes: b.bytes, durationMs: Math.round(b.durationMs), tool: `${b.manifest.tool.logical}${b.manifest.tool.physical ? ` + ${b.manifest.tool.physical}` : ''}`, files: b.manifest.files.map((f) => ({ path: f.path, bytes: f.bytes, sha256: f.sha256 })) }
    return b
  })
}

/** 4: the runner's `up`, each pending migration in its own transaction. Returns the failure, if any. */
export async function migratePhase(run: Run): Promise<Failure | undefined> {
  const { o, report, log } = run
  let failure: Failure | undefined
  await phase(run, 'migrate', async (p) => {
    const client = await connect(o.target.url, { applicationName: 'pgverify-execute up' })
    let watchdog: Watchdog | undefined
    try {
      watchdog = await openWatchdog(o.target, o.stallTimeoutMs ?? 60_000, (l) => log.warn(`  ${l}`))
      const migrator = new Migrator({
        watchdog,
        client,
        provider: { source: run.dir, getMigrations: async () => run.migrations },
        logSchema: run.logAt.schema,
        logTable: run.logAt.table,
        requirements: run.manifest?.requirements,
        lockWaitMs: o.lockWaitMs ?? 60_000,
        onEvent: (e) => {
          if (e.type === 'start') log.info(`  ↑ [${e.index}/${e.total}] ${e.migration} …`)
          else if (e.type === 'done') {
            log.info(`  ✓ ${e.migration} (${Math.round(e.durationMs)} ms)`)
            void run.journal?.phase('migration', e.migration).catch((err) => log.warn(`  the journal could not be written: ${(err as Error).message}`))
          }
          else if (e.type === 'failed') log.error(`  ✗ ${e.migration} FAILED`)
          else if (e.type === 'lock-wait') log.warn(`  waiting for the migration lock held by ${e.holder}`)
          else if (e.type === 'bootstrap') log.info(`  bootstrap: created ${e.created.join(', ')}`)
          else if (e.type === 'warning') log.warn(`  ${e.message}`)
        },
      })
      const r = await migrator.up()
      const located = r.results.find((x) => x.status === 'failed')?.error
      report.migration = { results: r.results, ...(located ? { located: formatLocated(located) } : {}) }
      p.details = r.results.map((x) => `${x.status.padEnd(11)} ${x.file}${x.durationMs !== undefined ? ` ${Math.round(x.durationMs)} ms` : ''}`)
      if (r.error) {
        p.verdict = 'failed'
        p.summary = located ? `${located.file}:${located.line}:${located.column}${located.sqlstate ? ` [SQLSTATE ${located.sqlstate}]` : ''} ${located.message}` : r.error.message
        p.error = { code: r.error.code, message: r.error.message, ...(located ? { located } : {}) }
        if (located) for (const l of formatLocated(located).split('\n')) log.error(`  ${l}`)
        else log.error(`  ${r.error.message}`)
        failure = { phase: 'migrate', error: r.error }
      } else p.summary = `version ${r.from} → ${r.to}: ${r.results.length} applied`
    } finally {
      await watchdog?.close()
      await client.end().catch(() => {})
    }
  })
  return failure
}

/** 5: what verify checks after replay: manifest objects, hypertables, policies, log rows and checksums, orphans. */
export async function postValidationPhase(run: Run, version: number): Promise<Failure | undefined> {
  const { o, report, log } = run
  let failure: Failure | undefined
  await phase(run, 'post-validation', async (p) => {
    const client = await connect(o.target.url, { applicationName: 'pgverify-execute post-validation' })
    try {
      const checks: CheckResult[] = run.manifest
        ? await validateExpected(client, run.manifest, { scope: expectedAt(run.manifest, run.migrations, version), log: run.logAt, migrations: run.migrations, version })
        : [await validateLog(client, run.logAt, run.migrations, version)]
      const orphans = await foreignKeyOrphans(client, await userSchemas(client))
      checks.push({ id: 'foreign-key-orphans', ok: orphans.length === 0, message: orphans.length ? orphans.join('; ') : 'no rows reference a missing parent' })
      report.postValidation = checks
      p.details = checks.map((c) => `${c.ok ? 'ok  ' : 'FAIL'} ${c.id}: ${c.message}`)
      for (const d of p.details) log.write(d.startsWith('FAIL') ? 'ERROR' : 'INFO', `  ${d}`)
      const bad = checks.filter((c) => !c.ok)
      p.summary = bad.length ? `${bad.length} of ${checks.length} checks failed: ${bad.map((c) => c.id).join(', ')}` : `${checks.length} checks passed`
      if (bad.length) {
        p.verdict = 'failed'
        failure = { phase: 'post-validation', error: new HarnessError('VALIDATION_FAILED', `post-migration validation failed: ${bad.map((c) => `${c.id}: ${c.message}`).join('; ')}`) }
        p.error = { code: failure.error.code, message: failure.error.message }
      }
    } finally {
      await client.end().catch(() => {})
    }
  })
  return failure
}

/** 6: after a failure in 4 or 5, the backup restored in place and compared with the state recorded at backup time. */
export async function rollbackPhase(run: Run, backup: { dir: string; name: string }): Promise<void> {
  const { o, report, log } = run
  await phase(run, 'rollback', async (p) => {
    const r = await restoreBackup(backup.dir, o.target, { kind: 'full', mode: 'in-place', onLog: (l) => log.info(`  ${l}`), lockTimeoutMs: o.stallTimeoutMs ?? 60_000 })
    report.rollback = { backup: backup.dir, durationMs: Math.round(r.durationMs), comparison: r.comparison, replaced: r.replaced, leftAlone: r.leftAlone, notes: r.notes }
    p.details = formatComparison(r.comparison)
    for (const l of p.details) log.write(r.comparison.differences.length ? 'WARN' : 'INFO', `  ${l}`)
    p.summary = `${r.replaced.length ? `schemas ${r.replaced.join(', ')} dropped and re-created` : 'restored'} from ${backup.name} in ${Math.round(r.durationMs)} ms; comparison with the pre-migration state: ${r.comparison.differences.length} differences`
    if (r.comparison.differences.length) p.verdict = 'failed'
  })
}
