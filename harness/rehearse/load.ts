/**
 * The data a rehearsal starts from: the database at version k-1, loaded.
 *   MS5.0: the telemetry generator (harness/data/telemetry/), one day by default: the seeds'
 *     typical production day (~100k metric_hist rows at one sample per 20 s, plus the other
 *     time series and the reference data in proportion). Table by table, each in its own
 *     transaction: a table a later migration creates (or a column it adds) is not there yet at
 *     version k-1, and that table is reported as not loaded, with the server's reason.
 *   Any other schema: generic.ts's server-side rows, `rows` per table.
 */
import type pg from 'pg'
import { insertRows, planTelemetry, telemetryTables, type Plan } from '../data/telemetry/index.ts'
import { inOneTransaction } from '../backup/sql-script.ts'
import { userSchemas } from '../catalog/schemas.ts'
import { bulkInsertSql, genericSchema, type GenericSchema } from './generic.ts'

export interface Loaded {
  rows: Record<string, number>
  notLoaded: { table: string; reason: string }[]
  durationMs: number
}

export function telemetryPlan(options: { seed: number; days: number; end?: Date }): Plan {
  return planTelemetry({ seed: options.seed, days: options.days, ...(options.end ? { end: options.end } : {}) })
}

export async function loadTelemetryAt(client: pg.ClientBase, plan: Plan): Promise<Loaded> {
  const t0 = performance.now()
  const out: Loaded = { rows: {}, notLoaded: [], durationMs: 0 }
  for (const t of telemetryTables(plan)) {
    try {
      out.rows[t.table] = await inOneTransaction(client, () => insertRows(client, t.table, t.columns, t.rows()))
    } catch (e) {
      out.notLoaded.push({ table: t.table, reason: (e as Error).message })
    }
  }
  // The loaded tables only: a database-wide ANALYZE also reads every catalog and TimescaleDB table.
  const loaded = Object.entries(out.rows).filter(([, n]) => n > 0).map(([t]) => t)
  if (loaded.length) await client.query(`ANALYZE ${loaded.join(', ')}`)
  out.durationMs = performance.now() - t0
  return out
}

export async function loadGenericAt(client: pg.ClientBase, options: { seed: number; rows: number; anchor: Date; exclude: string[] }): Promise<Loaded & { schema: GenericSchema }> {
  const t0 = performance.now()
  const schemas = ['public', ...(await userSchemas(client))]
  const schema = await genericSchema(client, schemas, { seed: options.seed, anchor: options.anchor, exclude: options.exclude })
  const out: Loaded & { schema: GenericSchema } = { rows: {}, notLoaded: [...schema.skipped], durationMs: 0, schema }
  for (const t of schema.tables) {
    try {
      // In slices, so one statement never holds a million rows' worth of memory at once.
      out.rows[t.name] = await inOneTransaction(client, async () => {
        for (let from = 1; from <= options.rows; from += 250_000) await client.query(bulkInsertSql(t, from, Math.min(options.rows + 1, from + 250_000)))
        return options.rows
      })
    } catch (e) {
      out.notLoaded.push({ table: t.name, reason: (e as Error).message })
    }
  }
  await client.query('ANALYZE')
  out.durationMs = performance.now() - t0
  return out
}
