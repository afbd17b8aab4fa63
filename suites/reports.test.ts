/**
 * The reports of a verify run, from hand-built VerifyReports (a passing one; a failing one
 * with a located error, a fingerprint diff, a skipped stage, lint findings and hostile text):
 * junit.xml is well-formed (xmllint) with the right counts and the location in the failure;
 * index.html, rendered by headless Chromium, shows the verdict and the location, never runs
 * a script from the data and loads nothing from the network; writeReports writes the three
 * files atomically with passwords masked.
 *
 * REPORTS_SCREENSHOT=/tmp/report.png also saves screenshots of the rendered pages (the passing
 * one as report-pass.png); REPORTS_KEEP=1 keeps the temporary directory with the rendered files.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { renderHtml } from '../harness/reports/verify-html.ts'
import { cleanText, renderJunit, type LintSummary } from '../harness/reports/verify-junit.ts'
import { writeReports } from '../harness/reports/write.ts'
import type { LocatedError } from '../harness/runner/locate.ts'
import { addSecret } from '../harness/util/redact.ts'
import type { VerifyReport } from '../harness/verify/pipeline.ts'
import { lintDirectory } from '../harness/lint/lint.ts'
import { chromiumPath, chromiumVersion, domText, layoutProblems, measureTables, renderToText, screenshot } from './support/chromium.ts'

type Report = VerifyReport & { lint?: LintSummary }

const ENGINE = { name: 'embedded', description: 'embedded PGlite (PostgreSQL 17.5, TimescaleDB 2.19.3 Apache)', postgres: '17.5', timescaledb: '2.19.3', license: 'apache' }
const DIR = path.resolve('migrations')

function passingReport(): Report {
  return {
    engine: ENGINE,
    dir: DIR,
    startedAt: '2025-06-01T10:32:05.123Z',
    durationMs: 8421,
    ok: true,
    stages: [
      { id: 'files', title: 'Read and check the migration files', verdict: 'passed', durationMs: 12, summary: '3 migrations, 3 with down files, manifest found', details: ['001_init.sql sha256 ab12'] },
      { id: 'replay', title: 'Replay all migrations from an empty database', verdict: 'passed', durationMs: 5210, summary: '3 migrations applied from empty in 5100 ms', details: ['001_init: 1200 ms, 14 statements'] },
      { id: 'second-up', title: 'A second up is a no-op', verdict: 'passed', durationMs: 320, summary: 'a second up applies nothing and changes nothing', details: [] },
    ],
  }
}

const LOCATED: LocatedError = {
  file: '002_hypertables.sql',
  line: 12,
  column: 5,
  statement: 3,
  sqlstate: '42P01',
  message: 'relation "app.sensor" does not exist',
  hint: 'The relation does not exist: an earlier migration must create it (check the order and the schema name).',
  text: "SELECT create_hypertable('app.sensor', 'ts');",
  snippet: [
    '  10 | -- readings',
    '  11 | SELECT',
    "> 12 |     create_hypertable('app.sensor', 'ts');",
    '     |     ^',
    '  13 | ',
  ],
}

const HOSTILE = `checks <script>document.title='pwned'</script> & "quotes" 'apos' \u0000\u001b[31mred\u001b[0m \ud800 done`

function failingReport(): Report {
  return {
    engine: ENGINE,
    dir: DIR,
    startedAt: '2025-06-01T10:40:00.000Z',
    durationMs: 65_400,
    ok: false,
    stages: [
      { id: 'files', title: 'Read and check the migration files', verdict: 'passed', durationMs: 9, summary: '3 migrations', details: ['001_init.sql sha256 ab12'] },
      {
        id: 'replay',
        title: 'Replay all migrations from an empty database',
        verdict: 'failed',
        durationMs: 2100,
        summary: '002_hypertables.sql failed',
        // What the pipeline puts there: formatLocated(located) split into lines.
        details: [`002_hypertables.sql:12:5: ERROR 42P01: ${LOCATED.message}`, ...LOCATED.snippet, `  hint: ${LOCATED.hint}`],
        error: { code: 'MIGRATION_FAILED', message: LOCATED.message, located: LOCATED },
      },
      {
        id: 'post-validation',
        title: 'Post-migration validation (manifest, hypertables, policies, log, orphans)',
        verdict: 'failed',
        durationMs: 410,
        summary: HOSTILE,
        details: ['ok   analyze: ANALYZE completed', 'FAIL hypertables: app.reading is not a hypertable <b>'],
      },
      {
        id: 'second-up',
        title: 'A second up is a no-op',
        verdict: 'failed',
        durationMs: 300,
        summary: 'second up was not a no-op: applied 0',
        details: ['+ index app.idx_new: CREATE INDEX idx_new ON app.t (a)', '- column app.t.b: integer', '~ column app.t.c: text → varchar(10)'],
      },
      { id: 'down-up', title: 'Down then up restores the schema', verdict: 'skipped', durationMs: 0, summary: 'skipped: needs stage "replay" to pass', details: [] },
    ],
    lint: {
      errors: 2,
      warnings: 1,
      allowed: 1,
      findings: [
        { rule: 'require-concurrent-index', severity: 'error', file: '002_hypertables.sql', line: 20, column: 1, message: 'CREATE INDEX locks writes on a big table', fix: 'use CREATE INDEX CONCURRENTLY in a --! no-transaction file', statement: 'CREATE INDEX i ON app.t (a)' },
        { rule: 'ban-drop-column', severity: 'error', file: '003_cleanup.sql', line: 4, column: 1, message: 'drops a column <still read>', fix: 'deprecate first', statement: 'ALTER TABLE app.t DROP COLUMN b', allowed: { reason: 'column unused since v2 & removed from the app' } },
        { rule: 'prefer-text', severity: 'warning', file: '003_cleanup.sql', line: 9, column: 14, message: 'varchar(10) limits length', fix: 'use text with a CHECK', statement: 'ALTER TABLE app.t ALTER c TYPE varchar(10)' },
      ],
    },
  }
}

const tmp = mkdtempSync(path.join(os.tmpdir(), 'pgverify-reports-'))
afterAll(() => process.env.REPORTS_KEEP || rmSync(tmp, { recursive: true, force: true }))

const attr = (xml: string, el: string, name: string) => xml.match(new RegExp(`<${el}\\b[^>]*\\s${name}="([^"]*)"`))?.[1]

function hasXmllint(): boolean {
  try {
    execFileSync('xmllint', ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

describe('junit.xml', () => {
  const xmllint = hasXmllint()
  if (!xmllint) console.log('junit.xml well-formedness not checked: xmllint is not installed (apt-get install -y libxml2-utils)')

  function wellFormed(xml: string, name: string): void {
    if (!xmllint) return
    const file = path.join(tmp, name)
    writeFileSync(file, xml)
    // Throws with xmllint's message when the document is not well-formed.
    execFileSync('xmllint', ['--noout', file], { stdio: 'pipe' })
  }

  it('a passing report: all testcases pass, properties carry the versions', () => {
    const xml = renderJunit(passingReport())
    wellFormed(xml, 'pass.xml')
    expect(attr(xml, 'testsuite', 'name')).toBe('pgverify')
    expect(attr(xml, 'testsuite', 'tests')).toBe('3')
    expect(attr(xml, 'testsuite', 'failures')).toBe('0')
    expect(attr(xml, 'testsuite', 'skipped')).toBe('0')
    expect(attr(xml, 'testsuite', 'time')).toBe('8.421')
    expect(attr(xml, 'testsuite', 'timestamp')).toBe('2025-06-01T10:32:05')
    expect(xml).toContain('<testcase classname="verify.embedded" name="Replay all migrations from an empty database" time="5.210"')
    expect(xml).toContain('<property name="postgres" value="17.5"/>')
    expect(xml).toContain('<property name="timescaledb" value="2.19.3"/>')
    expect(xml).toContain('<property name="engine" value="embedded"/>')
    expect(xml).not.toContain('<failure')
  })

  it('a failing report: counts, the located error in the failure, escaping, lint testcases', () => {
    const xml = renderJunit(failingReport(), { root: path.resolve('.') })
    wellFormed(xml, 'fail.xml')
    // 5 stages + 2 linted files; failed: 3 stages + 1 file with a non-allowed error.
    expect(attr(xml, 'testsuite', 'tests')).toBe('7')
    expect(attr(xml, 'testsuite', 'failures')).toBe('4')
    expect(attr(xml, 'testsuite', 'skipped')).toBe('1')
    expect(xml.match(/<testcase\b/g)).toHaveLength(7)
    expect(xml.match(/<failure\b/g)).toHaveLength(4)

    const replay = xml.slice(xml.indexOf('name="Replay all'), xml.indexOf('</testcase>', xml.indexOf('name="Replay all')))
    expect(replay).toContain('type="MIGRATION_FAILED"')
    expect(replay).toContain('message="002_hypertables.sql:12:5 SQLSTATE 42P01: relation &quot;app.sensor&quot; does not exist"')
    expect(replay).toContain('file="migrations/002_hypertables.sql" line="12"')
    expect(replay).toContain('002_hypertables.sql:12:5: ERROR 42P01: relation &quot;app.sensor&quot; does not exist')
    expect(replay).toContain('     |     ^')
    expect(replay).toContain('hint: The relation does not exist')

    expect(xml).toContain('type="VERIFY_FAILED"')
    expect(xml).toContain('<skipped message="needs stage &quot;replay&quot; to pass"/>')
    expect(xml).toContain('&lt;script&gt;document.title=&apos;pwned&apos;&lt;/script&gt; &amp; &quot;quotes&quot;')
    expect(xml).not.toContain('<script>')
    expect(xml).not.toMatch(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/)
    expect(xml).toContain('+ index app.idx_new')

    const lintCase = xml.slice(xml.indexOf('name="002_hypertables.sql"'))
    expect(lintCase).toMatch(/^name="002_hypertables.sql"[^>]*>\s*<failure message="1 lint error: require-concurrent-index at line 20" type="require-concurrent-index">002_hypertables.sql:20:1 error/)
    const cleanup = xml.slice(xml.indexOf('name="003_cleanup.sql"'), xml.indexOf('</testcase>', xml.indexOf('name="003_cleanup.sql"')))
    expect(cleanup).not.toContain('<failure')
    expect(cleanup).toContain('allowed: column unused since v2 &amp; removed from the app')
  })

  it('a stage error without a location still says what went wrong', () => {
    const r = passingReport()
    r.ok = false
    r.stages[2] = { ...r.stages[2]!, verdict: 'failed', summary: 'second up failed', details: [], error: { code: 'LOCK_TIMEOUT', message: 'another runner holds the lock' } }
    const xml = renderJunit(r)
    wellFormed(xml, 'nolocation.xml')
    expect(xml).toContain('<failure message="second up failed" type="LOCK_TIMEOUT">another runner holds the lock</failure>')
  })

  it('cleanText drops what XML 1.0 forbids and keeps the rest', () => {
    expect(cleanText('a\u0000b\u0008c\td\ne\rf\u001b[1;31mg\u001b[0m\ud83d\ude00\udc00\uffff')).toBe('a\ufffdb\ufffdc\td\ne\rfg\ud83d\ude00\ufffd\ufffd')
  })
})

describe('index.html (static)', () => {
  it('is self-contained, escaped, and marks the verdict', () => {
    const html = renderHtml(failingReport())
    expect(html).not.toMatch(/\s(src|href)\s*=\s*["']?\s*(https?:)?\/\//i)
    expect(html).not.toMatch(/@import|url\(/i)
    expect(html).toContain('&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt; &amp; &quot;quotes&quot;')
    expect(html.match(/<script\b/g)).toHaveLength(1) // the print helper, nothing from the data
    expect(html).toContain('Migration verification FAILED')
    expect(renderHtml(passingReport())).toContain('Migration verification passed')
    expect(html).not.toMatch(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/)
  })

  it('shows the depth of the proof, the changed-only scope and where each stage\'s time went', () => {
    const r = passingReport()
    r.stages[1] = { ...r.stages[1]!, breakdown: [{ label: '001_init', ms: 1200 }], counts: { migrationsApplied: 3, snapshots: 4 } }
    r.depth = { faultPoints: 174, propertyDatasets: 25, propertyRows: 1213, roundTripRestores: 3, roundTripRows: 2900, roundTripCompressedChunks: 4, roundTripBoundaryRows: 6, downUpSteps: 9, idempotentFiles: 9 }
    r.scope = { mode: 'changed', base: 'migrations/released.json', fullDepth: ['010_new'], replayedOnly: ['001_init'] }
    const html = renderHtml(r)
    expect(html).toContain('174 fault points, 25 property datasets (1213 rows), 3 restores of 2900 rows (4 compressed chunks, 6 boundary rows)')
    expect(html).toContain('full depth: 010_new; only replayed (migrations/released.json): 001_init')
    expect(html).toMatch(/Where the time went[\s\S]*<td>replay<\/td>[\s\S]*001_init 1\.2 s[\s\S]*migrationsApplied 3, snapshots 4/)
  })
})

const chromium = chromiumPath()
if (!chromium) console.warn('[suites] index.html not rendered: chromium is not installed (apt-get install -y chromium, or set CHROMIUM_PATH)')

describe.skipIf(!chromium)('index.html in headless Chromium', () => {
  const pages: Record<'pass' | 'fail', { file: string; dom: string; ms: number }> = {} as never

  beforeAll(async () => {
    console.log(`chromium: ${await chromiumVersion()}`)
    for (const [key, report] of [['pass', passingReport()], ['fail', failingReport()]] as const) {
      const file = path.join(tmp, `${key}.html`)
      writeFileSync(file, renderHtml(report))
      const t0 = Date.now()
      const dom = await renderToText(file, { timeoutMs: 60_000 })
      pages[key] = { file, dom, ms: Date.now() - t0 }
      console.log(`rendered ${key}.html in ${pages[key].ms} ms`)
    }
    if (process.env.REPORTS_SCREENSHOT) {
      await screenshot(pages.fail.file, process.env.REPORTS_SCREENSHOT, { width: 1280, height: 2400 })
      await screenshot(pages.pass.file, process.env.REPORTS_SCREENSHOT.replace(/\.png$/, '-pass.png'), { width: 1280, height: 900 })
    }
  })

  it('the passing report reads "passed"', () => {
    const text = domText(pages.pass.dom)
    expect(text).toContain('Migration verification passed')
    expect(text).toContain('PostgreSQL 17.5')
    expect(text).toContain('TimescaleDB 2.19.3 (apache)')
    expect(text).not.toContain('FAILED')
  })

  it('the failing report reads "FAILED" with file:line:column, SQLSTATE, snippet, hint, diff, lint', () => {
    const text = domText(pages.fail.dom)
    expect(text).toContain('Migration verification FAILED')
    expect(text).toContain('002_hypertables.sql:12:5')
    expect(text).toContain('SQLSTATE 42P01')
    expect(text).toContain('relation "app.sensor" does not exist')
    expect(pages.fail.dom).toContain("&gt; 12 |     create_hypertable('app.sensor', 'ts');")
    expect(pages.fail.dom).toContain('     |     ^')
    expect(text).toContain('What to do: The relation does not exist')
    expect(text).toContain('Fingerprint differences')
    expect(pages.fail.dom).toMatch(/<span class="add">\+ index app\.idx_new/)
    expect(pages.fail.dom).toMatch(/<span class="del">- column app\.t\.b/)
    expect(pages.fail.dom).toMatch(/<span class="chg">~ column app\.t\.c: text → varchar\(10\)/)
    expect(text).toContain('skipped: needs stage "replay" to pass')
    expect(text).toContain('require-concurrent-index')
    expect(text).toContain('column unused since v2 & removed from the app')
    // The findings to act on first; the accepted one folded away after them, with its reason.
    const dom = pages.fail.dom
    const details = dom.indexOf('<details>')
    expect(details).toBeGreaterThan(dom.indexOf('require-concurrent-index'))
    expect(dom.indexOf('column unused since v2')).toBeGreaterThan(details)
    expect(dom.slice(details)).toMatch(/^<details><summary>1 finding accepted in the allow-list, with the reasons<\/summary>/)
  })

  it('every table fits a 1280 px window, the Fix column included (the real findings of MS5.0 and the ten-defect set)', async () => {
    const [ours, ten] = await Promise.all([lintDirectory(path.resolve('migrations')), lintDirectory(path.resolve('fixtures/ten-defects'))])
    const r = failingReport()
    r.lint = { ...ten, findings: [...ten.findings, ...ours.findings] }
    const file = path.join(tmp, 'findings.html')
    writeFileSync(file, renderHtml(r))
    const layout = await measureTables(file, 1280, { timeoutMs: 60_000 })
    expect(layout.tables.length).toBeGreaterThanOrEqual(2)
    expect(layout.tables.flatMap((t) => t.columns.map((c) => c.header))).toContain('Fix')
    expect(layoutProblems(layout)).toEqual([])
  })

  it('data is shown, never executed, and nothing is loaded from the network', () => {
    const dom = pages.fail.dom
    const title = dom.match(/<title>([\s\S]*?)<\/title>/)?.[1]
    expect(title).toMatch(/^pgverify FAILED/)
    expect(title).not.toBe('pwned')
    expect(domText(dom)).toContain(`checks <script>document.title='pwned'</script> & "quotes"`)
    expect(dom).not.toMatch(/\s(src|href)\s*=\s*["']?\s*(https?:)?\/\//i)
  })
})

describe('writeReports', () => {
  it('writes durations as whole milliseconds and times as ISO 8601 in UTC', async () => {
    const r = failingReport()
    r.durationMs = 65_400.73
    r.stages[0]!.durationMs = 12.4999
    const dir = path.join(tmp, 'json-units')
    const json = JSON.parse(readFileSync((await writeReports(r, dir)).json, 'utf8')) as Report
    expect(json.durationMs).toBe(65_401)
    expect(json.stages[0]!.durationMs).toBe(12)
    expect(json.startedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/)
  })

  it('writes verify.json, junit.xml and index.html with the password masked and no temp files left', async () => {
    addSecret('s3cr3t-pw')
    addSecret(`p<w&"d'x`) // changes spelling under every escaping: masked before rendering
    const r = failingReport()
    r.stages[0]!.summary = 'connected with s3cr3t-pw to postgres://verify:s3cr3t-pw@db.internal:5432/app'
    r.stages[2]!.details.push(`password p<w&"d'x rejected`)
    r.engine = { ...r.engine, description: 'url postgres://admin:hunter22@db:5432/x' }
    const dir = path.join(tmp, 'out', 'nested')
    const paths = await writeReports(r, dir)
    expect(paths).toEqual({ json: path.join(dir, 'verify.json'), junit: path.join(dir, 'junit.xml'), html: path.join(dir, 'index.html') })
    expect(readdirSync(dir).sort()).toEqual(['index.html', 'junit.xml', 'verify.json'])
    for (const f of Object.values(paths)) {
      const text = readFileSync(f, 'utf8')
      expect(text, f).not.toContain('s3cr3t-pw')
      expect(text, f).not.toContain('hunter22')
      expect(text, f).not.toMatch(/p(<|&lt;)w/)
      expect(text, f).toContain('***')
    }
    const json = JSON.parse(readFileSync(paths.json, 'utf8')) as Report
    expect(json.stages[1]!.error!.located!.line).toBe(12)
    expect(json.lint!.errors).toBe(2)
    expect(readFileSync(paths.html, 'utf8')).toContain('Migration verification FAILED')
    if (hasXmllint()) execFileSync('xmllint', ['--noout', paths.junit], { stdio: 'pipe' })

    // A second write replaces the files in place.
    await writeReports(passingReport(), dir)
    expect(readdirSync(dir).sort()).toEqual(['index.html', 'junit.xml', 'verify.json'])
    expect(readFileSync(paths.html, 'utf8')).toContain('Migration verification passed')
    expect(existsSync(path.join(dir, 'verify.json'))).toBe(true)
  })
})
