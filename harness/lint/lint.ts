/**
 * Static lint of a migrations directory: no database, only the files.
 *
 * `lintMigrations` lints what FileMigrationProvider already parsed; `lintDirectory` reads the
 * files itself and never stops at the first problem (a file the provider would refuse becomes a
 * `parse` finding and the other files are still linted). Up files are linted in version order
 * with what earlier up files created (tables, hypertables); down files get only the rules that
 * decide whether they can run at all (RULES[].scope === 'all').
 *
 * Like the runner, it returns results and never throws for findings; the only throws are a
 * missing directory and an invalid allow-list (HarnessError).
 */
import { readdir, readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { HarnessError } from '../errors.ts'
import type { Migration, MigrationScript } from '../sql/migration.ts'
import { lineColumnAt, splitStatements, type Statement } from '../sql/split.ts'
import { ALLOW_FILE, applyAllowList, loadAllowList, type AllowEntry } from './allow.ts'
import { collectHypertables, lintFile, RULE_BY_ID, sameTable, type LintFinding, type LintInput, type TableRef } from './rules.ts'

export type { AllowEntry } from './allow.ts'
export { loadAllowList } from './allow.ts'
export { RULES, type LintFinding, type Rule, type Severity } from './rules.ts'

export interface LintResult {
  findings: LintFinding[]
  /** Errors not covered by the allow-list. */
  errors: number
  /** Warnings not covered by the allow-list (including unused allow entries). */
  warnings: number
  /** Findings covered by the allow-list. */
  allowed: number
}

export interface LintOptions {
  allow?: AllowEntry[]
}

/** One file to lint, with what was already found while reading it. */
interface Entry {
  input?: LintInput
  pre: LintFinding[]
}

const toInput = (s: MigrationScript, kind: 'up' | 'down'): LintInput => ({ file: s.file, sql: s.sql, statements: s.statements, noTransaction: s.noTransaction, kind })

export function lintMigrations(migrations: Migration[], options: LintOptions = {}): LintResult {
  const entries: Entry[] = []
  for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
    entries.push({ input: toInput(m.up, 'up'), pre: [] })
    if (m.down) entries.push({ input: toInput(m.down, 'down'), pre: [] })
  }
  return run(entries, options.allow ?? [])
}

/** Reads `dir` itself (see the module comment); the allow-list defaults to `<dir>/lint-allow.json`. */
export async function lintDirectory(dir: string, options: LintOptions = {}): Promise<LintResult> {
  const root = resolve(dir)
  let names: string[]
  try {
    names = (await readdir(root)).filter((n) => n.endsWith('.sql')).sort()
  } catch (e) {
    throw new HarnessError('MIGRATIONS_DIR_NOT_FOUND', `migrations directory ${root} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, {
      hint: 'Pass the migrations directory (default: migrations/).',
      details: { dir: root },
    })
  }
  const allow = options.allow ?? (await loadAllowList(root))

  const ups = new Map<number, string[]>()
  const downs = new Map<number, string[]>()
  const early: LintFinding[] = []
  for (const name of names) {
    const m = FILE_RE.exec(name)
    if (!m) {
      early.push(parseFinding(name, 'not a migration file name (NNN_description.sql or NNN_description.down.sql): not linted', 'Rename it, e.g. 010_add_shift_table.sql.'))
      continue
    }
    const target = m[3] ? downs : ups
    const version = Number(m[1])
    target.set(version, [...(target.get(version) ?? []), name])
  }
  const entries: Entry[] = [{ pre: early }]
  const versions = [...ups.keys()].sort((a, b) => a - b)
  for (const [version, files] of downs) {
    for (const d of files) {
      const upName = d.replace(/\.down\.sql$/, '.sql')
      if (!ups.get(version)?.includes(upName)) entries[0]!.pre.push(parseFinding(d, `down file without a matching up file ${upName}: not linted`, 'Rename it to match its up migration, or delete it.'))
    }
  }
  for (const [i, version] of versions.entries()) {
    const files = ups.get(version)!
    if (files.length > 1) entries.push({ pre: [parseFinding(files[1]!, `two migrations with number ${String(version).padStart(3, '0')}: ${files.join(' and ')}`, 'Renumber one of them so every number is used once.')] })
    if (version !== i + 1 && (i === 0 || versions[i - 1] !== version - 1)) {
      const expected = i === 0 ? 1 : versions[i - 1]! + 1
      entries.push({ pre: [parseFinding(files[0]!, `migration ${String(expected).padStart(3, '0')} is missing before ${files[0]}`, 'Numbers must run 001, 002, … without gaps: add the missing migration or renumber.')] })
    }
    for (const up of files) {
      entries.push(await readEntry(root, up, 'up'))
      const down = up.replace(/\.sql$/, '.down.sql')
      if (downs.get(version)?.includes(down)) entries.push(await readEntry(root, down, 'down'))
    }
  }
  return run(entries, allow)
}

const FILE_RE = /^(\d{3,})_([A-Za-z0-9][A-Za-z0-9_-]*?)(\.down)?\.sql$/

function parseFinding(file: string, message: string, fix: string, line = 1, column = 1, statement = ''): LintFinding {
  return { rule: 'parse', severity: 'error', file, line, column, message, fix, statement }
}

/** Reads one file as discover.ts does, turning each refusal into a finding instead of a throw. */
async function readEntry(dir: string, file: string, kind: 'up' | 'down'): Promise<Entry> {
  let bytes: Buffer
  try {
    bytes = await readFile(resolve(dir, file))
  } catch (e) {
    return { pre: [parseFinding(file, `cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'Check the file permissions.')] }
  }
  let sql: string
  try {
    sql = new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    return { pre: [parseFinding(file, 'not valid UTF-8: not linted', 'Save the file as UTF-8 (e.g. `iconv -f LATIN1 -t UTF-8`).')] }
  }
  if (sql.charCodeAt(0) === 0xfeff) sql = sql.slice(1)
  const statements = splitStatements(sql)
  if (statements.length === 0) {
    return { pre: [parseFinding(file, 'contains no SQL statement', 'Delete the file, or put the migration in it (an intentionally empty step needs at least `SELECT 1;`).')] }
  }
  const { noTransaction, findings } = directives(file, sql, statements[0]!)
  return { input: { file, sql, statements, noTransaction, kind }, pre: findings }
}

