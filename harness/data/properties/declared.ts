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
import type { Catalog, TableInfo } from '../../catalog/tables.ts'
import { declaredDataChanges, type Manifest } from '../../manifest/manifest.ts'
import type { DataChange, DeclaredDataChange } from '../../manifest/data-changes.ts'
import { quoteIdent } from '../../util/sql.ts'
import { wordIn } from '../arbitraries.ts'

export type { DataChange }
export type Declared = DeclaredDataChange

/** The data changes and preconditions manifest.json declares (validated once by loadManifest), by version. */
export function dataChanges(ctx: { manifest?: Manifest }): Declared[] {
  return declaredDataChanges(ctx.manifest)
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
  // Copied on write: a table no precondition names stays the catalog's own object (the data
  // properties keep a catalog per version, and share the tables that did not change).
  const tables = [...cat.tables]
  const copied = new Set<TableInfo>()
  declared.forEach((d, i) => {
    const c = d.change
    if (c.kind !== 'requires' || d.version <= k) return
    const at = tables.findIndex((x) => x.name === c.table)
    if (at < 0) return
    if (!copied.has(tables[at]!)) {
      const own = { ...tables[at]!, checks: [...tables[at]!.checks], uniques: [...tables[at]!.uniques], foreignKeys: [...tables[at]!.foreignKeys] }
      copied.add(own)
      tables[at] = own
    }
    const t = tables[at]!
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
