/**
 * `pnpm migrate <status|up|down|validate|plan>`: the production runner's command line.
 * Parses once, runs the Migrator, renders its results; exit codes come from exit-codes.ts.
 */
import { checkInterrupted } from '../execute/journal.ts'
import { resolve } from 'node:path'
import { HarnessError } from '../errors.ts'
import { connect } from '../runner/connect.ts'
import { FileMigrationProvider } from '../runner/discover.ts'
import type { Migration } from '../sql/migration.ts'
import { RELEASED_FILE, writeReleased } from '../runner/released.ts'
import { formatLocated } from '../runner/locate.ts'
import { openWatchdog, type Watchdog } from '../runner/watchdog.ts'
import { Migrator, type MigrationResult, type MigratorEvent, type PlanResult, type RunResult, type StatusResult } from '../runner/migrator.ts'
import { expectedAt, validateExpected, type CheckResult } from '../validation/expected.ts'
import { loadManifest, type Manifest } from '../manifest/manifest.ts'
import { EXIT, exitCodeFor } from './exit-codes.ts'
import { bold, dim, green, info, json, out, progress, red, reportError, yellow } from './output.ts'
import { openCommandTarget } from './settings.ts'
import { checkMigrationsDir, wholeNumber } from './checks.ts'
import { confirmDestructive } from './confirm.ts'
import { didYouMean } from './parse.ts'
import { flag, type Args, type Verb } from './verb.ts'
import type { Config } from '../config/index.ts'
import { redactUrl } from '../util/redact.ts'

export const MIGRATE_HELP = `Usage: pnpm migrate <command> [options]

The production migration runner: the same code the verification suites exercise.

Commands:
  status              applied / pending / drifted migrations, with checksums and times
     [--exit-code]    for scripts: exit 1 when a migration is pending or failed, 4 when one
                      drifted (or its file is missing), 0 when all are applied
  up [--to N]         apply pending migrations in order, each in its own transaction
     [--dry-run]      print what would run, change nothing
  down --to N         run down files in reverse until version N (destructive: on DATABASE_URL it
                      lists what it reverts, then needs --yes or "yes" typed at a terminal)
  validate            checksums, log consistency and the manifest's expected objects; changes nothing
  plan [--to N]       what \`up\` would do, in order, non-transactional steps marked
  release             record the current files' checksums in released.json (no database):
                      \`pnpm verify\` then refuses any later edit of a released migration

Where:
  DATABASE_URL        the database to migrate (password never printed)
  PGCONNECT_TIMEOUT   seconds to wait for the server to answer (default 10; 0: no limit)
  --engine NAME       instead, a disposable database on embedded | native | container | url

Options:
  --dir DIR           migrations directory (default: migrations)
  --json              machine-readable output on stdout
  --log-schema NAME   schema of the migration log (default: manifest "schema", else public)
  --log-table NAME    table of the migration log (default: migration_log)
  --lock-wait MS      wait this long for another runner's lock; 0 = fail at once (default: 60000)
  --stall-timeout MS  up/down: a statement waiting this long for a table lock held by another
                      session is cancelled and reported with the holder (exit 7); 0 = wait
                      forever (default: 60000; config "stallTimeoutMs")
  --accept-drift L    accept changed applied files (comma-separated names or numbers, or "all"):
                      re-records their checksums in the log, with a note
  --yes               confirm a destructive command (down on DATABASE_URL) without being asked
  --accept-current-state
                      up/down refuse (exit 4) while an execute of this database is interrupted
                      (its journal in the backup root); this takes the current state as the baseline
  --backup-root DIR   where execute journals are looked for (default: the configured backup root)
  -h, --help          this help

Exit codes: 0 ok · 1 migration/validation failed · 2 usage · 3 bad migration files ·
4 drift or inconsistent log · 5 TimescaleDB missing/too old · 6 connection/auth/privileges ·
7 lock held by another runner · 8 engine unavailable · 70 internal error`

export interface MigrateArgs {
  command: string
  dir: string
  engine?: string
  json: boolean
  to?: number
  dryRun: boolean
  logSchema?: string
  logTable?: string
  lockWaitMs: number
  stallTimeoutMs: number
  acceptDrift?: string[] | 'all'
  yes: boolean
  /** status: exit nonzero when migrations are pending, failed or drifted. */
  exitCode: boolean
  /** --accept-current-state: go on from what an interrupted execute left (its journal is closed). */
  acceptCurrentState: boolean
  /** Where execute journals live (--backup-root, else the configuration's). */
  backupRoot?: string
}

