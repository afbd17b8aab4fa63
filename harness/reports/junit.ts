/**
 * The JUnit core of the reports, for CI test reporters (GitHub actions that annotate from JUnit,
 * GitLab's test report): one testsuite, one testcase per step. A failed step carries its located
 * error (file:line:col SQLSTATE message + snippet) so the annotation says where to look;
 * testcases get `file`/`line` attributes where known. A step that hit a bug (INTERNAL) is an
 * <error>, not a <failure>.
 */
import { isAbsolute, join, relative, sep } from 'node:path'
import { formatLocated, type LocatedError } from '../runner/locate.ts'
import type { Location, StepResult } from '../steps/step.ts'
import { xmlAttr, xmlText } from './text.ts'

/** XML attributes, each escaped; undefined ones left out. */
export const attrs = (a: Record<string, string | number | undefined>): string =>
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

type JunitStep = StepResult<Location>

/** A location with the source around it (runner/locate.ts), not just a position. */
const withSnippet = (l: Location | undefined): l is LocatedError => !!l && Array.isArray((l as Partial<LocatedError>).snippet)

/** The annotation a CI shows first: where and what, when the failure has a location. */
function failureMessage(step: JunitStep): string {
  const l = step.error?.located
  return l ? `${l.file}:${l.line}:${l.column}${l.sqlstate ? ` SQLSTATE ${l.sqlstate}` : ''}: ${l.message}` : step.summary
}

/** The body of a failed step: its details, plus the located error and message if not already there. */
export function failureText(step: JunitStep): string {
  const lines = [...step.details]
  const located = step.error?.located
  if (withSnippet(located)) {
    const block = formatLocated(located)
    const head = block.split('\n')[0]!
    if (!lines.includes(head)) lines.unshift(...block.split('\n'))
  }
  const message = step.error?.message
  if (message && !lines.some((l) => l.includes(message)) && !step.summary.includes(message)) lines.push(message)
  return lines.join('\n')
}

export interface JunitCase {
  xml: string
  failure?: boolean
  error?: boolean
  skipped?: boolean
}

/** A testcase from its attributes and inner XML (already escaped). */
export function junitCase(head: Record<string, string | number | undefined>, inner: string, kind: Omit<JunitCase, 'xml'> = {}): JunitCase {
  return { xml: `    <testcase${attrs(head)}>${inner}\n    </testcase>`, ...kind }
}

/** One step as a testcase: failed → <failure> (INTERNAL → <error>), skipped/planned → <skipped>, passed → its evidence. */
export function stepCase(step: JunitStep, o: { classname: string; file?: (located: Location) => string; failureType?: string }): JunitCase {
  const located = step.error?.located
  const head = { classname: o.classname, name: step.title, time: seconds(step.durationMs), file: located && o.file ? o.file(located) : undefined, line: located?.line }
  if (step.verdict === 'failed') {
    const internal = step.error?.code === 'INTERNAL'
    const tag = internal ? 'error' : 'failure'
    return junitCase(head, `\n      <${tag}${attrs({ message: failureMessage(step), type: step.error?.code ?? o.failureType ?? 'FAILED' })}>${xmlText(failureText(step))}</${tag}>`, internal ? { error: true } : { failure: true })
  }
  if (step.verdict === 'skipped' || step.verdict === 'planned') return junitCase(head, `\n      <skipped${attrs({ message: step.summary.replace(/^skipped:\s*/, '') })}/>`, { skipped: true })
  return junitCase(head, `\n      <system-out>${xmlText([step.summary, ...step.details].join('\n'))}</system-out>`)
}

/** The document: one testsuite with its properties and cases, and the totals CI reporters read. */
export function junitDocument(o: { name: string; timestamp: string; durationMs: number; properties: [string, string | undefined][]; cases: JunitCase[] }): string {
  const totals = {
    tests: o.cases.length,
    failures: o.cases.filter((c) => c.failure).length,
    errors: o.cases.filter((c) => c.error).length,
    skipped: o.cases.filter((c) => c.skipped).length,
    time: seconds(o.durationMs),
  }
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites${attrs({ name: o.name, ...totals })}>`,
    `  <testsuite${attrs({ name: o.name, ...totals, timestamp: o.timestamp.replace(/(\.\d+)?Z$/, '') })}>`,
    '    <properties>',
    ...o.properties.map(([name, value]) => `      <property${attrs({ name, value })}/>`),
    '    </properties>',
    ...o.cases.map((c) => c.xml),
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n')
}
