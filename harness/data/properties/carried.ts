/**
 * The rows of every table at the chain's current version, carried from step to step, so that the
 * work of a step follows what the step touched rather than everything the chain holds.
 *
 * Without it every step read every table before migrating and compared every table after: work
 * growing with the rows of all earlier versions, quadratic in the number of migrations. With it:
 *   - before a step, a table is read again only when something other than the step's own inserts
 *     wrote it since it was last known (the rows the INSERT returned are added to what was known);
 *   - after a step, a table is compared only when the step may have changed its rows: a committed
 *     write touched it (a row version written since, or a different count), its shape changed
 *     (columns, their types and enum labels, the primary key), it is gone, or a migration of the
 *     step declares a data change that names it. Any other table holds exactly the rows it held
 *     before, so the comparison could find nothing.
 * "Written" comes from the rows' xmin and counts (catalog/marks.ts rowsSince); when the engine
 * cannot show them every table counts as written, which is the old, full check.
 */
import type pg from 'pg'
import type { Catalog, TableInfo } from '../../catalog/tables.ts'
import { rowsSince, type RowsMark, type TableRows } from '../../catalog/marks.ts'
import { readBack, type TableInsert } from '../dataset.ts'
import type { Declared } from './declared.ts'
import type { Before } from './preservation.ts'

type Entry = Before extends Map<string, infer V> ? V : never

/** What a table's rows are read as: a change here means the rows must be read (and compared) again. */
const shape = (t: TableInfo): string => JSON.stringify([t.sql, t.primaryKey, t.columns.map((c) => [c.name, c.type, c.base.enumLabels ?? null])])

/**
 * What a step may have changed. Tables to compare: see the top of this file. Tables to probe
 * (constraints re-evaluated by query): those whose rows a committed write touched, whose
 * definition changed, or that are new. Rows the step inserted need no probe: the engine checked
 * them on the way in, against the same definition. Undefined when a function or a constraint
 * changed anywhere (a CHECK may call a function; a domain's constraint is not in the table's
 * definition): then every table is probed.
 */
export interface Touched {
  compare: Set<string>
  probe: Set<string> | undefined
  /** Rows per table of catTo now (NaN where they could not be counted). */
  counts: Map<string, number>
}

/** Catalogs whose change makes every table's constraints worth evaluating again. */
const RULES = ['pg_catalog.pg_proc', 'pg_catalog.pg_constraint']

export class CarriedRows {
  private readonly known = new Map<string, Entry>()
  private mark: RowsMark | undefined

  constructor(private readonly client: pg.ClientBase) {}

  /**
   * Every table of `cat` as it is now, after the step's `inserts`: what was known plus the rows
   * the inserts returned, read again only where something else wrote (or the shape changed).
   */
  async rows(cat: Catalog, inserts: TableInsert[] = []): Promise<Before> {
    const seen = await this.look(cat)
    const out: Before = new Map()
    for (const t of cat.tables) {
      let e = this.known.get(t.name)
      if (e && shape(e.table) !== shape(t)) e = undefined
      const now = seen?.get(t.sql)
      if (e && (!now || now.written || now.n !== e.total)) e = now ? withInserted(e, t, now, inserts.find((i) => i.table.name === t.name)) : undefined
      e ??= await read(this.client, t)
      this.known.set(t.name, e)
      out.set(t.name, e)
    }
    return out
  }

  /**
   * After migrating from `catK` to `catTo` (or running jobs: both the same catalog), with `rawK`
   * the catalog at k as the engine had it (catK may carry declared preconditions): which tables
   * to compare and which to probe (see Touched). The tables to compare are forgotten (read again
   * when next needed); the others are carried as they are.
   */
  async touched(catK: Catalog, catTo: Catalog, declared: Declared[], rawK: Catalog = catK): Promise<Touched> {
    const seen = await this.look(catTo)
    const compare = new Set<string>()
    for (const t of catK.tables) {
      const tn = catTo.tables.find((x) => x.name === t.name)
      const now = tn && seen?.get(tn.sql)
      const e = this.known.get(t.name)
      if (!tn || !now || !e || now.written || now.n !== e.total || shape(t) !== shape(tn) || declared.some((d) => names(d, t.name))) {
        compare.add(t.name)
        this.known.delete(t.name)
      } else this.known.set(t.name, { ...e, table: tn })
    }
    for (const name of this.known.keys()) if (!catTo.tables.some((t) => t.name === name)) this.known.delete(name)
    const rulesChanged = !seen || RULES.some((c) => seen.get(c)?.written !== false)
    const probe = rulesChanged
      ? undefined
      : new Set(
          catTo.tables
            .filter((tn) => {
              const t = rawK.tables.find((x) => x.name === tn.name)
              const now = seen.get(tn.sql)
              return !t || !now || now.written || JSON.stringify(t) !== JSON.stringify(tn)
            })
            .map((t) => t.name),
        )
    return { compare, probe, counts: new Map(catTo.tables.map((t) => [t.name, seen?.get(t.sql)?.n ?? NaN])) }
  }

  private async look(cat: Catalog): Promise<Map<string, TableRows> | undefined> {
    const r = await rowsSince(this.client, [...RULES, ...cat.tables.map((t) => t.sql)], this.mark)
    this.mark = r?.mark
    return r?.tables
  }
}

async function read(client: pg.ClientBase, t: TableInfo): Promise<Entry> {
  const key = t.primaryKey ? t.primaryKey.map((k) => t.columns.findIndex((c) => c.name === k)) : null
  const r = await readBack(client, t.sql, t.columns.map((c) => ({ name: c.name })), key)
  let total = 0
  for (const n of r.counts.values()) total += n
  return { table: t, rows: r.rows, counts: r.counts, total }
}

/**
 * The known rows plus what `ins` returned, when that is all that was written: as many fresh rows
 * as it returned, and the count grown by as many (a trigger that wrote more, or updated a row,
 * fails this and the table is read). Undefined otherwise.
 */
function withInserted(e: Entry, t: TableInfo, now: TableRows, ins: TableInsert | undefined): Entry | undefined {
  const stored = ins?.stored
  if (!stored || now.fresh !== stored.length || now.n !== e.total + stored.length) return undefined
  if (ins.columns.length !== t.columns.length || ins.columns.some((c, i) => c.name !== t.columns[i]!.name)) return undefined
  const key = t.primaryKey ? t.primaryKey.map((k) => t.columns.findIndex((c) => c.name === k)) : null
  // In place: what was known before the inserts is not needed again.
  for (const row of stored) {
    const k = JSON.stringify(key ? key.map((i) => row[i] ?? null) : row)
    e.rows.set(k, row)
    e.counts.set(k, (e.counts.get(k) ?? 0) + 1)
  }
  return { ...e, table: t, total: e.total + stored.length }
}

/** A declared change that names the table (its rows may change as declared: compared as before). */
function names(d: Declared, table: string): boolean {
  const c = d.change as { table?: string; from?: string; to?: string }
  return c.table === table || c.from === table || c.to === table
}
