/**
 * The verify report as JUnit XML, for CI test reporters (GitHub actions that annotate from
 * JUnit, GitLab's test report): one testsuite, one testcase per stage, one per linted file.
 * A failed stage carries its located error (file:line:col SQLSTATE message + snippet) so the
 * annotation says where to look; testcases get `file`/`line` attributes where known.
 */
import { isAbsolute, join, relative, sep } from 'node:path'
import { formatLocated } from '../runner/locate.ts'
import type { StageResult, VerifyReport } from '../verify/pipeline.ts'
import type { LintFinding, LintResult as LintSummary } from '../lint/lint.ts'

export type { LintFinding, LintResult as LintSummary } from '../lint/lint.ts'

export function lintOf(report: VerifyReport): LintSummary | undefined {
  const lint = report.lint
  return lint && Array.isArray(lint.findings) ? lint : undefined
}

/** A lint finding that fails the run: an error nobody explicitly allowed. */
export const isBlocking = (f: LintFinding): boolean => f.severity === 'error' && !f.allowed

/**
 * Text made safe for XML 1.0 and HTML: terminal colour codes removed, characters XML 1.0
 * forbids (C0 controls other than tab/LF/CR, lone surrogates, U+FFFE/U+FFFF) replaced by U+FFFD.
 */
export function cleanText(s: string): string {
  return String(s)
    .replace(/\x1b\[[0-9;?]*[ -/]*[@-~]/g, '')
    .replace(/[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]|[\ud800-\udfff]/gu, '\ufffd')
}

const XML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' }

/** Element text. */
export const xmlText = (s: string): string => cleanText(s).replace(/[&<>"']/g, (c) => XML_ESCAPES[c]!)

/** Attribute value: also keeps line breaks and tabs (a parser would turn them into spaces). */
const xmlAttr = (s: string): string =>
  xmlText(s).replace(/[\n\r\t]/g, (c) => (c === '\n' ? '&#10;' : c === '\r' ? '&#13;' : '&#9;'))

const attrs = (a: Record<string, string | number | undefined>): string =>
  Object.entries(a)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}="${xmlAttr(String(v))}"`)
    .join('')

const seconds = (ms: number): string => (Math.max(0, ms) / 1000).toFixed(3)

/** Where a migration file lives, relative to `root` when it is inside it (what annotations need). */
export function migrationPath(dir: string, file: string, root: string = process.cwd()): string {
  const full = isAbsolute(file) ? file : join(dir, file)
  const rel = relative(root, full)
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel.split(sep).join('/') : full
}

/** The body of a failed stage: its details, plus the located error and message if not already there. */
/** The annotation a CI shows first: where and what, when the failure has a location. */
function failureMessage(stage: StageResult): string {
  const l = stage.error?.located
  return l ? `${l.file}:${l.line}:${l.column}${l.sqlstate ? ` SQLSTATE ${l.sqlstate}` : ''}: ${l.message}` : stage.summary
}

export function failureText(stage: StageResult): string {
  const lines = [...stage.details]
  const located = stage.error?.located
  if (located) {
    const block = formatLocated(located)
    const head = block.split('\n')[0]!
    if (!lines.includes(head)) lines.unshift(...block.split('\n'))
  }
  const message = stage.error?.message
  if (message && !lines.some((l) => l.includes(message)) && !stage.summary.includes(message)) lines.push(message)
  return lines.join('\n')
}

export interface JunitOptions {
  /** File paths are shown relative to this directory (default: the current directory). */
  root?: string
}

export function renderJunit(report: VerifyReport, options: JunitOptions = {}): string {
  const root = options.root ?? process.cwd()
  const engine = report.engine
  const cases: string[] = []
  let failures = 0
  let skipped = 0

  for (const s of report.stages) {
    const located = s.error?.located
    const head = attrs({
      classname: `verify.${engine.name}`,
      name: s.title,
      time: seconds(s.durationMs),
      file: located ? migrationPath(report.dir, located.file, root) : undefined,
      line: located?.line,
    })
    if (s.verdict === 'failed') {
      failures++
      const type = s.error?.code ?? 'VERIFY_FAILED'
      cases.push(`    <testcase${head}>\n      <failure${attrs({ message: failureMessage(s), type })}>${xmlText(failureText(s))}</failure>\n    </testcase>`)
    } else if (s.verdict === 'skipped') {
      skipped++
      cases.push(`    <testcase${head}>\n      <skipped${attrs({ message: s.summary.replace(/^skipped:\s*/, '') })}/>\n    </testcase>`)
    } else {
      const out = [s.summary, ...s.details].join('\n')
      cases.push(`    <testcase${head}>\n      <system-out>${xmlText(out)}</system-out>\n    </testcase>`)
    }
  }

  const lint = lintOf(report)
  if (lint) {
    const byFile = new Map<string, LintFinding[]>()
    for (const f of lint.findings) byFile.set(f.file, [...(byFile.get(f.file) ?? []), f])
    for (const [file, findings] of [...byFile].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const sorted = [...findings].sort((a, b) => a.line - b.line || a.column - b.column)
      const blocking = sorted.filter(isBlocking)
      const line = (f: LintFinding) =>
        `${file}:${f.line}:${f.column} ${f.severity} ${f.rule}: ${f.message}` +
        (f.fix ? `\n  fix: ${f.fix}` : '') +
        (f.allowed ? `\n  allowed: ${f.allowed.reason}` : '')
      const head = attrs({ classname: 'lint', name: file, time: '0.000', file: migrationPath(report.dir, file, root), line: blocking[0]?.line })
      const rest = sorted.filter((f) => !isBlocking(f))
      const out = rest.length ? `\n      <system-out>${xmlText(rest.map(line).join('\n'))}</system-out>` : ''
      if (blocking.length) {
        failures++
        const first = blocking[0]!
        const message = `${blocking.length} lint error${blocking.length === 1 ? '' : 's'}: ${first.rule} at line ${first.line}${blocking.length > 1 ? ' …' : ''}`
        cases.push(`    <testcase${head}>\n      <failure${attrs({ message, type: first.rule })}>${xmlText(blocking.map(line).join('\n'))}</failure>${out}\n    </testcase>`)
      } else {
        cases.push(`    <testcase${head}>${out}\n    </testcase>`)
      }
    }
  }

  const properties = [
    ['engine', engine.name],
    ['engine.description', engine.description],
    ['postgres', engine.postgres],
    ['timescaledb', engine.timescaledb],
    ['timescaledb.license', engine.license],
    ...(engine.differences ?? []).map((d, i) => [`engine.difference.${i + 1}`, d]),
    ['migrations', migrationPath(report.dir, '.', root)],
    ...(lint ? [['lint', `${lint.errors} errors, ${lint.warnings} warnings, ${lint.allowed} allowed`]] : []),
  ].map(([name, value]) => `      <property${attrs({ name, value })}/>`)

  const totals = { tests: cases.length, failures, errors: 0, skipped, time: seconds(report.durationMs) }
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites${attrs({ name: 'pgverify', ...totals })}>`,
    `  <testsuite${attrs({ name: 'pgverify', ...totals, timestamp: report.startedAt.replace(/(\.\d+)?Z$/, '') })}>`,
    '    <properties>',
    ...properties,
    '    </properties>',
    ...cases,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n')
}
