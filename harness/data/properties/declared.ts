/**
 * Declared data changes (next to the migration, in manifest.json → migrations[name].dataChanges):
 *   { "kind": "backfill", "table": "s.t", "columns": ["c"], "onlyWhereNull": true }  values of these columns may change (only NULLs, with onlyWhereNull)
 *   { "kind": "insert",   "table": "s.t" }                                          rows may be added
 *   { "kind": "delete",   "table": "s.t" }                                          rows may disappear
 *   { "kind": "drop",     "table": "s.t", "columns": ["c"] }                        the columns (or, without columns, the table) are dropped with their data
 *   { "kind": "move", "from": "s.t1", "to": "s.t2", "key": ["id"] }                 every row of t1 is in t2 (by key, same values in the common columns); t1 may be emptied or dropped
 *   { "kind": "requires", "table": "s.t", "check": "expr" | "unique": ["expr"] | "foreignKey": {…} }
 *                                                                                   a precondition: the migration refuses (fails, rolled back) data that violates it;
 *                                                                                   generated data at earlier versions satisfies it, and the stage lists it.
 */
import path from 'node:path'
import type { Catalog } from '../../catalog/tables.ts'
import { HarnessError } from '../../errors.ts'
import type { Manifest } from '../../manifest/manifest.ts'
import type { Migration } from '../../sql/migration.ts'
import { quoteIdent } from '../../util/sql.ts'
import { wordIn } from '../arbitraries.ts'

export type DataChange =
  | { kind: 'backfill'; table: string; columns: string[]; onlyWhereNull?: boolean; note?: string }
  | { kind: 'insert'; table: string; note?: string }
  | { kind: 'delete'; table: string; note?: string }
  | { kind: 'drop'; table: string; columns?: string[]; note?: string }
  | { kind: 'move'; from: string; to: string; key: string[]; note?: string }
  | {
      kind: 'requires'
      table: string
      check?: string
      unique?: string[]
      foreignKey?: { columns: string[]; references: string; refColumns: string[] }
      note?: string
    }

export interface Declared {
  migration: string
  version: number
  change: DataChange
}

const KINDS = ['backfill', 'insert', 'delete', 'drop', 'move', 'requires']

/** The data changes and preconditions manifest.json declares, validated against the migrations, by version. */
export function dataChanges(ctx: { manifest?: Manifest; migrations: Migration[]; dir: string }): Declared[] {
  const out: Declared[] = []
  const entries = (ctx.manifest?.migrations ?? {}) as Record<string, { dataChanges?: unknown }>
  for (const [name, entry] of Object.entries(entries)) {
    const list = entry?.dataChanges
    if (list === undefined) continue
    const where = `${path.join(ctx.dir, 'manifest.json')}: migrations["${name}"].dataChanges`
    const bad = (msg: string, i?: number) =>
      new HarnessError('MANIFEST_INVALID', `${where}${i === undefined ? '' : `[${i}]`}: ${msg}`, {
        hint: 'Each entry is e.g. {"kind": "backfill", "table": "schema.table", "columns": ["col"]}; kinds: ' + KINDS.join(', ') + ' (see harness/data/properties/declared.ts).',
      })
    const m = ctx.migrations.find((x) => x.name === name)
    if (!m) throw bad(`no migration file ${name}.sql`)
    if (!Array.isArray(list)) throw bad('must be an array')
    list.forEach((c: Record<string, unknown>, i) => {
      const qualified = (v: unknown) => typeof v === 'string' && /^[^.\s]+\.[^.\s]+$/.test(v)
      const strings = (v: unknown) => Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string')
      if (typeof c !== 'object' || c === null || !KINDS.includes(c.kind as string)) throw bad(`unknown kind ${JSON.stringify(c?.kind)} (expected ${KINDS.join(', ')})`, i)
      if (c.kind === 'move') {
        if (!qualified(c.from) || !qualified(c.to)) throw bad('"from" and "to" must be qualified table names (schema.table)', i)
        if (!strings(c.key)) throw bad('"key" must list the key columns', i)
      } else if (!qualified(c.table)) throw bad('"table" must be a qualified table name (schema.table)', i)
      if (c.kind === 'backfill' && !strings(c.columns)) throw bad('"columns" must list the backfilled columns', i)
      if (c.kind === 'drop' && c.columns !== undefined && !strings(c.columns)) throw bad('"columns" must list the dropped columns', i)
      if (c.kind === 'requires') {
        const fk = c.foreignKey as Record<string, unknown> | undefined
        const n = [c.check, c.unique, fk].filter((x) => x !== undefined).length
        if (n !== 1) throw bad('a "requires" entry has exactly one of "check", "unique", "foreignKey"', i)
        if (c.check !== undefined && typeof c.check !== 'string') throw bad('"check" must be an SQL boolean expression', i)
        if (c.unique !== undefined && !strings(c.unique)) throw bad('"unique" must list key columns or expressions', i)
        if (fk !== undefined && (!strings(fk.columns) || !qualified(fk.references) || !strings(fk.refColumns))) throw bad('"foreignKey" needs "columns", "references" (schema.table) and "refColumns"', i)
      }
      out.push({ migration: name, version: m.version, change: c as unknown as DataChange })
    })
  }
  return out.sort((a, b) => a.version - b.version)
}

