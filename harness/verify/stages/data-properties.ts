/**
 * Property-based data through the upgrades. For every starting version k (0 … N-1): bring the
 * database to k, generate a dataset with fast-check from the catalog at k, insert it, migrate up
 * to N, then check by query:
 *   - every row that existed is still there (by primary key) with its values unchanged, except
 *     where a migration declares a data change (manifest.json → migrations[name].dataChanges);
 *   - row counts are preserved (or changed only as declared: insert, delete, move);
 *   - no NOT NULL, CHECK, UNIQUE or foreign-key violation exists (re-evaluated by query);
 *   - hypertable rows live in chunks (none in the parent itself) and chunks exist;
 *   - then every job the migrations registered runs once (`CALL run_job(id)`, id order: jobs never
 *     run by themselves here), and the rows are checked again: a row that is missing now is a
 *     declared effect only when a retention policy explains it (its hypertable has one and its
 *     time value is older than now() - drop_after), counted per policy in the summary; any other
 *     missing, changed or added row is a violation. A job that errors on generated data is listed
 *     in the summary and details (its rows are checked all the same); the jobs stage fails on it.
 * A failing property shrinks to a minimal dataset and is written to
 * reports/data-property-<k>-<seed>.sql (the version, the INSERTs, the failing check).
 *
 * Declared data changes (next to the migration, in manifest.json):
 *   { "kind": "backfill", "table": "s.t", "columns": ["c"], "onlyWhereNull": true }  values of these columns may change (only NULLs, with onlyWhereNull)
 *   { "kind": "insert",   "table": "s.t" }                                          rows may be added
 *   { "kind": "delete",   "table": "s.t" }                                          rows may disappear
 *   { "kind": "drop",     "table": "s.t", "columns": ["c"] }                        the columns (or, without columns, the table) are dropped with their data
 *   { "kind": "move", "from": "s.t1", "to": "s.t2", "key": ["id"] }                 every row of t1 is in t2 (by key, same values in the common columns); t1 may be emptied or dropped
 *   { "kind": "requires", "table": "s.t", "check": "expr" | "unique": ["expr"] | "foreignKey": {…} }
 *                                                                                   a precondition: the migration refuses (fails, rolled back) data that violates it;
 *                                                                                   generated data at earlier versions satisfies it, and the stage lists it.
 */
import { literalOrNull, quoteIdent, quoteQualified } from '../../util/sql.ts'
import { createHash } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import fc from 'fast-check'
import type pg from 'pg'
import { buildPlan, wordIn, type GenerationPlan, type RawDataset } from '../../data/arbitraries.ts'
import { readCatalog, type Catalog, type TableInfo } from '../../data/catalog.ts'
import { insertDataset, readBack, toSql, type Dataset, type ReadColumn } from '../../data/dataset.ts'
import { HarnessError } from '../../errors.ts'
import { declaredDataChanges, type DataChange, type DeclaredDataChange } from '../../manifest/manifest.ts'
import { isConnectionLoss } from '../../sqlstate.ts'
import type { Migration } from '../../sql/migration.ts'
import { attributeJobs, describeConfig, formatJobError, jobLabel, jobWindow, listJobs, registeredLabel, runJob, unscheduleJobs, type RegisteredJob } from '../../validation/jobs.ts'
import { foreignKeyOrphans } from '../../validation/orphans.ts'
import { failed, migratorFor, passed, type StageFn, type VerifyContext } from '../stage.ts'

/** Datasets per starting version when --runs is not given: sized for `pnpm verify` on the embedded engine. */
export const DEFAULT_RUNS = 3
/** Time spent shrinking one failure before the smallest example so far is reported. */
export const SHRINK_BUDGET_MS = 90_000

// ---- declarations --------------------------------------------------------------------------------

// The declarations are typed and validated by the manifest module, once, in loadManifest.
type Declared = DeclaredDataChange

const describeChange = (d: Declared): string => {
  const c = d.change
  const note = c.note ? ` — ${c.note}` : ''
  switch (c.kind) {
    case 'backfill':
      return `${d.migration}: backfill ${c.table} (${c.columns.join(', ')})${c.onlyWhereNull ? ', only where NULL' : ''}${note}`
    case 'insert':
    case 'delete':
      return `${d.migration}: ${c.kind} rows of ${c.table}${note}`
    case 'drop':
      return `${d.migration}: drop ${c.columns ? `columns ${c.columns.join(', ')} of ` : 'table '}${c.table}${note}`
    case 'move':
      return `${d.migration}: move ${c.from} → ${c.to} by (${c.key.join(', ')})${note}`
    case 'requires':
      return `${d.migration}: requires on ${c.table}: ${c.check ?? (c.unique ? `UNIQUE (${c.unique.join(', ')})` : `FOREIGN KEY (${c.foreignKey!.columns.join(', ')}) → ${c.foreignKey!.references}`)}${note}`
  }
}

/** The catalog at k plus the preconditions later migrations declare, as constraints the generator honours. */
function withPreconditions(cat: Catalog, declared: Declared[], k: number): { catalog: Catalog; applied: string[] } {
  const applied: string[] = []
  const tables = cat.tables.map((t) => ({ ...t, checks: [...t.checks], uniques: [...t.uniques], foreignKeys: [...t.foreignKeys] }))
  declared.forEach((d, i) => {
    const c = d.change
    if (c.kind !== 'requires' || d.version <= k) return
    const t = tables.find((x) => x.name === c.table)
    if (!t) return
    const name = `requires ${d.migration} #${i}`
    if (c.check !== undefined) {
      const cols = t.columns.filter((col) => wordIn(col.name, c.check!)).map((col) => col.name)
      t.checks.push({ name, expression: c.check, columns: cols, validated: true, declaredBy: d.migration })
    } else if (c.unique) {
      const has = (x: string) => t.columns.some((col) => col.name === x)
      const plain = c.unique.every(has)
      if (!t.columns.some((col) => c.unique!.some((e) => wordIn(col.name, e)))) return
      t.uniques.push({ name, primary: false, columns: plain ? c.unique : null, expressions: c.unique.map((e) => (has(e) ? quoteIdent(e) : `(${e})`)), predicate: null, nullsNotDistinct: false, declaredBy: d.migration })
    } else if (c.foreignKey) {
      if (!c.foreignKey.columns.every((x) => t.columns.some((col) => col.name === x))) return
      t.foreignKeys.push({ name, columns: c.foreignKey.columns, refTable: c.foreignKey.references, refColumns: c.foreignKey.refColumns, declaredBy: d.migration })
    }
    applied.push(describeChange(d))
  })
  return { catalog: { ...cat, tables }, applied }
}

