/**
 * The execution report (seed 000: `phase3-execution-report-YYYYMMDD-HHMMSS.txt`); its JSON twin
 * is the report itself (writeExecutionReport below writes both, each atomically). The first lines say what happened and
 * what state the database is in; then every phase (a step) with its evidence. Redacted
 * throughout. Seed 000 names exactly these files next to the execution log, so execute writes
 * no page or JUnit of its own (the html.ts and junit.ts parts take its phases as they are).
 */
import { formatComparison } from '../backup/compare.ts'
import { humanBytes } from '../backup/manifest.ts'
import { toJson } from '../util/json.ts'
import { redact } from '../util/redact.ts'
import { writeAtomic } from '../util/write-atomic.ts'
import type { ExecutionReport } from './types.ts'

const HEADLINE: Record<ExecutionReport['outcome'], string> = {
  migrated: 'SUCCESS: migrated',
  'nothing-to-do': 'SUCCESS: nothing to do',
  'dry-run': 'DRY RUN: nothing was changed',
  'not-started': 'NOT STARTED: nothing was changed',
  restored: 'FAILED AND ROLLED BACK: database restored to its pre-migration state',
  'restored-with-differences': 'FAILED, RESTORED WITH DIFFERENCES: check the database',
  'rollback-failed': 'FAILED, ROLLBACK FAILED: the database needs attention',
  'rollback-finished': 'ROLLBACK FINISHED: an interrupted execution was undone, database restored to its pre-migration state',
}

export function renderReport(r: ExecutionReport): string {
  const out: string[] = []
  const w = (l = '') => out.push(l)
  w(`MS5.0 MIGRATION EXECUTION REPORT ${r.id}`)
  w('='.repeat(72))
  w(HEADLINE[r.outcome])
  w()
  w(`Database state: ${r.state}`)
  if (r.error) {
    w(`Cause: [${r.error.code}] ${r.error.message}`)
    if (r.error.hint) w(`What to do: ${r.error.hint}`)
  }
  w()
  w(`Target:      ${r.target.description}`)
  w(`Versions:    PostgreSQL ${r.target.postgres}, TimescaleDB ${r.target.timescaledb}`)
  w(`Migrations:  ${r.dir}`)
  w(`Version:     ${r.versionBefore ?? '?'} → ${r.versionAfter ?? '?'}`)
  w(`Started:     ${r.startedAt} (UTC)   finished ${r.finishedAt}   ${(r.durationMs / 1000).toFixed(1)} s`)
  w(`Execution log: ${r.files.log}`)
  w()
  w('PHASES')
  for (const p of r.phases) w(`  [${p.verdict.toUpperCase().padEnd(7)}] ${p.title.padEnd(52)} ${p.durationMs ? `${p.durationMs} ms` : ''}${p.summary ? `\n             ${p.summary}` : ''}`)
  if (r.checks.length) {
    w()
    w('PRE-MIGRATION VALIDATION')
    for (const c of r.checks) w(`  ${c.status.toUpperCase().padEnd(7)} ${c.id}: ${c.message}${c.hint ? `\n          what to do: ${c.hint}` : ''}`)
  }
  if (r.retention) {
    w()
    w('RETENTION POLICIES OF PENDING MIGRATIONS (what their first run deletes, counted read-only before the run)')
    for (const p of r.retention.policies) w(`  ${p.status.toUpperCase().padEnd(12)} ${p.message}`)
    if (r.retention.deletes) w(r.retention.acknowledged ? `  ACKNOWLEDGED with ${r.retention.flag}: these deletions were accepted for this run` : `  NOT ACKNOWLEDGED: refused; ${r.retention.flag} accepts them`)
  }
  w()
  w('PLAN')
  if (r.plan.length === 0) w('  nothing to apply')
  for (const s of r.plan) w(`  ↑ ${s.file}  ${s.statements} statements  sha256 ${s.checksum}${s.noTransaction ? '  [no-transaction: not atomic]' : ''}`)
  if (r.backup) {
    w()
    w(`BACKUP ${r.backup.dir}`)
    w(`  ${humanBytes(r.backup.bytes)} in ${r.backup.durationMs} ms, verified (every file's size and SHA-256, and the manifest)`)
    w(`  tool: ${r.backup.tool}`)
    for (const f of r.backup.files) w(`  ${f.path.padEnd(36)} ${humanBytes(f.bytes).padStart(10)}  ${f.sha256}`)
  }
  if (r.migration) {
    w()
    w('MIGRATION')
    for (const m of r.migration.results) w(`  ${m.status.padEnd(11)} ${m.file}${m.durationMs !== undefined ? `  ${Math.round(m.durationMs)} ms` : ''}`)
    if (r.migration.located) for (const l of r.migration.located.split('\n')) w(`  ${l}`)
  }
  if (r.postValidation) {
    w()
    w('POST-MIGRATION VALIDATION')
    for (const c of r.postValidation) w(`  ${c.ok ? 'OK  ' : 'FAIL'} ${c.id}: ${c.message}`)
  }
  if (r.rollback) {
    w()
    w(`ROLLBACK from ${r.rollback.backup} (${r.rollback.durationMs} ms)`)
    if (r.rollback.error) w(`  restore FAILED: ${r.rollback.error}`)
    if (r.rollback.replaced.length) w(`  schemas replaced: ${r.rollback.replaced.join(', ')}`)
    for (const n of r.rollback.notes) w(`  note: ${n}`)
    if (r.rollback.comparison) {
      w('  round-trip comparison with the state recorded at backup time:')
      for (const l of formatComparison(r.rollback.comparison, 200)) w(`    ${l}`)
    }
  }
  w()
  w(`Report: ${r.files.report}`)
  w(`JSON:   ${r.files.json}`)
  return redact(out.join('\n')) + '\n'
}

/**
 * The text report and its JSON, at the paths in `r.files`. Execute writes them itself (not
 * through reports/): the reports core renders steps for every job and must not depend on one.
 */
export async function writeExecutionReport(r: ExecutionReport): Promise<void> {
  await writeAtomic(r.files.report, renderReport(r))
  await writeAtomic(r.files.json, redact(toJson(r)) + '\n')
}
