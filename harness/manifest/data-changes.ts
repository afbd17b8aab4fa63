/**
 * What a migration declares it does to existing rows (`migrations[name].dataChanges` in
 * manifest.json): the data-properties stage allows exactly these changes, and `requires` entries
 * are preconditions that `pnpm execute` checks before anything runs. The kinds are explained
 * with the stage that reads them (harness/verify/stages/data-properties.ts).
 */
import { HarnessError } from '../errors.ts'

export type DataChange =
  | { kind: 'backfill'; table: string; columns: string[]; onlyWhereNull?: boolean; note?: string }
  | { kind: 'insert'; table: string; note?: string }
  | { kind: 'delete'; table: string; note?: string }
  | { kind: 'drop'; table: string; columns?: string[]; note?: string }
  | { kind: 'move'; from: string; to: string; key: string[]; note?: string }
  | RequiresChange

/** A precondition: the migration refuses (fails, rolled back) data that violates it. Exactly one of check, unique, foreignKey. */
export interface RequiresChange {
  kind: 'requires'
  table: string
  check?: string
  unique?: string[]
  foreignKey?: { columns: string[]; references: string; refColumns: string[] }
  note?: string
}

/** One declaration with the migration that makes it. */
export interface DeclaredDataChange {
  migration: string
  version: number
  change: DataChange
}

export const DATA_CHANGE_KINDS = ['backfill', 'insert', 'delete', 'drop', 'move', 'requires']

const qualified = (v: unknown) => typeof v === 'string' && /^[^.\s]+\.[^.\s]+$/.test(v)
const strings = (v: unknown) => Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string')

/**
 * Checks the `dataChanges` of migration `name` in the manifest at `path` and returns them typed;
 * MANIFEST_INVALID names the entry (`<path>: migrations["NAME"].dataChanges[i]`) and what is wrong.
 */
export function validateDataChanges(list: unknown, path: string, name: string, hasFile: boolean): DataChange[] {
  const where = `${path}: migrations["${name}"].dataChanges`
  const bad = (msg: string, i?: number) =>
    new HarnessError('MANIFEST_INVALID', `${where}${i === undefined ? '' : `[${i}]`}: ${msg}`, {
      hint: 'Each entry is e.g. {"kind": "backfill", "table": "schema.table", "columns": ["col"]}; kinds: ' + DATA_CHANGE_KINDS.join(', ') + ' (see harness/verify/stages/data-properties.ts).',
    })
  if (!hasFile) throw bad(`no migration file ${name}.sql`)
  if (!Array.isArray(list)) throw bad('must be an array')
  return list.map((c: Record<string, unknown>, i): DataChange => {
    if (typeof c !== 'object' || c === null || !DATA_CHANGE_KINDS.includes(c.kind as string)) throw bad(`unknown kind ${JSON.stringify(c?.kind)} (expected ${DATA_CHANGE_KINDS.join(', ')})`, i)
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
    return c as unknown as DataChange
  })
}