// ---- checks ----------------------------------------------------------------------------------------

export interface Violation {
  /** row-missing | value-changed | column-dropped | table-dropped | rows-added | move | not-null | check | unique | foreign-key | hypertable | migration-failed | down-failed */
  check: string
  table?: string
  column?: string
  message: string
  /** A query that shows the violation on the migrated database. */
  query?: string
  /** Found after the registered jobs ran (the replay file then says to run them). */
  afterJobs?: boolean
}

type Before = Map<string, { table: TableInfo; rows: Map<string, (string | null)[]>; counts: Map<string, number>; total: number }>

async function readAll(client: pg.ClientBase, cat: Catalog): Promise<Before> {
  const out: Before = new Map()
  for (const t of cat.tables) {
    const cols = t.columns.map((c) => ({ name: c.name }))
    const key = t.primaryKey ? t.primaryKey.map((k) => t.columns.findIndex((c) => c.name === k)) : null
    const r = await readBack(client, t.sql, cols, key)
    let total = 0
    for (const n of r.counts.values()) total += n
    out.set(t.name, { table: t, rows: r.rows, counts: r.counts, total })
  }
  return out
}

const lit = literalOrNull
const show = (v: string | null) => (v === null ? 'NULL' : JSON.stringify(v.length > 80 ? `${v.slice(0, 77)}…` : v))

function keyWhere(t: TableInfo, key: string): string {
  const vals = JSON.parse(key) as (string | null)[]
  const cols = t.primaryKey ?? t.columns.map((c) => c.name)
  return cols.map((c, i) => (vals[i] === null ? `${quoteIdent(c)} IS NULL` : `${quoteIdent(c)}::text = ${lit(vals[i]!)}`)).join(' AND ')
}

/** A missing row: its key, its values before migrating, how many copies of it are missing (tables without a key). */
interface MissingRow {
  key: string
  row: (string | null)[]
  n: number
}

/**
 * After the registered jobs ran: decides which missing rows a retention policy explains (their
 * hypertable has one, and their time value is older than now() - drop_after), counts those per
 * policy and returns the others, each with the reason it is not explained.
 */
interface RetentionExplainer {
  explain(tn: TableInfo, t: TableInfo, rows: MissingRow[]): Promise<(MissingRow & { why: string })[]>
}

