/**
 * A generated dataset made real: raw rows (arbitraries.ts) are resolved table by table in
 * foreign-key order (children reference parents that were inserted, CHECKs not honoured by
 * construction are evaluated by query and violating rows dropped, duplicates of every unique
 * key dropped), inserted with parameterised multi-row INSERTs in one transaction, and read back.
 * `toSql()` renders exactly the statements that ran, with literals, for a replayable file.
 */
import { literal, quoteIdent, quoteQualified } from '../util/sql.ts'
import type pg from 'pg'
import { keyForm, orderValue, wordIn } from './arbitraries.ts'
import type { Cell, GenerationPlan, RawDataset, TablePlan } from './plan-types.ts'
import { type ColumnInfo, type TableInfo } from '../catalog/tables.ts'

export interface TableInsert {
  table: TableInfo
  columns: ColumnInfo[]
  /** What was sent: a text value, NULL, or DEFAULT (undefined). */
  rows: Cell[][]
  /** What the engine stored (RETURNING, text form): defaults and sequences filled in. */
  stored?: (string | null)[][]
  /**
   * Added to a database that already holds rows (the data property's chain): a row whose key
   * exists is skipped (ON CONFLICT DO NOTHING) rather than failing the dataset; `stored` then
   * holds only the rows that went in.
   */
  skipExisting?: boolean
}

export interface DatasetStats {
  /** Rows inserted. */
  rows: number
  /** Candidate rows dropped: a NOT NULL foreign key with no parent row to point at. */
  droppedNoParent: number
  /** Candidate rows dropped as duplicates of a unique key. */
  droppedDuplicate: number
  /** Candidate rows dropped because a CHECK (evaluated by query) said no, per constraint. */
  droppedByCheck: Record<string, number>
  /** Rows whose two-column comparison was repaired (values swapped or aligned). */
  repaired: number
}

export interface Dataset {
  inserts: TableInsert[]
  stats: DatasetStats
}

export interface InsertOutcome {
  dataset: Dataset
  /** The engine refused the dataset (a gap in the generator): rolled back, nothing inserted. */
  error?: { table: string; message: string; code?: string }
}

type Returned = Record<string, string | null>

/**
 * Resolves and inserts `raw` in one transaction. On an engine error the transaction is rolled
 * back and the error returned (the caller counts it as a rejected dataset).
 */
export async function insertDataset(client: pg.ClientBase, plan: GenerationPlan, raw: RawDataset, options: { skipExisting?: boolean } = {}): Promise<InsertOutcome> {
  const stats: DatasetStats = { rows: 0, droppedNoParent: 0, droppedDuplicate: 0, droppedByCheck: {}, repaired: 0 }
  const inserts: TableInsert[] = []
  const inserted = new Map<string, Returned[]>()
  const external = new Map<string, Returned[]>()
  let current = ''
  await client.query('BEGIN')
  try {
    for (const [i, tp] of plan.tables.entries()) {
      current = tp.table.name
      let rows = await materialise(client, tp, raw[i] ?? [], inserted, external, stats)
      if (rows.length && options.skipExisting) rows = await dropDeclaredExisting(client, tp, rows, stats)
      if (rows.length === 0) {
        inserted.set(tp.table.name, [])
        continue
      }
      const ins: TableInsert = { table: tp.table, columns: tp.columns, rows, ...(options.skipExisting ? { skipExisting: true } : {}) }
      const { text, values } = insertStatement(ins)
      const r = await client.query({ text, values, rowMode: 'array' })
      ins.stored = r.rows as (string | null)[][]
      // Rows whose key the database already held were skipped: duplicates, as within a dataset.
      stats.droppedDuplicate += rows.length - ins.stored.length
      inserted.set(
        tp.table.name,
        ins.stored.map((row) => Object.fromEntries(tp.columns.map((c, j) => [c.name, row[j] ?? null]))),
      )
      inserts.push(ins)
      stats.rows += ins.stored.length
    }
    await client.query('COMMIT')
    return { dataset: { inserts, stats } }
  } catch (e) {
    await client.query('ROLLBACK').catch(() => {})
    const err = e as { message: string; code?: string }
    return { dataset: { inserts, stats }, error: { table: current, message: err.message, code: err.code } }
  }
}

