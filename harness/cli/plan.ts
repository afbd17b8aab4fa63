/**
 * `pgverify plan`: what `up` would do (as `pgverify migrate plan`), and with `--rehearse` each
 * statement's estimated duration, locks and risk at production size (rehearse/estimate.ts):
 * two rehearsals on a disposable engine, the production row counts read read-only from
 * `--size-from URL` or given in pgverify.config.json ("productionRows").
 */
import { resolve } from 'node:path'
import { HarnessError } from '../errors.ts'
import { DEFAULT_SCALES, estimatePlan, type PlanEstimate } from '../rehearse/estimate.ts'
import { formatDuration } from '../rehearse/model.ts'
import { DEFAULTS } from '../rehearse/rehearse.ts'
import { sizesFromConfig, sizesFromUrl, type ProductionSizes } from '../rehearse/sizes.ts'
import { checkDatabaseUrl } from '../config/database-url.ts'
import { CONFIG_FILE } from '../config/index.ts'
import { writePlanEstimate } from '../reports/write.ts'
import { checkMigrationsDir } from './checks.ts'
import { EXIT } from './exit-codes.ts'
import { migrate, parseMigrateArgs } from './migrate.ts'
import { bold, dim, green, info, json, out, red, yellow } from './output.ts'
import { engineRequest, startCommandEngine } from './settings.ts'
import { flag, type Args, type Verb, type VerbContext } from './verb.ts'

export const PLAN_HELP = `Usage: pgverify plan [--to N] [--json]                      (as pgverify migrate plan)
       pgverify plan --rehearse [--size-from URL] [options]

Without --rehearse: what \`up\` would do on DATABASE_URL (or --engine NAME), in order.

With --rehearse: each migration rehearsed twice on a disposable engine (as pgverify rehearse),
at two scales of the generated data (--scales, default ${DEFAULT_SCALES.join(',')}: one and three days of
MS5.0 telemetry), then per migration and statement, at production size:
  estimated duration   linear in the rows of the tables the statement touches, fitted
                       through the two rehearsals (constant where they differ by noise only)
  locks                the modes that stop readers or writers, on which table, for how long
                       (to the migration's COMMIT)
  risk                 high: stops writers > the insert limit (500 ms) or readers > the
                       dashboard limit (100 ms); medium: stops them for less; low: stops nobody
Production row counts: --size-from URL (read in one READ ONLY transaction from the catalog's
statistics: pg_class.reltuples, TimescaleDB's approximate_row_count; nothing is scanned and
the password is never printed), else "productionRows" in ${CONFIG_FILE}.

Options:
  --rehearse        estimate at production size (needs concurrent sessions: native, container, url)
  --size-from URL   read production row counts from this database (read-only)
  --engine NAME     where to rehearse (default: as for verify)
  --dir DIR         migrations directory (default: migrations)
  --only N,M        these versions only
  --scales A,B      the two multipliers of the default data (default ${DEFAULT_SCALES.join(',')})
  --seed N          seed of the generated data (default ${DEFAULTS.seed})
  --days N          MS5.0: days of telemetry at 1× (default ${DEFAULTS.days})
  --rows N          other schemas: generated rows per table at 1× (default ${DEFAULTS.rows.toLocaleString('en-US')})
  --reports DIR     where plan-estimate.json goes (default: reports)
  --to N            without --rehearse: plan up to version N
  --json            the result as JSON on stdout
  -h, --help        this help

Exit codes: 0 planned (with --rehearse: no statement is high risk at production size) ·
1 a statement is high risk · 2 usage · 3 the migration files are refused ·
6 the --size-from database cannot be reached · 8 the engine could not start`

function list(name: string, v: string, whole: boolean): number[] {
  const xs = v.split(',').map((s) => Number(s.trim()))
  if (xs.some((n) => !Number.isFinite(n) || n <= 0 || (whole && !Number.isInteger(n)))) throw new HarnessError('USAGE', `--${name} needs ${whole ? 'whole ' : ''}numbers > 0 separated by commas, got "${v}"`, { hint: `e.g. --${name} ${whole ? '2,3' : '1,3'}` })
  return xs
}