async function preservation(client: pg.ClientBase, before: Before, catN: Catalog, applied: Declared[], retention?: RetentionExplainer): Promise<Violation[]> {
  const out: Violation[] = []
  const decl = (kind: DataChange['kind'], table: string) => applied.filter((d) => d.change.kind === kind && 'table' in d.change && d.change.table === table)
  for (const [name, b] of before) {
    if (b.total === 0) continue
    const t = b.table
    const moves = applied.filter((d) => d.change.kind === 'move' && d.change.from === name)
    for (const mv of moves) out.push(...(await checkMove(client, b, mv.change as Extract<DataChange, { kind: 'move' }>, catN)))
    const tn = catN.tables.find((x) => x.name === name)
    if (!tn) {
      if (!moves.length && !decl('drop', name).some((d) => !(d.change as { columns?: string[] }).columns)) {
        out.push({ check: 'table-dropped', table: name, message: `table ${name} no longer exists: its ${b.total} row(s) are lost (no "drop" or "move" declared)` })
      }
      continue
    }
    const backfill = new Map<string, boolean>()
    for (const d of decl('backfill', name)) for (const c of (d.change as { columns: string[] }).columns) backfill.set(c, (backfill.get(c) ?? true) && !!(d.change as { onlyWhereNull?: boolean }).onlyWhereNull)
    const droppedCols = new Set(decl('drop', name).flatMap((d) => (d.change as { columns?: string[] }).columns ?? []))
    // Columns of k, as read after: same name; cast back to k's type when a migration changed it.
    const present: { i: number; col: ReadColumn }[] = []
    for (const [i, c] of t.columns.entries()) {
      const cn = tn.columns.find((x) => x.name === c.name)
      if (!cn) {
        const held = [...b.rows.values()].filter((r) => r[i] !== null).length
        if (held > 0 && !droppedCols.has(c.name) && !moves.length) {
          out.push({ check: 'column-dropped', table: name, column: c.name, message: `column ${name}.${c.name} was dropped: it held data in ${held} of ${b.total} row(s)`, query: `SELECT column_name FROM information_schema.columns WHERE table_schema = ${lit(t.schema)} AND table_name = ${lit(t.table)} AND column_name = ${lit(c.name)}` })
        }
        continue
      }
      present.push({ i, col: { name: c.name, expr: cn.type === c.type ? undefined : `${quoteIdent(c.name)}::${c.type}` } })
    }
    const keyCols = t.primaryKey
    const keyPos = keyCols ? keyCols.map((k) => present.findIndex((p) => p.col.name === k)) : null
    if (keyPos && keyPos.some((p) => p < 0)) continue // a key column was dropped: reported above
    let after
    try {
      after = await readBack(client, tn.sql, present.map((p) => p.col), keyPos)
    } catch {
      after = await readBack(client, tn.sql, present.map((p) => ({ name: p.col.name })), keyPos)
    }
    let afterTotal = 0
    for (const n of after.counts.values()) afterTotal += n
    const deletes = decl('delete', name).length > 0 || moves.length > 0
    const missingRows: MissingRow[] = []
    const changed = new Map<string, number>()
    for (const [key, row] of b.rows) {
      const k2 = keyCols ? key : JSON.stringify(present.map((p) => row[p.i] ?? null))
      const a = after.rows.get(k2)
      const need = keyCols ? 1 : (b.counts.get(key) ?? 1)
      if (!a || (after.counts.get(k2) ?? 0) < need) {
        if (!deletes) missingRows.push({ key, row, n: need - (after.counts.get(k2) ?? 0) })
        continue
      }
      if (!keyCols) continue
      for (const [j, p] of present.entries()) {
        const was = row[p.i] ?? null
        const now = a[j] ?? null
        if (was === now) continue
        if (backfill.has(p.col.name) && (!backfill.get(p.col.name) || was === null)) continue
        const n = (changed.get(p.col.name) ?? 0) + 1
        changed.set(p.col.name, n)
        if (n <= 3) {
          const why = backfill.has(p.col.name) ? 'the declared backfill is of NULLs only, and this value was not NULL' : 'no migration declares this change'
          out.push({
            check: 'value-changed',
            table: name,
            column: p.col.name,
            message: `${name}.${p.col.name} changed for primary key (${(JSON.parse(key) as (string | null)[]).map(show).join(', ')}): ${show(was)} → ${show(now)}; ${why}`,
            query: `SELECT ${quoteIdent(p.col.name)}::text AS now, ${was === null ? 'NULL' : lit(was)} AS was FROM ${tn.sql} WHERE ${keyWhere(t, key)}`,
          })
        }
      }
    }
    // After the jobs ran, a missing row a retention policy explains is a declared effect, not a loss.
    const unexplained = retention && missingRows.length ? await retention.explain(tn, t, missingRows) : missingRows.map((m) => ({ ...m, why: '' }))
    const when = retention ? 'after the registered jobs ran (CALL run_job)' : 'after migrating'
    for (const m of unexplained.slice(0, 5)) {
      out.push({
        check: 'row-missing',
        table: name,
        message: `${name}: the row with ${keyCols ? `primary key (${keyCols.join(', ')}) = (${(JSON.parse(m.key) as (string | null)[]).map(show).join(', ')})` : `values (${m.row.map(show).join(', ')})`} is gone ${when}${m.why ? `; ${m.why}` : ''}`,
        query: `SELECT count(*) FROM ${tn.sql} WHERE ${keyWhere(t, m.key)}`,
      })
    }
    if (unexplained.length > 5) out.push({ check: 'row-missing', table: name, message: `${name}: ${unexplained.length - 5} more row(s) are gone ${when}` })
    for (const [c, n] of changed) if (n > 3) out.push({ check: 'value-changed', table: name, column: c, message: `${name}.${c}: ${n - 3} more changed value(s)` })
    const inserts = decl('insert', name).length > 0 || applied.some((d) => d.change.kind === 'move' && d.change.to === name)
    if (afterTotal > b.total && !inserts) {
      out.push({ check: 'rows-added', table: name, message: `${name} has ${afterTotal} rows after migrating, ${b.total} before: rows were added and no migration declares an "insert"`, query: `SELECT count(*) AS now, ${b.total} AS was FROM ${tn.sql}` })
    }
  }
  return out
}

async function checkMove(client: pg.ClientBase, b: Before extends Map<string, infer V> ? V : never, mv: Extract<DataChange, { kind: 'move' }>, catN: Catalog): Promise<Violation[]> {
  const to = catN.tables.find((x) => x.name === mv.to)
  if (!to) return [{ check: 'move', table: mv.to, message: `declared move ${mv.from} → ${mv.to}: ${mv.to} does not exist after migrating` }]
  const from = b.table
  const common = from.columns.filter((c) => to.columns.some((x) => x.name === c.name))
  const keyIdx = mv.key.map((k) => common.findIndex((c) => c.name === k))
  if (keyIdx.some((i) => i < 0)) return [{ check: 'move', table: mv.to, message: `declared move ${mv.from} → ${mv.to}: key (${mv.key.join(', ')}) is not a column of both tables` }]
  const after = await readBack(client, to.sql, common.map((c) => ({ name: c.name, expr: `${quoteIdent(c.name)}::${c.type}` })), keyIdx)
  const out: Violation[] = []
  const missing: (string | null)[][] = []
  let differ = 0
  for (const row of b.rows.values()) {
    const vals = common.map((c) => row[from.columns.indexOf(c)] ?? null)
    const keyVals = keyIdx.map((i) => vals[i] ?? null)
    const a = after.rows.get(JSON.stringify(keyVals))
    if (!a) {
      missing.push(keyVals)
      continue
    }
    if (common.some((_, j) => (a[j] ?? null) !== vals[j])) differ++
  }
  if (missing.length) {
    // The source may be gone after migrating: the keys it had are listed in the query itself.
    const list = missing.slice(0, 50).map((k) => `(${k.map(lit).join(', ')})`).join(', ')
    const where = mv.key.map((k) => `t.${quoteIdent(k)}::text = f.${quoteIdent(k)}`).join(' AND ')
    out.push({
      check: 'move',
      table: mv.to,
      message: `declared move ${mv.from} → ${mv.to}: ${missing.length} of ${b.total} row(s) are missing in ${mv.to} (by ${mv.key.join(', ')})`,
      query: `SELECT f.* FROM (VALUES ${list}) AS f(${mv.key.map(quoteIdent).join(', ')}) WHERE NOT EXISTS (SELECT 1 FROM ${to.sql} t WHERE ${where})`,
    })
  }
  if (differ) out.push({ check: 'move', table: mv.to, message: `declared move ${mv.from} → ${mv.to}: ${differ} row(s) arrived with different values in the common columns` })
  return out
}

