/**
 * A cheap proof that nothing in the catalog changed: a mark is the next transaction id and the
 * row count of every catalog table of this database (pg_catalog's own, not shared, and
 * TimescaleDB's catalog and config). A committed INSERT or UPDATE of a catalog row leaves a
 * visible row version whose xmin is a transaction at least as new as the mark's; a DELETE alone
 * lowers a count; a rolled-back transaction leaves no visible row version behind. So "unchanged"
 * means no committed catalog change since the mark, hence an equal schema fingerprint, for two
 * catalog queries instead of the dozen a fingerprint takes; "changed" proves nothing by itself
 * (a background job's bookkeeping, say), and the caller then takes the fingerprint to compare
 * and to show the difference.
 *
 * Left out: planner statistics (pg_statistic, pg_statistic_ext_data: ANALYZE writes them) and
 * in-place updates PostgreSQL makes without a new row version (pg_class's relpages, reltuples,
 * relhasindex, relfrozenxid), none of which the fingerprint holds.
 */
import type pg from 'pg'

const LIST = `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS q
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'r' AND NOT c.relisshared
   AND (n.nspname = 'pg_catalog' AND c.relname NOT IN ('pg_statistic', 'pg_statistic_ext_data')
        OR n.nspname IN ('_timescaledb_catalog', '_timescaledb_config'))
 ORDER BY 1`

/** Per catalog table: its rows, and its rows written by a transaction at or after `$1` (an xid). */
async function countQuery(client: pg.ClientBase): Promise<string> {
  const tables = (await client.query<{ q: string }>(LIST)).rows.map((r) => r.q)
  return tables.map((t) => `SELECT count(*)::int AS n, (count(*) FILTER (WHERE age(xmin) <= age($1::text::xid)))::int AS fresh FROM ${t}`).join(' UNION ALL ')
}

export interface CatalogMark {
  /** The next transaction id at the time of the mark: every later write carries one at least this new. */
  next: string
  /** Row counts of every catalog table. */
  counts: string
  query: string
}

/** The catalog's mark now. */
export async function catalogMark(client: pg.ClientBase): Promise<CatalogMark> {
  const query = await countQuery(client)
  const next = (await client.query<{ x: string }>(`SELECT pg_catalog.pg_snapshot_xmax(pg_catalog.pg_current_snapshot())::text AS x`)).rows[0]!.x
  // The xid8 of the snapshot, reduced to the 32-bit xid that xmin holds.
  const xid = (BigInt(next) % 2n ** 32n).toString()
  const r = await client.query<{ n: number }>(query, [xid])
  return { next: xid, counts: r.rows.map((x) => x.n).join(','), query }
}

/**
 * True when no committed write touched the catalog since `mark`: no catalog row version was
 * written by a transaction that started after it (an INSERT or UPDATE makes one), and every
 * catalog table has as many rows as then (a DELETE alone lowers a count).
 */
export async function catalogUnchanged(client: pg.ClientBase, mark: CatalogMark): Promise<boolean> {
  const r = await client.query<{ n: number; fresh: number }>(mark.query, [mark.next])
  return r.rows.map((x) => x.n).join(',') === mark.counts && r.rows.every((x) => x.fresh === 0)
}