const COMMANDS = ['status', 'up', 'down', 'validate', 'plan', 'release']

/** The command line over the configuration (`config`: environment, pgverify.config.json, defaults). */
export function parseMigrateArgs(argv: Args, config?: Config): MigrateArgs {
  const command = argv._[0]
  if (!command) throw new HarnessError('USAGE', 'missing command', { hint: MIGRATE_HELP })
  if (!COMMANDS.includes(command)) {
    throw new HarnessError('USAGE', `unknown command "${command}"${didYouMean(command, COMMANDS, (s) => `"${s}"`)}`, { hint: `Commands: ${COMMANDS.join(', ')} (see \`pgverify migrate --help\`).` })
  }
  // Digits only: Number('') and Number(' ') are 0, and `down --to 0` drops everything.
  const num = wholeNumber
  const to = num('to', argv.to)
  if (command === 'down' && to === undefined) throw new HarnessError('USAGE', '`down` needs --to N (the version to return to; 0 = before the first migration)', { hint: 'e.g. pnpm migrate down --to 7 --yes' })
  const drift = argv['accept-drift']
  return {
    command,
    dir: flag(argv, 'dir') ?? config?.dir ?? 'migrations',
    engine: flag(argv, 'engine'),
    json: Boolean(argv.json),
    to,
    dryRun: Boolean(argv['dry-run']),
    logSchema: flag(argv, 'log-schema') ?? config?.logSchema,
    logTable: flag(argv, 'log-table') ?? config?.logTable,
    lockWaitMs: num('lock-wait', argv['lock-wait']) ?? config?.lockWaitMs ?? 60_000,
    stallTimeoutMs: num('stall-timeout', argv['stall-timeout']) ?? config?.stallTimeoutMs ?? 60_000,
    acceptDrift: drift === undefined || drift === false ? undefined : drift === 'all' ? 'all' : String(drift).split(',').map((s) => s.trim()).filter(Boolean),
    yes: Boolean(argv.yes),
    exitCode: Boolean(argv['exit-code']),
    acceptCurrentState: Boolean(argv['accept-current-state']),
    backupRoot: flag(argv, 'backup-root'),
  }
}

/** The log lives in the manifest's schema for MS5.0; foreign directories default to public. */
export const logSchemaFor = (args: { logSchema?: string }, manifest?: Manifest) => args.logSchema ?? manifest?.schema ?? 'public'

export async function migrate(args: MigrateArgs, config: Config): Promise<number> {
  const dir = resolve(args.dir)
  await checkMigrationsDir(dir)
  const manifest = await loadManifest(dir)
  const provider = new FileMigrationProvider(dir)
  // Files are read and checked before any connection: bad input never touches the database.
  const migrations = await provider.getMigrations()
  if (args.command === 'release') return release(dir, migrations, args)
  const target = await openCommandTarget(args.engine, config, 'migrate')
  // DATABASE_URL is named by its (redacted) URL; a database the harness made, by its engine.
  const where = target.engine ? target.describe : redactUrl(target.url)
  try {
    if ((args.command === 'up' || args.command === 'down') && !args.dryRun && !target.capabilities.disposable) {
      const guard = await checkInterrupted(target.url, [args.backupRoot ?? config.backupRoot], args.command, args.acceptCurrentState)
      if (guard.notice) info(yellow(guard.notice))
    }
    const client = await connect(target.url, { applicationName: `pgverify-migrate ${args.command}` })
    let watchdog: Watchdog | undefined
    try {
      if ((args.command === 'up' || args.command === 'down') && !args.dryRun) watchdog = await openWatchdog(target, args.stallTimeoutMs, (l) => info(yellow(l)))
      const migrator = new Migrator({
        watchdog,
        client,
        provider: { source: dir, getMigrations: async () => migrations },
        logSchema: logSchemaFor(args, manifest),
        logTable: args.logTable,
        requirements: manifest?.requirements,
        lockWaitMs: args.lockWaitMs,
        acceptDrift: args.acceptDrift,
        onEvent: args.json ? undefined : onEvent,
      })
      if (!args.json) info(dim(`migrations: ${dir} (${migrations.length} files) · database: ${where} · log: ${migrator.log.schema}.${migrator.log.table}`))
      switch (args.command) {
        case 'status':
          return renderStatus(await migrator.status(), args.json, args.exitCode)
        case 'plan':
          return renderPlan(await migrator.plan({ to: args.to }), args.json)
        case 'up':
          if (args.dryRun) return renderPlan(await migrator.plan({ to: args.to }), args.json, 'up --dry-run')
          return renderRun(await migrator.up({ to: args.to }), args.json)
        case 'down': {
          const plan = await migrator.plan({ to: args.to, direction: 'down' })
          if (args.dryRun || plan.error) return renderPlan(plan, args.json, 'down --dry-run')
          if (!target.capabilities.disposable && plan.steps.length) {
            await confirmDestructive({
              what: [`revert ${plan.steps.length} migration${plan.steps.length > 1 ? 's' : ''}, version ${plan.from} → ${plan.to}: ${plan.steps.map((s) => s.file).join(', ')}`, 'what they created is dropped, with its data'],
              where,
              yes: args.yes,
              safer: `See the plan with \`pgverify migrate down --to ${args.to} --dry-run\`.`,
            })
          }
          return renderRun(await migrator.down({ to: args.to! }), args.json)
        }
        case 'validate': {
          const st = await migrator.check()
          if (st.error) return renderError(st.error, args.json)
          const checks: CheckResult[] = manifest
            ? await validateExpected(client, manifest, {
                scope: expectedAt(manifest, migrations, st.current),
                log: { schema: migrator.log.schema, table: migrator.log.table },
                migrations,
                version: st.current,
              })
            : []
          return renderValidate(st, checks, args.json, manifest !== undefined)
        }
      }
      return EXIT.USAGE
    } finally {
      await watchdog?.close()
      await client.end().catch(() => {})
    }
  } finally {
    await target.close()
  }
}