async function parentRows(client: pg.ClientBase, refTable: string, refColumns: string[], inserted: Map<string, Returned[]>, external: Map<string, Returned[]>): Promise<Returned[]> {
  const own = inserted.get(refTable)
  if (own) return own
  const key = `${refTable}(${refColumns.join(',')})`
  let rows = external.get(key)
  if (!rows) {
    // A parent outside the generated set (another schema, a skipped table, the log): reference
    // rows that are already there.
    const cols = refColumns.map(quoteIdent)
    const r = await client
      .query({ text: `SELECT ${cols.map((c) => `${c}::text`).join(', ')} FROM ${quoteQualified(refTable)} WHERE ${cols.map((c) => `${c} IS NOT NULL`).join(' AND ')} ORDER BY ${cols.join(', ')} LIMIT 64`, rowMode: 'array' })
      .catch(() => ({ rows: [] as unknown[] }))
    rows = (r.rows as (string | null)[][]).map((row) => Object.fromEntries(refColumns.map((c, j) => [c, row[j] ?? null])))
    external.set(key, rows)
  }
  return rows
}

async function materialise(client: pg.ClientBase, tp: TablePlan, raws: RawDataset[number], inserted: Map<string, Returned[]>, external: Map<string, Returned[]>, stats: DatasetStats): Promise<Cell[][]> {
  const nullableAt = (j: number) => !tp.columns[j]!.notNull && !tp.rules.get(tp.columns[j]!.name)?.notNull
  let rows: Cell[][] = []
  for (const r of raws) {
    const v: Cell[] = r.values.map((x, j) => (tp.alwaysDefault[j] ? undefined : x))
    let keep = true
    for (const [fi, f] of tp.fks.entries()) {
      const slot = r.refs[fi] ?? null
      const nullOut = () => f.columns.forEach((j) => nullableAt(j) && (v[j] = null))
      if (slot === null) {
        nullOut()
        continue
      }
      const parents = f.self
        ? rows.map((row) => Object.fromEntries(tp.columns.map((c, j) => [c.name, row[j] ?? null]))).filter((p) => f.fk.refColumns.every((c) => typeof p[c] === 'string'))
        : await parentRows(client, f.fk.refTable, f.fk.refColumns, inserted, external)
      if (parents.length === 0) {
        if (f.nullable) nullOut()
        else keep = false
        continue
      }
      const p = parents[slot % parents.length]!
      f.columns.forEach((j, k) => (v[j] = p[f.fk.refColumns[k]!] ?? null))
    }
    // Two foreign keys sharing a column may have undone each other: every key must still match a parent.
    for (const f of tp.fks) {
      if (!keep) break
      const vals = f.columns.map((j) => v[j])
      if (vals.some((x) => x === null || x === undefined)) continue
      if (f.self) continue
      const parents = await parentRows(client, f.fk.refTable, f.fk.refColumns, inserted, external)
      const ok = parents.some((p) => f.fk.refColumns.every((c, k) => p[c] === vals[k]))
      if (!ok) {
        if (f.nullable) f.columns.forEach((j) => nullableAt(j) && (v[j] = null))
        else keep = false
      }
    }
    if (!keep) {
      stats.droppedNoParent++
      continue
    }
    for (const rp of tp.repairs) {
      const a = v[rp.greater]
      const b = v[rp.lesser]
      if (typeof a !== 'string' || typeof b !== 'string') continue
      const ca = tp.columns[rp.greater]!
      const cb = tp.columns[rp.lesser]!
      const oa = orderValue(ca, a)
      const ob = orderValue(cb, b)
      if (oa === undefined || ob === undefined) continue
      if (oa > ob || (!rp.strict && oa === ob)) continue
      const time = tp.table.hypertable?.timeColumn
      if (ca.name === time) v[rp.lesser] = a
      else if (cb.name === time) v[rp.greater] = b
      else {
        v[rp.greater] = b
        v[rp.lesser] = a
      }
      stats.repaired++
    }
    rows.push(v)
  }
  if (rows.length && tp.filterChecks.length) rows = await filterByChecks(client, tp, rows, stats)
  if (rows.length) rows = await dedupe(client, tp, rows, stats)
  return rows
}

