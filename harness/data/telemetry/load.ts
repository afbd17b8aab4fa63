/** Loading a plan's rows: multi-row parameterised INSERTs in batches (no COPY FROM STDIN on the embedded engine's socket). */
import type pg from 'pg'
import { type LoadOptions, type LoadResult, SCHEMA, type TelemetryOptions } from './options.ts'
import { planTelemetry } from './plan.ts'
import { METRIC_LATEST_COLUMNS, metricHistCount, type MetricHistRow, metricLatestRows, telemetryTables } from './rows.ts'

/** PostgreSQL accepts at most 65,535 bind parameters per statement. */
const MAX_PARAMS = 24_000

const toParam = (v: unknown): unknown => (v instanceof Date ? v.toISOString() : v)

/** A multi-row parameterised INSERT for `n` rows of `columns`. */
export function insertSql(table: string, columns: readonly string[], n: number): string {
  const c = columns.length
  const tuples: string[] = new Array(n)
  for (let r = 0; r < n; r++) {
    const ps: string[] = new Array(c)
    for (let j = 0; j < c; j++) ps[j] = `$${r * c + j + 1}`
    tuples[r] = `(${ps.join(',')})`
  }
  return `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${tuples.join(',')}`
}

/** Inserts rows in batches of multi-row parameterised INSERTs; returns the number inserted. */
export async function insertRows(
  client: pg.ClientBase,
  table: string,
  columns: readonly string[],
  rows: Iterable<unknown[]>,
  options: { batchRows?: number; onBatch?: (inserted: number, batch: unknown[][]) => void } = {},
): Promise<number> {
  const batchRows = Math.max(1, Math.min(options.batchRows ?? 4000, Math.floor(MAX_PARAMS / columns.length)))
  const sqlCache = new Map<number, string>()
  const sqlFor = (n: number) => {
    let s = sqlCache.get(n)
    if (!s) sqlCache.set(n, (s = insertSql(table, columns, n)))
    return s
  }
  let batch: unknown[][] = []
  let inserted = 0
  const flush = async () => {
    if (!batch.length) return
    const params: unknown[] = []
    for (const row of batch) for (const v of row) params.push(toParam(v))
    await client.query(sqlFor(batch.length), params)
    inserted += batch.length
    options.onBatch?.(inserted, batch)
    batch = []
  }
  for (const row of rows) {
    batch.push(row)
    if (batch.length >= batchRows) await flush()
  }
  await flush()
  return inserted
}

/**
 * Generates the plan's telemetry and inserts it into a migrated database (migrations 001…009
 * applied, tables empty). Runs in one transaction per table; throws on the first error.
 */
export async function loadTelemetry(client: pg.ClientBase, options: TelemetryOptions & LoadOptions = {}): Promise<LoadResult> {
  const t0 = performance.now()
  const plan = planTelemetry(options)
  const rows: Record<string, number> = {}
  const last = new Map<string, MetricHistRow>()
  const histTotal = metricHistCount(plan)
  for (const t of telemetryTables(plan)) {
    const isHist = t.table === `${SCHEMA}.metric_hist`
    await client.query('BEGIN')
    try {
      rows[t.table] = await insertRows(client, t.table, t.columns, t.rows(), {
        batchRows: options.batchRows,
        onBatch: isHist
          ? (n, batch) => {
              for (const r of batch as MetricHistRow[]) last.set(r[0], r)
              options.onProgress?.(n, histTotal)
            }
          : undefined,
      })
      await client.query('COMMIT')
    } catch (e) {
      await client.query('ROLLBACK').catch(() => {})
      throw e
    }
  }
  const latest = `${SCHEMA}.metric_latest`
  rows[latest] = await insertRows(client, latest, METRIC_LATEST_COLUMNS, metricLatestRows(last))
  return { rows, durationMs: performance.now() - t0, range: { start: new Date(plan.start), end: new Date(plan.end) } }
}

/** Expected rows per qualified table for these options, without a database (and without generating metric_hist). */
export function expectedRowCounts(options: TelemetryOptions = {}): Record<string, number> {
  const plan = planTelemetry(options)
  const out: Record<string, number> = {}
  for (const t of telemetryTables(plan)) {
    if (t.table === `${SCHEMA}.metric_hist`) out[t.table] = metricHistCount(plan)
    else {
      let n = 0
      for (const _ of t.rows()) n++
      out[t.table] = n
    }
  }
  out[`${SCHEMA}.metric_latest`] = out[`${SCHEMA}.metric_hist`]! > 0 ? plan.metrics.length : 0
  return out
}
