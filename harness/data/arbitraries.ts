/**
 * fast-check arbitraries derived from a live catalog (harness/catalog/tables.ts), never written per
 * table: the plan per table here, CHECK parsing in check-parse.ts, values in value-arbitraries.ts.
 *
 * A generated dataset is raw: per table (in foreign-key order) a list of rows, each row a cell
 * per insertable column (a value in PostgreSQL's text input form, `null` for NULL, `undefined`
 * for DEFAULT) and a "slot" per foreign key (which parent row to reference, or null). dataset.ts
 * turns it into rows the engine accepts: children point at parents that were really inserted,
 * duplicates of a unique key are dropped, and CHECKs this module could not honour by
 * construction are evaluated by query and the rows violating them dropped (counted).
 *
 * Honoured by construction: the type's range (min/max of each integer type, numeric precision
 * and scale, varchar/char length), NOT NULL, enum labels, and the CHECK conjuncts that constrain
 * one column: ranges (`x >= a`, `x <= b`, BETWEEN), `IN (...)` / `= ANY (ARRAY[...])`,
 * `<>`, `length(x) <= n`, `x IS NOT NULL`, also under `x IS NULL OR …`. Two-column comparisons
 * (`end >= start`) are repaired by swapping the two values. Hypertable time columns get values
 * spanning several chunks of the hypertable's chunk interval, including values exactly at chunk
 * boundaries and one microsecond on either side.
 */
import fc from 'fast-check'
import type { Catalog, CheckInfo, ColumnInfo, TableInfo } from '../catalog/tables.ts'
import { topologicalOrder } from '../catalog/tables.ts'
import { parseCheck } from './check-parse.ts'
import { DEFAULT_ANCHOR_US, type Cell, type ColumnRule, type FkPlan, type GenerationOptions, type GenerationPlan, type RawDataset, type RawRow, type Repair, type TablePlan, type UniquePlan } from './plan-types.ts'
import { columnArb } from './value-arbitraries.ts'

// ---- plans --------------------------------------------------------------------------------------

/** Whether an SQL expression mentions the column (bare or quoted). */
export const wordIn = (name: string, sql: string) => new RegExp(`(^|[^\\w"$])(${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}|"${name.replace(/"/g, '""').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}")($|[^\\w"$])`).test(sql)

/**
 * Plans already made for a table, shared by the plans of several catalogs (the data properties
 * keep one per version): a table that did not change between versions is one object
 * (interned), and its plan depends only on it and on what is passed in `TableContext`.
 */
export type PlanMemo = WeakMap<TableInfo, Map<string, TableOutcome>>

type TableOutcome = { plan: TablePlan; arb: fc.Arbitrary<RawRow[]> } | { skipped: string }

/** What a table's plan depends on besides the table itself. */
interface TableContext {
  anchorUs: number
  options: GenerationOptions
  /** Its columns other tables' foreign keys reference. */
  referenced: Set<string> | undefined
  /** Per foreign key: the parent is generated before it, or is no table of the catalog. */
  parentKnown: boolean[]
}

export function buildPlan(catalog: Catalog, options: GenerationOptions = {}, memo?: PlanMemo): { plan: GenerationPlan; arbitrary: fc.Arbitrary<RawDataset> } {
  const anchorUs = options.anchor ? options.anchor.getTime() * 1000 : DEFAULT_ANCHOR_US
  const { order, cut } = topologicalOrder(catalog.tables)
  const skipped: { table: string; reason: string }[] = []
  const referenced = new Map<string, Set<string>>()
  for (const t of catalog.tables) for (const f of t.foreignKeys) for (const c of f.refColumns) (referenced.get(f.refTable) ?? referenced.set(f.refTable, new Set()).get(f.refTable)!).add(c)
  const generated = new Set<string>()
  const plans: TablePlan[] = []
  const arbs: fc.Arbitrary<RawRow[]>[] = []
  for (const t of order) {
    const context: TableContext = {
      anchorUs,
      options,
      referenced: referenced.get(t.name),
      parentKnown: t.foreignKeys.map((f) => f.refTable === t.name || generated.has(f.refTable) || !catalog.tables.some((x) => x.name === f.refTable)),
    }
    const key = JSON.stringify([anchorUs, options.maxRows, options.maxHypertableRows, [...(context.referenced ?? [])].sort(), context.parentKnown])
    let made = memo?.get(t)?.get(key)
    if (!made) {
      made = planTable(t, context)
      if (memo) (memo.get(t) ?? memo.set(t, new Map()).get(t)!).set(key, made)
    }
    if ('skipped' in made) {
      skipped.push({ table: t.name, reason: made.skipped })
      continue
    }
    plans.push(made.plan)
    arbs.push(made.arb)
    generated.add(t.name)
  }
  const arbitrary = (arbs.length ? fc.tuple(...arbs) : fc.constant([])) as fc.Arbitrary<RawDataset>
  return { plan: { tables: plans, skipped, cut }, arbitrary }
}