async function release(dir: string, migrations: Migration[], args: MigrateArgs): Promise<number> {
  const accept = (name: string) => args.acceptDrift === 'all' || (Array.isArray(args.acceptDrift) && args.acceptDrift.some((a) => name === a || name.startsWith(`${a}_`) || name.slice(0, 3) === a.padStart(3, '0')))
  const r = await writeReleased(dir, migrations, accept)
  if (args.json) json({ ok: true, ...r })
  else out(`${RELEASED_FILE}: ${migrations.length} released migrations (${r.added.length} added${r.changed.length ? `, ${r.changed.length} re-recorded: ${r.changed.join(', ')}` : ''})`)
  return EXIT.OK
}

function onEvent(e: MigratorEvent): void {
  switch (e.type) {
    case 'lock-wait':
      info(yellow(`waiting for the migration lock held by ${e.holder} …`))
      break
    case 'bootstrap':
      info(dim(`bootstrap: created ${e.created.join(', ')}`))
      break
    case 'start':
      progress(`${e.direction === 'up' ? '↑' : '↓'} [${e.index}/${e.total}] ${e.migration} … `)
      break
    case 'done':
      progress(`${green('ok')} ${dim(`${Math.round(e.durationMs)} ms`)}\n`)
      break
    case 'failed':
      progress(`${red('FAILED')}\n`)
      break
    case 'warning':
      info(yellow(`warning: ${e.message}`))
      break
  }
}

function renderError(error: HarnessError, asJson: boolean): number {
  return reportError(error, asJson)
}

const short = (s?: string | null) => (s ? `${s.slice(0, 8)}…${s.slice(-4)}` : '—')

/**
 * `status --exit-code`, for scripts: 4 when the log disagrees with the files (drifted,
 * unverified, missing files), else 1 when a migration failed or is pending, else 0.
 */
export function statusExitCode(r: StatusResult): number {
  const has = (...states: string[]) => r.migrations.some((m) => states.includes(m.state))
  if (has('drifted', 'unverified', 'missing-file')) return EXIT.STATE
  if (has('failed', 'partial', 'pending')) return EXIT.FAILED
  return EXIT.OK
}

