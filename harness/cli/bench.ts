/**
 * `pnpm bench`: the seeds' performance thresholds as a gate, per engine, with reports and
 * regression detection. The suite itself lives in bench/ and is imported lazily.
 */
import { resolve } from 'node:path'
import { formatValue, type BenchRun } from '../measure/figures.ts'
import { formatComparison } from '../measure/regression.ts'
import { appendHistory, readBaseline } from '../measure/report.ts'
import { writeBenchReports } from '../reports/write.ts'
import type { Config } from '../config/index.ts'
import type { EngineSettings } from '../engines/types.ts'
import { HarnessError } from '../errors.ts'
import type { ThresholdId } from '../measure/thresholds.ts'
import { isSpan, type SpanName } from '../data/telemetry/options.ts'
import { isInternal } from '../steps/step.ts'
import { EXIT } from './exit-codes.ts'
import { bold, dim, green, info, json, out, red, yellow } from './output.ts'
import { engineSettings } from './settings.ts'
import type { Args, Verb } from './verb.ts'

export const BENCH_HELP = `Usage: pnpm bench [options]

Benchmarks MS5.0 telemetry (harness/data/telemetry.ts) on each engine against the seeds' thresholds:
insert < 500 ms, any query < 1000 ms, dashboard < 100 ms, connect < 100 ms, ingest > 1000 rows/s,
compression > 70 %, storage < 1 GB/month. Writes reports/bench.json and reports/bench.html.

Options:
  --engine NAME       embedded | native | container | url (default: every available one of
                      embedded, native, container; url only when named, with DATABASE_URL)
  --scale N           multiplies equipment and days of the dataset (default 1)
  --scale SPAN        day | week | month | year: the dashboard and report queries at every span of
                      the seeds' typical data up to SPAN (year: ~38 M metric_hist rows, made by the
                      server), each p95 checked and plotted against the rows (native by default)
  --seed N            dataset seed (default 1)
  --quick             a small, fast run (tests, smoke checks)
  --compare FILE      a baseline bench.json: flags regressions beyond the noise, confirmed by a repeat
  --history FILE      append this run to FILE (JSON lines) and chart the whole history
  --reports DIR       where the reports go (default: reports)
  --json              the run as JSON on stdout
  -h, --help          this help

Exit codes: 0 every threshold met and no confirmed regression · 1 a threshold failed, a benchmark
failed or a regression was confirmed · 2 usage · 8 no engine could run · 70 a benchmark hit a bug
in pgverify (INTERNAL)`

export interface BenchArgs {
  engines?: string[]
  scale: number
  /** --scale day|week|month|year. */
  span?: SpanName
  seed: number
  quick: boolean
  compare?: string
  history?: string
  reports: string
  json: boolean
  /** Limits replacing the seeds' (pgverify.config.json "thresholds"). */
  thresholds?: Partial<Record<ThresholdId, number>>
  settings?: EngineSettings
}

/** The command line over the configuration (environment, pgverify.config.json, defaults). */
export function parseBenchArgs(argv: Args, config?: Config): BenchArgs {
  if (argv._.length) throw new HarnessError('USAGE', `unexpected argument${argv._.length > 1 ? 's' : ''}: ${argv._.join(' ')}`, { hint: BENCH_HELP })
  const num = (name: string, v: unknown, def: number, integer: boolean): number => {
    if (v === undefined) return def
    const n = Number(v)
    if (typeof v === 'boolean' || !Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
      throw new HarnessError('USAGE', `--${name} needs a positive ${integer ? 'whole ' : ''}number, got "${String(v)}"`, { hint: name === 'scale' ? 'e.g. --scale 2, or a span of typical data: --scale day, week, month or year' : `e.g. --${name} ${def}` })
    }
    return n
  }
  const str = (name: string): string | undefined => {
    const v = argv[name]
    if (v === undefined) return undefined
    if (typeof v !== 'string' || !v) throw new HarnessError('USAGE', `--${name} needs a value`, { hint: BENCH_HELP })
    return v
  }
  const engine = str('engine')
  return {
    engines: engine ? engine.split(',').map((e) => e.trim()).filter(Boolean) : undefined,
    ...(typeof argv.scale === 'string' && isSpan(argv.scale) ? { scale: 1, span: argv.scale } : { scale: num('scale', argv.scale, 1, false) }),
    seed: num('seed', argv.seed, 1, true),
    quick: Boolean(argv.quick),
    compare: str('compare'),
    history: str('history'),
    reports: str('reports') ?? config?.reports ?? 'reports',
    json: Boolean(argv.json),
    ...(config ? { thresholds: config.thresholds, settings: engineSettings(config) } : {}),
  }
}