export async function run(argv: Args, { config }: VerbContext): Promise<number> {
  if (!argv.rehearse) {
    for (const f of ['size-from', 'scales', 'only', 'seed', 'days', 'rows', 'reports']) if (argv[f] !== undefined) throw new HarnessError('USAGE', `--${f} needs --rehearse`, { hint: 'pgverify plan --rehearse --size-from URL' })
    return migrate(parseMigrateArgs({ ...argv, _: ['plan'] }, config), config)
  }
  if (argv.to !== undefined) throw new HarnessError('USAGE', '--to is for the plan without --rehearse', { hint: 'Narrow the rehearsal with --only N,M.' })
  const dir = resolve(flag(argv, 'dir') ?? config.dir)
  const reportsDir = resolve(flag(argv, 'reports') ?? config.reports)
  const scales = flag(argv, 'scales') ? list('scales', flag(argv, 'scales')!, false) : DEFAULT_SCALES
  if (scales.length !== 2 || scales[0] === scales[1]) throw new HarnessError('USAGE', `--scales needs two different multipliers, got "${flag(argv, 'scales')}"`, { hint: 'e.g. --scales 1,3' })
  const num = (name: string, whole: boolean) => (flag(argv, name) === undefined ? undefined : list(name, flag(argv, name)!, whole)[0]!)
  const only = flag(argv, 'only') === undefined ? undefined : list('only', flag(argv, 'only')!, true)
  const seed = num('seed', true)
  const days = num('days', false)
  const rows = num('rows', true)
  const sizeFrom = flag(argv, 'size-from')
  // Cheap checks first: the URL's shape (never echoed), the config's sizes, the directory.
  if (sizeFrom !== undefined) checkDatabaseUrl(sizeFrom, '--size-from')
  else if (!config.productionRows) throw new HarnessError('USAGE', 'plan --rehearse needs the production sizes: --size-from URL, or "productionRows" in the config file', { hint: `e.g. pgverify plan --rehearse --size-from "$PRODUCTION_URL", or { "productionRows": { "factory_telemetry.metric_hist": 36000000 } } in ${CONFIG_FILE}` })
  await checkMigrationsDir(dir)
  const production: ProductionSizes = sizeFrom !== undefined ? await sizesFromUrl(sizeFrom) : sizesFromConfig(config.productionRows!, `${CONFIG_FILE} "productionRows"`)
  info(dim(`production sizes: ${Object.keys(production.rows).length} tables from ${production.source}${production.readOnly ? ' (read-only transaction)' : ''}`))
  const engine = await startCommandEngine(engineRequest(argv, config), config)
  let estimate: PlanEstimate
  try {
    info(bold(`plan --rehearse ${dir} on ${engine.describe()}`))
    estimate = await estimatePlan(engine, {
      dir,
      production,
      scales: [scales[0]!, scales[1]!],
      ...(only ? { only } : {}),
      ...(seed ? { seed } : {}),
      ...(days ? { days } : {}),
      ...(rows ? { rows } : {}),
      logSchema: config.logSchema,
      logTable: config.logTable,
      thresholds: config.thresholds,
      onProgress: (l) => info(dim(l)),
    })
  } finally {
    await engine.stop()
  }
  const path = await writePlanEstimate(estimate, reportsDir)
  if (argv.json) json(estimate)
  else render(estimate)
  info(dim(`report: ${path}`))
  return estimate.ok ? EXIT.OK : EXIT.FAILED
}

const ms = (v: number) => formatDuration(v)
const level = (l: string) => (l === 'high' ? red('HIGH') : l === 'medium' ? yellow('med ') : green('low '))

function render(e: PlanEstimate): void {
  if (e.skipped) {
    out(yellow(`SKIP  ${e.skipped}`))
    return
  }
  out(dim(`production sizes from ${e.production.source}; rehearsed at ${e.scales.map((s) => `${s.factor}× (${s.data.split(':')[0]})`).join(' and ')}`))
  out(dim(`model: ${e.model}`))
  for (const m of e.migrations) {
    out('')
    out(`${level(m.risk.level)}  ${bold(m.file)}  ~${ms(m.estimatedMs)} at production size${m.noTransaction ? dim(' [no-transaction]') : ''}  ${dim(`rehearsal: ${m.rehearsal.verdict}`)}`)
    for (const s of m.statements) {
      const shown = s.fit.kind === 'linear' || s.locks.length || s.estimatedMs >= 50
      if (!shown) continue
      const measured = s.measured.map((p) => `${ms(p.ms)} @ ${p.rows.toLocaleString('en-US')}`).join(', ')
      out(`      ${level(s.risk.level)} ${s.where.slice(s.where.lastIndexOf('/') + 1).padEnd(36)} ~${ms(s.estimatedMs).padStart(8)} @ ${s.productionRows.toLocaleString('en-US')} rows  ${dim(`(${s.fit.kind}; measured ${measured})`)}`)
      if (s.locks.length) out(`            ${s.risk.level === 'high' ? red(s.risk.text) : dim(s.risk.text)}`)
    }
    const hidden = m.statements.filter((s) => !(s.fit.kind === 'linear' || s.locks.length || s.estimatedMs >= 50)).length
    if (hidden) out(dim(`      and ${hidden} statement(s) under 50 ms that do not grow with the data and stop nobody (all in the JSON)`))
  }
  out('')
  out(e.ok ? green(bold('no statement is high risk at production size')) : red(bold(`${e.migrations.filter((m) => m.risk.level === 'high').length} migration(s) high risk at production size`)))
}

export const verb: Verb = {
  help: PLAN_HELP,
  options: { string: ['engine', 'dir', 'only', 'scales', 'seed', 'days', 'rows', 'size-from', 'reports', 'to', 'log-schema', 'log-table', 'lock-wait'], boolean: ['json', 'rehearse'] },
  run,
}
