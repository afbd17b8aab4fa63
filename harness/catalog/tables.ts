/**
 * The catalog as the data generators need it, read through this folder's readers: for the live
 * catalog of some schemas at the database's current version, tables and their columns (type with typmod, NOT NULL, default, identity, serial),
 * CHECK constraints, primary keys and unique constraints/indexes, foreign keys, hypertables
 * (time column and chunk interval) and enums. Everything is read by query; nothing is written
 * per table. Partitions, TimescaleDB chunks and the tables asked to be left out (the migration
 * log) are not part of it.
 */
import type pg from 'pg'
import { qualify, quoteIdent } from '../util/sql.ts'
import { cmp, hasTimescale } from './common.ts'
import { columnsByRelation, readColumns, type ColumnRow } from './columns.ts'
import { readConstraints } from './constraints.ts'
import { readIndexes } from './indexes.ts'
import { readRelations } from './relations.ts'
import { readDimensions } from './timescale.ts'
import { readEnums } from './types.ts'

/** The base type a value generator works from (arrays and domains resolved). */
export interface TypeInfo {
  /** `format_type` without typmod of the element/base type, e.g. "integer", "timestamp with time zone", "factory_telemetry.status". */
  name: string
  /** pg_type.typtype of the base type: b (base), e (enum), r (range)… */
  kind: string
  /** pg_type.typcategory of the base type: N (numeric), S (string), D (date/time)… */
  category: string
  /** Labels in sort order when kind = 'e'. */
  enumLabels?: string[]
  /** varchar(n) / char(n): n. */
  length?: number
  /** numeric(p, s). */
  precision?: number
  scale?: number
  /** The column is an array of this type. */
  array: boolean
  /** The column's type is a domain over this one (its own CHECKs are left to the engine). */
  domain?: string
}

export interface ColumnInfo {
  name: string
  attnum: number
  /** `format_type(atttypid, atttypmod)`: what a cast or a report shows, e.g. "numeric(10,2)". */
  type: string
  base: TypeInfo
  notNull: boolean
  default: string | null
  /** '' | 'a' (GENERATED ALWAYS AS IDENTITY) | 'd' (BY DEFAULT). */
  identity: string
  /** 's' for a stored generated column: never inserted. */
  generated: boolean
  /** The default draws from a sequence (serial, or nextval()). */
  serial: boolean
}

export interface CheckInfo {
  name: string
  /** `pg_get_expr(conbin)`: a boolean expression over the table's columns, re-evaluable in a query. */
  expression: string
  /** Columns the expression references (conkey). */
  columns: string[]
  validated: boolean
  /** Set when the check is a declared precondition of a later migration, not a constraint of the table. */
  declaredBy?: string
}

export interface UniqueInfo {
  name: string
  primary: boolean
  /** Key columns, or null for an expression index (see `expressions`). */
  columns: string[] | null
  /** Every key part as SQL: quoted column names or index expressions. */
  expressions: string[]
  /** Partial index predicate. */
  predicate: string | null
  nullsNotDistinct: boolean
  declaredBy?: string
}

export interface ForeignKeyInfo {
  name: string
  columns: string[]
  /** `schema.table` of the referenced table. */
  refTable: string
  refColumns: string[]
  declaredBy?: string
}

export interface HypertableInfo {
  timeColumn: string
  /** 'Time' dimensions: the chunk interval in microseconds; integer dimensions: in the column's units. */
  interval: number
  integer: boolean
}

export interface TableInfo {
  /** `schema.table`, unquoted, as the manifest and reports write it. */
  name: string
  schema: string
  table: string
  /** Quoted and qualified, for SQL. */
  sql: string
  /** 'r' table, 'p' partitioned table. */
  relkind: string
  /** In attnum order, dropped columns left out. */
  columns: ColumnInfo[]
  primaryKey: string[] | null
  checks: CheckInfo[]
  uniques: UniqueInfo[]
  foreignKeys: ForeignKeyInfo[]
  hypertable?: HypertableInfo
}

export interface Catalog {
  schemas: string[]
  tables: TableInfo[]
  /** Enum types of the schemas, `schema.name` → labels in sort order. */
  enums: Map<string, string[]>
  timescaledb: boolean
}

/**
 * The tables of `schemas` that are not partitions, TimescaleDB chunks or internal relations,
 * nor named in `exclude` (`schema.table`), ordered by schema and name.
 */
