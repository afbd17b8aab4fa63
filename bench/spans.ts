/**
 * `pnpm bench --scale day|week|month|year`: the seeds' query thresholds as the data grows to a
 * year of the seeds' typical production (issue #14, part 6). One database, grown backwards in
 * time: the last day first (the JavaScript generator, as the rehearsal loads it: ~112,600 rows),
 * then the older days made by the server (harness/data/telemetry/server.ts: INSERT … SELECT
 * generate_series, ~38 M metric_hist rows for a year), each time the compression policy applied
 * (chunks wholly older than 7 days before the data's end) and ANALYZE (autovacuum's work), then
 * every dashboard and report query measured (queries.ts, as `pnpm bench` runs them) and checked
 * against the seeds' limits. Each query's p95 is plotted against metric_hist's rows in bench.html.
 *
 * "Now" is the end of the data (a UTC midnight), so the dashboards look at the newest day, which
 * is the same at every size; only the history behind it grows. The report query reads one day
 * (a daily report), in compressed chunks once there are any (month, year), else the first day:
 * the same width at every size, so its figure shows what the table's size does to it.
 * Retention (metric_hist 90 days) is not run: a year is the worst case, the data a site has
 * where the policy is late or changed.
 */
import type pg from 'pg'
import { startEngine } from '../harness/engines/target.ts'
import type { EngineSettings, StartedEngine } from '../harness/engines/types.ts'
import { BENCH_SCHEMA, failuresOf, makeFigure, withLimits, type BenchRun, type EngineRun, type Figure, type Growth } from '../harness/measure/figures.ts'
import type { ThresholdId } from '../harness/measure/thresholds.ts'
import { summarize } from '../harness/measure/stats.ts'
import { measure } from '../harness/measure/tiny.ts'
import { DAY_MS, loadTelemetry, planTelemetry, SPAN_DAYS, type SpanName } from '../harness/data/telemetry/index.ts'
import { generateOnServer } from '../harness/data/telemetry/server.ts'
import { planQueryParams, QUERIES } from '../harness/data/telemetry/queries.ts'
import { connect } from '../harness/runner/connect.ts'
import { migrate, SCHEMA } from './context.ts'
import { hypertables } from './dataset.ts'
import { gitCommit, machine } from './machine.ts'

const SPANS = SPAN_DAYS

export interface SpanOptions {
  engine: string
  spans: SpanName[]
  seed: number
  quick: boolean
  thresholds?: Partial<Record<ThresholdId, number>>
  settings?: EngineSettings
  log: (line: string) => void
}

const COMPRESS_AFTER_DAYS = 7

async function compressOlder(client: pg.ClientBase, before: Date): Promise<{ chunks: number; ms: number }> {
  const t0 = performance.now()
  let chunks = 0
  for (const table of await hypertables(client)) {
    const r = await client.query<{ n: string }>(`SELECT count(compress_chunk(c, if_not_compressed => true))::text AS n FROM show_chunks($1::regclass, older_than => $2::timestamptz) c`, [table, before])
    chunks += Number(r.rows[0]?.n ?? 0)
  }
  return { chunks, ms: performance.now() - t0 }
}