/** `--! no-transaction` before the first statement; anything else that looks like a directive is a finding. */
function directives(file: string, sql: string, first: Statement): { noTransaction: boolean; findings: LintFinding[] } {
  const findings: LintFinding[] = []
  let noTransaction = false
  const re = /^--!\s*(\S*)(.*)$/gm
  for (let m = re.exec(sql); m; m = re.exec(sql)) {
    const { line } = lineColumnAt(sql, m.index)
    const name = m[1]!
    if (m.index > first.start) {
      findings.push(parseFinding(file, `directive \`--! ${name}\` after the first statement (ignored)`, 'Directives go at the top of the file, before any SQL.', line, 1, m[0]))
    } else if (name !== 'no-transaction' || m[2]!.trim() !== '') {
      findings.push(parseFinding(file, `unknown directive \`--! ${(name + m[2]).trim()}\``, 'Known directives: --! no-transaction. A plain comment starts with `-- `.', line, 1, m[0]))
    } else noTransaction = true
  }
  return { noTransaction, findings }
}

function run(entries: Entry[], allow: AllowEntry[]): LintResult {
  const inputs = entries.flatMap((e) => (e.input ? [e.input] : []))
  const hypertables = collectHypertables(inputs)
  /** Tables created by the up files linted so far, and by which file. */
  const tables: Array<{ table: TableRef; file: string }> = []
  const findings: LintFinding[] = []
  for (const e of entries) {
    if (!e.input) {
      findings.push(...e.pre)
      continue
    }
    const own = [...e.pre]
    const outcome = lintFile(e.input, { hypertables, createdIn: (t) => tables.find((x) => sameTable(x.table, t))?.file }, (f) => own.push(f))
    // In file order (missing-lock-timeout is decided at the end of the file); stable for ties.
    findings.push(...own.sort((a, b) => a.line - b.line || a.column - b.column))
    if (e.input.kind !== 'up') continue
    for (const d of outcome.dropped) {
      for (let i = tables.length - 1; i >= 0; i--) if (sameTable(tables[i]!.table, d)) tables.splice(i, 1)
    }
    for (const r of outcome.renamed) for (const t of tables) if (sameTable(t.table, r.from)) t.table = r.to
    for (const c of outcome.created) if (!tables.some((t) => sameTable(t.table, c))) tables.push({ table: c, file: e.input.file })
  }
  const all = applyAllowList(findings, allow)
  return {
    findings: all,
    errors: all.filter((f) => !f.allowed && f.severity === 'error').length,
    warnings: all.filter((f) => !f.allowed && f.severity === 'warning').length,
    allowed: all.filter((f) => f.allowed).length,
  }
}

/** `file:line:column  severity  rule  message` plus the fix (or the allow reason), for terminals and test output. */
export function formatFinding(f: LintFinding): string {
  const head = `${f.file}:${f.line}:${f.column}  ${f.allowed ? 'allowed' : f.severity}  ${f.rule}  ${f.message}`
  const tail = f.allowed ? `    reason: ${f.allowed.reason}` : `    fix: ${f.fix}`
  return f.statement ? `${head}\n    > ${f.statement}\n${tail}` : `${head}\n${tail}`
}

export function formatLintResult(r: LintResult, options: { showAllowed?: boolean } = {}): string {
  const shown = r.findings.filter((f) => options.showAllowed || !f.allowed)
  const summary = `${r.errors} error${r.errors === 1 ? '' : 's'}, ${r.warnings} warning${r.warnings === 1 ? '' : 's'}, ${r.allowed} allowed (${ALLOW_FILE})`
  return [...shown.map(formatFinding), summary].join('\n')
}

/** The rule table, for docs and reports. */
export function formatRules(): string {
  return [...RULE_BY_ID.values()].map((r) => `${r.id.padEnd(32)} ${r.severity.padEnd(8)} ${r.scope === 'up' ? 'up    ' : 'up+down'} ${r.description}`).join('\n')
}

