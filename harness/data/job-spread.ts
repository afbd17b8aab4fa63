/**
 * Data that shows what the registered jobs do: copies of a few template rows per hypertable
 * placed on both sides of every policy window, exactly on chunk boundaries and 1 µs either side,
 * and beyond the oldest window.
 */
import type pg from 'pg'
import { readColumns } from '../catalog/columns.ts'
import { quoteIdent, quoteQualified } from '../util/sql.ts'
import { epochUs, hypertableDimensions, isoUs, jobWindow, us, type RegisteredJob } from '../validation/jobs/index.ts'

// ---- data that shows what the jobs do -------------------------------------------------------------------------

export interface Spread {
  table: string
  templates: number
  inserted: number
  /** Rows exactly on a chunk boundary or 1 µs either side. */
  atBoundaries: number
  oldestUs: number | null
  newestUs: number | null
  windows: string[]
}

/**
 * For every hypertable with rows (the templates) and at least one policy window: copies of all
 * its rows shifted as a block (so unique keys stay unique) to start at instants on both sides of
 * every window's cutoff: the chunk boundaries at, before and after the cutoff, each exactly and
 * 1 µs either side; halfway between the windows; and beyond the oldest window. Conflicting
 * copies are skipped (ON CONFLICT DO NOTHING). Runs in one transaction.
 */
export async function spreadOverWindows(client: pg.ClientBase, jobs: RegisteredJob[], schemas: string[]): Promise<Spread[]> {
  const out: Spread[] = []
  const dims = await hypertableDimensions(client, schemas)
  await client.query('BEGIN')
  try {
    for (const d of dims.filter((x) => !x.integer && x.intervalUs > 0)) {
      const windows = [...new Set(jobs.filter((j) => j.hypertable === d.table).map(jobWindow).filter((w): w is { name: string; value: string } => !!w && !w.name.endsWith('created_before')).map((w) => w.value))]
      if (!windows.length) continue
      const ht = quoteQualified(d.table)
      const t = quoteIdent(d.timeColumn)
      const base = (await client.query<{ n: number; mn: string | null; now: string }>(`SELECT count(*)::int AS n, ${epochUs(`min(${t})::timestamptz`)} AS mn, ${epochUs('now()')} AS now FROM ${ht}`)).rows[0]!
      if (!base.n || base.mn === null) continue
      const nowUs = Number(base.now)
      const minUs = Number(base.mn)
      const cuts: number[] = []
      for (const w of windows) cuts.push(Number((await client.query<{ c: string }>(`SELECT ${epochUs('now() - $1::interval')} AS c`, [w])).rows[0]!.c))
      cuts.sort((a, b) => a - b)
      const I = d.intervalUs
      const boundaries = new Set<number>()
      for (const c of cuts) for (const k of [-1, 0, 1]) boundaries.add((Math.floor(c / I) + k) * I)
      const starts = new Set<number>()
      for (const b of boundaries) for (const o of [-1, 0, 1]) starts.add(b + o)
      for (let i = 0; i + 1 < cuts.length; i++) starts.add(Math.floor((cuts[i]! + cuts[i + 1]!) / 2))
      starts.add(cuts[0]! - 2 * I - Math.floor(I / 2))
      starts.add(cuts[0]! - 30 * 86_400_000_000)
      const newest = cuts[cuts.length - 1]!
      starts.add(Math.floor((newest + nowUs) / 2))
      const [schema, name] = [d.table.slice(0, d.table.indexOf('.')), d.table.slice(d.table.indexOf('.') + 1)]
      const cols = (await readColumns(client, [schema], ['r', 'p'], { base: false, notes: false })).filter((c) => c.rel === name && c.generated === '' && c.identity !== 'a')
      await client.query(`CREATE TEMP TABLE pgverify_job_templates ON COMMIT DROP AS SELECT * FROM ${ht}`)
      const list = cols.map((c) => quoteIdent(c.name)).join(', ')
      // Every time-like column moves with the time column, so a row stays consistent (ts_off >= ts_on).
      const timeLike = (type: string) => /^(timestamp|date)\b/.test(type)
      const shifted = cols.map((c) => (timeLike(c.type) ? `(${quoteIdent(c.name)} + ($1::bigint * interval '1 microsecond'))::${c.type}` : quoteIdent(c.name))).join(', ')
      let inserted = 0
      for (const s of [...starts].sort((a, b) => a - b)) {
        const r = await client.query(`INSERT INTO ${ht} (${list}) SELECT ${shifted} FROM pgverify_job_templates ON CONFLICT DO NOTHING`, [String(s - minUs)])
        inserted += r.rowCount ?? 0
      }
      await client.query('DROP TABLE pgverify_job_templates')
      const edge = [...boundaries].flatMap((b) => [b - 1, b, b + 1]).map((v) => isoUs(v))
      const at = (await client.query<{ n: number; lo: string | null; hi: string | null }>(
        `SELECT count(*) FILTER (WHERE ${t}::timestamptz = ANY($1::timestamptz[]))::int AS n, ${epochUs(`min(${t})::timestamptz`)} AS lo, ${epochUs(`max(${t})::timestamptz`)} AS hi FROM ${ht}`,
        [edge],
      )).rows[0]!
      out.push({ table: d.table, templates: base.n, inserted, atBoundaries: at.n, oldestUs: us(at.lo), newestUs: us(at.hi), windows })
    }
    await client.query('COMMIT')
  } catch (e) {
    await client.query('ROLLBACK').catch(() => {})
    throw e
  }
  return out
}
