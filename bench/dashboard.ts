/**
 * Dashboard and report queries over the dataset, some chunks compressed: p50/p95/p99 each.
 * Dashboard queries are checked against "< 100 ms" (seeds, at p95), every query against
 * "< 1000 ms" (seed 000, at p99: the slowest of them is the figure).
 */
import { makeFigure, type Figure } from '../harness/measure/figures.ts'
import { summarize } from '../harness/measure/stats.ts'
import { measure } from '../harness/measure/tiny.ts'
import type { BenchContext } from './context.ts'
import type { Dataset } from './dataset.ts'
import { QUERIES } from '../harness/data/telemetry/queries.ts'

export async function dashboardQueries(ctx: BenchContext, ds: Dataset): Promise<Figure[]> {
  const figures: Figure[] = []
  const all: { label: string; samples: number[] }[] = []
  for (const q of QUERIES) {
    const params = q.params(ds.params)
    // One untimed run: the row count goes into the note, so an empty answer is visible.
    const rows = (await ds.client.query(q.sql, params)).rowCount ?? 0
    const samples = await measure(
      q.id,
      async () => {
        await ds.client.query(q.sql, params)
      },
      { iterations: ctx.sizes.queryIterations, warmup: ctx.sizes.queryWarmup },
    )
    all.push({ label: q.label, samples })
    figures.push(
      makeFigure({
        id: `${q.kind}.${q.id}`,
        label: q.label,
        group: q.kind,
        unit: 'ms',
        better: 'lower',
        samples,
        threshold: q.kind === 'dashboard' ? 'dashboard' : 'query',
        ...(q.kind === 'dashboard' ? { target: 'dashboard-p95' as const } : {}),
        note: `${rows} row${rows === 1 ? '' : 's'}`,
      }),
    )
  }
  const p99 = (xs: number[]) => summarize(xs).p99
  const slowest = all.reduce((a, b) => (p99(b.samples) > p99(a.samples) ? b : a))
  figures.push(
    makeFigure({
      id: 'query.slowest',
      label: `Any query: the slowest (${slowest.label})`,
      group: 'report',
      unit: 'ms',
      better: 'lower',
      samples: slowest.samples,
      threshold: 'query',
    }),
  )
  return figures
}