async function counts(client: pg.ClientBase): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  for (const t of await hypertables(client)) out[t] = Number((await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${t}`)).rows[0]!.n)
  return out
}

export async function runSpans(o: SpanOptions): Promise<BenchRun> {
  const startedAt = new Date()
  const t0 = performance.now()
  const engine: StartedEngine = await startEngine({ request: { name: o.engine, source: '--engine' }, settings: o.settings, log: o.log })
  const run: EngineRun = { engine: engine.name, describe: engine.describe(), versions: { ...engine.versions }, capabilities: { ...engine.capabilities }, durationMs: 0, figures: [], skipped: [], steps: [] }
  const growth: Growth = { metric: `${SCHEMA}.metric_hist`, points: [] }
  const iterations = o.quick ? 8 : 30
  const warmup = o.quick ? 1 : 3
  try {
    const db = await engine.createDatabase('bench_spans')
    const client = await connect(db.url, { applicationName: 'pgverify-bench spans' })
    try {
      await migrate(client)
      const end = new Date(Math.floor(Date.now() / DAY_MS) * DAY_MS)
      const plan = planTelemetry({ seed: o.seed, days: 1, end })
      o.log(`spans: the newest day (JavaScript generator), then older days by the server, up to ${o.spans[o.spans.length - 1]}`)
      const first = await loadTelemetry(client, { seed: o.seed, days: 1, end })
      let covered = plan.start
      let built = { rows: Object.values(first.rows).reduce((a, b) => a + b, 0), ms: first.durationMs }
      for (const span of o.spans) {
        const from = end.getTime() - SPANS[span] * DAY_MS
        if (from < covered) {
          const tg = performance.now()
          const g = await generateOnServer(client, plan, { from, to: covered }, (d, n, rows) => {
            if (d % 10 === 0 || d === n) o.log(`  ${span}: ${d}/${n} days, ${rows.toLocaleString('en-US')} rows, ${Math.round((rows * 1000) / (performance.now() - tg))} rows/s`)
          })
          const rows = Object.values(g.rows).reduce((a, b) => a + b, 0)
          built = { rows, ms: g.durationMs }
          covered = from
        }
        const compressed = await compressOlder(client, new Date(end.getTime() - COMPRESS_AFTER_DAYS * DAY_MS))
        const ta = performance.now()
        await client.query('ANALYZE')
        const analyzeMs = performance.now() - ta
        const rows = await counts(client)
        const histRows = rows[growth.metric] ?? 0
        o.log(`${span}: ${histRows.toLocaleString('en-US')} metric_hist rows; built ${built.rows.toLocaleString('en-US')} rows at ${Math.round((built.rows * 1000) / built.ms).toLocaleString('en-US')} rows/s; ${compressed.chunks} chunks compressed in ${(compressed.ms / 1000).toFixed(1)} s; ANALYZE ${(analyzeMs / 1000).toFixed(1)} s`)
        const reportDay = SPANS[span] > COMPRESS_AFTER_DAYS + 1 ? { from: end.getTime() - (COMPRESS_AFTER_DAYS + 2) * DAY_MS, to: end.getTime() - (COMPRESS_AFTER_DAYS + 1) * DAY_MS } : undefined
        const params = planQueryParams(plan, reportDay)
        const point: Growth['points'][number] = { span, days: SPANS[span], rows, buildRows: built.rows, buildMs: Math.round(built.ms), compressedChunks: compressed.chunks, compressMs: Math.round(compressed.ms), analyzeMs: Math.round(analyzeMs), queries: {} }
        for (const q of QUERIES) {
          const args = q.params(params)
          const n = (await client.query(q.sql, args)).rowCount ?? 0
          const samples = await measure(`${q.id}@${span}`, async () => void (await client.query(q.sql, args)), { iterations, warmup })
          const s = summarize(samples)
          point.queries[q.id] = { label: q.label, kind: q.kind, p50: s.p50, p95: s.p95, p99: s.p99, n: s.n, resultRows: n }
          const f: Figure = makeFigure({
            id: `${q.kind}.${q.id}@${span}`,
            label: `${q.label} (${span}: ${histRows.toLocaleString('en-US')} metric_hist rows)`,
            group: q.kind,
            unit: 'ms',
            better: 'lower',
            samples,
            threshold: q.kind === 'dashboard' ? 'dashboard' : 'query',
            note: `${n} row${n === 1 ? '' : 's'}${q.kind === 'report' ? (reportDay ? '; one compressed day' : '; the first day, uncompressed') : ''}`,
          })
          run.figures.push(withLimits(f, o.thresholds))
        }
        growth.points.push(point)
        o.log(`${span}: ${Object.entries(point.queries).map(([id, x]) => `${id} p95 ${x.p95.toFixed(1)} ms`).join(', ')}`)
      }
    } finally {
      await client.end().catch(() => {})
      await db.drop().catch(() => {})
    }
  } catch (e) {
    run.error = e instanceof Error ? e.message : String(e)
    o.log(`spans: FAILED: ${run.error}`)
  } finally {
    await engine.stop().catch(() => {})
  }
  run.durationMs = performance.now() - t0
  const failures = failuresOf([run])
  if (run.error) failures.push(`${run.engine} · spans: ${run.error}`)
  return {
    schema: BENCH_SCHEMA,
    startedAt: startedAt.toISOString(),
    durationMs: performance.now() - t0,
    options: { engines: [o.engine], scale: o.spans[o.spans.length - 1]!, seed: o.seed, quick: o.quick },
    machine: await machine(),
    git: { commit: await gitCommit(process.cwd()) },
    engines: [run],
    failures,
    growth,
    verdict: failures.length ? 'failed' : 'passed',
  }
}
