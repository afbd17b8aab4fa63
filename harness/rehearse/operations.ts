/**
 * What the workload runs. MS5.0: the seeds' dashboard queries (harness/data/telemetry/queries.ts,
 * the same ones `pnpm bench` times) and metric_hist inserts of 100 rows, ten a second: the seeds'
 * 1,000 records/s. Any other schema: per table, a one-row insert and a select of its 20 most
 * recent rows (by primary key), from the catalog (generic.ts).
 */
import type pg from 'pg'
import { QUERIES, planQueryParams } from '../data/telemetry/queries.ts'
import type { Plan } from '../data/telemetry/plan.ts'
import { hash } from '../data/telemetry/random.ts'
import { SCHEMA } from '../data/telemetry/options.ts'
import { recentRowsSql, rowInsertSql, type GenericTable } from './generic.ts'
import type { Operation, SessionPlan } from './workload.ts'

/** Rows per metric_hist insert and inserts per second: 100 × 10 = the seeds' 1,000 records/s. */
export const INSERT_ROWS = 100
export const INSERT_PERIOD_MS = 100
/** Each dashboard session starts a query every 50 ms (20 a second per session). */
export const DASHBOARD_PERIOD_MS = 50
export const DASHBOARD_SESSIONS = 2

export function telemetryOperations(plan: Plan): Operation[] {
  const params = planQueryParams(plan)
  const ops: Operation[] = QUERIES.filter((q) => q.kind === 'dashboard').map((q) => ({
    id: q.id,
    kind: 'dashboard' as const,
    sql: q.sql,
    run: async (c: pg.ClientBase) => {
      await c.query(q.sql, q.params(params))
    },
  }))
  const analog = plan.metrics.filter((m) => m.valueType === 'REAL')
  // New samples after the loaded data, one second apart per metric: keys never collide.
  const sql = `INSERT INTO ${SCHEMA}.metric_hist (metric_def_id, ts, value_real, quality)
    SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::float8[], $4::smallint[])`
  ops.push({
    id: 'metric_hist_insert',
    kind: 'insert',
    sql,
    run: async (c, i) => {
      const ids: string[] = []
      const ts: Date[] = []
      const values: number[] = []
      for (let r = 0; r < INSERT_ROWS; r++) {
        const k = i * INSERT_ROWS + r
        const m = analog[k % analog.length]!
        ids.push(m.id)
        ts.push(new Date(plan.end + Math.floor(k / analog.length) * 1000))
        values.push(Math.round((hash(plan.seed, m.index, k) / 4294967296) * 10000) / 100)
      }
      await c.query(sql, [ids, ts, values, ids.map(() => 192)])
    },
  })
  return ops
}

export function telemetrySessions(ops: Operation[]): SessionPlan[] {
  const dashboard = ops.filter((o) => o.kind === 'dashboard')
  const inserts = ops.filter((o) => o.kind === 'insert')
  const sessions: SessionPlan[] = []
  // Offset the sessions' query order so they do not run the same query in step.
  for (let s = 0; s < DASHBOARD_SESSIONS && dashboard.length; s++) sessions.push({ operations: [...dashboard.slice(s), ...dashboard.slice(0, s)], periodMs: DASHBOARD_PERIOD_MS })
  if (inserts.length) sessions.push({ operations: inserts, periodMs: INSERT_PERIOD_MS })
  return sessions
}

/** Row numbers of the workload's inserts start past the loaded rows, so keys never collide. */
export function genericOperations(tables: GenericTable[], loadedRows: number): Operation[] {
  const ops: Operation[] = []
  for (const t of tables) {
    const insert = rowInsertSql(t)
    ops.push({
      id: `${t.name} insert`,
      kind: 'insert',
      sql: insert,
      table: t.name,
      run: async (c, i) => {
        await c.query(insert, insert.includes('$1') ? [loadedRows + 1 + i] : [])
      },
    })
    const select = recentRowsSql(t)
    ops.push({
      id: `${t.name} recent rows`,
      kind: 'dashboard',
      sql: select,
      table: t.name,
      run: async (c) => {
        await c.query(select)
      },
    })
  }
  return ops
}

/** Inserts in one session (every 100 ms, tables in turn), selects in two (every 50 ms each). */
export function genericSessions(ops: Operation[]): SessionPlan[] {
  return telemetrySessions(ops)
}
