/**
 * The same migrations get the same verdict on every TimescaleDB engine present
 * (support/engines.ts): embedded (PostgreSQL 17, WASM), native and container (PostgreSQL 15).
 *
 * Two deliberately broken sets under fixtures/ (a runtime error in file 2; a statement that is
 * not idempotent in file 2) must fail the same verify stage, with the same SQLSTATE at the same
 * file:line, and leave every other stage with the same verdict, on each engine; a last test
 * compares the engines' verdicts with each other. The slow stages (fault injection, data
 * properties, backup round trip) are left out with `skip`: they have suites of their own.
 *
 * Where engines legitimately differ, the difference must be reported, not hidden:
 * CREATE INDEX CONCURRENTLY (the plain fixture set) passes where the engine can build an index
 * outside a transaction and fails, named as the engine's limit, where it cannot; whether
 * background workers run is in the engine description every report carries.
 */
import path from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import type { StartedEngine } from '../harness/engines/types.ts'
import { runVerify, type StageResult, type VerifyReport } from '../harness/verify/pipeline.ts'
import { PLAIN, ROOT } from './support/dirs.ts'
import { availableEngines, skipWith, useEngine } from './support/engines.ts'

const cases = await availableEngines()
const SLOW = ['fault-injection', 'data-properties', 'backup-round-trip', 'load']
/** Stages with nothing to do on these small sets, and the reason they must give (neither set registers a job). */
const NOTHING_TO_DO: Record<string, RegExp> = { jobs: /^no migration registers a TimescaleDB job/ }

interface Broken {
  name: string
  dir: string
  /** The one stage that must fail. */
  stage: string
  file: string
  line: number
  sqlstate: string
  message: RegExp
  /** Stages that cannot run after the failure ("needs stage … to pass"). */
  blocked: string[]
}

const BROKEN: Broken[] = [
  {
    name: 'a runtime error in file 2 (a CHECK that a row in a chunk violates)',
    dir: path.join(ROOT, 'fixtures/broken-runtime'),
    stage: 'replay',
    file: '002_value_range.sql',
    line: 6,
    sqlstate: '23514',
    message: /check constraint "readings_value_range" of relation "_hyper_\d+_\d+_chunk" is violated by some row/,
    blocked: ['post-validation', 'jobs', 'second-up', 'idempotency', 'down-up'],
  },
  {
    name: 'a statement in file 2 that is not idempotent (a plain INSERT)',
    dir: path.join(ROOT, 'fixtures/broken-idempotency'),
    stage: 'idempotency',
    file: '002_first_sensor.sql',
    line: 5,
    sqlstate: '23505',
    message: /duplicate key value violates unique constraint "sensors_pkey"/,
    blocked: [],
  },
]

/** What must be equal across engines: every stage's verdict, and where and how the failing one failed. */
interface Shape {
  verdicts: Record<string, string>
  failure?: { file: string; line: number; column: number; sqlstate: string }
}

/** The located error of a failed stage: the replay stage keeps it structured; the others print it in their details. */
function failureOf(s: StageResult): Shape['failure'] & { message: string } {
  const l = s.error?.located
  if (l) return { file: l.file, line: l.line, column: l.column, sqlstate: l.sqlstate ?? '', message: l.message }
  const m = /^\s*(\S+\.sql):(\d+):(\d+): ERROR ([0-9A-Z]{5}): (.*)$/m.exec(s.details.join('\n'))
  expect(m, `no located error in the ${s.id} stage's details:\n${s.details.join('\n')}`).not.toBeNull()
  return { file: m![1]!, line: Number(m![2]), column: Number(m![3]), sqlstate: m![4]!, message: m![5]! }
}

const shapes = new Map<string, Map<string, Shape>>()
function record(what: string, engine: string, shape: Shape): void {
  if (!shapes.has(what)) shapes.set(what, new Map())
  shapes.get(what)!.set(engine, shape)
}
const verdictsOf = (r: VerifyReport) => Object.fromEntries(r.stages.map((s) => [s.id, s.verdict]))

