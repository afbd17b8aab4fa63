/**
 * The rows before and after: every row that existed is still there (by primary key) with its
 * values unchanged, except where a migration declares a data change; row counts are preserved
 * or changed only as declared (insert, delete, move); after the registered jobs ran, a missing
 * row is a declared effect only when a retention policy explains it.
 */
import type pg from 'pg'
import type { Catalog, TableInfo } from '../../catalog/tables.ts'
import { literalOrNull as lit, quoteIdent } from '../../util/sql.ts'
import { readBack, type ReadColumn } from '../dataset.ts'
import type { DataChange, Declared } from './declared.ts'

export interface Violation {
  /** row-missing | value-changed | column-dropped | table-dropped | rows-added | move | not-null | check | unique | foreign-key | hypertable | migration-failed | down-failed */
  check: string
  table?: string
  column?: string
  message: string
  /** A query that shows the violation on the migrated database. */
  query?: string
  /** Found after the registered jobs ran (the replay file then says to run them). */
  afterJobs?: boolean
}

export type Before = Map<string, { table: TableInfo; rows: Map<string, (string | null)[]>; counts: Map<string, number>; total: number }>

export const show = (v: string | null) => (v === null ? 'NULL' : JSON.stringify(v.length > 80 ? `${v.slice(0, 77)}…` : v))

function keyWhere(t: TableInfo, key: string): string {
  const vals = JSON.parse(key) as (string | null)[]
  const cols = t.primaryKey ?? t.columns.map((c) => c.name)
  return cols.map((c, i) => (vals[i] === null ? `${quoteIdent(c)} IS NULL` : `${quoteIdent(c)}::text = ${lit(vals[i]!)}`)).join(' AND ')
}

/** A missing row: its key, its values before migrating, how many copies of it are missing (tables without a key). */
export interface MissingRow {
  key: string
  row: (string | null)[]
  n: number
}

/**
 * After the registered jobs ran: decides which missing rows a retention policy explains (their
 * hypertable has one, and their time value is older than now() - drop_after), counts those per
 * policy and returns the others, each with the reason it is not explained.
 */
export interface RetentionExplainer {
  explain(tn: TableInfo, t: TableInfo, rows: MissingRow[]): Promise<(MissingRow & { why: string })[]>
}

export async function preservation(client: pg.ClientBase, before: Before, catN: Catalog, applied: Declared[], retention?: RetentionExplainer): Promise<Violation[]> {
  const out: Violation[] = []
  const decl = (kind: DataChange['kind'], table: string) => applied.filter((d) => d.change.kind === kind && 'table' in d.change && d.change.table === table)
  for (const [name, b] of before) {
    if (b.total === 0) continue
    const t = b.table
    const moves = applied.filter((d) => d.change.kind === 'move' && d.change.from === name)
    for (const mv of moves) out.push(...(await checkMove(client, b, mv.change as Extract<DataChange, { kind: 'move' }>, catN)))
    const tn = catN.tables.find((x) => x.name === name)
    if (!tn) {
      if (!moves.length && !decl('drop', name).some((d) => !(d.change as { columns?: string[] }).columns)) {
        out.push({ check: 'table-dropped', table: name, message: `table ${name} no longer exists: its ${b.total} row(s) are lost (no "drop" or "move" declared)` })
      }
      continue
    }
    const backfill = new Map<string, boolean>()
    for (const d of decl('backfill', name)) for (const c of (d.change as { columns: string[] }).columns) backfill.set(c, (backfill.get(c) ?? true) && !!(d.change as { onlyWhereNull?: boolean }).onlyWhereNull)
    const droppedCols = new Set(decl('drop', name).flatMap((d) => (d.change as { columns?: string[] }).columns ?? []))
    // Columns of k, as read after: same name; cast back to k's type when a migration changed it.
    const present: { i: number; col: ReadColumn }[] = []
    for (const [i, c] of t.columns.entries()) {
      const cn = tn.columns.find((x) => x.name === c.name)
      if (!cn) {
        const held = [...b.rows.values()].filter((r) => r[i] !== null).length
        if (held > 0 && !droppedCols.has(c.name) && !moves.length) {
          out.push({ check: 'column-dropped', table: name, column: c.name, message: `column ${name}.${c.name} was dropped: it held data in ${held} of ${b.total} row(s)`, query: `SELECT column_name FROM information_schema.columns WHERE table_schema = ${lit(t.schema)} AND table_name = ${lit(t.table)} AND column_name = ${lit(c.name)}` })
        }
        continue
      }
      present.push({ i, col: { name: c.name, expr: cn.type === c.type ? undefined : `${quoteIdent(c.name)}::${c.type}` } })
    }
    const keyCols = t.primaryKey
    const keyPos = keyCols ? keyCols.map((k) => present.findIndex((p) => p.col.name === k)) : null
    if (keyPos && keyPos.some((p) => p < 0)) continue // a key column was dropped: reported above
    let after
    try {
      after = await readBack(client, tn.sql, present.map((p) => p.col), keyPos)
    } catch {
      after = await readBack(client, tn.sql, present.map((p) => ({ name: p.col.name })), keyPos)
    }
    let afterTotal = 0
    for (const n of after.counts.values()) afterTotal += n
    const deletes = decl('delete', name).length > 0 || moves.length > 0
    const missingRows: MissingRow[] = []
    const changed = new Map<string, number>()
    for (const [key, row] of b.rows) {
      const k2 = keyCols ? key : JSON.stringify(present.map((p) => row[p.i] ?? null))
      const a = after.rows.get(k2)
      const need = keyCols ? 1 : (b.counts.get(key) ?? 1)
      if (!a || (after.counts.get(k2) ?? 0) < need) {
        if (!deletes) missingRows.push({ key, row, n: need - (after.counts.get(k2) ?? 0) })
        continue
      }
      if (!keyCols) continue
      for (const [j, p] of present.entries()) {
        const was = row[p.i] ?? null
        const now = a[j] ?? null
        if (was === now) continue
        if (backfill.has(p.col.name) && (!backfill.get(p.col.name) || was === null)) continue
        const n = (changed.get(p.col.name) ?? 0) + 1
        changed.set(p.col.name, n)
        if (n <= 3) {
          const why = backfill.has(p.col.name) ? 'the declared backfill is of NULLs only, and this value was not NULL' : 'no migration declares this change'
          out.push({
            check: 'value-changed',
            table: name,
            column: p.col.name,
            message: `${name}.${p.col.name} changed for primary key (${(JSON.parse(key) as (string | null)[]).map(show).join(', ')}): ${show(was)} → ${show(now)}; ${why}`,
            query: `SELECT ${quoteIdent(p.col.name)}::text AS now, ${was === null ? 'NULL' : lit(was)} AS was FROM ${tn.sql} WHERE ${keyWhere(t, key)}`,
          })
        }
      }
    }
    // After the jobs ran, a missing row a retention policy explains is a declared effect, not a loss.
    const unexplained = retention && missingRows.length ? await retention.explain(tn, t, missingRows) : missingRows.map((m) => ({ ...m, why: '' }))
    const when = retention ? 'after the registered jobs ran (CALL run_job)' : 'after migrating'
    for (const m of unexplained.slice(0, 5)) {
      out.push({
        check: 'row-missing',
        table: name,
        message: `${name}: the row with ${keyCols ? `primary key (${keyCols.join(', ')}) = (${(JSON.parse(m.key) as (string | null)[]).map(show).join(', ')})` : `values (${m.row.map(show).join(', ')})`} is gone ${when}${m.why ? `; ${m.why}` : ''}`,
        query: `SELECT count(*) FROM ${tn.sql} WHERE ${keyWhere(t, m.key)}`,
      })
    }
    if (unexplained.length > 5) out.push({ check: 'row-missing', table: name, message: `${name}: ${unexplained.length - 5} more row(s) are gone ${when}` })
    for (const [c, n] of changed) if (n > 3) out.push({ check: 'value-changed', table: name, column: c, message: `${name}.${c}: ${n - 3} more changed value(s)` })
    const inserts = decl('insert', name).length > 0 || applied.some((d) => d.change.kind === 'move' && d.change.to === name)
    if (afterTotal > b.total && !inserts) {
      out.push({ check: 'rows-added', table: name, message: `${name} has ${afterTotal} rows after migrating, ${b.total} before: rows were added and no migration declares an "insert"`, query: `SELECT count(*) AS now, ${b.total} AS was FROM ${tn.sql}` })
    }
  }
  return out
}