/** NOT NULL, CHECK, UNIQUE and foreign keys re-evaluated by query; hypertable rows in chunks. */
async function constraints(client: pg.ClientBase, ctx: VerifyContext, catN: Catalog): Promise<Violation[]> {
  const out: Violation[] = []
  if (catN.tables.length === 0) return out
  const counts = new Map<string, number>()
  const r = await client.query<{ t: string; n: string }>(catN.tables.map((t) => `SELECT ${lit(t.name)} AS t, count(*)::text AS n FROM ${t.sql}`).join(' UNION ALL '))
  for (const row of r.rows) counts.set(row.t, Number(row.n))
  for (const t of catN.tables) {
    if (!counts.get(t.name)) continue
    // Every probe is a count that must be 0 (or, for chunks, > 0); one statement per table.
    const probes: { query: string; bad: (n: number) => boolean; violation: (n: number) => Violation }[] = []
    for (const c of t.columns.filter((x) => x.notNull)) {
      const query = `SELECT count(*) FROM ${t.sql} WHERE ${quoteIdent(c.name)} IS NULL`
      probes.push({ query, bad: (n) => n > 0, violation: (n) => ({ check: 'not-null', table: t.name, column: c.name, message: `${t.name}.${c.name} is NOT NULL but ${n} row(s) hold NULL`, query }) })
    }
    for (const ch of t.checks) {
      const query = `SELECT count(*) FROM ${t.sql} WHERE NOT (${ch.expression})`
      probes.push({ query, bad: (n) => n > 0, violation: (n) => ({ check: 'check', table: t.name, message: `${t.name}: ${n} row(s) violate CHECK ${ch.name} (${ch.expression})${ch.validated ? '' : ' [the constraint is NOT VALID]'}`, query }) })
    }
    for (const u of t.uniques) {
      const notNull = u.nullsNotDistinct ? [] : u.expressions.map((e) => `${e} IS NOT NULL`)
      const where = [...(u.predicate ? [`(${u.predicate})`] : []), ...notNull]
      const query = `SELECT count(*) FROM (SELECT 1 FROM ${t.sql}${where.length ? ` WHERE ${where.join(' AND ')}` : ''} GROUP BY ${u.expressions.join(', ')} HAVING count(*) > 1) d`
      probes.push({ query, bad: (n) => n > 0, violation: (n) => ({ check: 'unique', table: t.name, message: `${t.name}: ${n} duplicated key(s) for ${u.primary ? 'PRIMARY KEY' : 'UNIQUE'} ${u.name} (${u.expressions.join(', ')})`, query }) })
    }
    if (t.hypertable) {
      const only = `SELECT count(*) FROM ONLY ${t.sql}`
      probes.push({ query: only, bad: (n) => n > 0, violation: (n) => ({ check: 'hypertable', table: t.name, message: `${t.name} is a hypertable but ${n} row(s) sit in the parent table, not in chunks`, query: only }) })
      const chunks = `SELECT count(*) FROM timescaledb_information.chunks WHERE hypertable_schema = ${lit(t.schema)} AND hypertable_name = ${lit(t.table)}`
      probes.push({ query: chunks, bad: (n) => n === 0, violation: () => ({ check: 'hypertable', table: t.name, message: `${t.name} is a hypertable with ${counts.get(t.name)} row(s) but no chunks`, query: chunks }) })
    }
    if (probes.length === 0) continue
    let values: (number | Error)[]
    try {
      const r = await client.query({ text: `SELECT ${probes.map((p) => `(${p.query})`).join(', ')}`, rowMode: 'array' })
      values = (r.rows[0] as unknown[]).map(Number)
    } catch {
      values = []
      for (const p of probes) values.push(await client.query({ text: p.query, rowMode: 'array' }).then((r) => Number((r.rows[0] as unknown[])[0]), (e: Error) => e))
    }
    probes.forEach((p, i) => {
      const v = values[i]!
      if (v instanceof Error) out.push({ check: 'check', table: t.name, message: `${t.name}: evaluating a constraint failed: ${v.message}`, query: p.query })
      else if (p.bad(v)) out.push(p.violation(v))
    })
  }
  const orphans = await foreignKeyOrphans(client, ctx.schemas)
  for (const o of orphans) {
    const fk = catN.tables.flatMap((t) => t.foreignKeys.map((f) => ({ t, f }))).find(({ t, f }) => o.startsWith(`${t.sql}.${f.name}:`) || o.includes(`.${f.name}:`))
    const query = fk
      ? `SELECT count(*) FROM ${fk.t.sql} c WHERE ${fk.f.columns.map((c) => `c.${quoteIdent(c)} IS NOT NULL`).join(' AND ')} AND NOT EXISTS (SELECT 1 FROM ${quoteQualified(fk.f.refTable)} p WHERE ${fk.f.columns.map((c, i) => `p.${quoteIdent(fk.f.refColumns[i]!)} = c.${quoteIdent(c)}`).join(' AND ')})`
      : undefined
    out.push({ check: 'foreign-key', table: fk?.t.name, message: o, query })
  }
  return out
}

// ---- the registered jobs ---------------------------------------------------------------------------

/** "retention policy on s.t (009_x, drop_after 90 days)": how the summary names a policy. */
const policyLabel = (j: RegisteredJob) => `${jobLabel(j)} (${j.registeredBy?.migration ?? 'registered by no migration file found'}, ${describeConfig(j).split(';')[0]})`

/**
 * Every registered job once, with CALL run_job, in id order. A job's error is returned, not a
 * violation: this stage proves that no data is lost or changed, which the rows checked after the
 * jobs show either way (a failed policy run leaves its chunk as it was); job health on realistic
 * data is the jobs stage's verdict. The errors are listed in the stage's summary and details.
 */
