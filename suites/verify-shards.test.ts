/**
 * `verify --shard I/N` and `pgverify report merge`: two shards plus the merge give the verdict
 * and the counts of one full run (every fault point, property chain, down/up step and re-run
 * file exactly once); a missing shard, a shard given twice and shards that disagree on the base
 * schema fingerprint are refused (exit 11, naming the shard and the fingerprints); a failure
 * found in one shard fails the merged verdict. The plain fixture keeps it cheap: full depth on
 * native (with its non-transactional 003), the failing case on every engine.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import type { StartedEngine } from '../harness/engines/types.ts'
import { exitCodeFor } from '../harness/cli/exit-codes.ts'
import { REPORT_HELP } from '../harness/cli/report.ts'
import { VERIFY_HELP } from '../harness/cli/verify.ts'
import { parseShard } from '../harness/verify/shard.ts'
import { writeReports } from '../harness/reports/write.ts'
import { mergeShards, readShards } from '../harness/verify/merge.ts'
import { runVerify, STAGES, type VerifyReport } from '../harness/verify/pipeline.ts'
import { cli } from './support/cli.ts'
import { copyDir, edit, emptyDir, PLAIN } from './support/dirs.ts'
import { availableEngines, depthOn, useEngine } from './support/engines.ts'

const cases = await availableEngines()
const stage = (r: VerifyReport, id: string) => r.stages.find((s) => s.id === id)!
const verdicts = (r: VerifyReport) => Object.fromEntries(r.stages.map((s) => [s.id, s.verdict]))
/** The counts that measure the units of the split stages (the structural ones include each shard's base work). */
const UNIT_COUNTS = ['faultPoints', 'faultPointsNotExercised', 'seededRows', 'datasets', 'rows', 'rejectedDatasets', 'startingVersions', 'downUpSteps', 'idempotentFiles', 'roundTripRestores']
const units = (r: VerifyReport) => Object.fromEntries(r.stages.map((s) => [s.id, Object.fromEntries(UNIT_COUNTS.filter((k) => s.counts?.[k] !== undefined).map((k) => [k, s.counts![k]]))]))

/** Each shard's report written where `report merge` reads it. */
async function written(reports: VerifyReport[]): Promise<string[]> {
  const dirs: string[] = []
  for (const r of reports) {
    const d = emptyDir('pgverify-shard-')
    await writeReports(r, d)
    dirs.push(d)
  }
  return dirs
}

describe('--shard on the command line', () => {
  it('a bad --shard is a usage error (exit 2) before any engine starts; every form of it is named', async () => {
    const r = await cli(['verify', '--engine', 'embedded', '--dir', PLAIN, '--shard', '3/2'])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/\[USAGE\] --shard 3\/2: I must be between 1 and 2/)
    expect(r.stderr).not.toMatch(/verify .* on /) // no engine was started
    for (const [v, why] of [['0/2', 'I must be between 1 and 2'], ['1/0', 'N must be at least 1'], ['x', 'not of the form I/N'], ['2', 'not of the form I/N']]) expect(() => parseShard(v!)).toThrow(`--shard ${v}: ${why}`)
    expect(parseShard(' 2/3 ')).toEqual({ index: 2, count: 3 })
  })

  it('`verify --help` lists --shard; `report merge --help` lists its exit codes', () => {
    expect(VERIFY_HELP).toMatch(/--shard I\/N/)
    expect(REPORT_HELP).toMatch(/Exit codes: .*11 the shards are not one run/s)
  })
})

