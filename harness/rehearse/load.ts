/**
 * The data a rehearsal starts from: the database at version k-1, loaded.
 *   MS5.0: the telemetry generator (harness/data/telemetry/), one day by default: the seeds'
 *     typical production day (~100k metric_hist rows at one sample per 20 s, plus the other
 *     time series and the reference data in proportion). Table by table, each in its own
 *     transaction: a table a later migration creates (or a column it adds) is not there yet at
 *     version k-1, and that table is reported as not loaded, with the server's reason.
 *   Any other schema: generic.ts's server-side rows, `rows` per table.
 *
 * A `Loader` remembers what its database holds, so it can be asked again after each migration
 * (verify's walk, scene.ts): it loads only the tables that exist now and hold no loaded data yet,
 * and ANALYZEs only those. A table that failed to load is tried again only when the caller says it
 * changed. A fresh Loader on a fresh database loads everything that can be loaded, as a rehearsal
 * from a copy needs.
 */
import type pg from 'pg'
import { insertRows, planTelemetry, telemetryTables, type Plan } from '../data/telemetry/index.ts'
import { inOneTransaction } from '../backup/sql-script.ts'
import { userSchemas } from '../catalog/schemas.ts'
import { quoteQualified } from '../util/sql.ts'
import { bulkInsertSql, genericSchema, type GenericTable } from './generic.ts'

export interface Loaded {
  /** Rows the loader put in each table the database holds (carried forward from earlier versions included). */
  rows: Record<string, number>
  notLoaded: { table: string; reason: string }[]
  /** The tables loaded this time (the others were loaded at an earlier version). */
  added: string[]
  durationMs: number
}

export function telemetryPlan(options: { seed: number; days: number; end?: Date }): Plan {
  return planTelemetry({ seed: options.seed, days: options.days, ...(options.end ? { end: options.end } : {}) })
}

/** A table just loaded: its name as reported (`schema.name`) and as SQL (quoted where needed). */
type Added = { name: string; sql: string }

export type LoaderOptions = { ms5: true; plan: Plan } | { ms5: false; seed: number; rows: number; anchor: Date; exclude: string[] }

export class Loader {
  readonly #rows = new Map<string, number>()
  /** Tables that failed to load, and why. */
  readonly #failed = new Map<string, string>()
  /** Tables the generic loader cannot make rows for (generic.ts says why). */
  #skipped: { table: string; reason: string }[] = []
  /** The generic tables at the last call (the workload's operations are built from them). */
  tables: GenericTable[] = []

  constructor(private readonly o: LoaderOptions) {}

  /**
   * Loads what exists and is not loaded yet; ANALYZE on those tables only. `since` (after a first
   * call): the relations there are now and those changed since the last call (`schema.name`); a
   * loaded table no longer there, or changed and empty (dropped and made again), is loaded again
   * when it is there; a table that failed to load is tried again only if it changed. Without it
   * every table is tried.
   */
  async topUp(client: pg.ClientBase, since?: { present: Set<string>; changed: Set<string> }): Promise<Loaded> {
    const t0 = performance.now()
    if (since) await this.#forgetGone(client, since)
    const retry = (table: string) => !this.#failed.has(table) || !since || since.changed.has(table)
    const added = this.o.ms5 ? await this.#telemetry(client, this.o.plan, retry) : await this.#generic(client, this.o, retry)
    // The loaded tables only: a database-wide ANALYZE also reads every catalog and TimescaleDB table.
    if (added.length) await client.query(`ANALYZE ${added.map((a) => a.sql).join(', ')}`)
    return { ...this.loaded, added: added.map((a) => a.name), durationMs: performance.now() - t0 }
  }

  /** What it holds now, without loading anything. */
  get loaded(): Loaded {
    return { rows: Object.fromEntries(this.#rows), notLoaded: [...this.#skipped, ...[...this.#failed].map(([table, reason]) => ({ table, reason }))], added: [], durationMs: 0 }
  }

  async #forgetGone(client: pg.ClientBase, since: { present: Set<string>; changed: Set<string> }): Promise<void> {
    for (const t of [...this.#rows.keys()]) {
      if (!since.present.has(t)) this.#rows.delete(t)
      else if (since.changed.has(t) && !(await client.query(`SELECT 1 FROM ${quoteQualified(t)} LIMIT 1`)).rowCount) this.#rows.delete(t)
    }
  }

  async #telemetry(client: pg.ClientBase, plan: Plan, retry: (table: string) => boolean): Promise<Added[]> {
    const added: Added[] = []
    for (const t of telemetryTables(plan)) {
      if (this.#rows.has(t.table) || !retry(t.table)) continue
      try {
        const n = await inOneTransaction(client, () => insertRows(client, t.table, t.columns, t.rows()))
        this.#rows.set(t.table, n)
        this.#failed.delete(t.table)
        if (n > 0) added.push({ name: t.table, sql: t.table })
      } catch (e) {
        this.#failed.set(t.table, (e as Error).message)
      }
    }
    return added
  }

  async #generic(client: pg.ClientBase, o: Extract<LoaderOptions, { ms5: false }>, retry: (table: string) => boolean): Promise<Added[]> {
    const schemas = ['public', ...(await userSchemas(client))]
    const schema = await genericSchema(client, schemas, { seed: o.seed, anchor: o.anchor, exclude: o.exclude })
    this.tables = schema.tables
    this.#skipped = schema.skipped
    const present = new Set(schema.tables.map((t) => t.name))
    for (const t of this.#failed.keys()) if (!present.has(t)) this.#failed.delete(t)
    const added: Added[] = []
    for (const t of schema.tables) {
      if (this.#rows.has(t.name) || !retry(t.name)) continue
      try {
        // In slices, so one statement never holds a million rows' worth of memory at once.
        await inOneTransaction(client, async () => {
          for (let from = 1; from <= o.rows; from += 250_000) await client.query(bulkInsertSql(t, from, Math.min(o.rows + 1, from + 250_000)))
        })
        this.#rows.set(t.name, o.rows)
        this.#failed.delete(t.name)
        added.push({ name: t.name, sql: t.table })
      } catch (e) {
        this.#failed.set(t.name, (e as Error).message)
      }
    }
    return added
  }
}

/** One load of everything at this version (the database is taken as holding nothing from the loader yet). */
export async function loadTelemetryAt(client: pg.ClientBase, plan: Plan): Promise<Loaded> {
  return new Loader({ ms5: true, plan }).topUp(client)
}
