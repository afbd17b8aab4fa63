/**
 * `pgverify rehearse`: each migration applied by the real runner while a workload runs beside
 * it, measured per statement (locks, blocked sessions, workload latency against the baseline),
 * judged by the seeds' thresholds. Writes reports/rehearse.json; exit 1 when a migration fails.
 */
import { resolve } from 'node:path'
import { HarnessError } from '../errors.ts'
import { rehearse, DEFAULTS } from '../rehearse/rehearse.ts'
import type { RehearsalReport } from '../rehearse/report.ts'
import { describeFinding } from '../rehearse/verdict.ts'
import { REHEARSE_ALLOW_FILE } from '../rehearse/allow.ts'
import { writeRehearsalReport } from '../reports/write.ts'
import { checkMigrationsDir } from './checks.ts'
import { EXIT } from './exit-codes.ts'
import { bold, dim, green, info, json, out, red, yellow } from './output.ts'
import { engineRequest, startCommandEngine } from './settings.ts'
import { flag, type Args, type Verb, type VerbContext } from './verb.ts'

export const REHEARSE_HELP = `Usage: pgverify rehearse [options]   (in this repository also: pnpm rehearse …)

For each migration k: a fresh database at version k-1 loaded with generated data, a workload
of several sessions (the seeds' dashboard queries and inserts at the seed rate: 1,000
metric_hist rows/s), then migration k applied by the real runner while a sampler polls
pg_locks and pg_stat_activity every 10 ms. Per statement: duration, locks, blocked sessions
and the longest wait, workload p95/p99 and throughput against the baseline. A migration fails
when during a statement dashboard p95 > 100 ms, insert p95 > 500 ms (thresholds.dashboard,
thresholds.insert in the config) or the workload errors (exit 1). Needs an engine with
concurrent sessions (native, container, url): on embedded nothing is run, and it says why.
A finding accepted in <dir>/rehearse-allow.json (file, line, measured, reason; upToMs caps it)
is reported as allowed with its reason and does not fail the run. Writes reports/rehearse.json
and reports/rehearse.html (per migration a timeline: workload latency, a span per statement,
the locks held and the sessions that waited).

Options:
  --engine NAME   native | container | url | embedded (default: as for verify)
  --dir DIR       migrations directory (default: migrations)
  --only N,M      rehearse only these versions
  --seed N        seed of the generated data (default ${DEFAULTS.seed})
  --days N        MS5.0: days of telemetry at version k-1 (default ${DEFAULTS.days}: ~100k metric_hist rows)
  --rows N        other schemas: generated rows per table (default ${DEFAULTS.rows.toLocaleString('en-US')})
  --reports DIR   where rehearse.json goes (default: reports)
  --json          print the report as JSON on stdout
  -h, --help      this help

Exit codes: 0 every migration passed (or nothing to rehearse on this engine, said why) ·
1 a migration broke a threshold or the workload saw errors · 2 usage ·
3 the migration files are refused · 8 the engine could not start`

function intList(name: string, v: string): number[] {
  const xs = v.split(',').map((s) => Number(s.trim()))
  if (xs.some((n) => !Number.isInteger(n) || n < 1)) throw new HarnessError('USAGE', `--${name} needs whole numbers separated by commas, got "${v}"`, { hint: `e.g. --${name} 2,3` })
  return xs
}

const int = (name: string, v: string | undefined): number | undefined => (v === undefined ? undefined : intList(name, v)[0])

export async function run(argv: Args, { config }: VerbContext): Promise<number> {
  const dir = resolve(flag(argv, 'dir') ?? config.dir)
  const reportsDir = resolve(flag(argv, 'reports') ?? config.reports)
  // Cheap checks first: a bad option or directory is reported before any engine boots.
  const only = flag(argv, 'only')
  const options = {
    dir,
    ...(only ? { only: intList('only', only) } : {}),
    seed: int('seed', flag(argv, 'seed')) ?? DEFAULTS.seed,
    days: int('days', flag(argv, 'days')) ?? DEFAULTS.days,
    rows: int('rows', flag(argv, 'rows')) ?? DEFAULTS.rows,
  }
  await checkMigrationsDir(dir)
  const engine = await startCommandEngine(engineRequest(argv, config), config)
  let report: RehearsalReport
  try {
    info(bold(`rehearse ${dir} on ${engine.describe()}`))
    report = await rehearse(engine, {
      ...options,
      logSchema: config.logSchema,
      logTable: config.logTable,
      thresholds: config.thresholds,
      onProgress: (l) => info(dim(l)),
    })
  } finally {
    await engine.stop()
  }
  const path = await writeRehearsalReport(report, reportsDir)
  if (argv.json) json(report)
  else render(report)
  info(dim(`report: ${path}, timeline: ${path.replace(/\.json$/, '.html')}`))
  return report.ok ? EXIT.OK : EXIT.FAILED
}