describe.each(cases)('verdicts on the $name engine', (c) => {
  const started = useEngine(c)
  let engine: StartedEngine
  beforeAll(() => {
    engine = started()
  })

  it.for(BROKEN)('$name: exactly the $stage stage fails, at $file:$line with SQLSTATE $sqlstate', { timeout: 300_000 }, async (b) => {
    const r = await runVerify(engine, { dir: b.dir, skip: SLOW })
    const failed = r.stages.filter((s) => s.verdict === 'failed')
    expect(failed.map((s) => s.id), failed.map((s) => `${s.id}: ${s.summary}\n${s.details.join('\n')}`).join('\n')).toEqual([b.stage])
    const f = failureOf(failed[0]!)
    expect([f.file, f.line, f.sqlstate]).toEqual([b.file, b.line, b.sqlstate])
    expect(f.message).toMatch(b.message)
    // Every other stage: passed, or skipped with its reason (the slow ones by --skip, the rest blocked by the failure).
    for (const s of r.stages.filter((x) => x.id !== b.stage)) {
      if (SLOW.includes(s.id)) expect(s.summary, s.id).toMatch(new RegExp(`^skipped: --skip ${s.id} was given`))
      else if (b.blocked.includes(s.id)) expect(s.summary, s.id).toMatch(new RegExp(`^skipped: needs stage "${b.stage}" to pass`))
      else if (NOTHING_TO_DO[s.id]) expect([s.verdict, s.summary], s.id).toEqual(['skipped', expect.stringMatching(NOTHING_TO_DO[s.id]!)])
      else expect(s.verdict, `${s.id}: ${s.summary}`).toBe('passed')
    }
    expect(r.ok).toBe(false)
    if (b.stage === 'replay') expect(failed[0]!.details.join('\n')).toMatch(/database left exactly at version 1: schema fingerprint [0-9a-f]{12} equal to the one recorded before 002_value_range/)
    const { message: _, ...where } = f
    record(b.name, engine.name, { verdicts: verdictsOf(r), failure: where })
    console.log(`[same-verdicts] ${engine.name}: ${b.name}: ${failed[0]!.id} failed at ${f.file}:${f.line}:${f.column} SQLSTATE ${f.sqlstate}: ${f.message}`)
  })

  it('CREATE INDEX CONCURRENTLY: passes where the engine can build an index outside a transaction; elsewhere the failure is reported as the engine\'s limit', { timeout: 300_000 }, async () => {
    const r = await runVerify(engine, { dir: PLAIN, skip: SLOW })
    const replay = r.stages.find((s) => s.id === 'replay')!
    if (engine.capabilities.nonTransactionalIndexBuilds) {
      expect(r.stages.filter((s) => s.verdict === 'failed').map((s) => `${s.id}: ${s.summary}`)).toEqual([])
      expect(replay.summary).toMatch(/^3 migrations applied from empty/)
      expect(r.ok).toBe(true)
      record('CREATE INDEX CONCURRENTLY (engines that build indexes outside a transaction)', engine.name, { verdicts: verdictsOf(r) })
    } else {
      // Not hidden: the run fails, at the statement, and says it is this engine's limit.
      expect(replay.verdict).toBe('failed')
      expect(replay.summary).toMatch(new RegExp(`^003_orders_placed_idx\\.sql failed at 003_orders_placed_idx\\.sql:3:1 \\(SQLSTATE [0-9A-Z]{5}\\): the ${engine.name} engine cannot build an index outside a transaction$`))
      expect(replay.details[0]).toMatch(/^ENGINE LIMIT: .* cannot build an index outside a transaction \(CREATE INDEX CONCURRENTLY, .*verify on a server engine/)
      expect(replay.details[0]).toContain(engine.describe())
      expect(r.ok).toBe(false)
      record('CREATE INDEX CONCURRENTLY (engines that cannot)', engine.name, { verdicts: verdictsOf(r), failure: (({ message: _, ...w }) => w)(failureOf(replay)) })
    }
    console.log(`[same-verdicts] ${engine.name}: CREATE INDEX CONCURRENTLY: replay ${replay.verdict}: ${replay.summary}`)
  })

  it('says in every report whether background workers run (they do not, by default, on any engine)', async () => {
    const r = await runVerify(engine, { dir: PLAIN, skip: ['replay', ...SLOW] })
    expect(r.engine.description).toBe(engine.describe())
    expect(engine.capabilities.backgroundWorkers).toBe(false)
    expect(r.engine.description).toMatch(/background jobs off|no background workers/)
  })
})

describe('across engines', () => {
  it('every engine present gave the same verdicts, failing stage, SQLSTATE and file:line:column', (ctx) => {
    if (cases.length < 2) skipWith(ctx, `cross-engine comparison not exercised: only ${cases.map((c) => c.name).join(', ') || 'no engine'} can run here`)
    for (const b of BROKEN) expect([...(shapes.get(b.name)?.keys() ?? [])].sort(), `${b.name}: engines with a result`).toEqual(cases.map((c) => c.name).sort())
    for (const [what, byEngine] of shapes) {
      const [first, ...rest] = [...byEngine.entries()]
      for (const [name, shape] of rest) expect(shape, `${what}: ${name} vs ${first![0]}`).toEqual(first![1])
      console.log(`[same-verdicts] ${what}: the same on ${[...byEngine.keys()].join(', ')}: ${JSON.stringify(first![1])}`)
    }
  })
})