async function checkMove(client: pg.ClientBase, b: Before extends Map<string, infer V> ? V : never, mv: Extract<DataChange, { kind: 'move' }>, catN: Catalog): Promise<Violation[]> {
  const to = catN.tables.find((x) => x.name === mv.to)
  if (!to) return [{ check: 'move', table: mv.to, message: `declared move ${mv.from} → ${mv.to}: ${mv.to} does not exist after migrating` }]
  const from = b.table
  const common = from.columns.filter((c) => to.columns.some((x) => x.name === c.name))
  const keyIdx = mv.key.map((k) => common.findIndex((c) => c.name === k))
  if (keyIdx.some((i) => i < 0)) return [{ check: 'move', table: mv.to, message: `declared move ${mv.from} → ${mv.to}: key (${mv.key.join(', ')}) is not a column of both tables` }]
  const after = await readBack(client, to.sql, common.map((c) => ({ name: c.name, expr: `${quoteIdent(c.name)}::${c.type}` })), keyIdx)
  const out: Violation[] = []
  const missing: (string | null)[][] = []
  let differ = 0
  for (const row of b.rows.values()) {
    const vals = common.map((c) => row[from.columns.indexOf(c)] ?? null)
    const keyVals = keyIdx.map((i) => vals[i] ?? null)
    const a = after.rows.get(JSON.stringify(keyVals))
    if (!a) {
      missing.push(keyVals)
      continue
    }
    if (common.some((_, j) => (a[j] ?? null) !== vals[j])) differ++
  }
  if (missing.length) {
    // The source may be gone after migrating: the keys it had are listed in the query itself.
    const list = missing.slice(0, 50).map((k) => `(${k.map(lit).join(', ')})`).join(', ')
    const where = mv.key.map((k) => `t.${quoteIdent(k)}::text = f.${quoteIdent(k)}`).join(' AND ')
    out.push({
      check: 'move',
      table: mv.to,
      message: `declared move ${mv.from} → ${mv.to}: ${missing.length} of ${b.total} row(s) are missing in ${mv.to} (by ${mv.key.join(', ')})`,
      query: `SELECT f.* FROM (VALUES ${list}) AS f(${mv.key.map(quoteIdent).join(', ')}) WHERE NOT EXISTS (SELECT 1 FROM ${to.sql} t WHERE ${where})`,
    })
  }
  if (differ) out.push({ check: 'move', table: mv.to, message: `declared move ${mv.from} → ${mv.to}: ${differ} row(s) arrived with different values in the common columns` })
  return out
}
