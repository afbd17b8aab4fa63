/**
 * Many `SELECT count(*) …` queries in few round trips: each becomes a scalar sub-select of one
 * statement. The probes of a step are many small counts over small tables, where the round trip
 * costs more than the count; a statement holds at most 1,664 columns (PostgreSQL's limit), so
 * they go 500 at a time. A statement that fails (one query is wrong for the engine) is
 * evaluated query by query, so a failure is the value of the query that failed and no other.
 */
import type pg from 'pg'

const PER_STATEMENT = 500

export async function countAll(client: pg.ClientBase, queries: string[]): Promise<(number | Error)[]> {
  const out: (number | Error)[] = []
  for (let i = 0; i < queries.length; i += PER_STATEMENT) {
    const part = queries.slice(i, i + PER_STATEMENT)
    try {
      const r = await client.query({ text: `SELECT ${part.map((q) => `(${q})`).join(', ')}`, rowMode: 'array' })
      out.push(...(r.rows[0] as unknown[]).map(Number))
    } catch {
      for (const q of part) out.push(await client.query({ text: q, rowMode: 'array' }).then((r) => Number((r.rows[0] as unknown[])[0]), (e: Error) => e))
    }
  }
  return out
}