function planTable(t: TableInfo, { anchorUs, options, referenced, parentKnown }: TableContext): TableOutcome {
  const columns = t.columns.filter((c) => !c.generated)
  const alwaysDefault = columns.map((c) => c.serial)
  const rules = new Map<string, ColumnRule>(columns.map((c) => [c.name, { notIn: [] }]))
  const fkCols = new Set(t.foreignKeys.flatMap((f) => f.columns))
  const repairs: Repair[] = []
  const filterChecks: CheckInfo[] = []
  for (const ch of t.checks) {
    const p = parseCheck(ch.expression)
    for (const r of p.rules) {
      const rule = rules.get(r.column)
      if (rule) r.apply(rule)
    }
    if (!p.complete) filterChecks.push(ch)
    for (const c of p.compares) {
      const a = columns.findIndex((x) => x.name === c.a)
      const b = columns.findIndex((x) => x.name === c.b)
      if (a < 0 || b < 0 || fkCols.has(c.a) || fkCols.has(c.b) || columns[a]!.base.name !== columns[b]!.base.name || columns[a]!.base.array) continue
      const [greater, lesser] = c.op.startsWith('>') ? [a, b] : [b, a]
      repairs.push({ check: ch.name, greater, lesser, strict: c.op === '>' || c.op === '<' })
    }
  }
  // Columns a query must see with their real value (never DEFAULT): keys, referenced columns,
  // columns of CHECKs and unique expressions evaluated by query.
  const pinned = new Set<string>()
  for (const u of t.uniques) {
    if (u.columns) u.columns.forEach((c) => pinned.add(c))
    else for (const c of columns) if (u.expressions.some((e) => wordIn(c.name, e)) || (u.predicate && wordIn(c.name, u.predicate))) pinned.add(c.name)
    if (u.predicate) for (const c of columns) if (wordIn(c.name, u.predicate)) pinned.add(c.name)
  }
  for (const ch of filterChecks) {
    ch.columns.forEach((c) => pinned.add(c))
    for (const c of columns) if (wordIn(c.name, ch.expression)) pinned.add(c.name)
  }
  for (const c of referenced ?? []) pinned.add(c)
  if (t.hypertable) pinned.add(t.hypertable.timeColumn)

  const cells: fc.Arbitrary<Cell>[] = []
  const generators = new Map<string, string>()
  let unsupported: string | undefined
  for (const [i, c] of columns.entries()) {
    const rule = rules.get(c.name)!
    const notNull = c.notNull || rule.notNull === true
    if (alwaysDefault[i]) {
      cells.push(fc.constant(undefined))
      generators.set(c.name, 'DEFAULT (sequence/identity)')
      continue
    }
    const made = columnArb(c, rule, { anchorUs, ht: t.hypertable, isTime: t.hypertable?.timeColumn === c.name })
    const omittable = c.default !== null && !pinned.has(c.name)
    if (!made) {
      if (fkCols.has(c.name)) cells.push(fc.constant(null))
      else if (!notNull) cells.push(fc.constant(null))
      else if (c.default !== null) cells.push(fc.constant(undefined))
      else {
        unsupported = `column ${c.name} (${c.type}) is NOT NULL without a default, and the generator has no value for it (unknown type, or no value satisfies its CHECKs)`
        break
      }
      generators.set(c.name, `unsupported type ${c.type}: ${notNull ? 'DEFAULT' : 'NULL'}`)
      continue
    }
    let arb: fc.Arbitrary<Cell> = made.arb
    if (!notNull) arb = fc.option(made.arb, { freq: 5, nil: null })
    if (omittable) arb = fc.oneof({ withCrossShrink: true }, { weight: 1, arbitrary: fc.constant(undefined) }, { weight: 3, arbitrary: arb })
    cells.push(arb)
    generators.set(c.name, `${made.how}${notNull ? '' : ', NULL'}${omittable ? ', DEFAULT' : ''}`)
  }
  if (unsupported) return { skipped: unsupported }
  const fks: FkPlan[] = []
  let orphan: string | undefined
  for (const [fi, f] of t.foreignKeys.entries()) {
    const idx = f.columns.map((c) => columns.findIndex((x) => x.name === c))
    if (idx.some((i) => i < 0)) continue
    const nullable = f.columns.some((c) => !columns.find((x) => x.name === c)!.notNull && !rules.get(c)!.notNull)
    const self = f.refTable === t.name
    if (!parentKnown[fi] && !nullable) orphan = `its NOT NULL foreign key ${f.name} references ${f.refTable}, which is not generated`
    fks.push({ fk: f, columns: idx, nullable, self })
  }
  if (orphan) return { skipped: orphan }
  const uniques: UniquePlan[] = t.uniques.map((u) => ({
    unique: u,
    columns: u.columns && !u.predicate ? u.columns.map((c) => columns.findIndex((x) => x.name === c)) : null,
  }))
  const maxRows = t.hypertable ? (options.maxHypertableRows ?? 12) : (options.maxRows ?? 6)
  const refs = fks.map((f) => (f.nullable ? fc.option(fc.nat({ max: 63 }), { freq: 6, nil: null }) : fc.nat({ max: 63 })))
  const row = fc.record({ values: fc.tuple(...cells), refs: fc.tuple(...refs) }) as fc.Arbitrary<RawRow>
  // size 'max': lengths spread over 0…maxRows (rows are cheap next to the migrations themselves).
  return { plan: { table: t, columns, alwaysDefault, fks, repairs, filterChecks, uniques, rules, generators, maxRows }, arb: fc.array(row, { maxLength: maxRows, size: 'max' }) }
}