/** Evaluates the CHECKs not honoured by construction on the candidate rows, by query; drops the rows they reject. */
async function filterByChecks(client: pg.ClientBase, tp: TablePlan, rows: Cell[][], stats: DatasetStats): Promise<Cell[][]> {
  const cols = tp.columns.map((c, j) => ({ c, j })).filter(({ c }) => tp.filterChecks.some((ch) => ch.columns.includes(c.name) || wordIn(c.name, ch.expression)))
  const evaluate = async (subset: { row: Cell[]; i: number }[]): Promise<unknown[][]> => {
    const { sql, values } = valuesList(
      subset.map((s) => s.row),
      cols,
      subset.map((s) => s.i),
    )
    const q = `SELECT v.i, ${tp.filterChecks.map((ch) => `COALESCE(NOT (${ch.expression}), false)`).join(', ')} FROM (VALUES ${sql}) AS v(i${cols.map(({ c }) => `, ${quoteIdent(c.name)}`).join('')})`
    await client.query('SAVEPOINT pgverify_filter')
    try {
      const r = await client.query({ text: q, values, rowMode: 'array' })
      await client.query('RELEASE SAVEPOINT pgverify_filter')
      return r.rows as unknown[][]
    } catch (e) {
      await client.query('ROLLBACK TO SAVEPOINT pgverify_filter')
      await client.query('RELEASE SAVEPOINT pgverify_filter')
      throw e
    }
  }
  const all = rows.map((row, i) => ({ row, i }))
  const bad = new Set<number>()
  let result: unknown[][] = []
  try {
    result = await evaluate(all)
  } catch {
    // A CHECK that errors on some row (an overflow in `a + b`, a bad cast) errors on insert too:
    // evaluate row by row and drop the rows it errors on.
    for (const one of all) {
      try {
        result.push(...(await evaluate([one])))
      } catch {
        bad.add(one.i)
        stats.droppedByCheck['(error evaluating a CHECK)'] = (stats.droppedByCheck['(error evaluating a CHECK)'] ?? 0) + 1
      }
    }
  }
  for (const row of result) {
    tp.filterChecks.forEach((ch, k) => {
      if (row[k + 1] === true) {
        bad.add(Number(row[0]))
        stats.droppedByCheck[ch.name] = (stats.droppedByCheck[ch.name] ?? 0) + 1
      }
    })
  }
  return rows.filter((_, i) => !bad.has(i))
}

function valuesList(rows: Cell[][], cols: { c: ColumnInfo; j: number }[], ids?: number[]): { sql: string; values: unknown[] } {
  const values: unknown[] = []
  const sql = rows
    .map((row, i) => {
      values.push(ids?.[i] ?? i)
      const parts = [`$${values.length}::int`]
      for (const { c, j } of cols) {
        values.push(row[j] ?? null)
        parts.push(`$${values.length}::${c.type}`)
      }
      return `(${parts.join(', ')})`
    })
    .join(', ')
  return { sql, values }
}

/**
 * A unique key a later migration declares (a precondition, no index yet) cannot skip rows by
 * ON CONFLICT: candidate rows whose plain key the table already holds are dropped by query (the
 * engine's own equality), so the data carried forward keeps satisfying the precondition.
 */
async function dropDeclaredExisting(client: pg.ClientBase, tp: TablePlan, rows: Cell[][], stats: DatasetStats): Promise<Cell[][]> {
  let out = rows
  for (const u of tp.uniques) {
    if (!u.unique.declaredBy || !u.columns || !u.columns.every((j) => j >= 0) || out.length === 0) continue
    const cols = u.columns.map((j) => ({ c: tp.columns[j]!, j }))
    const { sql, values } = valuesList(out, cols)
    const match = cols.map(({ c }) => `t.${quoteIdent(c.name)} = v.${quoteIdent(c.name)}`).join(' AND ')
    const r = await client.query({
      text: `SELECT v.i FROM (VALUES ${sql}) AS v(i${cols.map(({ c }) => `, ${quoteIdent(c.name)}`).join('')}) WHERE EXISTS (SELECT 1 FROM ${tp.table.sql} t WHERE ${match})`,
      values,
      rowMode: 'array',
    })
    const taken = new Set((r.rows as unknown[][]).map((x) => Number(x[0])))
    stats.droppedDuplicate += taken.size
    out = out.filter((_, i) => !taken.has(i))
  }
  return out
}

/** Keeps the first row of every unique key (primary key first); NULLs are distinct unless NULLS NOT DISTINCT. */
async function dedupe(client: pg.ClientBase, tp: TablePlan, rows: Cell[][], stats: DatasetStats): Promise<Cell[][]> {
  let out = rows
  for (const u of tp.uniques) {
    let keys: (string | null)[][]
    let inIndex: boolean[] = out.map(() => true)
    if (u.columns && u.columns.every((j) => j >= 0)) {
      keys = out.map((row) => u.columns!.map((j) => (typeof row[j] === 'string' ? keyForm(tp.columns[j]!, row[j] as string) : null)))
      // A DEFAULT in a key column: its value is the engine's to choose (a sequence): not comparable here.
      inIndex = out.map((row) => u.columns!.every((j) => row[j] !== undefined))
    } else {
      const mentioned = (c: ColumnInfo) => u.unique.expressions.some((e) => wordIn(c.name, e)) || (u.unique.predicate !== null && wordIn(c.name, u.unique.predicate))
      const cols = tp.columns.map((c, j) => ({ c, j })).filter(({ c }) => mentioned(c))
      const { sql, values } = valuesList(out, cols)
      const pred = u.unique.predicate ? `COALESCE((${u.unique.predicate}), false)` : 'true'
      const r = await client.query({
        text: `SELECT v.i, ARRAY[${u.unique.expressions.map((e) => `(${e})::text`).join(', ')}], ${pred} FROM (VALUES ${sql}) AS v(i${cols.map(({ c }) => `, ${quoteIdent(c.name)}`).join('')}) ORDER BY v.i`,
        values,
        rowMode: 'array',
      })
      keys = (r.rows as unknown[][]).map((row) => row[1] as (string | null)[])
      inIndex = (r.rows as unknown[][]).map((row) => row[2] === true)
    }
    const seen = new Set<string>()
    const keep: Cell[][] = []
    out.forEach((row, i) => {
      const k = keys[i]!
      if (!inIndex[i] || (!u.unique.nullsNotDistinct && k.some((x) => x === null))) {
        keep.push(row)
        return
      }
      const id = JSON.stringify(k)
      if (seen.has(id)) {
        stats.droppedDuplicate++
        return
      }
      seen.add(id)
      keep.push(row)
    })
    out = keep
  }
  return out
}

