/**
 * The fixed dataset: a few deterministic rows per table, derived from the catalog (NOT NULL
 * columns, foreign keys to earlier rows, IN-list CHECKs), for proofs that need the same data on
 * every run rather than fast-check's (fault injection seeds it at every version).
 *
 * Generated values are the same for every run (fixed timestamps, md5-derived uuids, no random
 * defaults); rows the migrations insert themselves carry whatever they carry, and rows generated
 * to reference them follow those.
 */
import type pg from 'pg'
import { readCatalog, type ColumnInfo, type TableInfo } from '../catalog/tables.ts'
import { cmp } from '../util/canonical.ts'
import { literal, quoteIdent, quoteQualified } from '../util/sql.ts'

const ROWS = 3

interface Column {
  /** `schema.table`, unquoted. */
  table: string
  attnum: number
  name: string
  type: string
  /** pg_type.typcategory of the column's type (domains resolved): 'A' for arrays. */
  category: string
  notNull: boolean
  def: string | null
  identity: string
  generated: boolean
  maxLen: number | null
  elemType: string | null
  elemCategory: string | null
  labels: string[] | null
}

interface ForeignKey {
  /** `schema.table` of the referencing and the referenced table, unquoted. */
  table: string
  parent: string
  cols: string[]
  parentCols: string[]
}

/** The catalog's column as the seeder sees it: the type's category, an array's element, a plain varchar's length. */
function seedColumn(t: TableInfo, c: ColumnInfo): Column {
  const b = c.base
  return {
    table: t.name,
    attnum: c.attnum,
    name: c.name,
    type: c.type,
    category: b.array ? 'A' : b.category,
    notNull: c.notNull,
    def: c.default,
    identity: c.identity,
    generated: c.generated,
    maxLen: !b.array && !b.domain && b.length !== undefined && b.length > 0 ? b.length : null,
    elemType: b.array ? b.name : null,
    elemCategory: b.array ? b.category : null,
    labels: b.array ? null : (b.enumLabels ?? null),
  }
}

/**
 * Three rows in every table of `schemas` that has none yet: the NOT NULL columns without a
 * default, columns whose default calls a function (so values do not depend on the clock or
 * gen_random_uuid()), every timestamp column (later columns later,
 * so "end after start" CHECKs hold), foreign keys pointing at existing parent rows. Nullable
 * plain columns stay NULL, so constraints added later with "x IS NULL OR …" stay satisfiable.
 * A table whose rows are refused is skipped and named, never half-filled.
 */
export async function seedDataset(client: pg.ClientBase, schemas: string[], exclude: string[] = []): Promise<{ rows: number; skipped: string[] }> {
  const catalog = await readCatalog(client, schemas, { exclude })
  const empty: TableInfo[] = []
  for (const t of [...catalog.tables].sort((x, y) => cmp(x.name, y.name))) {
    const r = await client.query(`SELECT 1 FROM ${t.sql} LIMIT 1`)
    if (r.rowCount === 0) empty.push(t)
  }
  if (empty.length === 0) return { rows: 0, skipped: [] }
  const cols = empty.flatMap((t) => t.columns.map((c) => seedColumn(t, c)))
  const fks: ForeignKey[] = empty.flatMap((t) => t.foreignKeys.map((f) => ({ table: t.name, parent: f.refTable, cols: f.columns, parentCols: f.refColumns })))
  const allowed = new Map<string, string[]>()
  for (const t of empty)
    for (const c of t.checks) {
      if (c.columns.length !== 1) continue
      const arr = /ARRAY\[(.*?)\]/.exec(c.expression)
      if (!arr || !/= ANY/.test(c.expression)) continue
      const values = [...arr[1]!.matchAll(/'((?:[^']|'')*)'/g)].map((x) => x[1]!.replace(/''/g, "'"))
      if (values.length) allowed.set(`${t.name}.${c.columns[0]}`, values)
    }
  const sqlOf = new Map(empty.map((t) => [t.name, t.sql]))

  // Parents before children; a table waits for the parents its NOT NULL foreign keys need.
  const order: string[] = []
  const pending = new Set(empty.map((t) => t.name))
  while (pending.size) {
    const ready = [...pending].filter((t) => !fks.some((f) => f.table === t && f.parent !== t && pending.has(f.parent)))
    const next = ready.length ? ready : [[...pending][0]!]
    for (const t of next) {
      order.push(t)
      pending.delete(t)
    }
  }

  let rows = 0
  const skipped: string[] = []
  await client.query('BEGIN')
  try {
    for (const table of order) {
      const tcols = cols.filter((c) => c.table === table)
      const tfks = fks.filter((f) => f.table === table && f.parent !== table)
      const fkOf = new Map<string, { fk: ForeignKey; pos: number }>()
      for (const fk of tfks) fk.cols.forEach((c, pos) => fkOf.has(c) || fkOf.set(c, { fk, pos }))
      const parentRows = new Map<ForeignKey, Array<Array<string | null>>>()
      for (const fk of tfks) {
        const sel = fk.parentCols.map((c) => `${quoteIdent(c)}::text`).join(', ')
        const r = await client.query({ text: `SELECT ${sel} FROM ${quoteQualified(fk.parent)} WHERE ${fk.parentCols.map((c) => `${quoteIdent(c)} IS NOT NULL`).join(' AND ')} ORDER BY ${fk.parentCols.map((_, i) => i + 1).join(', ')} LIMIT ${ROWS}`, rowMode: 'array' })
        parentRows.set(fk, r.rows as Array<Array<string | null>>)
      }
      const fill = tcols.filter((c) => {
        if (c.generated || c.identity) return false
        if (fkOf.has(c.name)) return true
        if (c.def && /\bnextval\(/.test(c.def)) return false
        if (c.category === 'D') return true
        // Function defaults (gen_random_uuid(), now()) would make the rows differ between runs.
        if (c.def?.includes('(')) return true
        return c.notNull && c.def === null
      })
      // Variant 0: numbers 1, 2, 3; variant 1: numbers 0 (for CHECKs like "passed + failed <= checked").
      let refused: string | undefined
      let inserted = false
      for (const variant of [0, 1]) {
        const built = buildRows(table, fill, fkOf, parentRows, allowed, variant)
        if ('reason' in built) {
          refused = built.reason
          break
        }
        const sql = fill.length
          ? `INSERT INTO ${sqlOf.get(table)} (${fill.map((c) => quoteIdent(c.name)).join(', ')}) VALUES ${built.values.map((r) => `(${r.join(', ')})`).join(', ')}`
          : `INSERT INTO ${sqlOf.get(table)} SELECT FROM generate_series(1, ${ROWS})`
        await client.query('SAVEPOINT seed_table')
        try {
          const r = await client.query(sql)
          rows += r.rowCount ?? 0
          await client.query('RELEASE SAVEPOINT seed_table')
          inserted = true
          break
        } catch (e) {
          await client.query('ROLLBACK TO SAVEPOINT seed_table')
          refused = `refused (${(e as Error).message})`
        }
      }
      if (!inserted) skipped.push(`${table}: ${refused}`)
    }
    await client.query('COMMIT')
  } catch (e) {
    await client.query('ROLLBACK').catch(() => {})
    throw e
  }
  return { rows, skipped }
}

