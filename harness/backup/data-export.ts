/**
 * The data-only backup: every table's rows as INSERT statements, read *through the table*, so a
 * hypertable's chunks (compressed ones decompressed on read) come out as the hypertable's rows.
 *
 * Why not `pg_dump --data-only`: on a TimescaleDB database it writes TimescaleDB's catalog and
 * the chunk tables, which cannot be loaded into a database whose hypertables were created by the
 * migrations (duplicate catalog rows), and `pg_dump -t hypertable` leaves the chunks' rows out.
 * A data-only backup is only useful if it loads into "a database migrated by the runner", so it
 * is written here, the same way on every engine, through any connection (no COPY needed).
 *
 * Tables are written in foreign-key order (parents first); sequences at the end with setval.
 * Loading it (restore --kind data) truncates the same tables first, in one transaction.
 */
import { literal, qualify, quoteIdent } from '../util/sql.ts'
import { openOutFile } from '../util/out-file.ts'
import type pg from 'pg'
import { columnsByRelation, readColumns } from '../catalog/columns.ts'
import { readConstraints } from '../catalog/constraints.ts'
import { readRelations } from '../catalog/relations.ts'

export interface ExportedTable {
  name: string
  rows: number
}

export interface DataExport {
  tables: ExportedTable[]
  /** Tables in load order. */
  order: string[]
  /** Foreign-key cycles among the tables (then the load needs session_replication_role = replica). */
  cycles: string[]
  sequences: number
  bytes: number
}

interface Rel {
  schema: string
  name: string
  q: string
}

/** Tables of `schemas` (not partitions, not extension members) in foreign-key order. */
export async function tablesInLoadOrder(client: pg.ClientBase, schemas: string[]): Promise<{ order: Rel[]; cycles: string[] }> {
  const rels = (await readRelations(client, schemas, ['r', 'p'], { details: false })).filter((r) => !r.partition)
  const byOid = new Map(rels.map((r) => [r.oid, { schema: r.schema, name: r.name, q: `${r.schema}.${r.name}` }]))
  const oidOf = new Map(rels.map((r) => [`${r.schema}.${r.name}`, r.oid]))
  const fks = (await readConstraints(client, schemas, { types: ['f'], definitions: false }))
    .filter((c) => c.type === 'f')
    .map((c) => ({ child: c.relOid, parent: oidOf.get(`${c.refSchema}.${c.refTable}`) ?? -1 }))
  const deps = new Map<number, Set<number>>(rels.map((r) => [r.oid, new Set<number>()]))
  for (const fk of fks) if (fk.child !== fk.parent && byOid.has(fk.child) && byOid.has(fk.parent)) deps.get(fk.child)!.add(fk.parent)
  const order: Rel[] = []
  const done = new Set<number>()
  // Kahn's algorithm with name order as tie-break: the same input gives the same file.
  for (;;) {
    const ready = rels.filter((r) => !done.has(r.oid) && [...deps.get(r.oid)!].every((p) => done.has(p)))
    if (ready.length === 0) break
    for (const r of ready) {
      done.add(r.oid)
      order.push(byOid.get(r.oid)!)
    }
  }
  const cycles = rels.filter((r) => !done.has(r.oid)).map((r) => `${r.schema}.${r.name}`)
  for (const r of rels) if (!done.has(r.oid)) order.push(byOid.get(r.oid)!)
  return { order, cycles }
}

/**
 * Writes the data of `schemas` to `file`. Runs in the caller's transaction (so it sees the same
 * snapshot as the rest of the backup); opens a read-only one when there is none.
 */