export function insertStatement(ins: TableInsert): { text: string; values: (string | null)[] } {
  const values: (string | null)[] = []
  const rows = ins.rows.map(
    (row) =>
      `(${row
        .map((cell) => {
          if (cell === undefined) return 'DEFAULT'
          values.push(cell)
          return `$${values.length}`
        })
        .join(', ')})`,
  )
  const cols = ins.columns.map((c) => quoteIdent(c.name))
  return {
    text: `INSERT INTO ${ins.table.sql} (${cols.join(', ')}) VALUES ${rows.join(', ')}${ins.skipExisting ? ' ON CONFLICT DO NOTHING' : ''} RETURNING ${cols.map((c) => `${c}::text`).join(', ')}`,
    values,
  }
}

/**
 * The INSERTs with literals, replayable with psql on a database at the same version: as they
 * ran (DEFAULT where the generator left a column to its default), or with `stored` the values
 * the engine stored (defaults such as now() and sequence values filled in, so a replay gives
 * exactly the same rows).
 */
export function toSql(dataset: Dataset | TableInsert[], options: { stored?: boolean } = {}): string {
  const inserts = Array.isArray(dataset) ? dataset : dataset.inserts
  const out: string[] = []
  for (const ins of inserts) {
    // With skipExisting, `stored` holds the rows that went in (fewer than sent when keys existed).
    const stored = options.stored && ins.stored && (ins.skipExisting || ins.stored.length === ins.rows.length) ? ins.stored : undefined
    const cells: Cell[][] = stored ?? ins.rows
    if (cells.length === 0) continue
    const rows = cells.map((row) => `  (${row.map((cell) => (cell === undefined ? 'DEFAULT' : cell === null ? 'NULL' : literal(cell))).join(', ')})`)
    const overriding = stored && ins.columns.some((c) => c.identity === 'a') ? ' OVERRIDING SYSTEM VALUE' : ''
    const conflict = ins.skipExisting && !stored ? '\nON CONFLICT DO NOTHING' : ''
    out.push(`INSERT INTO ${ins.table.sql} (${ins.columns.map((c) => quoteIdent(c.name)).join(', ')})${overriding} VALUES\n${rows.join(',\n')}${conflict};`)
  }
  return out.join('\n')
}

export interface ReadColumn {
  name: string
  /** SQL producing the value (default: the quoted column); it is cast to text. */
  expr?: string
}

export interface ReadBack {
  /** Key → the row's values (text form) in the order of the columns asked for. */
  rows: Map<string, (string | null)[]>
  /** Key → how many rows have it (more than 1 only without a primary key). */
  counts: Map<string, number>
}

/**
 * Reads a table's rows keyed by its primary key (`key` = indexes into `columns`), or by all the
 * columns asked for when there is none (then equal rows are counted).
 */
export async function readBack(client: pg.ClientBase, table: string, columns: ReadColumn[], key: number[] | null): Promise<ReadBack> {
  const list = columns.map((c) => `(${c.expr ?? quoteIdent(c.name)})::text`)
  const r = await client.query({ text: `SELECT ${list.length ? list.join(', ') : 'NULL'} FROM ${table}`, rowMode: 'array' })
  const rows = new Map<string, (string | null)[]>()
  const counts = new Map<string, number>()
  for (const row of r.rows as (string | null)[][]) {
    const vals = columns.length ? row : []
    const k = JSON.stringify(key ? key.map((i) => vals[i] ?? null) : vals)
    rows.set(k, vals)
    counts.set(k, (counts.get(k) ?? 0) + 1)
  }
  return { rows, counts }
}
