/**
 * The verify report as JUnit XML (junit.xml): one testcase per stage (the JUnit core, junit.ts),
 * and one per linted file, failing when the file has a blocking lint error.
 */
import type { LintFinding, LintResult as LintSummary } from '../lint/lint.ts'
import type { VerifyReport } from '../verify/stage.ts'
import { attrs, junitCase, junitDocument, migrationPath, stepCase, type JunitCase } from './junit.ts'
import { xmlText } from './text.ts'

export type { LintFinding, LintResult as LintSummary } from '../lint/lint.ts'
export { cleanText } from './text.ts'

export function lintOf(report: VerifyReport): LintSummary | undefined {
  const lint = report.lint
  return lint && Array.isArray(lint.findings) ? lint : undefined
}

/** A lint finding that fails the run: an error nobody explicitly allowed. */
export const isBlocking = (f: LintFinding): boolean => f.severity === 'error' && !f.allowed

export interface JunitOptions {
  /** File paths are shown relative to this directory (default: the current directory). */
  root?: string
}

function lintCases(report: VerifyReport, lint: LintSummary, root: string): JunitCase[] {
  const byFile = new Map<string, LintFinding[]>()
  for (const f of lint.findings) byFile.set(f.file, [...(byFile.get(f.file) ?? []), f])
  const cases: JunitCase[] = []
  for (const [file, findings] of [...byFile].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const sorted = [...findings].sort((a, b) => a.line - b.line || a.column - b.column)
    const blocking = sorted.filter(isBlocking)
    const line = (f: LintFinding) => `${file}:${f.line}:${f.column} ${f.severity} ${f.rule}: ${f.message}` + (f.fix ? `\n  fix: ${f.fix}` : '') + (f.allowed ? `\n  allowed: ${f.allowed.reason}` : '')
    const head = { classname: 'lint', name: file, time: '0.000', file: migrationPath(report.dir, file, root), line: blocking[0]?.line }
    const rest = sorted.filter((f) => !isBlocking(f))
    const out = rest.length ? `\n      <system-out>${xmlText(rest.map(line).join('\n'))}</system-out>` : ''
    if (blocking.length) {
      const first = blocking[0]!
      const message = `${blocking.length} lint error${blocking.length === 1 ? '' : 's'}: ${first.rule} at line ${first.line}${blocking.length > 1 ? ' …' : ''}`
      cases.push(junitCase(head, `\n      <failure${attrs({ message, type: first.rule })}>${xmlText(blocking.map(line).join('\n'))}</failure>${out}`, { failure: true }))
    } else {
      cases.push(junitCase(head, out))
    }
  }
  return cases
}

export function renderJunit(report: VerifyReport, options: JunitOptions = {}): string {
  const root = options.root ?? process.cwd()
  const engine = report.engine
  const lint = lintOf(report)
  const cases = report.stages.map((s) => stepCase(s, { classname: `verify.${engine.name}`, file: (l) => migrationPath(report.dir, l.file, root), failureType: 'VERIFY_FAILED' }))
  if (lint) cases.push(...lintCases(report, lint, root))
  return junitDocument({
    name: 'pgverify',
    timestamp: report.startedAt,
    durationMs: report.durationMs,
    properties: [
      ['engine', engine.name],
      ['engine.description', engine.description],
      ['postgres', engine.postgres],
      ['timescaledb', engine.timescaledb],
      ['timescaledb.license', engine.license],
      ...(engine.differences ?? []).map((d, i): [string, string] => [`engine.difference.${i + 1}`, d]),
      ['migrations', migrationPath(report.dir, '.', root)],
      ...(lint ? [['lint', `${lint.errors} errors, ${lint.warnings} warnings, ${lint.allowed} allowed`] as [string, string]] : []),
    ],
    cases,
  })
}