async function runRegisteredJobs(client: pg.ClientBase, ctx: VerifyContext): Promise<{ jobs: RegisteredJob[]; errors: { job: RegisteredJob; message: string }[] }> {
  const jobs = attributeJobs(await listJobs(client), ctx.migrations, ctx.fingerprints)
  const errors: { job: RegisteredJob; message: string }[] = []
  for (const j of jobs) {
    const r = await runJob(client, j.id)
    if (!r.ok) errors.push({ job: j, message: formatJobError(r.error!) })
  }
  return { jobs, errors }
}

/** A job error without the ids that differ between runs (chunk, relation and transaction numbers). */
const jobErrorKey = (j: RegisteredJob, message: string) =>
  `${jobLabel(j)} [${registeredLabel(j)}; ${describeConfig(j)}]: ${message.replace(/# \d+: aborting transaction \d+ \| /g, '').replace(/_(hyper|compressed_hypertable|compress_hyper)_\d+_\d+/g, '_$1_N_N').replace(/compress_hyper_\d+_\d+/g, 'compress_hyper_N_N').replace(/tuple \(\d+,\d+\)/g, 'tuple (…)').replace(/'\d+' chunks/g, "'N' chunks").replace(/size \d+/g, 'size N')}`

/** Retention policies with their cutoff (now() - drop_after, taken after every job ran: the latest instant any of them can have used). */
async function retentionExplainer(client: pg.ClientBase, jobs: RegisteredJob[], tally?: Map<string, number>): Promise<RetentionExplainer> {
  const policies: { job: RegisteredJob; window: string; cutoff: string }[] = []
  for (const j of jobs) {
    const w = jobWindow(j)
    if (j.kind !== 'retention' || !j.hypertable || !w || w.name !== 'drop_after' || !/[a-z]/i.test(w.value)) continue
    const c = (await client.query<{ c: string }>(`SELECT (clock_timestamp() - $1::interval)::text AS c`, [w.value])).rows[0]!.c
    policies.push({ job: j, window: w.value, cutoff: c })
  }
  return {
    async explain(tn, t, rows) {
      const mine = policies.filter((p) => p.job.hypertable === tn.name)
      if (!mine.length) return rows.map((r) => ({ ...r, why: `no retention policy is registered on ${tn.name}, so no job may delete its rows` }))
      const time = tn.hypertable?.timeColumn
      const idx = time ? t.columns.findIndex((c) => c.name === time) : -1
      if (!time || idx < 0) return rows.map((r) => ({ ...r, why: `its time column ${time ?? '(none)'} did not exist before migrating, so no retention policy explains it` }))
      const type = tn.columns.find((c) => c.name === time)!.type
      const values = rows.map((r) => r.row[idx] ?? null)
      const by: number[] = rows.map(() => -1)
      for (const [pi, p] of mine.entries()) {
        const r = await client.query<{ ok: boolean | null }>(`SELECT (u.v::${type} < $2::timestamptz) AS ok FROM unnest($1::text[]) WITH ORDINALITY AS u(v, i) ORDER BY u.i`, [values, p.cutoff])
        r.rows.forEach((x, i) => {
          if (x.ok === true && by[i]! < 0) by[i] = pi
        })
      }
      const out: (MissingRow & { why: string })[] = []
      rows.forEach((r, i) => {
        const p = mine[by[i]!]
        if (p) {
          if (tally) tally.set(policyLabel(p.job), (tally.get(policyLabel(p.job)) ?? 0) + r.n)
          return
        }
        const windows = mine.map((m) => `now() - ${m.window} (${m.cutoff}, ${registeredLabel(m.job)})`).join(' or ')
        out.push({ ...r, why: `its ${time} ${show(values[i] ?? null)} is not older than ${windows}, so no retention policy explains it` })
      })
      return out
    },
  }
}

// ---- the stage ---------------------------------------------------------------------------------------

/** A lost connection or a server that went away, as the runner reports it (HarnessError CONNECTION_FAILED) or as the driver throws it. */
function connectionLost(e: { code?: string; message?: string; details?: Record<string, unknown> }): boolean {
  if (e.code === 'CONNECTION_FAILED') return true
  const sqlstate = (e.details?.error as { sqlstate?: string } | undefined)?.sqlstate ?? (e.details?.sqlstate as string | undefined)
  return isConnectionLoss({ code: sqlstate, message: e.message })
}

class PropertyFailed extends Error {
  constructor(readonly violations: Violation[]) {
    super(violations.map((v) => v.message).join('; '))
  }
}

interface Failure {
  k: number
  dataset: Dataset
  violations: Violation[]
}

interface KStats {
  k: number
  label: string
  datasets: number
  rows: number
  tables: number
  rejected: number
  droppedByCheck: number
  droppedDuplicate: number
  droppedNoParent: number
  repaired: number
  ms: number
}



const versionLabel = (ms: Migration[], k: number) => (k === 0 ? 'bootstrap only' : (ms.find((m) => m.version === k)?.name ?? `version ${k}`))

