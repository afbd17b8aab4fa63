/**
 * `pnpm execute`: the orchestrated production migration with automatic rollback (seed 000).
 */
import path from 'node:path'
import { execute, type ExecutionReport } from '../execute/execute.ts'
import { HarnessError } from '../errors.ts'
import { EXIT, exitCodeFor } from './exit-codes.ts'
import { bold, dim, green, info, json, out, red, yellow } from './output.ts'
import { openCommandTarget } from './settings.ts'
import { checkMigrationsDir, wholeNumber } from './checks.ts'
import { confirmDestructive } from './confirm.ts'
import { redactUrl } from '../util/redact.ts'
import { flag, type Args, type Verb, type VerbContext } from './verb.ts'

export const EXECUTE_HELP = `Usage: pnpm execute [options]

Seed 000's execution flow, against DATABASE_URL (production) or a disposable engine (rehearsal):
  1 environment       migration files read and checked (names, gaps, encoding, checksums)
  2 pre-validation    memory, CPU, free disk against the database size, connectivity and latency,
                      PostgreSQL/TimescaleDB versions and license, migration log vs files (drift),
                      pg_dump of the server's major version, backup directory writable, the plan,
                      declared data preconditions, and what the retention policies the pending
                      migrations add will DELETE on their first run (rows and chunks per table,
                      counted read-only): refused unless --accept-retention-deletes is given
  3 backup            full + schema-only + data-only into --backup-root, then verified
  4 migrate           \`up\`: each pending migration in its own transaction
  5 post-validation   the manifest's tables, hypertables, policies, indexes, the migration log's
                      rows and checksums, foreign-key orphans
  6 rollback          only if 4 or 5 failed: the backup is restored IN PLACE and the result is
                      compared with the state recorded at backup time (0 differences = restored)
  7 report            reports/phase3-execution-YYYYMMDD-HHMMSS.log, phase3-execution-report-….txt
                      and .json (UTC timestamps)

The report's first lines say what happened and what state the database is in.

In-place restore (step 6) on a real server: every schema the backup covers (the user schemas
that existed at backup time, plus those the migrations manage) is dropped with its contents and
re-created from the backup, inside the same database and in ONE transaction, following
TimescaleDB's restore procedure; extensions created after the backup (e.g. by the migrations'
bootstrap) are dropped when nothing else uses them. Schemas not covered, roles and database
settings are left alone. The restore only starts from a backup whose checksums verified.

Where:
  DATABASE_URL        the database to migrate (password never printed or logged)
  PGCONNECT_TIMEOUT   seconds to wait for the server to answer (default 10; 0: no limit)
  --engine NAME       instead, a fresh disposable database on embedded | native | container

Options:
  --dry-run           run steps 1-2 and print the plan; change nothing, write no backup
  --dir DIR           migrations directory (default: migrations)
  --backup-root DIR   where the pre-migration backup goes (default: backups)
  --log-dir DIR       where the log and reports go (default: reports)
  --log-schema NAME   schema of the migration log (default: the manifest's schema)
  --lock-wait MS      wait this long for another runner's lock (default 60000)
  --stall-timeout MS  a migration statement waiting this long for a table lock held by another
                      session is cancelled, reported with the holder, and rolled back like any
                      failure (default 60000; 0 = wait forever; config "stallTimeoutMs")
  --accept-retention-deletes
                      accept what the pending migrations' retention policies delete on their
                      first run (named by step 2); recorded in the execution log and report
  --yes               confirm a run against DATABASE_URL (without it, and without a terminal
                      to type "yes" at, execute refuses and changes nothing; --dry-run needs none)
  --finish-rollback   an earlier execute of this database was interrupted (its journal, next to its
                      backup, says so): restore that backup in place and prove it with the comparison
  --accept-current-state
                      instead, take the state the interrupted execute left as this run's baseline
  --json              print the report as JSON on stdout

Exit codes: 0 migrated, nothing to do, or dry run passed · 1 a migration or validation failed
and the database was restored to its pre-migration state, or pre-migration validation refused
(e.g. retention deletes not acknowledged; nothing was changed) · 2 usage · 3 bad migration files ·
4 drift, or an earlier execute was interrupted (see --finish-rollback) · 5 server lacks TimescaleDB / pg_dump mismatch · 6 connection · 8 engine unavailable ·
10 the rollback failed or left differences: read the report`

