/**
 * Row count and content hash per table, read through the parent (so a hypertable's chunks,
 * compressed or not, count as its rows). Equal digests mean equal data, whatever the physical
 * layout; used to prove "nothing changed" and "nothing was lost".
 */
import type pg from 'pg'
import { cmp } from '../catalog/common.ts'
import { readRelations } from '../catalog/relations.ts'
import { qualify } from '../util/sql.ts'

export interface TableDigest {
  rows: number
  /** md5 over the rows' text forms, sorted, so insertion order and chunk layout do not matter. */
  hash: string
}

export async function dataDigests(client: pg.ClientBase, schemas: string[], exclude: string[] = []): Promise<Map<string, TableDigest>> {
  const tables = (await readRelations(client, schemas, ['r', 'p'], { details: false }))
    .filter((r) => !r.partition)
    .map((r) => ({ q: qualify(r.schema, r.name), name: `${r.schema}.${r.name}` }))
    .filter((t) => !exclude.includes(t.name))
    .sort((a, b) => cmp(a.name, b.name))
  const out = new Map<string, TableDigest>()
  for (const t of tables) {
    const r = await client.query<{ n: string; h: string | null }>(`SELECT count(*)::text AS n, md5(string_agg(x.t, E'\\n' ORDER BY x.t)) AS h FROM (SELECT r::text AS t FROM ${t.q} r) x`)
    out.set(t.name, { rows: Number(r.rows[0]!.n), hash: r.rows[0]!.h ?? 'empty' })
  }
  return out
}

/** Lines describing how two digests differ; empty when equal. */
export function diffDigests(a: Map<string, TableDigest>, b: Map<string, TableDigest>): string[] {
  const out: string[] = []
  for (const name of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    const x = a.get(name)
    const y = b.get(name)
    if (!x) out.push(`+ table ${name} (${y!.rows} rows)`)
    else if (!y) out.push(`- table ${name} (${x.rows} rows)`)
    else if (x.rows !== y.rows) out.push(`~ table ${name}: ${x.rows} rows → ${y.rows} rows`)
    else if (x.hash !== y.hash) out.push(`~ table ${name}: same ${x.rows} rows, different content`)
  }
  return out
}
