/**
 * `pgverify lint [DIR]`: the static lint alone, without a database or an engine: the rules
 * verify's lint stage runs, over the same discovery, in milliseconds. Formats for people
 * (human), for scripts (--json), for GitHub code scanning (SARIF 2.1.0) and for workflow
 * annotations on a pull request (github).
 */
import path from 'node:path'
import { HarnessError } from '../errors.ts'
import { readAllowFile } from '../lint/allow.ts'
import { formatFinding, lintDirectory, type LintResult } from '../lint/lint.ts'
import { formatGithubAnnotations } from '../lint/render.ts'
import { toSarif } from '../lint/sarif.ts'
import { checkMigrationsDir } from './checks.ts'
import { EXIT } from './exit-codes.ts'
import { bold, dim, green, json, out, red, yellow } from './output.ts'
import { didYouMean } from './parse.ts'
import { version } from './version.ts'
import { flag, type Args, type Verb, type VerbContext } from './verb.ts'

export const LINT_HELP = `Usage: pgverify lint [DIR] [options]

Lints the migration files of DIR (default: --dir, else pgverify.config.json "migrations", else
migrations) with the rules of \`pgverify verify\`'s lint stage, over PostgreSQL's own parser: no
database, no engine. Every file is read and every problem reported in one run. Findings accepted
in DIR/lint-allow.json (or pgverify.config.json "lint.allowFile") do not count.

Options:
  --dir DIR           the migrations directory (same as DIR)
  --format FORMAT     human (default) | json | sarif (SARIF 2.1.0, for GitHub code scanning) |
                      github (workflow annotations: ::error file=…,line=…::…)
  --json              same as --format json
  -h, --help          this help

In a GitHub workflow:
  pgverify lint --format sarif > lint.sarif    # then github/codeql-action/upload-sarif
  pgverify lint --format github                # annotations on the pull request

Exit codes: 0 no error (warnings allowed) · 1 lint errors · 2 usage (DIR is not a directory) ·
3 the directory is missing or has no .sql file`

const FORMATS = ['human', 'json', 'sarif', 'github'] as const
type Format = (typeof FORMATS)[number]

/** The directory as the repository sees it (relative to the working directory, forward slashes). */
const relative = (dir: string) => path.relative(process.cwd(), dir).split(path.sep).join('/') || '.'

export async function lint(argv: Args, { config }: VerbContext): Promise<number> {
  const given = argv._[0] ?? flag(argv, 'dir')
  if (argv._[0] !== undefined && argv.dir !== undefined) throw new HarnessError('USAGE', 'the directory is given twice (DIR and --dir)', { hint: 'Give one of them.' })
  const format = (argv.json ? 'json' : (flag(argv, 'format') ?? 'human')) as Format
  if (!FORMATS.includes(format)) throw new HarnessError('USAGE', `--format ${format}: unknown format${didYouMean(format, FORMATS)}`, { hint: `Formats: ${FORMATS.join(', ')}.` })
  const dir = path.resolve(given ?? config.dir)
  await checkMigrationsDir(dir)
  const allow = config.lint.allowFile ? await readAllowFile(config.lint.allowFile) : undefined
  const result = await lintDirectory(dir, allow ? { allow } : {})
  if (format === 'json') json({ ok: result.errors === 0, dir, ...result })
  else if (format === 'sarif') json(toSarif(result, { version: version(), dir: relative(dir) }))
  else if (format === 'github') {
    const text = formatGithubAnnotations(result, relative(dir))
    if (text) out(text)
  } else render(result, dir)
  return result.errors > 0 ? EXIT.FAILED : EXIT.OK
}

function render(r: LintResult, dir: string): void {
  // Real findings first, the accepted ones after them (dimmed): what needs doing is on top.
  const real = r.findings.filter((f) => !f.allowed)
  const allowed = r.findings.filter((f) => f.allowed)
  for (const f of real) {
    const [head, ...rest] = formatFinding(f).split('\n')
    out(f.severity === 'error' ? red(head!) : yellow(head!))
    for (const l of rest) out(dim(l))
  }
  for (const f of allowed) out(dim(formatFinding(f)))
  const summary = `${relative(dir)}: ${r.errors} error${r.errors === 1 ? '' : 's'}, ${r.warnings} warning${r.warnings === 1 ? '' : 's'}, ${r.allowed} allowed`
  out(r.errors ? red(bold(summary)) : green(bold(summary)))
}

export const verb: Verb = { help: LINT_HELP, options: { string: ['dir', 'format'], boolean: ['json'], positionals: 1 }, run: lint }