export function exitCodeOf(r: ExecutionReport): number {
  switch (r.outcome) {
    case 'migrated':
    case 'nothing-to-do':
    case 'dry-run':
    case 'rollback-finished':
      return EXIT.OK
    case 'restored':
      return EXIT.FAILED
    case 'restored-with-differences':
    case 'rollback-failed':
      return EXIT.RESTORE
    case 'not-started':
      return r.error ? exitCodeFor(r.error.code) : EXIT.FAILED
  }
}

export async function executeCommand(argv: Args, { config }: VerbContext): Promise<number> {
  if (argv._.length) throw new HarnessError('USAGE', `unexpected argument "${argv._[0]}"`, { hint: 'See `pnpm execute --help`.' })
  const asJson = Boolean(argv.json)
  const lockWaitMs = wholeNumber('lock-wait', argv['lock-wait'], '0') ?? config.lockWaitMs
  const stallTimeoutMs = wholeNumber('stall-timeout', argv['stall-timeout'], '0') ?? config.stallTimeoutMs
  const dir = path.resolve(flag(argv, 'dir') ?? config.dir)
  const backupRoot = path.resolve(flag(argv, 'backup-root') ?? config.backupRoot)
  await checkMigrationsDir(dir)
  const target = await openCommandTarget(flag(argv, 'engine'), config, 'execute')
  let report: ExecutionReport
  try {
    if (target.capabilities.disposable) info(yellow('rehearsal on a fresh disposable database (dropped afterwards)'))
    else if (!argv['dry-run']) {
      await confirmDestructive({
        what: [
          `apply the pending migrations of ${dir} (each in its own transaction), after a backup into ${backupRoot}`,
          'on a failed migration or validation: restore that backup IN PLACE (every schema it covers is dropped and re-created)',
        ],
        where: redactUrl(target.url),
        yes: Boolean(argv.yes),
        safer: 'See the checks and the plan first with --dry-run (changes nothing).',
      })
    }
    report = await execute({
      target,
      dir,
      backupRoot,
      logDir: path.resolve(flag(argv, 'log-dir') ?? config.reports),
      dryRun: Boolean(argv['dry-run']),
      logSchema: flag(argv, 'log-schema') ?? config.logSchema,
      logTable: config.logTable,
      lockWaitMs,
      stallTimeoutMs,
      acceptRetentionDeletes: Boolean(argv['accept-retention-deletes']),
      finishRollback: Boolean(argv['finish-rollback']),
      acceptCurrentState: Boolean(argv['accept-current-state']),
      echo: asJson ? undefined : (level, line) => info(level === 'ERROR' ? red(line) : level === 'WARN' ? yellow(line) : level === 'STEP' ? bold(line) : dim(line)),
    })
  } finally {
    await target.close()
  }
  const code = exitCodeOf(report)
  if (asJson) json({ ok: code === EXIT.OK, exitCode: code, ...report })
  else {
    out('')
    for (const p of report.phases) {
      const mark = p.verdict === 'passed' ? green('PASS') : p.verdict === 'failed' ? red('FAIL') : p.verdict === 'planned' ? yellow('PLAN') : dim('SKIP')
      out(`${mark}  ${p.title}${p.durationMs ? dim(` (${p.durationMs} ms)`) : ''}`)
      if (p.summary) out(`      ${p.summary}`)
    }
    if (report.plan.length && report.outcome === 'dry-run') for (const s of report.plan) out(`      ↑ ${s.file} ${dim(`${s.statements} statements`)}${s.noTransaction ? yellow(' [no-transaction]') : ''}`)
    if (report.retention) {
      out('')
      for (const p of report.retention.policies) out(`${p.status === 'would-delete' || p.status === 'unknown' ? yellow('retention') : dim('retention')}  ${p.message}`)
      if (report.retention.deletes)
        out(report.retention.acknowledged ? yellow(`retention deletes ACKNOWLEDGED with ${report.retention.flag} (recorded in the log and report)`) : red(`retention deletes NOT acknowledged: run again with ${report.retention.flag} to accept them`))
    }
    out('')
    out((code === EXIT.OK ? green : red)(bold(report.state)))
    if (report.error?.hint) out(`what to do: ${report.error.hint}`)
    out(dim(`log: ${report.files.log}`))
    out(dim(`report: ${report.files.report} · ${report.files.json}`))
  }
  return code
}

export const verb: Verb = {
  help: EXECUTE_HELP,
  options: { string: ['engine', 'dir', 'backup-root', 'log-dir', 'log-schema', 'lock-wait', 'stall-timeout'], boolean: ['dry-run', 'json', 'accept-retention-deletes', 'yes', 'finish-rollback', 'accept-current-state'] },
  run: executeCommand,
}
