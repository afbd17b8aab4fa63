/**
 * Static lint of a migrations directory: no database, only the files and PostgreSQL's own parser.
 *
 * `lintMigrations` lints what FileMigrationProvider already read; `lintDirectory` reads the
 * directory through the same discovery (runner/discover.ts) and never stops at the first problem:
 * every file problem discovery reports becomes a `parse` finding, and every file that could be
 * read is linted. Up files are linted in version order with what earlier up files created
 * (tables, hypertables, indexes, views, functions, extensions); down files get only the rules
 * that decide whether they can run at all (RULES[].scope === 'all').
 *
 * Like the runner, it returns results and never throws for findings; the only throws are a
 * missing directory and an invalid allow-list (HarnessError).
 */
import { loadManifest, type Requirements } from '../manifest/manifest.ts'
import { discover, type DiscoveredFile } from '../runner/discover.ts'
import type { Diagnostic, Migration, MigrationScript } from '../sql/migration.ts'
import { applyAllowList, loadAllowList, type AllowEntry } from './allow.ts'
import { lintFile } from './file.ts'
import { collectHypertables, SetKnowledge, type LintInput } from './knowledge.ts'
import type { LintFinding, LintResult } from './rules.ts'

export type { AllowEntry } from './allow.ts'
export { loadAllowList } from './allow.ts'
export { RULES, type LintFinding, type LintResult, type Rule, type Severity } from './rules.ts'
export { formatFinding, formatLintResult, formatRules } from './render.ts'

export interface LintOptions {
  allow?: AllowEntry[]
  /** What the manifest requires (its extensions count as created). */
  requirements?: Requirements
}

/** One file to lint, with the findings discovery already has for it. */
interface Entry {
  input?: LintInput
  pre: LintFinding[]
}

const toInput = (s: MigrationScript, kind: 'up' | 'down'): LintInput => ({ file: s.file, sql: s.sql, statements: s.statements, noTransaction: s.noTransaction, kind, syntaxErrors: s.syntaxErrors, unterminated: s.unterminated })

export function lintMigrations(migrations: Migration[], options: LintOptions = {}): LintResult {
  const entries: Entry[] = []
  for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
    entries.push({ input: toInput(m.up, 'up'), pre: [] })
    if (m.down) entries.push({ input: toInput(m.down, 'down'), pre: [] })
  }
  return run(entries, options)
}

/** Statement-level refusals: the rules report them, located at the token. */
const COVERED_BY_RULES = new Set(['MIGRATION_TRANSACTION_CONTROL', 'MIGRATION_NEEDS_NO_TRANSACTION', 'MIGRATION_SYNTAX'])

const DIRECTORY_LEVEL = new Set(['MIGRATION_BAD_NAME', 'MIGRATION_ORPHAN_DOWN', 'MIGRATION_DUPLICATE', 'MIGRATION_GAP'])

/** A discovery diagnostic as a `parse` finding (the message without the path it starts with). */
function parseFinding(d: Diagnostic): LintFinding {
  const message = d.message.replace(/^\S*?: /, '')
  return { rule: 'parse', severity: 'error', file: d.file ?? '', line: d.line ?? 1, column: d.column ?? 1, message, fix: d.hint, statement: typeof d.details?.text === 'string' ? d.details.text : '' }
}

/** Reads `dir` through discovery (see the module comment); the allow-list defaults to `<dir>/lint-allow.json`. */
export async function lintDirectory(dir: string, options: LintOptions = {}): Promise<LintResult> {
  const d = await discover(dir)
  const allow = options.allow ?? (await loadAllowList(d.dir))
  const requirements = options.requirements ?? (await loadManifest(d.dir).catch(() => undefined))?.requirements
  const diagnostics = d.diagnostics.filter((x) => !COVERED_BY_RULES.has(x.code))
  const forFile = (f: DiscoveredFile) => diagnostics.filter((x) => x.file === f.file && !DIRECTORY_LEVEL.has(x.code)).map(parseFinding)
  // Names and orphans first; then per number: a duplicate or a gap, then its files.
  const entries: Entry[] = [{ pre: [...diagnostics.filter((x) => x.code === 'MIGRATION_BAD_NAME'), ...diagnostics.filter((x) => x.code === 'MIGRATION_ORPHAN_DOWN')].map(parseFinding) }]
  const versions = [...new Set(d.files.map((f) => f.version))]
  for (const v of versions) {
    for (const x of diagnostics.filter((y) => y.version === v && (y.code === 'MIGRATION_DUPLICATE' || y.code === 'MIGRATION_GAP'))) entries.push({ pre: [parseFinding(x)] })
    for (const f of d.files.filter((y) => y.version === v)) entries.push({ input: f.script ? toInput(f.script, f.kind) : undefined, pre: forFile(f) })
  }
  return run(entries, { ...options, allow, requirements })
}

function run(entries: Entry[], options: LintOptions): LintResult {
  const inputs = entries.flatMap((e) => (e.input ? [e.input] : []))
  const knowledge = new SetKnowledge(collectHypertables(inputs), Object.keys(options.requirements?.extensions ?? {}))
  const findings: LintFinding[] = []
  for (const e of entries) {
    if (!e.input) {
      findings.push(...e.pre)
      continue
    }
    const own = [...e.pre]
    lintFile(e.input, knowledge, (f) => own.push(f))
    // In file order (missing-lock-timeout is decided at the end of the file); stable for ties.
    findings.push(...own.sort((a, b) => a.line - b.line || a.column - b.column))
  }
  const all = applyAllowList(findings, options.allow ?? [])
  return {
    findings: all,
    errors: all.filter((f) => !f.allowed && f.severity === 'error').length,
    warnings: all.filter((f) => !f.allowed && f.severity === 'warning').length,
    allowed: all.filter((f) => f.allowed).length,
  }
}