export const describeChange = (d: Declared): string => {
  const c = d.change
  const note = c.note ? ` — ${c.note}` : ''
  switch (c.kind) {
    case 'backfill':
      return `${d.migration}: backfill ${c.table} (${c.columns.join(', ')})${c.onlyWhereNull ? ', only where NULL' : ''}${note}`
    case 'insert':
    case 'delete':
      return `${d.migration}: ${c.kind} rows of ${c.table}${note}`
    case 'drop':
      return `${d.migration}: drop ${c.columns ? `columns ${c.columns.join(', ')} of ` : 'table '}${c.table}${note}`
    case 'move':
      return `${d.migration}: move ${c.from} → ${c.to} by (${c.key.join(', ')})${note}`
    case 'requires':
      return `${d.migration}: requires on ${c.table}: ${c.check ?? (c.unique ? `UNIQUE (${c.unique.join(', ')})` : `FOREIGN KEY (${c.foreignKey!.columns.join(', ')}) → ${c.foreignKey!.references}`)}${note}`
  }
}

/** The catalog at k plus the preconditions later migrations declare, as constraints the generator honours. */
export function withPreconditions(cat: Catalog, declared: Declared[], k: number): { catalog: Catalog; applied: string[] } {
  const applied: string[] = []
  const tables = cat.tables.map((t) => ({ ...t, checks: [...t.checks], uniques: [...t.uniques], foreignKeys: [...t.foreignKeys] }))
  declared.forEach((d, i) => {
    const c = d.change
    if (c.kind !== 'requires' || d.version <= k) return
    const t = tables.find((x) => x.name === c.table)
    if (!t) return
    const name = `requires ${d.migration} #${i}`
    if (c.check !== undefined) {
      const cols = t.columns.filter((col) => wordIn(col.name, c.check!)).map((col) => col.name)
      t.checks.push({ name, expression: c.check, columns: cols, validated: true, declaredBy: d.migration })
    } else if (c.unique) {
      const has = (x: string) => t.columns.some((col) => col.name === x)
      const plain = c.unique.every(has)
      if (!t.columns.some((col) => c.unique!.some((e) => wordIn(col.name, e)))) return
      t.uniques.push({ name, primary: false, columns: plain ? c.unique : null, expressions: c.unique.map((e) => (has(e) ? quoteIdent(e) : `(${e})`)), predicate: null, nullsNotDistinct: false, declaredBy: d.migration })
    } else if (c.foreignKey) {
      if (!c.foreignKey.columns.every((x) => t.columns.some((col) => col.name === x))) return
      t.foreignKeys.push({ name, columns: c.foreignKey.columns, refTable: c.foreignKey.references, refColumns: c.foreignKey.refColumns, declaredBy: d.migration })
    }
    applied.push(describeChange(d))
  })
  return { catalog: { ...cat, tables }, applied }
}
