/**
 * CPU calibration: the same fixed work on every run (streaming 20,000 generated telemetry rows),
 * measured at the start of each engine's run. Not a figure of the database: the regression
 * comparison uses it to tell "the machine is slower tonight" from "the code got slower".
 */
import { makeFigure, type Figure } from '../harness/measure/figures.ts'
import { CALIBRATION_ID } from '../harness/measure/regression.ts'
import { measure } from '../harness/measure/tiny.ts'
import { metricHistRows, planTelemetry } from '../harness/data/telemetry/index.ts'
import type { BenchContext } from './context.ts'

const PLAN = planTelemetry({ seed: 1, days: 1, hz: 1, end: new Date('2026-01-01T00:00:00Z') })

export async function calibration(ctx: BenchContext): Promise<Figure[]> {
  const samples = await measure(
    'calibration',
    async () => {
      let n = 0
      for (const _ of metricHistRows(PLAN)) if (++n >= 20_000) break
    },
    { iterations: ctx.quick ? 10 : 30, warmup: 10 },
  )
  return [
    makeFigure({
      id: CALIBRATION_ID,
      label: 'CPU calibration (20,000 generated rows, no database)',
      group: 'database',
      unit: 'ms',
      better: 'lower',
      samples,
      note: 'the machine’s own speed: widens timing tolerances in --compare when the machine is slower, never a regression itself',
    }),
  ]
}