export const dataProperties: StageFn = async (ctx, client) => {
  const started = Date.now()
  const seed = ctx.options.seed ?? (Date.now() ^ Math.floor(Math.random() * 0x7fffffff)) >>> 1
  const runs = ctx.options.runs ?? DEFAULT_RUNS
  if (ctx.migrations.length === 0) return { verdict: 'skipped', summary: `no migrations: nothing to carry data through (seed ${seed})`, details: [] }
  const declared = declaredDataChanges(ctx.manifest)
  const migrator = migratorFor(ctx, client)
  const logName = `${migrator.log.schema}.${migrator.log.table}`
  const last = ctx.migrations[ctx.migrations.length - 1]!.version
  const N = last
  const reports = path.resolve(ctx.options.reportsDir ?? 'reports')
  const digest = createHash('sha256')

  const toTop = await migrator.up()
  if (toTop.error) return failed(`could not migrate to version ${N} before generating data: ${toTop.error.message}`, [], { code: toTop.error.code, message: toTop.error.message })
  const catN = await readCatalog(client, ctx.schemas, { exclude: [logName] })

  const stats: KStats[] = []
  /** Where the time of the runs went (migrating down and up, generating and inserting, checking). */
  const timing = { migrate: 0, insert: 0, check: 0, jobs: 0 }
  /** Rows removed by retention policies after migrating (explained, so accepted), per policy. */
  const retentionRemoved = new Map<string, number>()
  /** Every job seen registered after migrating, by label, with how many datasets it ran after. */
  const jobsRan = new Map<string, number>()
  /** Job runs that failed on generated data (rows then checked as usual), by job and error, with the starting versions. */
  const jobErrors = new Map<string, { count: number; from: Set<number> }>()
  const rejections = new Map<string, number>()
  const preconditions = new Set<string>()
  const generatorNotes = new Set<string>()
  let failure: (Failure & { runs: number; shrinks: number; shrinkStopped: boolean; file: string }) | undefined
  let tooManySkips: string | undefined
  const starts = [0, ...ctx.migrations.filter((m) => m.version < N).map((m) => m.version)]

  for (const k of starts) {
    const t0 = Date.now()
    const down = await migrator.down({ to: k })
    if (down.error) return failed(`could not bring the database down to version ${k}: ${down.error.message}`, [`the down files must work for the data property to start from every version (seed ${seed})`], { code: down.error.code, message: down.error.message })
    const raw0 = await readCatalog(client, ctx.schemas, { exclude: [logName] })
    const { catalog: catK, applied } = withPreconditions(raw0, declared, k)
    applied.forEach((a) => preconditions.add(a))
    const built = buildPlan(catK)
    const plan: GenerationPlan = built.plan
    for (const s of plan.skipped) generatorNotes.add(`${s.table} not generated: ${s.reason}`)
    for (const c of plan.cut) generatorNotes.add(`${c.table}.${c.fk} closes a foreign-key cycle: its rows reference nothing (NULL) or are dropped`)
    const appliedDecl = declared.filter((d) => d.version > k)
    const truncate = catK.tables.length ? `TRUNCATE ${catK.tables.map((t) => t.sql).join(', ')} RESTART IDENTITY CASCADE` : ''
    const ks: KStats = { k, label: versionLabel(ctx.migrations, k), datasets: 0, rows: 0, tables: plan.tables.length, rejected: 0, droppedByCheck: 0, droppedDuplicate: 0, droppedNoParent: 0, repaired: 0, ms: 0 }
    stats.push(ks)
    let firstFailureAt: number | undefined
    let shrinkStopped = false
    let lastFailure: Failure | undefined
    let shrinking = false

    // The engine went away (connection lost, server crashed or stopped): not a property of the
    // data. Every later run would fail the same way, so they pass untried and the stage reports it.
    let lost: string | undefined
    const runOnce = async (raw: RawDataset): Promise<void> => {
      if (lost) return
      if (firstFailureAt !== undefined && Date.now() - firstFailureAt > SHRINK_BUDGET_MS) {
        shrinkStopped = true
        return
      }
      try {
        await runChecked(raw)
      } catch (e) {
        if (e instanceof PropertyFailed || fc.PreconditionFailure.isFailure(e)) throw e
        lost = (e as Error).message
      }
    }
    const runChecked = async (raw: RawDataset): Promise<void> => {
      let t = performance.now()
      const d = await migrator.down({ to: k })
      timing.migrate += performance.now() - t
      if (d.error && connectionLost(d.error)) {
        lost = d.error.message
        return
      }
      if (d.error) throw new PropertyFailed([{ check: 'down-failed', message: `down to version ${k} failed: ${d.error.message}` }])
      t = performance.now()
      if (truncate) await client.query(truncate)
      const outcome = await insertDataset(client, plan, raw)
      timing.insert += performance.now() - t
      digest.update(toSql(outcome.dataset)).update('\n--\n')
      if (!shrinking) {
        ks.datasets++
        ks.rows += outcome.dataset.stats.rows
        ks.droppedDuplicate += outcome.dataset.stats.droppedDuplicate
        ks.droppedNoParent += outcome.dataset.stats.droppedNoParent
        ks.repaired += outcome.dataset.stats.repaired
        for (const n of Object.values(outcome.dataset.stats.droppedByCheck)) ks.droppedByCheck += n
      }
      if (outcome.error && connectionLost({ message: outcome.error.message, details: { sqlstate: outcome.error.code } })) {
        lost = outcome.error.message
        return
      }
      if (outcome.error) {
        if (!shrinking) ks.rejected++
        const msg = `${outcome.error.table}: ${outcome.error.message}${outcome.error.code ? ` [${outcome.error.code}]` : ''}`
        rejections.set(msg, (rejections.get(msg) ?? 0) + 1)
        fc.pre(false)
      }
      t = performance.now()
      const before = await readAll(client, catK)
      timing.check += performance.now() - t
      t = performance.now()
      const up = await migrator.up()
      // Where a server's background workers are on, no job may run by itself in the middle of the proof.
      if (!up.error && ctx.engine.capabilities.backgroundWorkers) await unscheduleJobs(client, await listJobs(client))
      timing.migrate += performance.now() - t
      t = performance.now()
      let violations: Violation[]
      if (up.error && connectionLost(up.error)) {
        lost = up.error.message
        return
      }
      if (up.error) {
        const located = up.results.find((x) => x.status === 'Error')?.error
        const where = located ? `${located.file}:${located.line}:${located.column}${located.sqlstate ? ` (SQLSTATE ${located.sqlstate})` : ''}` : ''
        violations = [{ check: 'migration-failed', message: `migrating up from version ${k} with this data failed${where ? ` at ${where}` : ''}: ${located?.message ?? up.error.message}` }]
      } else {
        violations = [...(await preservation(client, before, catN, appliedDecl)), ...(await constraints(client, ctx, catN))]
      }
      timing.check += performance.now() - t
      if (!up.error && violations.length === 0) {
        // The jobs the migrations registered, as production's workers would run them.
        t = performance.now()
        const jr = await runRegisteredJobs(client, ctx)
        if (jr.jobs.length) {
          if (!shrinking) for (const j of jr.jobs) jobsRan.set(`${jobLabel(j)} [${registeredLabel(j)}]`, (jobsRan.get(`${jobLabel(j)} [${registeredLabel(j)}]`) ?? 0) + 1)
          if (!shrinking)
            for (const e of jr.errors) {
              const key = jobErrorKey(e.job, e.message)
              const x = jobErrors.get(key) ?? jobErrors.set(key, { count: 0, from: new Set() }).get(key)!
              x.count++
              x.from.add(k)
            }
          const tally = shrinking ? undefined : new Map<string, number>()
          violations = (await preservation(client, before, catN, appliedDecl, await retentionExplainer(client, jr.jobs, tally))).map((v) => ({ ...v, afterJobs: true }))
          if (!violations.length && tally) for (const [l, n] of tally) retentionRemoved.set(l, (retentionRemoved.get(l) ?? 0) + n)
        }
        timing.jobs += performance.now() - t
      }
      if (violations.length) {
        firstFailureAt ??= Date.now()
        shrinking = true
        lastFailure = { k, dataset: outcome.dataset, violations }
        throw new PropertyFailed(violations)
      }
    }

    const numRuns = plan.tables.length === 0 ? 1 : runs
    ctx.progress(`  data from version ${k} (${ks.label}): ${numRuns} dataset(s) over ${plan.tables.length} table(s)`)
    const details = await fc.check(
      fc.asyncProperty(built.arbitrary, async (raw) => {
        await runOnce(raw)
      }),
      { seed, numRuns, maxSkipsPerRun: 10 },
    )
    ks.ms = Date.now() - t0
    if (lost) {
      throw new HarnessError('CONNECTION_FAILED', `data property from version ${k}: the connection to the database was lost while running a dataset (${lost}); this is not a property of the data (seed ${seed})`, {
        hint: 'Check the engine (memory, a crash in the server log, a stop from outside) and run again with the same --seed.',
      })
    }
    if (details.failed && lastFailure && details.counterexample) {
      const file = path.join(reports, `data-property-${k}-${seed}.sql`)
      mkdirSync(reports, { recursive: true })
      writeFileSync(file, replayFile(ctx, { ...lastFailure, seed, runs: details.numRuns, shrinks: details.numShrinks, shrinkStopped }))
      failure = { ...lastFailure, runs: details.numRuns, shrinks: details.numShrinks, shrinkStopped, file }
      break
    }
    if (details.failed) {
      const err = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance ?? '')
      if (details.numSkips > 0 && !lastFailure) {
        tooManySkips = `from version ${k}: ${details.numSkips} of ${details.numSkips + details.numRuns} generated datasets were refused by the engine (generator gap): ${[...rejections.keys()].slice(0, 3).join(' | ')}`
        break
      }
      throw new HarnessError('VALIDATION_FAILED', `data property from version ${k} could not run: ${err}`)
    }
  }

  // Leave the database as replay left it: every migration applied, none of the generated rows.
  const reset = await migrator.down({ to: 0 })
  const back = reset.error ? reset : await migrator.up()

  const totalDatasets = stats.reduce((s, x) => s + x.datasets, 0)
  const totalRows = stats.reduce((s, x) => s + x.rows, 0)
  const seconds = ((Date.now() - started) / 1000).toFixed(1)
  const lines: string[] = [
    `seed ${seed} (reproduce: pnpm verify --seed ${seed}${ctx.options.runs !== undefined ? ` --runs ${runs}` : ''}); ${runs} dataset(s) per starting version`,
    ...stats.map(
      (s) =>
        `from ${s.k} (${s.label}): ${s.datasets} dataset(s), ${s.rows} row(s) over ${s.tables} table(s)` +
        (s.rejected ? `, ${s.rejected} refused by the engine` : '') +
        (s.droppedByCheck ? `, ${s.droppedByCheck} candidate row(s) dropped by CHECKs evaluated by query` : '') +
        (s.droppedDuplicate ? `, ${s.droppedDuplicate} duplicate key(s) dropped` : '') +
        (s.droppedNoParent ? `, ${s.droppedNoParent} without a parent dropped` : '') +
        (s.repaired ? `, ${s.repaired} two-column comparison(s) repaired` : '') +
        `, ${(s.ms / 1000).toFixed(1)} s`,
    ),
    ...declared.filter((d) => d.change.kind !== 'requires').map((d) => `declared data change: ${describeChange(d)}`),
    ...[...preconditions].map((p) => `declared precondition (generated data satisfies it): ${p}`),
    ...[...generatorNotes].map((n) => `generator: ${n}`),
    ...[...rejections].slice(0, 5).map(([m, n]) => `refused by the engine ${n}×: ${m}`),
    ...(jobsRan.size ? [`registered jobs run after every migrated dataset (CALL run_job, id order), then the rows checked again: ${[...jobsRan.keys()].join('; ')}`] : []),
    ...[...retentionRemoved].map(([l, n]) => `declared by a retention policy: ${n} generated row(s) removed by the ${l} (time value older than now() - drop_after)`),
    ...[...jobErrors].map(([m, x]) => `JOB ERROR on generated data (${x.count} run(s), datasets from version ${[...x.from].join(', ')}; no row lost or changed by it): ${m}`),
    `time: migrating down and up ${(timing.migrate / 1000).toFixed(1)} s, generating and inserting ${(timing.insert / 1000).toFixed(1)} s, reading and checking ${(timing.check / 1000).toFixed(1)} s${jobsRan.size ? `, running the jobs and checking after them ${(timing.jobs / 1000).toFixed(1)} s` : ''}`,
    `datasets sha256 ${digest.digest('hex').slice(0, 16)} (equal for equal --seed and --runs)`,
  ]
  if (back.error) lines.push(`could not reset the database to version ${N} afterwards: ${back.error.message}`)

  if (failure) {
    const v = failure.violations[0]!
    const rows = failure.dataset.inserts.reduce((s, i) => s + i.rows.length, 0)
    return failed(
      `data property failed from version ${failure.k} (${versionLabel(ctx.migrations, failure.k)}): ${v.message} — seed ${seed}, shrunk to ${rows} row(s) in ${failure.shrinks} step(s); replay ${failure.file}`,
      [
        ...failure.violations.map((x) => `FAIL ${x.check}${x.table ? ` ${x.table}${x.column ? `.${x.column}` : ''}` : ''}: ${x.message}`),
        `shrunk dataset (${rows} row(s)): ${failure.dataset.inserts.map((i) => `${i.table.name} ${i.rows.length}`).join(', ') || 'no rows'}${failure.shrinkStopped ? ` (shrinking stopped after ${SHRINK_BUDGET_MS / 1000} s)` : ''}`,
        `replay: ${failure.file}`,
        ...(failure.k < starts[starts.length - 1]! ? [`not run: starting versions ${starts.filter((x) => x > failure!.k).join(', ')} (the stage stops at the first version whose property fails)`] : []),
        ...lines,
      ],
      { code: 'VALIDATION_FAILED', message: v.message },
    )
  }
  if (tooManySkips) return failed(`seed ${seed}: the generated data could not be inserted ${tooManySkips}`, lines, { code: 'VALIDATION_FAILED', message: tooManySkips })
  return passed(
    `seed ${seed}: ${totalDatasets} datasets (${totalRows} rows) from every version 0…${N - 1} migrated to ${N}: rows and values kept, no NOT NULL/CHECK/UNIQUE/FK violation, hypertable rows in chunks (${seconds} s)` +
      // Data that breaks a declared precondition is not generated: say so where people look first.
      (preconditions.size ? `; assumes ${preconditions.size} declared precondition${preconditions.size > 1 ? 's' : ''} (see details)` : '') +
      (jobsRan.size ? `; then the ${jobsRan.size === 1 ? 'registered job' : `${jobsRan.size} registered jobs`} ran (CALL run_job): ${retentionSummary(retentionRemoved)}` : '') +
      (jobErrors.size ? `; ${[...jobErrors.values()].reduce((n, x) => n + x.count, 0)} job run(s) FAILED on generated data without losing rows (${[...new Set([...jobErrors.keys()].map((key) => key.slice(0, key.indexOf(' [')) ))].join(', ')}: see details)` : ''),
    lines,
  )
}

