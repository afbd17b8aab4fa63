/**
 * The benchmark dataset: a migrated database loaded with harness/data/telemetry.ts at the run's
 * scale (7 × scale days plus two, so that whole chunks are older than the 7-day compression
 * policy), analysed (what autovacuum would do on a server: the embedded engine has no
 * background workers), its hypertables measured before compression, then the policy applied by
 * hand (`compress_chunk` on `show_chunks(…, older_than => 7 days)`: no background workers needed).
 */
import type pg from 'pg'
import { makeFigure, type Figure } from '../harness/measure/figures.ts'
import { DAYS_PER_SCALE, loadTelemetry, planTelemetry, type LoadResult, type Plan } from '../harness/data/telemetry/index.ts'
import { migratedDatabase, SCHEMA, type BenchContext } from './context.ts'
import { planQueryParams, type QueryParams } from '../harness/data/telemetry/queries.ts'

const DAY_MS = 86_400_000

export interface HypertableSize {
  table: string
  rows: number
  bytes: number
  chunks: number
}

export interface Dataset {
  client: pg.Client
  plan: Plan
  load: LoadResult
  days: number
  /** Sizes of every hypertable before any compression. */
  before: HypertableSize[]
  compressedByPolicy: Record<string, number>
  params: QueryParams
  figures: Figure[]
  close(): Promise<void>
}

export async function hypertables(client: pg.ClientBase): Promise<string[]> {
  const r = await client.query<{ t: string }>(
    `SELECT format('%I.%I', hypertable_schema, hypertable_name) AS t FROM timescaledb_information.hypertables WHERE hypertable_schema = $1 ORDER BY 1`,
    [SCHEMA],
  )
  return r.rows.map((x) => x.t)
}

export async function hypertableSize(client: pg.ClientBase, table: string): Promise<{ bytes: number; chunks: number }> {
  const r = await client.query<{ bytes: string | null; chunks: string }>(
    `SELECT (SELECT sum(total_bytes) FROM hypertable_detailed_size($1::regclass))::text AS bytes,
            (SELECT count(*) FROM show_chunks($1::regclass))::text AS chunks`,
    [table],
  )
  return { bytes: Number(r.rows[0]?.bytes ?? 0), chunks: Number(r.rows[0]?.chunks ?? 0) }
}

/** Compresses the not yet compressed chunks of `table` older than `olderThan` (all when undefined); returns how many. */
export async function compressChunks(client: pg.ClientBase, table: string, olderThan?: string): Promise<number> {
  const r = await client.query<{ n: string }>(
    olderThan
      ? `SELECT count(compress_chunk(c, if_not_compressed => true))::text AS n FROM show_chunks($1::regclass, older_than => $2::interval) c`
      : `SELECT count(compress_chunk(c, if_not_compressed => true))::text AS n FROM show_chunks($1::regclass) c`,
    olderThan ? [table, olderThan] : [table],
  )
  return Number(r.rows[0]?.n ?? 0)
}

export function datasetDays(ctx: BenchContext): number {
  return ctx.sizes.datasetDays ?? DAYS_PER_SCALE * ctx.scale + ctx.sizes.extraDays
}

export async function prepareDataset(ctx: BenchContext): Promise<Dataset> {
  const days = datasetDays(ctx)
  const m = await migratedDatabase(ctx, 'bench_dataset')
  try {
    const client = m.client
    const options = { seed: ctx.seed, scale: ctx.scale, days, hz: ctx.sizes.hz }
    const plan = planTelemetry(options)
    ctx.log(`  dataset: scale ${ctx.scale}, ${days} days, ${plan.equipment.length} machines on ${plan.lines.length} lines, ${plan.metrics.length} metrics at ${ctx.sizes.hz} Hz`)
    let last = performance.now()
    let lastRows = 0
    let lastLog = performance.now()
    const batchRates: number[] = []
    const load = await loadTelemetry(client, {
      ...options,
      end: new Date(plan.end),
      onProgress: (n, total) => {
        const now = performance.now()
        if (now > last) batchRates.push(((n - lastRows) * 1000) / (now - last))
        last = now
        lastRows = n
        if (now - lastLog > 10_000) {
          lastLog = now
          ctx.log(`  loading metric_hist: ${n.toLocaleString('en-US')} / ${total.toLocaleString('en-US')} rows`)
        }
      },
    })
    const total = Object.values(load.rows).reduce((a, b) => a + b, 0)
    ctx.log(`  loaded ${total.toLocaleString('en-US')} rows in ${(load.durationMs / 1000).toFixed(1)} s`)

    // What autovacuum does on a server after a bulk load; the embedded engine has no background
    // workers, so without this its planner would never have statistics (and guesses 25 rows a chunk).
    const tAnalyze = performance.now()
    await client.query(`ANALYZE`)
    const analyzeMs = performance.now() - tAnalyze
    ctx.log(`  ANALYZE in ${(analyzeMs / 1000).toFixed(1)} s (background workers: ${ctx.engine.capabilities.backgroundWorkers ? 'yes' : 'no, so autovacuum never would'})`)

    const before: HypertableSize[] = []
    for (const table of await hypertables(client)) {
      const size = await hypertableSize(client, table)
      before.push({ table, rows: load.rows[table] ?? 0, ...size })
    }

    // The compression policy, run by hand: chunks older than the policy's interval.
    const t0 = performance.now()
    const compressedByPolicy: Record<string, number> = {}
    for (const h of before) compressedByPolicy[h.table] = await compressChunks(client, h.table, ctx.sizes.compressAfter)
    const policyMs = performance.now() - t0
    const compressed = Object.values(compressedByPolicy).reduce((a, b) => a + b, 0)
    ctx.log(`  compression policy (older than ${ctx.sizes.compressAfter}): ${compressed} chunks compressed in ${(policyMs / 1000).toFixed(1)} s`)

    const figures = [
      makeFigure({
        id: 'load.telemetry',
        label: `Dataset load (${total.toLocaleString('en-US')} rows, multi-row INSERTs)`,
        group: 'load',
        unit: 'rows/s',
        better: 'higher',
        samples: batchRates,
        value: (total * 1000) / load.durationMs,
        note: `harness/data/telemetry.ts loadTelemetry(): ${days} days at scale ${ctx.scale}`,
      }),
      makeFigure({ id: 'compression.policy_run', label: `Compression policy run (${compressed} chunks older than ${ctx.sizes.compressAfter})`, group: 'compression', unit: 'ms', better: 'lower', value: policyMs }),
    ]

    const params = await queryParams(client, plan)
    return {
      client,
      plan,
      load,
      days,
      before,
      compressedByPolicy,
      params,
      figures,
      close: () => m.close(),
    }
  } catch (e) {
    await m.close()
    throw e
  }
}

async function queryParams(client: pg.ClientBase, plan: Plan): Promise<QueryParams> {
  const r = await client.query<{ lo: Date | null; hi: Date | null }>(
    `SELECT min(range_start) AS lo, max(range_end) AS hi FROM timescaledb_information.chunks
      WHERE hypertable_schema = $1 AND hypertable_name = 'metric_hist' AND is_compressed`,
    [SCHEMA],
  )
  // The report reads the compressed chunks (else the first day).
  const lo = r.rows[0]?.lo ? Math.max(r.rows[0].lo.getTime(), plan.start) : plan.start
  const hi = r.rows[0]?.hi ? Math.min(r.rows[0].hi.getTime(), plan.end) : Math.min(plan.start + DAY_MS, plan.end)
  return planQueryParams(plan, { from: lo, to: hi })
}
