/**
 * The gate itself as a benchmark (issue #13): `pnpm verify`'s full run on the project's own
 * migrations, the same stages and depth as the CI gate, timed per stage over
 * `sizes.verifyIterations` runs (two by default: a single timing can never confirm a
 * regression), so a stage that got slower is caught by the regression comparison like any other
 * figure. The run's depth (fault points, property datasets, round-trip restores and rows …)
 * rides along in the figures' detail, so a faster gate that did less work shows next to its
 * time; a gate that fails is no speed figure at all, and the group fails with it.
 */
import os from 'node:os'
import path from 'node:path'
import { HarnessError } from '../harness/errors.ts'
import { makeFigure, type Figure } from '../harness/measure/figures.ts'
import { runVerify, type VerifyReport } from '../harness/verify/pipeline.ts'
import { MIGRATIONS_DIR, type BenchContext } from './context.ts'

/** `dir`: the project's migrations (what the CI gate verifies); another set for the suites. */
export async function verifyGate(ctx: BenchContext, dir = MIGRATIONS_DIR): Promise<Figure[]> {
  const loads: string[] = []
  const runs: VerifyReport[] = []
  for (let i = 0; i < ctx.sizes.verifyIterations; i++) {
    loads.push(os.loadavg()[0]!.toFixed(2))
    ctx.log(`${ctx.engine.name}: pnpm verify run ${i + 1} of ${ctx.sizes.verifyIterations}`)
    const report = await runVerify(ctx.engine, { dir, seed: ctx.seed, reportsDir: path.join(os.tmpdir(), `pgverify-bench-verify-${process.pid}`) })
    const bad = report.stages.filter((s) => s.verdict === 'failed')
    if (bad.length) throw new HarnessError('VALIDATION_FAILED', `pnpm verify failed on ${dir} (${bad.map((s) => s.id).join(', ')}): its time is no figure of the gate`, { hint: 'Run pnpm verify on this engine and fix what it reports.' })
    runs.push(report)
  }
  const last = runs[runs.length - 1]!
  const note = `seed ${ctx.seed}; load ${loads.join(', ')} at the start of each run (1-minute average, ${os.cpus().length} cores)`
  return [
    makeFigure({ id: 'verify.total', label: 'pnpm verify: full run (every stage, full depth)', group: 'verify', unit: 'ms', better: 'lower', samples: runs.map((r) => r.durationMs), detail: { ...last.depth }, note }),
    // Stages that ran (a stage with nothing to prove here, such as jobs where none is registered, says so in verify.json).
    ...last.stages.filter((s) => runs.every((r) => r.stages.find((x) => x.id === s.id)?.verdict === 'passed')).map((s) =>
      makeFigure({
        id: `verify.stage.${s.id}`,
        label: `pnpm verify: ${s.title}`,
        group: 'verify',
        unit: 'ms',
        better: 'lower',
        samples: runs.map((r) => r.stages.find((x) => x.id === s.id)!.durationMs),
        detail: { ...s.counts },
      }),
    ),
  ]
}
