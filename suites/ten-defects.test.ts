/**
 * Issue #11's "done when": a migration set with ten independent defects of different kinds
 * (fixtures/ten-defects: syntax, hypertable key, CONCURRENTLY in a transaction, CONCURRENTLY on a
 * hypertable, a missing column, a wrong function signature, a view column change, a function
 * return-type change, a non-IMMUTABLE index predicate, a missing extension) gets all of them
 * reported in one verify run, each at file:line with its lint rule id or its SQLSTATE, on every
 * engine present; the runner's verdict still says the set fails at its first failing file (002,
 * refused by the files stage), and errors that follow from an earlier failure are marked so.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { StartedEngine } from '../harness/engines/types.ts'
import { lintDirectory } from '../harness/lint/lint.ts'
import { runVerify, type StageResult } from '../harness/verify/pipeline.ts'
import { cli } from './support/cli.ts'
import { ROOT } from './support/dirs.ts'
import { availableEngines, useEngine } from './support/engines.ts'

const TEN = path.join(ROOT, 'fixtures/ten-defects')
const cases = await availableEngines()
const temp: string[] = []
afterAll(() => {
  for (const d of temp) rmSync(d, { recursive: true, force: true })
})

/** The static half: lint rule ids at file:line, without a database. */
const LINT = [
  '002_sensor_name_index.sql:2 concurrently-in-transaction',
  '003_shifts.sql:1 syntax-error',
  '004_unique_reading.sql:3 hypertable-unique-without-time',
  '005_reading_value_index.sql:3 concurrently-on-hypertable',
  '008_readings_view.sql:3 view-column-change',
  '009_latest_value.sql:2 function-return-type-change',
  '010_recent_sensors.sql:3 index-volatile-function',
  '011_slow_queries.sql:2 extension-missing',
]

/** The diagnostic replay: every statement that fails on its own, with its SQLSTATE. */
const REPLAY: Array<[string, RegExp]> = [
  ['002_sensor_name_index.sql:2', /^25001$/],
  ['003_shifts.sql:1', /^42601$/],
  ['004_unique_reading.sql:3', /^[0-9A-Z]{5}$/], // TimescaleDB's own code (TS103)
  ['005_reading_value_index.sql:3', /^[0-9A-Z]{5}$/], // TimescaleDB's refusal, or the engine's limit
  ['006_sensor_view.sql:2', /^42703$/],
  ['007_scores.sql:2', /^42883$/],
  ['008_readings_view.sql:3', /^42P16$/],
  ['009_latest_value.sql:1', /^42P13$/],
  ['010_recent_sensors.sql:2', /^42P17$/],
  ['011_slow_queries.sql:2', /^42P01$/],
]

interface Failure { at: string; sqlstate: string; message: string; followsFrom?: string }
function failures(s: StageResult): Failure[] {
  return s.details.flatMap((d) => {
    const m = /^(\S+\.sql):(\d+):\d+: ERROR ([0-9A-Z]{5}): (.*?)(?: {2}\(follows from (\S+)\))?$/.exec(d)
    return m ? [{ at: `${m[1]}:${m[2]}`, sqlstate: m[3]!, message: m[4]!, followsFrom: m[5] }] : []
  })
}

describe('the ten-defect set, statically', () => {
  it('lint reports the eight static defects as errors at file:line, without a database', async () => {
    const r = await lintDirectory(TEN)
    const errors = r.findings.filter((f) => f.severity === 'error').map((f) => `${f.file}:${f.line} ${f.rule}`)
    expect(errors).toEqual(LINT)
  })
})

describe.each(cases)('the ten-defect set on the $name engine', (c) => {
  const started = useEngine(c)
  let engine: StartedEngine
  beforeAll(() => {
    engine = started()
  })

  it('one verify run reports every defect; the verdict names the first failing file; follow-on errors are marked', { timeout: 300_000 }, async () => {
    const r = await runVerify(engine, { dir: TEN, skip: ['fault-injection', 'data-properties', 'backup-round-trip', 'load'] })
    const stage = (id: string) => r.stages.find((s) => s.id === id)!
    expect(r.ok).toBe(false)
    // The verdict: the runner's semantics refuse the set at its first failing file.
    expect(stage('files').verdict).toBe('failed')
    expect(stage('files').summary).toMatch(/^002_sensor_name_index\.sql:2:1: CONCURRENTLY cannot run inside a transaction block/)
    expect(stage('replay').summary).toBe('skipped: the migration files were refused')
    // Lint and the diagnostic replay, kept apart: every defect at file:line with a rule id or a SQLSTATE.
    expect(stage('lint').verdict).toBe('failed')
    const lint = stage('lint').details.join('\n')
    for (const l of LINT) {
      const [at, rule] = l.split(' ')
      expect(lint).toMatch(new RegExp(`^${at!.replace(/\./g, '\\.')}:\\d+  error  ${rule}  `, 'm'))
    }
    const diag = stage('diagnostic-replay')
    expect(diag.verdict, diag.summary).toBe('passed')
    const fs = failures(diag)
    const own = fs.filter((f) => !f.followsFrom)
    expect(own.map((f) => f.at), diag.details.join('\n')).toEqual(REPLAY.map(([at]) => at))
    for (const [at, sqlstate] of REPLAY) expect(own.find((f) => f.at === at)!.sqlstate, at).toMatch(sqlstate)
    expect(fs.filter((f) => f.followsFrom).map((f) => `${f.at} ${f.sqlstate} ← ${f.followsFrom!.replace(/:\d+$/, '')}`)).toEqual([
      '003_shifts.sql:2 42P01 ← 003_shifts.sql:1',
      '006_sensor_view.sql:3 42P01 ← 006_sensor_view.sql:2',
    ])
    expect(diag.summary).toMatch(/^12 of 23 statements failed in 10 files: 10 on their own, 2 following from an earlier failure/)
    console.log(`[ten-defects] ${engine.name}: ${diag.summary}`)
  })
})

describe('the command line', () => {
  it('one `pnpm verify --dir fixtures/ten-defects` run prints all ten defects and exits 1', { timeout: 600_000 }, async (ctx) => {
    if (cases.length === 0) ctx.skip()
    const reports = mkdtempSync(path.join(os.tmpdir(), 'pgverify-ten-'))
    temp.push(reports)
    const run = await cli(['verify', '--engine', cases[0]!.name, '--dir', TEN, '--reports', reports], {}, 500_000)
    expect(run.code, run.stderr).toBe(1)
    for (const l of LINT) expect(run.stdout).toContain(l.split(' ')[0]!.replace(/:(\d+)$/, ':$1:'))
    for (const [at] of REPLAY) expect(run.stdout).toMatch(new RegExp(`${at.replace(/\./g, '\\.')}:\\d+: ERROR [0-9A-Z]{5}: `))
    expect(run.stdout).toMatch(/002_sensor_name_index\.sql:2:1: CONCURRENTLY cannot run inside a transaction block/)
    const json = JSON.parse(readFileSync(path.join(reports, 'verify.json'), 'utf8')) as { ok: boolean; stages: StageResult[] }
    expect(json.ok).toBe(false)
    expect(json.stages.find((s) => s.id === 'diagnostic-replay')!.details.join('\n')).toMatch(/follows from 006_sensor_view\.sql:2:/)
  })
})
