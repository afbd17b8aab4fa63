/**
 * `pgverify report merge DIR…`: the verify.json of N shards (`verify --shard I/N`) made into the
 * report of one full run. Refused, before anything is written, unless the shards are one run:
 * every shard 1…N exactly once, all of the same N, on the same migrations, settings, server
 * versions and base schema fingerprint, and their units covering every unit exactly once.
 *
 * How each stage is combined (shard.ts says which stage is which):
 *   - base stages ran in every shard: shard 1's result, or the worst when the shards disagree
 *     (the details then say so);
 *   - whole stages: the result of the shard that ran them;
 *   - split stages: failed when any shard failed (its error and summary first), skipped when a
 *     shard did not get to run it (a partial proof is never passed), else passed; counts summed
 *     (except the per-shard ones, taken once), details per shard, durations summed (machine time).
 * `depth` and `work` are computed from the merged stages as for one run; the run's duration is
 * the longest shard's (the shards run side by side).
 */
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { HarnessError } from '../errors.ts'
import type { StepPart } from '../steps/step.ts'
import { depthOf, sumCounts } from './pipeline.ts'
import { PER_SHARD_COUNTS, SPLIT_STAGES, UNIT_NOUN, WHOLE_STAGES, type ShardRecord, type SplitStage } from './shard.ts'
import type { StageResult, VerifyReport } from './stage.ts'

export interface ShardReport {
  dir: string
  report: VerifyReport & { shard: ShardRecord }
}

const refuse = (message: string, hint: string) => new HarnessError('SHARDS_MISMATCH', `${message}; nothing was merged`, { hint })
const HINT = 'Give the report directory of every shard of one run: `pgverify verify --shard I/N --reports DIR_I` for I = 1…N, with the same migrations and options, then `pgverify report merge DIR_1 … DIR_N`.'

/** Reads DIR/verify.json of every directory; each must be a shard's report. */
export async function readShards(dirs: string[]): Promise<ShardReport[]> {
  const out: ShardReport[] = []
  for (const dir of dirs) {
    const file = path.join(dir, 'verify.json')
    let report: VerifyReport
    try {
      report = JSON.parse(await readFile(file, 'utf8')) as VerifyReport
    } catch (e) {
      const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'it does not exist' : (e as Error).message
      throw refuse(`${file} cannot be read: ${why}`, `Each DIR must hold one shard's reports (its verify.json). ${HINT}`)
    }
    if (!report || !Array.isArray(report.stages)) throw refuse(`${file} is not a verify report`, HINT)
    if (!report.shard) throw refuse(`${file} is not a shard's report (verify ran without --shard)`, HINT)
    out.push({ dir, report: report as ShardReport['report'] })
  }
  return out
}

/** Refuses shards that are not one run (the error names the shard and what disagrees). */
export function checkShards(shards: ShardReport[]): void {
  if (shards.length === 0) throw refuse('no shard reports given', HINT)
  const label = (s: ShardReport) => `shard ${s.report.shard.index}/${s.report.shard.count} (${s.dir})`
  const first = shards[0]!
  const n = first.report.shard.count
  const other = shards.find((s) => s.report.shard.count !== n)
  if (other) throw refuse(`the shards are of different runs: ${label(first)} is one of ${n}, ${label(other)} one of ${other.report.shard.count}`, HINT)
  const byIndex = new Map<number, ShardReport>()
  for (const s of shards) {
    const seen = byIndex.get(s.report.shard.index)
    if (seen) throw refuse(`shard ${s.report.shard.index}/${n} is given twice: ${seen.dir} and ${s.dir}`, HINT)
    byIndex.set(s.report.shard.index, s)
  }
  const missing = [...Array(n).keys()].map((i) => i + 1).filter((i) => !byIndex.has(i))
  if (missing.length) throw refuse(`shard ${missing.map((i) => `${i}/${n}`).join(', ')} ${missing.length === 1 ? 'is' : 'are'} missing (given: ${[...byIndex.keys()].sort((a, b) => a - b).map((i) => `${i}/${n}`).join(', ')})`, `A shard that did not finish (or whose reports were not uploaded) leaves its units unproven: run it again. ${HINT}`)
  const agree = (what: string, value: (s: ShardReport) => string, hint = HINT) => {
    const a = value(first)
    const d = shards.find((s) => value(s) !== a)
    if (d) throw refuse(`the shards disagree on ${what}: ${label(first)} has ${a || 'none'}, ${label(d)} has ${value(d) || 'none'}`, hint)
  }
  agree('the base schema fingerprint', (s) => s.report.shard.baseFingerprint ?? '', `The shards replayed the migrations to different schemas (another engine or server version, other files): they are not one run. ${HINT}`)
  agree('the migration set', (s) => s.report.shard.migrations.join(', '))
  agree('the settings (seed, runs, skipped stages, --changed)', (s) => JSON.stringify(s.report.shard.settings))
  agree('the server', (s) => `PostgreSQL ${s.report.engine.postgres}, TimescaleDB ${s.report.engine.timescaledb}`)
  // Every unit of every split or whole stage exactly once (where every shard got to hand them out).
  for (const id of [...SPLIT_STAGES, ...WHOLE_STAGES]) {
    const recs = shards.map((s) => s.report.shard.units[id])
    if (recs.some((r) => !r)) continue
    const owner = new Map<string, number>()
    for (const [i, r] of recs.entries()) {
      if (r!.total !== recs[0]!.total) throw refuse(`the shards disagree on the units of ${id}: ${label(shards[0]!)} counts ${recs[0]!.total}, ${label(shards[i]!)} ${r!.total}`, HINT)
      for (const u of r!.units) {
        if (owner.has(u)) throw refuse(`${id}: unit ${u} was run by shard ${owner.get(u)}/${n} and shard ${shards[i]!.report.shard.index}/${n}`, HINT)
        owner.set(u, shards[i]!.report.shard.index)
      }
    }
    if (owner.size !== recs[0]!.total) throw refuse(`${id}: the shards ran ${owner.size} of its ${recs[0]!.total} units`, HINT)
  }
}

