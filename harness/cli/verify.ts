/**
 * `pnpm verify`: replays and checks the migrations on a disposable engine, prints a verdict
 * per stage, writes reports/verify.json, and exits non-zero when any stage failed.
 */
import { join, resolve } from 'node:path'
import { runVerify, STAGES, type VerifyReport } from '../verify/pipeline.ts'
import { writeReports } from '../reports/write.ts'
import { HarnessError } from '../errors.ts'
import { isInternal } from '../steps/step.ts'
import { EXIT, exitCodeFor } from './exit-codes.ts'
import { bold, dim, green, info, json, out, red, yellow } from './output.ts'
import { engineRequest, startCommandEngine } from './settings.ts'
import { checkMigrationsDir, wholeNumber } from './checks.ts'
import { LOAD_DEFAULTS } from '../verify/stages/load.ts'
import { didYouMean } from './parse.ts'
import { parseShard } from '../verify/shard.ts'
import { flag, type Args, type Verb, type VerbContext } from './verb.ts'

export const VERIFY_HELP = `Usage: pnpm verify [options]

Replays the migrations on a disposable engine and proves the result: every stage prints a
verdict; the run fails (exit 1) when any stage fails (exit 70 when a stage hit a bug in
pgverify itself: reported as INTERNAL). Reports go to reports/.

Options:
  --engine NAME       embedded | native | container | url (default: VERIFY_ENGINE, else
                      container where a Docker API answers, else native when the local
                      PostgreSQL has TimescaleDB, else embedded)
  --dir DIR           migrations directory to verify (default: migrations)
  --log-schema NAME   schema of the migration log (default: the manifest's schema, else public)
  --reports DIR       where to write index.html, verify.json and junit.xml (default: reports)
  --seed N            seed for generated data (printed by every run; reproduces it)
  --runs N            generated datasets per data property (default sized for CI)
  --skip A,B          do not run these stages (reported as skipped, and the run says so)
  --changed           pull-request mode: migrations in released.json are replayed once as the
                      base; only new or changed ones get fault injection, data properties,
                      down/up and idempotency (the report says which was proven how)
  --since REF         with --changed: "changed" means touched since git REF instead
  --shard I/N         do the I-th of N parts of the expensive work (fault points, property
                      chains, down/up steps, idempotent files; jobs and the backup round trip
                      whole, each on one shard); the cheap base stages run in every shard. Run
                      I = 1…N on N machines with the same options, then
                      \`pgverify report merge DIR…\` gives the verdict of one full run. Without
                      --seed the seed comes from the migrations, the same in every shard
  --load-hours N      the load stage's data at version k-1 (MS5.0: hours of telemetry, default
                      ${LOAD_DEFAULTS.hours}: ~${(LOAD_DEFAULTS.hours * 4320).toLocaleString('en-US')} metric_hist rows; 24 is the seeds' typical day, as pgverify rehearse)
  --load-rows N       the load stage on other schemas: generated rows per table (default ${LOAD_DEFAULTS.rows.toLocaleString('en-US')})
  --json              print the report as JSON on stdout
  -h, --help          this help

Exit codes: 0 every stage passed · 1 a stage failed · 2 usage (unknown stage, missing value,
--dir not a directory, --shard not I/N with 1 ≤ I ≤ N) · 3 the migrations directory is missing
or empty · 8 engine unavailable · 70 a stage hit a bug in pgverify (INTERNAL)`