/** Value used to compare keys for uniqueness the way PostgreSQL's equality does, for the generated forms. */
export function keyForm(col: ColumnInfo, v: string): string {
  if (col.base.array) return v
  switch (col.base.name) {
    case 'double precision':
    case 'real':
      return v === '-0' ? '0' : v
    case 'character':
      return v.replace(/ +$/, '')
    case 'numeric': {
      if (!/^-?\d/.test(v)) return v
      const [i, f = ''] = v.replace(/^-/, '').split('.')
      const frac = f.replace(/0+$/, '')
      const int = i!.replace(/^0+(?=\d)/, '')
      const zero = /^0*$/.test(int) && frac === ''
      return `${v.startsWith('-') && !zero ? '-' : ''}${int}${frac ? '.' + frac : ''}`
    }
    case 'uuid':
      return v.toLowerCase()
    default:
      return v
  }
}

/** A sortable number for two-column comparisons (timestamps, dates, numbers); undefined when not comparable. */
export function orderValue(col: ColumnInfo, v: string): number | undefined {
  if (v === 'infinity' || v === 'Infinity') return Infinity
  if (v === '-infinity' || v === '-Infinity') return -Infinity
  if (v === 'NaN') return Infinity
  switch (col.base.name) {
    case 'timestamp with time zone':
    case 'timestamp without time zone': {
      const ms = Date.parse(v.endsWith('Z') ? v : `${v}Z`)
      const us = /\.\d{3}(\d{3})/.exec(v)?.[1]
      return Number.isNaN(ms) ? undefined : ms * 1000 + Number(us ?? 0)
    }
    case 'date':
      return Date.parse(`${v}T00:00:00Z`)
    case 'smallint':
    case 'integer':
    case 'bigint':
    case 'numeric':
    case 'double precision':
    case 'real': {
      const n = Number(v)
      return Number.isNaN(n) ? undefined : n
    }
    default:
      return undefined
  }
}
