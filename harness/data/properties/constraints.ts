/** The migrated database's own rules, re-evaluated by query over the generated rows. */
import type pg from 'pg'
import type { Catalog } from '../../catalog/tables.ts'
import { literalOrNull as lit, quoteIdent, quoteQualified } from '../../util/sql.ts'
import { countAll } from '../../util/counts.ts'
import { foreignKeyOrphans } from '../../validation/orphans.ts'
import type { Violation } from './preservation.ts'

/**
 * NOT NULL, CHECK, UNIQUE and foreign keys re-evaluated by query; hypertable rows in chunks.
 * `probe` narrows the table constraints to those tables (CarriedRows.touched says which a step
 * may have broken); foreign keys are always evaluated everywhere, since a migration can disable
 * their triggers and later rows then come in unchecked. `counts`: the rows per table, when known.
 */
export async function constraints(client: pg.ClientBase, schemas: string[], catN: Catalog, options: { probe?: Set<string>; counts?: Map<string, number> } = {}): Promise<Violation[]> {
  const out: Violation[] = []
  if (catN.tables.length === 0) return out
  let counts = options.counts
  if (!counts || catN.tables.some((t) => !Number.isFinite(counts!.get(t.name)))) {
    const r = await client.query<{ t: string; n: string }>(catN.tables.map((t) => `SELECT ${lit(t.name)} AS t, count(*)::text AS n FROM ${t.sql}`).join(' UNION ALL '))
    counts = new Map(r.rows.map((row) => [row.t, Number(row.n)]))
  }
  // Every probe is a count that must be 0 (or, for chunks, > 0), all of them in one statement.
  const probes: { query: string; table: string; bad: (n: number) => boolean; violation: (n: number) => Violation }[] = []
  for (const t of catN.tables) {
    if (!counts.get(t.name) || (options.probe && !options.probe.has(t.name))) continue
    const probe = (query: string, bad: (n: number) => boolean, violation: (n: number) => Violation) => probes.push({ query, table: t.name, bad, violation })
    for (const c of t.columns.filter((x) => x.notNull)) {
      const query = `SELECT count(*) FROM ${t.sql} WHERE ${quoteIdent(c.name)} IS NULL`
      probe(query, (n) => n > 0, (n) => ({ check: 'not-null', table: t.name, column: c.name, message: `${t.name}.${c.name} is NOT NULL but ${n} row(s) hold NULL`, query }))
    }
    for (const ch of t.checks) {
      const query = `SELECT count(*) FROM ${t.sql} WHERE NOT (${ch.expression})`
      probe(query, (n) => n > 0, (n) => ({ check: 'check', table: t.name, message: `${t.name}: ${n} row(s) violate CHECK ${ch.name} (${ch.expression})${ch.validated ? '' : ' [the constraint is NOT VALID]'}`, query }))
    }
    for (const u of t.uniques) {
      const notNull = u.nullsNotDistinct ? [] : u.expressions.map((e) => `${e} IS NOT NULL`)
      const where = [...(u.predicate ? [`(${u.predicate})`] : []), ...notNull]
      const query = `SELECT count(*) FROM (SELECT 1 FROM ${t.sql}${where.length ? ` WHERE ${where.join(' AND ')}` : ''} GROUP BY ${u.expressions.join(', ')} HAVING count(*) > 1) d`
      probe(query, (n) => n > 0, (n) => ({ check: 'unique', table: t.name, message: `${t.name}: ${n} duplicated key(s) for ${u.primary ? 'PRIMARY KEY' : 'UNIQUE'} ${u.name} (${u.expressions.join(', ')})`, query }))
    }
    if (t.hypertable) {
      const only = `SELECT count(*) FROM ONLY ${t.sql}`
      probe(only, (n) => n > 0, (n) => ({ check: 'hypertable', table: t.name, message: `${t.name} is a hypertable but ${n} row(s) sit in the parent table, not in chunks`, query: only }))
      const chunks = `SELECT count(*) FROM timescaledb_information.chunks WHERE hypertable_schema = ${lit(t.schema)} AND hypertable_name = ${lit(t.table)}`
      probe(chunks, (n) => n === 0, () => ({ check: 'hypertable', table: t.name, message: `${t.name} is a hypertable with ${counts!.get(t.name)} row(s) but no chunks`, query: chunks }))
    }
  }
  const values = await countAll(client, probes.map((p) => p.query))
  probes.forEach((p, i) => {
    const v = values[i]!
    if (v instanceof Error) out.push({ check: 'check', table: p.table, message: `${p.table}: evaluating a constraint failed: ${v.message}`, query: p.query })
    else if (p.bad(v)) out.push(p.violation(v))
  })
  const orphans = await foreignKeyOrphans(client, schemas)
  for (const o of orphans) {
    const fk = catN.tables.flatMap((t) => t.foreignKeys.map((f) => ({ t, f }))).find(({ t, f }) => o.startsWith(`${t.sql}.${f.name}:`) || o.includes(`.${f.name}:`))
    const query = fk
      ? `SELECT count(*) FROM ${fk.t.sql} c WHERE ${fk.f.columns.map((c) => `c.${quoteIdent(c)} IS NOT NULL`).join(' AND ')} AND NOT EXISTS (SELECT 1 FROM ${quoteQualified(fk.f.refTable)} p WHERE ${fk.f.columns.map((c, i) => `p.${quoteIdent(fk.f.refColumns[i]!)} = c.${quoteIdent(c)}`).join(' AND ')})`
      : undefined
    out.push({ check: 'foreign-key', table: fk?.t.name, message: o, query })
  }
  return out
}