const RANK = { failed: 3, planned: 2, passed: 1, skipped: 0 } as const

/** The shards as one report (checkShards first). */
export function mergeShards(shards: ShardReport[]): VerifyReport {
  checkShards(shards)
  const sorted = [...shards].sort((a, b) => a.report.shard.index - b.report.shard.index)
  const first = sorted[0]!.report
  const stages = first.stages.map((s) => mergeStage(s.id, sorted))
  const merged: VerifyReport = {
    engine: first.engine,
    dir: first.dir,
    startedAt: sorted.map((s) => s.report.startedAt).sort()[0]!,
    durationMs: Math.max(...sorted.map((s) => s.report.durationMs)),
    ok: stages.every((s) => s.verdict !== 'failed'),
    stages,
    ...(first.lint ? { lint: first.lint } : {}),
    ...(first.scope ? { scope: first.scope } : {}),
    merged: {
      count: first.shard.count,
      ...(first.shard.baseFingerprint ? { baseFingerprint: first.shard.baseFingerprint } : {}),
      shards: sorted.map((s) => ({ index: s.report.shard.index, dir: s.dir, durationMs: s.report.durationMs, ok: s.report.ok, startedAt: s.report.startedAt })),
    },
  }
  // Files refused: no database stage ran in any shard, as in one run (no depth, no work).
  if (first.depth) merged.depth = depthOf(stages)
  if (first.work) merged.work = sumCounts(stages)
  return merged
}

function mergeStage(id: string, shards: ShardReport[]): StageResult {
  const n = shards.length
  const results = shards.map((s) => ({ shard: s.report.shard.index, r: s.report.stages.find((x) => x.id === id) })).filter((x): x is { shard: number; r: StageResult } => !!x.r)
  const tag = (shard: number) => `shard ${shard}/${n}`
  if ((WHOLE_STAGES as readonly string[]).includes(id)) {
    const owner = shards.find((s) => (s.report.shard.units[id]?.units.length ?? 0) > 0)
    const r = owner?.report.stages.find((x) => x.id === id) ?? results[0]!.r
    return owner ? { ...r, summary: `${r.summary} (${tag(owner.report.shard.index)})` } : r
  }
  if (!(SPLIT_STAGES as readonly string[]).includes(id)) {
    // A base stage: every shard ran it; they should agree.
    const worst = results.reduce((a, b) => (RANK[b.r.verdict] > RANK[a.r.verdict] ? b : a))
    const split = results.some((x) => x.r.verdict !== results[0]!.r.verdict)
    return split ? { ...worst.r, details: [`the shards disagree: ${results.map((x) => `${tag(x.shard)} ${x.r.verdict}`).join(', ')}; ${tag(worst.shard)}'s result:`, ...worst.r.details] } : results[0]!.r
  }
  const stage = id as SplitStage
  const failing = results.filter((x) => x.r.verdict === 'failed')
  const notRun = results.filter((x) => x.r.verdict === 'skipped')
  const once = new Set(PER_SHARD_COUNTS[stage] ?? [])
  const counts: Record<string, number> = {}
  for (const { r } of results) for (const [k, v] of Object.entries(r.counts ?? {})) counts[k] = once.has(k) ? Math.max(counts[k] ?? 0, v) : (counts[k] ?? 0) + v
  const parts: StepPart[] = []
  for (const { r } of results)
    for (const p of r.breakdown ?? []) {
      const q = parts.find((x) => x.label === p.label)
      if (q) q.ms += p.ms
      else parts.push({ ...p })
    }
  const total = shards[0]!.report.shard.units[stage]?.total
  const units = total === undefined ? '' : `${total} ${UNIT_NOUN[stage]} over ${n} shards`
  const each = results.map((x) => `${tag(x.shard)}: ${x.r.summary}`)
  const base = results[0]!.r
  const summary = failing.length
    ? `${tag(failing[0]!.shard)}: ${failing[0]!.r.summary}${failing.length > 1 ? ` (and ${failing.slice(1).map((x) => tag(x.shard)).join(', ')})` : ''}`
    : notRun.length
      ? `not run in ${notRun.map((x) => tag(x.shard)).join(', ')} (${notRun[0]!.r.summary}): not proven in full`
      : `every shard passed${units ? ` (${units})` : ''}: ${each.join(' · ')}`
  return {
    id,
    title: base.title,
    verdict: failing.length ? 'failed' : notRun.length ? 'skipped' : 'passed',
    durationMs: results.reduce((s, x) => s + x.r.durationMs, 0),
    summary,
    details: [...failing, ...results.filter((x) => x.r.verdict !== 'failed')].flatMap((x) => [`── ${tag(x.shard)}: ${x.r.summary}`, ...x.r.details]),
    ...(failing[0]?.r.error ? { error: failing[0].r.error } : {}),
    ...(Object.keys(counts).length ? { counts } : {}),
    ...(parts.length ? { breakdown: parts } : {}),
  }
}
