/** Lint findings as text: for terminals, test output and the verify stage's details. */
import { ALLOW_FILE } from './allow.ts'
import { RULE_BY_ID, type LintFinding, type LintResult } from './rules.ts'

/** `file:line:column  severity  rule  message` plus the fix (or the allow reason). */
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

/**
 * GitHub Actions workflow commands (`::error file=…,line=…,col=…,title=…::message`): each finding
 * not allowed becomes an annotation on the pull request's diff. `dir` is the files' directory
 * relative to the repository root. Escaping follows the runner's rules (%, CR, LF everywhere;
 * also ":" and "," in properties).
 */
export function formatGithubAnnotations(r: LintResult, dir: string): string {
  const data = (s: string) => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A')
  const prop = (s: string) => data(s).replace(/:/g, '%3A').replace(/,/g, '%2C')
  const prefix = dir === '' || dir === '.' ? '' : `${dir.replace(/\/+$/, '')}/`
  return r.findings
    .filter((f) => !f.allowed)
    .map((f) => `::${f.severity === 'error' ? 'error' : 'warning'} file=${prop(prefix + f.file)},line=${f.line},col=${f.column},title=${prop(`pgverify ${f.rule}`)}::${data(`${f.message}\nfix: ${f.fix}`)}`)
    .join('\n')
}