function printSummary(run: BenchRun): void {
  for (const e of run.engines) {
    out('')
    if (e.error) {
      out(`${bold(e.engine)}: ${yellow('skipped')}: ${e.error}`)
      continue
    }
    out(bold(e.describe.startsWith(`${e.engine}:`) ? e.describe : `${e.engine}: ${e.describe}`))
    for (const f of e.figures) {
      const t = f.threshold
      const mark = t ? (t.verdict === 'passed' ? green('pass') : t.warning ? yellow('warn') : red('FAIL')) : dim('info')
      const stats = f.stats && f.unit === 'ms' ? dim(` p50 ${formatValue(f.stats.p50, 'ms')} p95 ${formatValue(f.stats.p95, 'ms')} p99 ${formatValue(f.stats.p99, 'ms')} n ${f.stats.n}`) : ''
      const limit = t ? dim(` [${t.text}]`) : ''
      const ref = f.reference ? dim(` ratio ${f.reference.ratio.toFixed(2)} of reference ${formatValue(f.reference.value, f.reference.unit)}`) : ''
      const target = f.target ? (f.target.verdict === 'passed' ? dim(` target met (${f.target.text})`) : yellow(` target missed (${f.target.text})`)) : ''
      out(`  ${mark}  ${f.label}: ${formatValue(f.value, f.unit)}${stats}${limit}${ref}${target}`)
      if (t?.warning) out(yellow(`        ${t.warning}`))
    }
    for (const s of e.skipped) out(`  ${s.reason.startsWith('failed') ? red('FAIL') : yellow('skip')}  ${s.id}: ${s.reason}`)
  }
  out('')
}

export async function bench(args: BenchArgs): Promise<number> {
  const baseline = args.compare ? await readBaseline(resolve(args.compare)) : undefined
  const { runBench } = await import('../../bench/index.ts')
  const run = await runBench({ engines: args.engines, scale: args.scale, ...(args.span ? { span: args.span } : {}), seed: args.seed, quick: args.quick, baseline, thresholds: args.thresholds, settings: args.settings, log: (l) => info(l) })
  const history = args.history ? await appendHistory(resolve(args.history), run) : []
  const written = await writeBenchReports(run, args.reports, history)
  const measured = run.engines.some((e) => !e.error)
  if (args.json) json(run)
  else {
    printSummary(run)
    if (run.comparison) for (const line of formatComparison(run.comparison)) out(line)
    for (const f of run.failures) out(`${red('failed')} ${f}`)
    out(`reports: ${written.json}, ${written.html}${args.history ? ` · history: ${resolve(args.history)}` : ''}`)
    out(
      !measured
        ? red('no engine could run: nothing was measured')
        : run.verdict === 'passed'
          ? green(`bench passed in ${(run.durationMs / 1000).toFixed(1)} s`)
          : red(`bench FAILED in ${(run.durationMs / 1000).toFixed(1)} s`),
    )
  }
  if (!measured) return EXIT.ENGINE
  if (run.engines.some((e) => e.steps?.some(isInternal))) return EXIT.INTERNAL
  return run.verdict === 'passed' ? EXIT.OK : EXIT.FAILED
}

export const verb: Verb = {
  help: BENCH_HELP,
  options: { string: ['engine', 'scale', 'seed', 'compare', 'history', 'reports'], boolean: ['quick', 'json'] },
  run: async (argv, { config }) => bench(parseBenchArgs(argv, config)),
}