describe.each(cases)('shards on the $name engine', (c) => {
  const started = useEngine(c)
  let engine: StartedEngine
  beforeAll(() => {
    engine = started()
  })

  it('two shards plus report merge give the verdict and the counts of one full run; a missing shard and disagreeing fingerprints are refused', { timeout: 300_000 }, async (ctx) => {
    depthOn(ctx, engine, ['native'], 'two shards against one full run')
    // The plain set without 002's pg_sleep (there to make concurrent runners overlap; here it only costs time).
    const dir = copyDir(PLAIN)
    edit(dir, '002_orders.sql', (s) => s.replace(/-- Slow enough[^\n]*\nSELECT pg_sleep\(0\.2\);\n/, ''))
    const options = { dir, seed: 7 }
    const full = await runVerify(engine, options)
    const one = await runVerify(engine, { ...options, shard: { index: 1, count: 2 } })
    const two = await runVerify(engine, { ...options, shard: { index: 2, count: 2 } })
    expect(full.ok).toBe(true)
    // Each shard ran its own units, and between them every unit once.
    expect(one.shard!.units['fault-injection']!.units).toEqual(['001_accounts#1', '002_orders#1', '003_orders_placed_idx#1'])
    expect(two.shard!.units['fault-injection']!.units).toEqual(['001_accounts#2', '002_orders#2'])
    expect(one.shard!.baseFingerprint).toMatch(/^[0-9a-f]{64}$/)
    expect(two.shard!.baseFingerprint).toBe(one.shard!.baseFingerprint)
    // Whole stages: one shard each; the other says which shard runs it.
    expect(stage(one, 'backup-round-trip').summary).toMatch(/^skipped: shard 2\/2 runs this stage whole/)
    expect(stage(two, 'backup-round-trip').verdict).toBe('passed')

    const dirs = await written([two, one])
    const merged = mergeShards(await readShards(dirs))
    expect(verdicts(merged)).toEqual(verdicts(full))
    expect(merged.ok).toBe(true)
    expect(merged.depth).toEqual(full.depth)
    expect(units(merged)).toEqual(units(full))
    expect(merged.depth).toMatchObject({ faultPoints: 5, downUpSteps: 3, idempotentFiles: 3 })

    // Through the command line: the usual reports, exit 0.
    const out = emptyDir('pgverify-merged-')
    const ok = await cli(['report', 'merge', ...dirs, '--out', out])
    expect(ok.code, ok.stderr).toBe(0)
    for (const f of ['index.html', 'verify.json', 'junit.xml']) expect(existsSync(path.join(out, f))).toBe(true)
    expect(JSON.parse(readFileSync(path.join(out, 'verify.json'), 'utf8')).depth).toEqual(full.depth)
    expect(readFileSync(path.join(out, 'index.html'), 'utf8')).toMatch(/Merged.*2 shards/)

    // A missing shard: refused, naming it; nothing written.
    const none = emptyDir('pgverify-merged-')
    const missing = await cli(['report', 'merge', dirs[0]!, '--out', none])
    expect(missing.code).toBe(11)
    expect(missing.stderr).toMatch(/\[SHARDS_MISMATCH\] shard 1\/2 is missing \(given: 2\/2\); nothing was merged/)
    expect(existsSync(path.join(none, 'verify.json'))).toBe(false)
    // The same shard twice (in-process from here: the exit code is the error code's, exit-codes.ts).
    await expect(readShards([dirs[0]!, dirs[0]!]).then(mergeShards)).rejects.toThrow(/shard 2\/2 is given twice/)
    expect(exitCodeFor('SHARDS_MISMATCH')).toBe(11)

    // Shards that replayed to different schemas: refused, both fingerprints named.
    const file = path.join(dirs[1]!, 'verify.json')
    const edited = JSON.parse(readFileSync(file, 'utf8')) as VerifyReport
    edited.shard!.baseFingerprint = 'f'.repeat(64)
    writeFileSync(file, JSON.stringify(edited))
    const disagree = readShards(dirs).then(mergeShards)
    await expect(disagree).rejects.toMatchObject({ code: 'SHARDS_MISMATCH' })
    await expect(disagree).rejects.toThrow(`the shards disagree on the base schema fingerprint: shard 2/2 (${dirs[0]}) has ${one.shard!.baseFingerprint}, shard 1/2 (${dirs[1]}) has ${'f'.repeat(64)}`)
  })

  it('a failure found in one shard fails the merged verdict, naming the shard and the file', { timeout: 120_000 }, async () => {
    // Two transactional files (003 builds an index CONCURRENTLY: not on every engine); 002 is not idempotent.
    const dir = copyDir(PLAIN, (f) => !f.startsWith('003_'))
    edit(dir, 'manifest.json', (s) => s.replace(/,\s*"003_orders_placed_idx"[^}]*}/, '').replace(/,?\s*"app\.orders_placed_idx"/, ''))
    edit(dir, '002_orders.sql', (s) => `${s}\nINSERT INTO app.accounts (email) VALUES ('once@example.com');\n`)
    const stages = STAGES.filter((s) => ['replay', 'idempotency'].includes(s.id))
    const shards = [await runVerify(engine, { dir, shard: { index: 1, count: 2 } }, stages), await runVerify(engine, { dir, shard: { index: 2, count: 2 } }, stages)]
    // Round-robin: 001 is shard 1's file, 002 shard 2's.
    expect(stage(shards[0]!, 'idempotency').verdict).toBe('passed')
    expect(stage(shards[1]!, 'idempotency').verdict).toBe('failed')
    const dirs = await written(shards)
    const out = emptyDir('pgverify-merged-')
    const r = await cli(['report', 'merge', ...dirs, '--out', out])
    expect(r.code).toBe(1)
    expect(r.stdout).toMatch(/FAIL {2}Idempotency[\s\S]*shard 2\/2: not idempotent: 1 file\(s\)/)
    expect(r.stdout).toMatch(/002_orders\.sql fails when run a second time/)
    expect(r.stdout).toMatch(/verify FAILED \(2 shards merged/)
    const merged = JSON.parse(readFileSync(path.join(out, 'verify.json'), 'utf8')) as VerifyReport
    expect(merged.ok).toBe(false)
    expect(readFileSync(path.join(out, 'junit.xml'), 'utf8')).toMatch(/<failure[^>]*>[\s\S]*002_orders\.sql fails when run a second time/)
  })
})