function buildRows(
  table: string,
  fill: Column[],
  fkOf: Map<string, { fk: ForeignKey; pos: number }>,
  parentRows: Map<ForeignKey, Array<Array<string | null>>>,
  allowed: Map<string, string[]>,
  variant: number,
): { values: string[][] } | { reason: string } {
  const values: string[][] = []
  for (let n = 1; n <= ROWS; n++) {
    const row: string[] = []
    for (const c of fill) {
      const ref = fkOf.get(c.name)
      if (ref) {
        const prow = parentRows.get(ref.fk)!
        const v = prow.length ? prow[(n - 1) % prow.length]![ref.pos] : null
        if (v == null && c.notNull) return { reason: `its foreign key to ${ref.fk.parent} needs parent rows, and ${ref.fk.parent} has none` }
        row.push(v == null ? 'NULL' : `${literal(v)}::${c.type}`)
        continue
      }
      const v = valueFor(c, variant === 1 && c.category === 'N' ? 0 : n, allowed.get(`${table}.${c.name}`))
      if (v === undefined) {
        if (c.notNull) return { reason: `no generator for NOT NULL column ${c.name} of type ${c.type}` }
        row.push('NULL')
      } else row.push(v)
    }
    values.push(row)
  }
  return { values }
}

/** A deterministic value for row n (1-based; 0 only for numbers) of a column, as an SQL expression; undefined when the type has no generator. */
function valueFor(c: Column, n: number, allowed?: string[]): string | undefined {
  const cast = (v: string) => `${literal(v)}::${c.type}`
  const pick = (xs: string[]) => xs[(((n - 1) % xs.length) + xs.length) % xs.length]!
  if (allowed?.length) return cast(pick(allowed))
  if (c.labels?.length) return cast(pick(c.labels))
  const base = c.type.replace(/\(.*\)/, '').replace(/\[\]$/, '').trim()
  switch (c.category) {
    case 'N':
      if (/^(smallint|integer|bigint|oid)$/.test(base)) return cast(String(n))
      // 1, 0.5, 0.33…: inside [0, 1] for ratios, positive, distinct (0 when asked for 0).
      return cast(n === 0 ? '0' : String(Math.round(100 / n) / 100))
    case 'S': {
      if (base === '"char"') return cast('x')
      const text = `${c.name}_${n}`
      return cast(c.maxLen && text.length > c.maxLen ? `${n}${c.name}`.slice(0, c.maxLen) : text)
    }
    case 'B':
      return 'true'
    case 'D': {
      // Later columns later: "end after start" holds; rows a day apart cross chunk boundaries.
      const t = Date.UTC(2024, 0, n, 8, 0) + c.attnum * 60_000
      const iso = new Date(t).toISOString()
      if (base === 'date') return cast(iso.slice(0, 10))
      if (base.startsWith('time ') || base === 'time without time zone' || base === 'time with time zone') return cast(iso.slice(11, 19))
      return cast(iso)
    }
    case 'T':
      return cast(`${n} hours`)
    case 'I':
      return cast(`10.0.0.${n}`)
    case 'U':
      if (base === 'uuid') return `md5(${literal(`${c.table}.${c.name}:${n}`)})::uuid`
      if (base === 'json' || base === 'jsonb') return cast(`{"n": ${n}}`)
      if (base === 'bytea') return `'\\x0${n}'::bytea`
      return undefined
    case 'A': {
      if (!c.elemType) return undefined
      const elem = valueFor({ ...c, type: c.elemType, category: c.elemCategory ?? 'X', labels: null, maxLen: null }, n)
      return elem === undefined ? undefined : `ARRAY[${elem}]::${c.type}`
    }
    default:
      return undefined
  }
}
