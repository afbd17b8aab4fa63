/**
 * `pnpm bench:lint`: our lint and Squawk (squawk-cli from npm, pinned in package.json) on the
 * same up files of several migration sets, with findings per rule, time, and precision:
 *   - true defect: a finding on a statement that really fails on a server (the sets' known
 *     failures: the ten-defect fixture, the broken fixtures), from a rule that is not about style;
 *   - advice: a finding on a statement that runs, about locks, timeouts, re-runs or data loss;
 *   - noise: a finding that is wrong for the statement (an error claim on a statement that runs;
 *     a "build it concurrently" on a table created in the same file, which has no rows and no
 *     writers yet), or a style preference (integer widths, identity columns) that says nothing
 *     about whether the migration runs safely.
 * Defects a tool does not report are counted as missed. Figures: reports/lint-squawk.json and .md.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { lintDirectory } from '../harness/lint/lint.ts'
import { loadParser, splitSql, type Statement } from '../harness/sql/split.ts'

const ROOT = path.resolve(import.meta.dirname, '..')
const SQUAWK = path.join(ROOT, 'node_modules/.bin/squawk')

/**
 * Statements that fail on a server (file, first line of the statement, what), per set, with the
 * rule ids of either tool whose finding describes that failure (a finding of another rule on the
 * same statement is advice or noise, not a found defect).
 */
type Failing = [file: string, line: number, what: string, rules: string[]]
const FAILING: Record<string, Failing[]> = {
  'migrations': [],
  'fixtures/plain-migrations': [],
  'fixtures/broken-runtime': [['002_value_range.sql', 6, 'CHECK violated by an existing row (23514)', ['constraint-not-valid', 'constraint-missing-not-valid']]],
  'fixtures/broken-idempotency': [['002_first_sensor.sql', 5, 'plain INSERT: a second run violates the primary key (23505)', ['not-idempotent', 'prefer-robust-stmts']]],
  'fixtures/ten-defects': [
    ['002_sensor_name_index.sql', 2, 'CONCURRENTLY in a transaction (25001)', ['concurrently-in-transaction', 'ban-concurrent-index-creation-in-transaction']],
    ['003_shifts.sql', 1, 'syntax error (42601)', ['syntax-error']],
    ['004_unique_reading.sql', 3, 'unique index on a hypertable without its time column (TS103)', ['hypertable-unique-without-time']],
    ['005_reading_value_index.sql', 3, 'CONCURRENTLY on a hypertable (0A000)', ['concurrently-on-hypertable']],
    ['006_sensor_view.sql', 1, 'missing column (42703)', []],
    ['007_scores.sql', 1, 'wrong function signature (42883)', []],
    ['008_readings_view.sql', 2, 'view column change (42P16)', ['view-column-change']],
    ['009_latest_value.sql', 1, 'function return type change (42P13)', ['function-return-type-change']],
    ['010_recent_sensors.sql', 2, 'now() in an index predicate (42P17)', ['index-volatile-function']],
    ['011_slow_queries.sql', 1, 'pg_stat_statements never created (42P01)', ['extension-missing']],
  ],
}
const STYLE = new Set(['prefer-bigint-over-int', 'prefer-bigint-over-smallint', 'prefer-identity', 'prefer-text-field', 'prefer-timestamptz', 'require-table-schema'])
const ERROR_CLAIMS_SQUAWK = new Set(['syntax-error'])

interface Finding { tool: 'pgverify' | 'squawk'; file: string; line: number; rule: string; severity: string; message: string }
type Verdict = 'true defect' | 'advice' | 'noise'

function statementsOf(dir: string, file: string): Statement[] {
  return splitSql(readFileSync(path.join(dir, file), 'utf8')).statements
}

/** The statement a 1-based line falls in. */
function statementAt(stmts: Statement[], line: number): Statement | undefined {
  return stmts.find((s) => line >= s.line && line <= s.line + s.text.split('\n').length - 1)
}