export async function verify(argv: Args, { config }: VerbContext): Promise<number> {
  const dir = resolve(flag(argv, 'dir') ?? config.dir)
  const reportsDir = resolve(flag(argv, 'reports') ?? config.reports)
  // Everything the command line can get wrong is found before the engine boots.
  const seed = wholeNumber('seed', argv.seed, '42')
  const runs = wholeNumber('runs', argv.runs, '20')
  const skip = argv.skip === undefined ? undefined : checkSkip(String(argv.skip))
  const shard = argv.shard === undefined ? undefined : parseShard(String(argv.shard))
  const hours = wholeNumber('load-hours', argv['load-hours'], '24')
  const rows = wholeNumber('load-rows', argv['load-rows'], '100000')
  if (hours === 0 || rows === 0) throw new HarnessError('USAGE', `--${hours === 0 ? 'load-hours' : 'load-rows'} must be at least 1`, { hint: 'Skip the stage instead: --skip load' })
  await checkMigrationsDir(dir)
  const since = flag(argv, 'since')
  if (since !== undefined && !since.trim()) throw new HarnessError('USAGE', '--since needs a git ref', { hint: 'e.g. pnpm verify --changed --since origin/main' })
  // Verify's shared database is its first, in a worker thread on the embedded engine.
  const engine = await startCommandEngine(engineRequest(argv, config), config, { threadAhead: true })
  let report: VerifyReport
  try {
    info(bold(`verify ${dir} on ${engine.describe()}`))
    report = await runVerify(engine, {
      dir,
      logSchema: flag(argv, 'log-schema') ?? config.logSchema,
      logTable: config.logTable,
      lintAllowFile: config.lint.allowFile,
      onProgress: (l) => info(dim(l)),
      seed,
      runs,
      reportsDir,
      skip,
      changed: argv.changed || since !== undefined ? { since } : undefined,
      shard,
      load: { ...(hours ? { hours } : {}), ...(rows ? { rows } : {}) },
      thresholds: config.thresholds,
    })
  } finally {
    await engine.stop()
  }
  await writeReports(report, reportsDir)
  if (argv.json) json(report)
  else render(report, reportsDir)
  // A stage that hit a bug is no verdict on the migrations: the run says so with exit 70.
  if (report.stages.some(isInternal)) return EXIT.INTERNAL
  // A run whose server ran short proved nothing either way: the environment's exit code, not a verdict on the files.
  if (report.stages.some((s) => s.error?.code === 'SERVER_RESOURCES')) return exitCodeFor('SERVER_RESOURCES')
  return report.ok ? EXIT.OK : EXIT.FAILED
}

function checkSkip(list: string): string[] {
  const ids = list.split(',').map((s) => s.trim()).filter(Boolean)
  const known = STAGES.map((s) => s.id)
  const bad = ids.filter((i) => !known.includes(i))
  if (bad.length) throw new HarnessError('USAGE', `--skip ${bad.join(',')}: no such stage${bad.length === 1 ? didYouMean(bad[0]!, known) : ''}`, { hint: `Stages that can be skipped: ${known.join(', ')}.` })
  return ids
}


function render(report: VerifyReport, reportsDir: string): void {
  out('')
  for (const s of report.stages) {
    const mark = s.verdict === 'passed' ? green('PASS') : s.verdict === 'failed' ? red('FAIL') : yellow('SKIP')
    out(`${mark}  ${s.title} ${dim(`(${s.durationMs} ms)`)}`)
    out(`      ${s.summary}`)
    // The diagnostic replay never fails (the replay decides): its details are what it found.
    if (s.verdict === 'failed' || (s.id === 'diagnostic-replay' && s.details.length)) for (const d of s.details.slice(0, 60)) out(`      ${d}`)
  }
  if (report.shard) out(`${bold(`shard ${report.shard.index}/${report.shard.count}`)}: ${Object.entries(report.shard.units).map(([id, u]) => `${id} ${u.units.length}/${u.total}`).join(', ') || 'no split work'}; base schema ${report.shard.baseFingerprint?.slice(0, 12) ?? 'not reached'} (merge the shards' reports with \`pgverify report merge\`)`)
  if (report.scope) out(`${bold('changed-only')} (${report.scope.base}): proven at full depth: ${report.scope.fullDepth.join(', ') || 'nothing'}; only replayed: ${report.scope.replayedOnly.join(', ') || 'nothing'}`)
  const failed = report.stages.filter((s) => s.verdict === 'failed').length
  const skipped = report.stages.filter((s) => s.verdict === 'skipped').length
  out('')
  for (const d of report.engine.differences ?? []) out(dim(`note: unlike production, on this engine ${d}`))
  out(`${report.ok ? green(bold('verify passed')) : red(bold('verify FAILED'))}: ${report.stages.length - failed - skipped} passed, ${failed} failed, ${skipped} skipped in ${(report.durationMs / 1000).toFixed(1)} s on ${report.engine.description}`)
  const short = report.stages.filter((s) => s.error?.code === 'SERVER_RESOURCES').map((s) => s.id)
  if (short.length) out(red(`the server ran short during this run (${short.join(', ')}; the messages above say of what): the failures are the environment's, not findings about the migrations (exit 5); give it room and run again`))
  out(dim(`reports: ${join(reportsDir, 'index.html')} · verify.json · junit.xml`))
}

export const verb: Verb = { help: VERIFY_HELP, options: { string: ['engine', 'dir', 'log-schema', 'reports', 'seed', 'runs', 'skip', 'since', 'shard', 'load-hours', 'load-rows'], boolean: ['json', 'changed'] }, run: verify }