export async function exportData(client: pg.ClientBase, schemas: string[], file: string, options: { fetch?: number; rowsPerInsert?: number } = {}): Promise<DataExport> {
  const fetch = options.fetch ?? 5000
  const perInsert = options.rowsPerInsert ?? 1000
  let own = false
  try {
    await client.query('SAVEPOINT data_export')
  } catch (e) {
    if ((e as { code?: string }).code !== '25P01') throw e
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY')
    own = true
  }
  const result: DataExport = { tables: [], order: [], cycles: [], sequences: 0, bytes: 0 }
  let out: Awaited<ReturnType<typeof openOutFile>> | undefined
  let ok = false
  try {
    out = await openOutFile(file)
    const write = out.write

    for (const s of [`SET LOCAL TimeZone = 'UTC'`, `SET LOCAL DateStyle = 'ISO, MDY'`, `SET LOCAL IntervalStyle = 'postgres'`, `SET LOCAL extra_float_digits = 3`, `SET LOCAL bytea_output = 'hex'`]) await client.query(s)
    const { order, cycles } = await tablesInLoadOrder(client, schemas)
    result.order = order.map((r) => r.q)
    result.cycles = cycles
    await write(
      [
        '-- pgverify data-only backup: each table\'s rows read through the table (hypertables through the hypertable,',
        '-- compressed chunks included), in foreign-key order, then sequence positions.',
        '-- Load into a database whose schema exists (e.g. migrated by the runner): `pnpm restore DIR --kind data`',
        '-- truncates these tables and loads this file in one transaction.',
        `-- tables: ${JSON.stringify(result.order)}`,
        cycles.length ? `-- foreign-key cycles among: ${cycles.join(', ')} (load with session_replication_role = replica)` : '',
        '',
      ]
        .filter((l, i, a) => l !== '' || i === a.length - 1)
        .join('\n') + '\n',
    )
    const columns = columnsByRelation(await readColumns(client, schemas, ['r', 'p'], { base: false, notes: false }))
    for (const rel of order) {
      const cols = (columns.get(rel.q) ?? []).filter((c) => c.generated === '')
      const q = qualify(rel.schema, rel.name)
      const colList = cols.map((c) => quoteIdent(c.name)).join(', ')
      const overriding = cols.some((c) => c.identity === 'a') ? ' OVERRIDING SYSTEM VALUE' : ''
      const values = cols.length ? cols.map((c) => `quote_nullable(t.${quoteIdent(c.name)})`).join(` || ', ' || `) : `''`
      await client.query(`DECLARE pgverify_export NO SCROLL CURSOR FOR SELECT '(' || ${values} || ')' AS v FROM ${q} t`)
      let rows = 0
      let pending: string[] = []
      const flush = async () => {
        if (pending.length === 0) return
        // A table without columns still has rows: one DEFAULT VALUES insert each.
        if (cols.length === 0) await write(pending.map(() => `INSERT INTO ${q} DEFAULT VALUES;\n`).join(''))
        else await write(`INSERT INTO ${q} (${colList})${overriding} VALUES\n${pending.join(',\n')};\n`)
        pending = []
      }
      for (;;) {
        const r = await client.query<{ v: string }>(`FETCH ${fetch} FROM pgverify_export`)
        for (const row of r.rows) {
          pending.push(row.v)
          if (pending.length >= perInsert) await flush()
        }
        rows += r.rows.length
        if (r.rows.length < fetch) break
      }
      await flush()
      await client.query('CLOSE pgverify_export')
      result.tables.push({ name: rel.q, rows })
      await write(`-- ${rel.q}: ${rows} rows\n`)
    }
    const seqs = (
      await client.query<{ q: string; v: string; called: boolean }>(
        `SELECT format('%I.%I', schemaname, sequencename) AS q, coalesce(last_value, start_value)::text AS v, last_value IS NOT NULL AS called
           FROM pg_sequences WHERE schemaname = ANY($1::text[]) ORDER BY 1`,
        [schemas],
      )
    ).rows
    for (const s of seqs) await write(`SELECT pg_catalog.setval(${literal(s.q)}, ${s.v}, ${s.called});\n`)
    result.sequences = seqs.length
    await out.close()
    result.bytes = out.bytes
    ok = true
  } finally {
    // On any failure (a full disk included) the partial file goes, and the caller's transaction is
    // left for the caller to abort: an error here must not wait on the server.
    if (!ok) await out?.discard()
    if (own) await client.query('ROLLBACK').catch(() => {})
    else if (ok) {
      await client.query('ROLLBACK TO SAVEPOINT data_export')
      await client.query('RELEASE SAVEPOINT data_export')
    }
  }
  return result
}


/** The table list a data file was written for (its header line), in load order. */
export function dataFileTables(sql: string): string[] {
  const m = /^-- tables: (\[.*\])$/m.exec(sql.slice(0, 100_000))
  return m ? (JSON.parse(m[1]!) as string[]) : []
}