/** An index built on a table the same file creates (no rows, no concurrent writers yet). */
function indexOnNewTable(stmts: Statement[], stmt: Statement): boolean {
  const on = /\bON\s+(?:ONLY\s+)?([\w."]+)/i.exec(stmt.code)
  if (!/^\s*CREATE\s+(UNIQUE\s+)?INDEX\b/i.test(stmt.code) || !on) return false
  const name = on[1]!.replace(/"/g, '').toLowerCase()
  return stmts.some((s) => s.index < stmt.index && new RegExp(`^\\s*CREATE\\s+(?:UNLOGGED\\s+)?TABLE\\s+(?:IF\\s+NOT\\s+EXISTS\\s+)?"?${name.replace(/\./g, '"?\\."?')}"?\\s*\\(`, 'i').test(s.code))
}

function classify(dir: string, f: Finding, failing: Failing[]): Verdict {
  const stmts = statementsOf(dir, f.file)
  const stmt = statementAt(stmts, f.line)
  const describes = !!stmt && failing.some(([file, line, , rules]) => file === f.file && line === stmt.line && rules.includes(f.rule))
  if (STYLE.has(f.rule)) return 'noise'
  if (describes) return 'true defect'
  if (f.tool === 'pgverify' && f.severity === 'error') return 'noise'
  if (f.tool === 'squawk' && ERROR_CLAIMS_SQUAWK.has(f.rule)) return 'noise'
  if (f.tool === 'squawk' && f.rule === 'require-concurrent-index-creation' && stmt && indexOnNewTable(stmts, stmt)) return 'noise'
  return 'advice'
}

async function main(): Promise<void> {
  await loadParser()
  const sets = Object.keys(FAILING)
  const report: Record<string, unknown> = { squawk: execFileSync(SQUAWK, ['--version']).toString().trim(), date: new Date().toISOString(), sets: {} }
  const md: string[] = ['| set | tool | findings | true defects | advice | noise | defects found / known | time (ms) |', '|---|---|---|---|---|---|---|---|']
  const perRule: Record<string, Record<string, Record<Verdict, number>>> = { pgverify: {}, squawk: {} }
  for (const set of sets) {
    const dir = path.join(ROOT, set)
    const ups = readdirSync(dir).filter((f) => f.endsWith('.sql') && !f.endsWith('.down.sql')).sort()
    // Ours (warm: the parser is loaded once per process; its load time is in reports/sql-split.json).
    let t = performance.now()
    const ours = await lintDirectory(dir)
    const oursMs = Math.round(performance.now() - t)
    const findings: Finding[] = ours.findings.filter((f) => ups.includes(f.file)).map((f) => ({ tool: 'pgverify', file: f.file, line: f.line, rule: f.rule, severity: f.allowed ? 'allowed' : f.severity, message: f.message }))
    t = performance.now()
    let out = ''
    try {
      out = execFileSync(SQUAWK, ['--pg-version', '15.0', '--reporter', 'json', ...ups.map((f) => path.join(dir, f))], { encoding: 'utf8' })
    } catch (e) {
      out = (e as { stdout?: string }).stdout ?? '[]'
    }
    const squawkMs = Math.round(performance.now() - t)
    for (const x of JSON.parse(out) as Array<{ file: string; line: number; rule_name: string; level: string; message: string }>) {
      findings.push({ tool: 'squawk', file: path.basename(x.file), line: x.line + 1, rule: x.rule_name, severity: x.level.toLowerCase(), message: x.message })
    }
    const failing = FAILING[set]!
    const bySet: Record<string, unknown> = {}
    for (const tool of ['pgverify', 'squawk'] as const) {
      const mine = findings.filter((f) => f.tool === tool).map((f) => ({ ...f, verdict: classify(dir, f, failing) }))
      const found = failing.filter(([file, line, , rules]) => mine.some((f) => f.verdict === 'true defect' && rules.includes(f.rule) && f.file === file && statementAt(statementsOf(dir, file), f.line)?.line === line))
      const count = (v: Verdict) => mine.filter((f) => f.verdict === v).length
      for (const f of mine) {
        const r = (perRule[tool]![f.rule] ??= { 'true defect': 0, advice: 0, noise: 0 })
        r[f.verdict]++
      }
      const ms = tool === 'pgverify' ? oursMs : squawkMs
      bySet[tool] = { findings: mine.length, trueDefects: count('true defect'), advice: count('advice'), noise: count('noise'), defectsFound: found.length, defectsKnown: failing.length, missed: failing.filter((d) => !found.includes(d)).map(([file, line, what]) => `${file}:${line} ${what}`), ms, list: mine.map((f) => `${f.file}:${f.line} ${f.rule} [${f.verdict}]`) }
      md.push(`| ${set} | ${tool} | ${mine.length} | ${count('true defect')} | ${count('advice')} | ${count('noise')} | ${found.length} / ${failing.length} | ${ms} |`)
    }
    ;(report.sets as Record<string, unknown>)[set] = bySet
  }
  report.perRule = perRule
  md.push('', '| tool | rule | true defect | advice | noise |', '|---|---|---|---|---|')
  for (const [tool, rules] of Object.entries(perRule)) for (const [rule, v] of Object.entries(rules).sort()) md.push(`| ${tool} | ${rule} | ${v['true defect']} | ${v.advice} | ${v.noise} |`)
  mkdirSync(path.join(ROOT, 'reports'), { recursive: true })
  writeFileSync(path.join(ROOT, 'reports/lint-squawk.json'), JSON.stringify(report, null, 2) + '\n')
  writeFileSync(path.join(ROOT, 'reports/lint-squawk.md'), md.join('\n') + '\n')
  process.stdout.write(md.join('\n') + '\n')
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('bench/lint-squawk.ts')) await main()