function renderStatus(r: StatusResult, asJson: boolean, exitCode: boolean): number {
  if (r.error) return renderError(r.error, asJson)
  const code = exitCode ? statusExitCode(r) : EXIT.OK
  if (asJson) {
    json({ ok: true, current: r.current, logExists: r.logExists, migrations: r.migrations })
    return code
  }
  const width = Math.max(...r.migrations.map((m) => m.name.length), 10)
  const color = (s: string) => (s === 'applied' ? green : s === 'pending' ? dim : s === 'failed' || s === 'partial' ? red : yellow)(s.padEnd(12))
  for (const m of r.migrations) {
    const when = m.appliedAt ? m.appliedAt.replace('T', ' ').slice(0, 19) : ''
    const ms = m.executionTimeMs != null && m.state !== 'pending' ? `${m.executionTimeMs} ms` : ''
    const sum = m.state === 'drifted' ? `recorded ${short(m.appliedChecksum)} ≠ file ${short(m.checksum)}` : `sha256 ${short(m.checksum ?? m.appliedChecksum)}`
    out(`  ${m.name.padEnd(width)}  ${color(m.state)} ${when.padEnd(19)} ${ms.padStart(8)}  ${dim(sum)}${m.noTransaction ? dim(' [no-transaction]') : ''}`)
  }
  const count = (s: string) => r.migrations.filter((m) => m.state === s).length
  out(bold(`version ${r.current} of ${r.migrations.filter((m) => m.state !== 'missing-file').length} · ${count('pending')} pending · ${count('drifted') + count('unverified')} drifted · ${count('failed')} failed · ${count('partial')} partial · ${count('missing-file')} missing files`))
  return code
}

function renderPlan(p: PlanResult, asJson: boolean, title = 'plan'): number {
  if (p.error) return renderError(p.error, asJson)
  if (asJson) {
    json({ ok: true, from: p.from, to: p.to, steps: p.steps, warnings: p.warnings })
    return EXIT.OK
  }
  for (const w of p.warnings) info(yellow(`warning: ${w}`))
  if (p.steps.length === 0) out(`${title}: nothing to do (database at version ${p.from})`)
  else {
    out(`${title}: version ${p.from} → ${p.to}, ${p.steps.length} step${p.steps.length > 1 ? 's' : ''}:`)
    for (const s of p.steps) {
      out(`  ${s.direction === 'up' ? '↑' : '↓'} ${s.file}  ${dim(`${s.statements} statements · sha256 ${short(s.checksum)}`)}${s.noTransaction ? yellow('  [no-transaction: not atomic, re-run must be safe]') : ''}`)
    }
  }
  return EXIT.OK
}

function renderRun(r: RunResult, asJson: boolean): number {
  const ran = r.results.filter((x) => x.status === 'passed')
  if (asJson) {
    json({ ok: !r.error, from: r.from, to: r.to, results: r.results, warnings: r.warnings, preflight: r.preflight, error: r.error?.toJSON() })
    return r.error ? exitCodeFor(r.error.code) : EXIT.OK
  }
  if (r.error) {
    const failed = r.results.find((x: MigrationResult) => x.status === 'failed')
    // A file's own error is shown located; anything else (a lost connection) by its code first.
    if (failed?.error && r.error.code === 'MIGRATION_FAILED') {
      info('')
      info(red(formatLocated(failed.error)))
      if (r.error.hint) info(r.error.hint)
      const skipped = r.results.filter((x) => x.status === 'skipped').length
      if (skipped) info(dim(`${skipped} later migration${skipped > 1 ? 's were' : ' was'} not run.`))
      return exitCodeFor(r.error.code)
    }
    return reportError(r.error)
  }
  const total = ran.reduce((s, x) => s + (x.durationMs ?? 0), 0)
  if (ran.length === 0) out(`nothing to do: database at version ${r.to}`)
  else out(green(`${ran[0]!.direction === 'up' ? 'applied' : 'reverted'} ${ran.length} migration${ran.length > 1 ? 's' : ''}: version ${r.from} → ${r.to} in ${Math.round(total)} ms`))
  return EXIT.OK
}

function renderValidate(st: StatusResult, checks: CheckResult[], asJson: boolean, hasManifest: boolean): number {
  const ok = checks.every((c) => c.ok)
  if (asJson) {
    json({ ok, current: st.current, checks, migrations: st.migrations })
    return ok ? EXIT.OK : EXIT.FAILED
  }
  out(`${green('ok')}  checksums: ${st.migrations.filter((m) => m.state === 'applied').length} applied files unchanged, log consistent (version ${st.current})`)
  if (!hasManifest) info(yellow('no manifest.json in the migrations directory: expected objects not checked'))
  for (const c of checks) out(`${c.ok ? green('ok') : red('FAIL')}  ${c.id}: ${c.message}`)
  return ok ? EXIT.OK : EXIT.FAILED
}

export const verb: Verb = {
  help: MIGRATE_HELP,
  options: { string: ['dir', 'engine', 'to', 'log-schema', 'log-table', 'lock-wait', 'stall-timeout', 'accept-drift', 'backup-root'], boolean: ['json', 'dry-run', 'yes', 'exit-code', 'accept-current-state'], positionals: 1 },
  run: (argv, { config }) => migrate(parseMigrateArgs(argv, config), config),
}