/** "493 generated rows removed as declared by retention policies (009_x: metric_hist 110, …), nothing else lost or changed" */
function retentionSummary(removed: Map<string, number>): string {
  const total = [...removed.values()].reduce((a, b) => a + b, 0)
  if (!total) return 'no row removed, nothing lost or changed'
  // Labels are "retention policy on s.t (migration, drop_after …)": grouped by migration, tables short.
  const byMigration = new Map<string, string[]>()
  for (const [l, n] of [...removed].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const m = /on (\S+) \(([^,]+), (.+)\)$/.exec(l)
    const key = m ? m[2]! : l
    const list = byMigration.get(key) ?? byMigration.set(key, []).get(key)!
    list.push(`${m ? m[1]!.split('.').pop() : l} ${n}`)
  }
  const parts = [...byMigration].map(([m, xs]) => `${m}: ${xs.join(', ')}`)
  return `${total} generated row${total === 1 ? '' : 's'} removed as declared by retention policies (${parts.join('; ')}), nothing else lost or changed`
}

function replayFile(ctx: VerifyContext, f: Failure & { seed: number; runs: number; shrinks: number; shrinkStopped: boolean }): string {
  const N = ctx.migrations[ctx.migrations.length - 1]!.version
  const label = versionLabel(ctx.migrations, f.k)
  const rows = f.dataset.inserts.reduce((s, i) => s + i.rows.length, 0)
  const out = [
    `-- pgverify data-properties: a dataset that breaks a property, shrunk by fast-check.`,
    `-- migrations: ${ctx.dir} (${ctx.migrations.length} migrations, last ${ctx.migrations[ctx.migrations.length - 1]!.name})`,
    `-- seed ${f.seed}: found after ${f.runs} dataset(s), shrunk in ${f.shrinks} step(s) to ${rows} row(s)${f.shrinkStopped ? ' (shrink budget reached)' : ''}`,
    `-- starting version: ${f.k} (${label})`,
    `--`,
    `-- Replay:`,
    `--   1. a fresh database at version ${f.k}:   pnpm migrate up --to ${f.k}`,
    `--   2. this file's INSERTs (everything above "the failing check"; the values as they were stored, defaults filled in)`,
    `--   3. the remaining migrations:            pnpm migrate up   (to version ${N})`,
    ...(f.violations.some((v) => v.afterJobs)
      ? [`--   3b. the registered jobs, in id order:  SELECT format('CALL run_job(%s);', job_id) FROM timescaledb_information.jobs WHERE job_id >= 1000 ORDER BY job_id;  (run what it prints)`]
      : []),
    `--   4. the query under "the failing check" shows the violation`,
    `-- Reproduce the whole run: pnpm verify --seed ${f.seed}`,
    ``,
    `SET standard_conforming_strings = on;`,
    `BEGIN;`,
    toSql(f.dataset, { stored: true }) || '-- (no rows: the property fails on an empty database)',
    `COMMIT;`,
    ``,
    `-- ---- the failing check (after migrating to version ${N}) ----`,
  ]
  for (const v of f.violations) {
    out.push(`-- ${v.check}${v.table ? ` on ${v.table}${v.column ? `.${v.column}` : ''}` : ''}: ${v.message.replace(/\n/g, '\n-- ')}`)
    if (v.query) out.push(`${v.query};`)
    else if (v.check === 'migration-failed') out.push(`-- (run \`pnpm migrate up\`: it fails as above on this data)`)
  }
  return out.join('\n') + '\n'
}