/** The terminal leaves out locks on relations the migration made and on TimescaleDB's and PostgreSQL's internals (the JSON has them all). */
const shown = (l: { relation: string }) => !/^(new relation|_timescaledb_|pg_toast\.|timescaledb_information\.)/.test(l.relation)

const n = (v: number | null, unit = 'ms') => (v === null ? '–' : `${v < 10 ? v.toFixed(1) : Math.round(v).toLocaleString('en-US')} ${unit}`)

function render(r: RehearsalReport): void {
  if (r.skipped) {
    out(yellow(`SKIP  ${r.skipped}`))
    return
  }
  out(dim(`data at version k-1: ${r.data}`))
  for (const m of r.migrations) {
    const mark = m.verdict === 'passed' ? green('PASS') : m.verdict === 'failed' ? red('FAIL') : yellow('SKIP')
    out('')
    out(`${mark}  ${m.file} ${dim(`(${Math.round(m.migration.durationMs)} ms; baseline dashboard p95 ${n(m.baseline.dashboardP95Ms)}, insert p95 ${n(m.baseline.insertP95Ms)}, ${m.baseline.throughput.toFixed(0)} ops/s)`)}`)
    if (m.workload.operations.length === 0) out(dim('      no workload at this version (no table it reads or writes exists yet)'))
    for (const s of m.statements) {
      const w = s.workload
      const locks = s.acquired.filter(shown).map((l) => `${l.mode.replace(/Lock$/, '')} ${l.relation}`).join(', ')
      out(`      ${s.where.padEnd(34)} ${n(s.durationMs).padStart(9)}  dash p95 ${n(w.dashboardP95Ms).padStart(8)}  ins p95 ${n(w.insertP95Ms).padStart(8)}  ${w.throughput.toFixed(0).padStart(4)} ops/s${s.blockedSessions ? red(`  ${s.blockedSessions} blocked, ${n(s.longestWaitMs)}`) : ''}${locks ? dim(`  takes ${locks}`) : ''}`)
    }
    for (const f of m.findings) {
      if (!f.allowed) out(red(`      ✗ ${describeFinding(f)}`))
      else out(yellow(`      ~ allowed by ${REHEARSE_ALLOW_FILE} (${f.allowed.file}:${f.allowed.line}${f.allowed.upToMs ? `, up to ${n(f.allowed.upToMs)}` : ''}): ${describeFinding(f)} Measured when allowed: ${f.allowed.measured}. Why: ${f.allowed.reason}`))
    }
    const o = m.sampler
    out(dim(`      sampler: ${o.polls} polls every ${o.periodMs} ms, poll ${n(o.pollMeanMs)} mean / ${n(o.pollP95Ms)} p95, longest gap ${n(o.maxGapMs)}; dashboard p95 without/with it ${n(o.dashboardP95WithoutMs)} / ${n(o.dashboardP95WithMs)}`))
  }
  out('')
  for (const e of r.allow?.notSeen ?? []) out(dim(`${REHEARSE_ALLOW_FILE}: ${e.file}:${e.line} covered no finding in this run (findings depend on timing; the entry stays)`))
  const allowed = r.migrations.reduce((k, m) => k + m.findings.filter((f) => f.allowed).length, 0)
  out(r.ok ? green(bold(`rehearsal passed${allowed ? ` (${allowed} allowed finding${allowed === 1 ? '' : 's'}, see above)` : ''}`)) : red(bold('rehearsal failed')))
}

export const verb: Verb = { help: REHEARSE_HELP, options: { string: ['engine', 'dir', 'only', 'seed', 'days', 'rows', 'reports'], boolean: ['json'] }, run }