export async function readCatalog(client: pg.ClientBase, schemas: string[], options: { exclude?: string[] } = {}): Promise<Catalog> {
  const exclude = new Set(options.exclude ?? [])
  const tsdb = await hasTimescale(client)
  const rels = (await readRelations(client, schemas, ['r', 'p'], { timescale: tsdb, details: false })).filter(
    (r) => !r.partition && !r.chunk && !r.internal && !exclude.has(`${r.schema}.${r.name}`),
  )
  const oids = new Set(rels.map((r) => r.oid))
  const cols = columnsByRelation((await readColumns(client, schemas, ['r', 'p'], { notes: false, relOids: [...oids] })))
  const cons = (await readConstraints(client, schemas, { types: ['c', 'f'], definitions: false, relOids: [...oids] })).filter((c) => oids.has(c.relOid) && (c.type === 'c' || c.type === 'f'))
  const idx = (await readIndexes(client, schemas, { uniqueValid: true, definitions: false, relOids: [...oids] }))
    .filter((i) => oids.has(i.relOid) && i.unique && i.valid)
    .map((i) => ({ ...i, name: i.constraint ?? i.name }))
    .sort((a, b) => Number(b.primary) - Number(a.primary) || cmp(a.name, b.name))
  const dims = tsdb ? (await readDimensions(client, schemas)).filter((d) => d.num === 1) : []
  const enums = await readEnums(client, schemas)

  const tables: TableInfo[] = rels.map((r) => {
    const columns: ColumnInfo[] = (cols.get(`${r.schema}.${r.name}`) ?? []).map(columnInfo)
    const uniques: UniqueInfo[] = idx
      .filter((i) => i.relOid === r.oid)
      .map((i) => {
        const plain = i.keys.every((k) => k > 0)
        return {
          name: i.name,
          primary: i.primary,
          columns: plain ? i.columns.map((c) => c!) : null,
          expressions: i.keys.map((k, j) => (k > 0 ? quoteIdent(i.columns[j]!) : `(${i.expressions[j]})`)),
          predicate: i.predicate,
          nullsNotDistinct: i.nullsNotDistinct,
        }
      })
    const pk = uniques.find((u) => u.primary)
    const ht = dims.find((h) => h.schema === r.schema && h.name === r.name)
    return {
      name: `${r.schema}.${r.name}`,
      schema: r.schema,
      table: r.name,
      sql: qualify(r.schema, r.name),
      relkind: r.relkind,
      columns,
      primaryKey: pk?.columns ?? null,
      checks: cons
        .filter((c) => c.relOid === r.oid && c.type === 'c')
        .map((c) => ({ name: c.name, expression: c.expression!, columns: c.columns, validated: c.validated })),
      uniques,
      foreignKeys: cons
        .filter((c) => c.relOid === r.oid && c.type === 'f')
        .map((c) => ({ name: c.name, columns: c.columns, refTable: `${c.refSchema}.${c.refTable}`, refColumns: c.refColumns ?? [] })),
      hypertable: ht ? { timeColumn: ht.column, interval: Number(ht.intervalUs ?? ht.integerInterval ?? 0), integer: ht.intervalUs === null } : undefined,
    }
  })
  return { schemas, tables, enums, timescaledb: tsdb }
}

/**
 * Catalogs kept side by side, one per version: a table that did not change between versions is
 * one object in all of them, so what is kept grows with the changes, not with versions × tables.
 */
export function tableInterner(): (cat: Catalog) => Catalog {
  const once = new Map<string, TableInfo>()
  const one = (t: TableInfo): TableInfo => {
    const key = JSON.stringify(t)
    return once.get(key) ?? (once.set(key, t), t)
  }
  return (cat) => ({ ...cat, tables: cat.tables.map(one) })
}

function columnInfo(c: ColumnRow): ColumnInfo {
  return {
    name: c.name,
    attnum: c.attnum,
    type: c.type,
    base: typeInfo(c.base.name, c.base.typtype, c.base.category, c.base.typmod, c.base.array, c.base.labels, c.base.domain),
    notNull: c.notNull,
    default: c.default,
    identity: c.identity,
    generated: c.generated !== '',
    serial: c.identity === 'a' || c.identity === 'd' || /^nextval\(/i.test(c.default ?? ''),
  }
}

function typeInfo(name: string, kind: string, category: string, typmod: number, array: boolean, labels: string[] | null, domain: string | null): TypeInfo {
  const t: TypeInfo = { name, kind, category, array }
  if (domain) t.domain = domain
  if (labels) t.enumLabels = labels
  if (typmod >= 4 && (name === 'character varying' || name === 'character')) t.length = typmod - 4
  if (typmod >= 4 && name === 'numeric') {
    t.precision = ((typmod - 4) >> 16) & 0xffff
    t.scale = (typmod - 4) & 0xffff
    // PostgreSQL 15+ allows a negative scale (stored in 11 bits, sign-extended).
    if (t.scale > 0x3ff) t.scale -= 0x800
  }
  return t
}

/** Tables in an order where every table comes after the tables it references (cycles broken, self-references ignored). */
export function topologicalOrder(tables: TableInfo[]): { order: TableInfo[]; cut: { table: string; fk: string }[] } {
  const byName = new Map(tables.map((t) => [t.name, t]))
  const remaining = new Set(tables.map((t) => t.name))
  const order: TableInfo[] = []
  const cut: { table: string; fk: string }[] = []
  const deps = (t: TableInfo) => t.foreignKeys.filter((f) => f.refTable !== t.name && remaining.has(f.refTable) && byName.has(f.refTable))
  while (remaining.size > 0) {
    const ready = [...remaining].filter((n) => deps(byName.get(n)!).length === 0).sort()
    if (ready.length > 0) {
      for (const n of ready) {
        order.push(byName.get(n)!)
        remaining.delete(n)
      }
      continue
    }
    // A cycle: take the table whose outgoing edges in the cycle are all nullable, else the first, and cut those edges.
    const cands = [...remaining].sort().map((n) => byName.get(n)!)
    const nullable = (t: TableInfo, f: ForeignKeyInfo) => f.columns.some((c) => !t.columns.find((x) => x.name === c)?.notNull)
    const pick = cands.find((t) => deps(t).every((f) => nullable(t, f))) ?? cands[0]!
    for (const f of deps(pick)) cut.push({ table: pick.name, fk: f.name })
    order.push(pick)
    remaining.delete(pick.name)
  }
  return { order, cut }
}
