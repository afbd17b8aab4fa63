/**
 * Data preconditions that migrations declare in manifest.json (`"kind": "requires"` under
 * `migrations[name].dataChanges`): conditions existing rows must meet, or the migration's new
 * constraint fails halfway and the upgrade is blocked. Checked by query BEFORE anything runs,
 * so `pnpm execute` refuses up front with the offending table and row count.
 */
import type pg from 'pg'
import { declaredDataChanges, type Manifest, type RequiresChange } from '../manifest/manifest.ts'

export interface PreconditionResult {
  migration: string
  table: string
  condition: string
  violations: number
}

/**
 * Checks the preconditions of the given (pending) migrations whose table exists now. A manifest
 * whose declarations loadManifest found invalid is refused (MANIFEST_INVALID naming the entry).
 */
export async function checkPreconditions(client: pg.ClientBase, manifest: Manifest | undefined, pending: string[]): Promise<PreconditionResult[]> {
  const out: PreconditionResult[] = []
  const declared = declaredDataChanges(manifest)
  for (const name of pending) {
    const changes = declared.filter((d) => d.migration === name).map((d) => d.change)
    for (const r of changes.filter((c): c is RequiresChange => c.kind === 'requires')) {
      const exists = (await client.query<{ t: string | null }>(`SELECT to_regclass($1) AS t`, [r.table])).rows[0]?.t
      if (!exists) continue // created by an earlier pending migration: it starts empty
      let sql: string
      let condition: string
      if (r.check) {
        condition = `CHECK (${r.check})`
        sql = `SELECT count(*)::int AS n FROM ${r.table} WHERE NOT (${r.check})`
      } else if (r.unique) {
        condition = `UNIQUE (${r.unique.join(', ')})`
        sql = `SELECT coalesce(sum(n - 1), 0)::int AS n FROM (SELECT count(*) AS n FROM ${r.table} GROUP BY ${r.unique.join(', ')} HAVING count(*) > 1) d`
      } else if (r.foreignKey) {
        const fk = r.foreignKey
        condition = `FOREIGN KEY (${fk.columns.join(', ')}) → ${fk.references}`
        const notNull = fk.columns.map((c) => `t.${c} IS NOT NULL`).join(' AND ')
        const match = fk.columns.map((c, i) => `p.${fk.refColumns[i]} = t.${c}`).join(' AND ')
        sql = `SELECT count(*)::int AS n FROM ${r.table} t WHERE ${notNull} AND NOT EXISTS (SELECT 1 FROM ${fk.references} p WHERE ${match})`
      } else continue
      const n = (await client.query<{ n: number }>(sql)).rows[0]?.n ?? 0
      out.push({ migration: name, table: r.table, condition, violations: n })
    }
  }
  return out
}
