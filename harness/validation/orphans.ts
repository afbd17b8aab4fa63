/**
 * Rows whose foreign key points at a missing parent. The engine enforces FKs, but a migration
 * may have disabled triggers, used NOT VALID, or loaded data with session_replication_role =
 * replica: we check by query instead of trusting that.
 */
import type pg from 'pg'
import { countAll } from '../util/counts.ts'

interface FkRow {
  name: string
  child: string
  parent: string
  child_cols: string[]
  parent_cols: string[]
}

export async function foreignKeyOrphans(client: pg.ClientBase, schemas: string[]): Promise<string[]> {
  const fks = (
    await client.query<FkRow>(
      `SELECT con.conname AS name,
              format('%I.%I', cn.nspname, cc.relname) AS child,
              format('%I.%I', pn.nspname, pc.relname) AS parent,
              ARRAY(SELECT quote_ident(a.attname) FROM unnest(con.conkey) WITH ORDINALITY k(n, i) JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.i) AS child_cols,
              ARRAY(SELECT quote_ident(a.attname) FROM unnest(con.confkey) WITH ORDINALITY k(n, i) JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.i) AS parent_cols
         FROM pg_constraint con
         JOIN pg_class cc ON cc.oid = con.conrelid JOIN pg_namespace cn ON cn.oid = cc.relnamespace
         JOIN pg_class pc ON pc.oid = con.confrelid JOIN pg_namespace pn ON pn.oid = pc.relnamespace
        WHERE con.contype = 'f' AND cn.nspname = ANY($1::text[])
        ORDER BY 2, 1`,
      [schemas],
    )
  ).rows
  const out: string[] = []
  const counts = await countAll(
    client,
    fks.map((fk) => {
      const notNull = fk.child_cols.map((c) => `c.${c} IS NOT NULL`).join(' AND ')
      const match = fk.child_cols.map((c, i) => `p.${fk.parent_cols[i]} = c.${c}`).join(' AND ')
      return `SELECT count(*) FROM ${fk.child} c WHERE ${notNull} AND NOT EXISTS (SELECT 1 FROM ${fk.parent} p WHERE ${match})`
    }),
  )
  fks.forEach((fk, i) => {
    const n = counts[i]!
    if (n instanceof Error) throw n
    if (n > 0) out.push(`${fk.child}.${fk.name}: ${n} row${n > 1 ? 's' : ''} reference missing ${fk.parent} rows`)
  })
  return out
}
