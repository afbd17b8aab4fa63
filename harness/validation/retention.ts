/**
 * What the retention policies of pending migrations will delete on their first run, counted
 * READ-ONLY on the target database before anything runs (`pnpm execute`'s pre-migration
 * validation). A policy added by a migration runs as soon as a server's background workers pick
 * it up: on production, applying the migration is what starts the deletion.
 *
 *   declaredRetention()  the add_retention_policy(...) calls in the migration files, with the
 *                        relation and drop_after as written (positional or named arguments);
 *                        a call inside a DO block or function body (dynamic SQL), or one that
 *                        drops by creation time, is reported as not countable;
 *   retentionImpact()    per call, in a READ ONLY transaction: the table as it is now (a
 *                        hypertable: the chunks `show_chunks(older_than => drop_after)` lists,
 *                        i.e. exactly those drop_chunks would drop, and the rows they hold;
 *                        a plain table that a pending migration converts: the rows older than
 *                        the cutoff by the manifest's time column; absent: created empty).
 */
import { quoteIdent, quoteQualified } from '../util/sql.ts'
import type pg from 'pg'
import { hasTimescaleInformation } from '../catalog/common.ts'
import { readDimensions } from '../catalog/timescale.ts'
import type { Migration } from '../sql/migration.ts'
import { lineColumnAt } from '../sql/split.ts'
import type { Manifest } from '../manifest/manifest.ts'

export interface DeclaredRetention {
  migration: string
  file: string
  line: number
  /** The call as written (shortened). */
  call: string
  /** The relation as written, unquoted: `factory_telemetry.metric_hist`. */
  table?: string
  /** drop_after as an SQL expression, as written: `INTERVAL '90 days'`. */
  dropAfter?: string
  /** Why the call cannot be counted (dynamic SQL, drop_created_before, no relation literal). */
  unreadable?: string
}

export type ImpactStatus = 'would-delete' | 'nothing' | 'missing' | 'unknown'

export interface RetentionImpact extends DeclaredRetention {
  status: ImpactStatus
  /** `schema.table` as resolved now. */
  resolved?: string
  /** drop_after normalised by the server, e.g. "90 days". */
  interval?: string
  timeColumn?: string
  timeColumnFrom?: 'hypertable dimension' | 'manifest'
  hypertable?: boolean
  /** now() - drop_after at the time of the count. */
  cutoff?: string
  rows?: number
  /** Chunks entirely older than the cutoff (hypertables only). */
  chunks?: number
  compressedChunks?: number
  oldest?: string
  newest?: string
  /** One readable sentence: table, what happens, rows, chunks, cutoff. */
  message: string
}

// ---- reading the calls ------------------------------------------------------------------------------

/** The text with comments blanked (strings and dollar-quoted bodies kept). */
function withoutComments(sql: string): string {
  const out = sql.split('')
  let i = 0
  const blank = (a: number, b: number) => {
    for (let k = a; k < b; k++) if (out[k] !== '\n') out[k] = ' '
  }
  while (i < sql.length) {
    const c = sql[i]!
    if (c === '-' && sql[i + 1] === '-') {
      const e = sql.indexOf('\n', i)
      const end = e < 0 ? sql.length : e
      blank(i, end)
      i = end
    } else if (c === '/' && sql[i + 1] === '*') {
      let depth = 1
      let k = i + 2
      while (k < sql.length && depth > 0) {
        if (sql[k] === '/' && sql[k + 1] === '*') (depth++, (k += 2))
        else if (sql[k] === '*' && sql[k + 1] === '/') (depth--, (k += 2))
        else k++
      }
      blank(i, k)
      i = k
    } else if (c === "'" || c === '"') {
      let k = i + 1
      while (k < sql.length) {
        if (sql[k] === c && sql[k + 1] === c) k += 2
        else if (sql[k] === c) break
        else k++
      }
      i = k + 1
    } else if (c === '$') {
      const m = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i))
      if (m) {
        const end = sql.indexOf(m[0], i + m[0].length)
        i = end < 0 ? sql.length : end + m[0].length
      } else i++
    } else i++
  }
  return out.join('')
}

/** The argument list after `(` at `open`: top-level arguments, as written. */
function argumentsAt(text: string, open: number): { args: string[]; end: number } | undefined {
  const args: string[] = []
  let depth = 0
  let start = open + 1
  for (let i = open; i < text.length; i++) {
    const c = text[i]!
    if (c === "'" || c === '"') {
      let k = i + 1
      while (k < text.length && !(text[k] === c && text[k + 1] !== c)) k += text[k] === c ? 2 : 1
      i = k
    } else if (c === '(') depth++
    else if (c === ')') {
      depth--
      if (depth === 0) {
        args.push(text.slice(start, i).trim())
        return { args: args.filter((a, n) => a !== '' || n > 0), end: i + 1 }
      }
    } else if (c === ',' && depth === 1) {
      args.push(text.slice(start, i).trim())
      start = i + 1
    }
  }
  return undefined
}

const unquote = (v: string): string | undefined => {
  const s = v.replace(/::\s*regclass\s*$/i, '').trim()
  const m = /^'((?:[^']|'')*)'$/.exec(s)
  return m ? m[1]!.replace(/''/g, "'").replace(/"/g, '') : undefined
}

const CALL = /\badd_retention_policy\s*\(/gi

/** Every add_retention_policy call in the migrations' up files, in file order. */
export function declaredRetention(migrations: Migration[]): DeclaredRetention[] {
  const out: DeclaredRetention[] = []
  for (const m of migrations) {
    const sql = m.up.sql
    const visible = withoutComments(sql)
    for (const st of m.up.statements) {
      const inCode = new Set<number>()
      for (const hit of st.code.matchAll(CALL)) inCode.add(st.start + hit.index!)
      const region = visible.slice(st.start, st.start + st.text.length)
      for (const hit of region.matchAll(CALL)) {
        const at = st.start + hit.index!
        const line = lineColumnAt(sql, at).line
        const base = { migration: m.name, file: m.up.file, line }
        if (!inCode.has(at)) {
          out.push({ ...base, call: sql.slice(at, at + 80).split('\n')[0]!, unreadable: 'the call is inside a string or a DO block/function body (dynamic SQL): its relation and window cannot be read from the file' })
          continue
        }
        const open = at + hit[0].length - 1
        const parsed = argumentsAt(sql, open)
        const call = parsed ? sql.slice(at, parsed.end).replace(/\s+/g, ' ') : sql.slice(at, at + 80).split('\n')[0]!
        if (!parsed) {
          out.push({ ...base, call, unreadable: 'the argument list could not be read' })
          continue
        }
        const named = new Map<string, string>()
        const positional: string[] = []
        for (const a of parsed.args) {
          const nm = /^([A-Za-z_][A-Za-z0-9_]*)\s*(?:=>|:=)\s*([\s\S]+)$/.exec(a)
          if (nm) named.set(nm[1]!.toLowerCase(), nm[2]!.trim())
          else positional.push(a)
        }
        const rel = named.get('relation') ?? named.get('hypertable') ?? positional[0]
        const table = rel === undefined ? undefined : unquote(rel)
        const dropAfter = named.get('drop_after') ?? positional[1]
        if (!table) out.push({ ...base, call, unreadable: `the relation ${rel ?? '(none)'} is not a string literal` })
        else if (!dropAfter && named.has('drop_created_before')) out.push({ ...base, call, table, unreadable: 'it drops chunks by creation time (drop_created_before), which the time column does not show' })
        else if (!dropAfter) out.push({ ...base, call, table, unreadable: 'no drop_after argument' })
        else out.push({ ...base, call, table, dropAfter })
      }
    }
  }
  return out
}

// ---- counting, read-only ----------------------------------------------------------------------------------

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`

async function readOnly<T>(client: pg.ClientBase, fn: () => Promise<T>): Promise<T> {
  await client.query('BEGIN TRANSACTION READ ONLY')
  try {
    return await fn()
  } finally {
    await client.query('ROLLBACK').catch(() => {})
  }
}

/** Counts, read-only, what each declared policy's first run would delete from the database as it is now. */
export async function retentionImpact(client: pg.ClientBase, declared: DeclaredRetention[], manifest?: Manifest): Promise<RetentionImpact[]> {
  const out: RetentionImpact[] = []
  for (const d of declared) {
    const who = `${d.file}:${d.line} adds a retention policy on ${d.table ?? '(unknown table)'}${d.dropAfter ? ` (drop_after ${d.dropAfter})` : ''}`
    if (d.unreadable) {
      out.push({ ...d, status: 'unknown', message: `${who}: what it deletes cannot be counted: ${d.unreadable}` })
      continue
    }
    try {
      out.push(await readOnly(client, () => impactOf(client, d, who, manifest)))
    } catch (e) {
      out.push({ ...d, status: 'unknown', message: `${who}: counting what it deletes failed: ${(e as Error).message}` })
    }
  }
  return out
}

async function impactOf(client: pg.ClientBase, d: DeclaredRetention, who: string, manifest?: Manifest): Promise<RetentionImpact> {
  const interval = (await client.query<{ iv: string }>(`SELECT (${d.dropAfter})::interval::text AS iv`).catch(() => undefined))?.rows[0]?.iv
  if (!interval) return { ...d, status: 'unknown', message: `${who}: drop_after is not an interval (an integer time dimension?): not counted` }
  const rel = (await client.query<{ q: string | null; s: string | null; t: string | null }>(
    `SELECT c.oid::regclass::text AS q, n.nspname::text AS s, c.relname::text AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1)`,
    [d.table],
  )).rows[0]
  const cutoff = (await client.query<{ c: string }>(`SELECT (now() - $1::interval)::text AS c`, [interval])).rows[0]!.c
  const base = { ...d, interval, cutoff }
  if (!rel?.s) return { ...base, status: 'missing', message: `${who}: ${d.table} does not exist yet (a pending migration creates it, empty): nothing to delete` }
  const resolved = `${rel.s}.${rel.t}`
  const first = (await hasTimescaleInformation(client, 'dimensions')) ? (await readDimensions(client, [rel.s])).find((x) => x.name === rel.t && x.num === 1) : undefined
  const dim = first && { col: first.column, integer: first.timeInterval === null }
  if (dim) {
    if (dim.integer) return { ...base, resolved, hypertable: true, timeColumn: dim.col, timeColumnFrom: 'hypertable dimension', status: 'unknown', message: `${who}: ${resolved} has an integer time dimension: not counted` }
    const ch = (await client.query<{ n: number; z: number; b: string | null }>(
      `SELECT count(*)::int AS n, count(*) FILTER (WHERE i.is_compressed)::int AS z, max(i.range_end)::text AS b
         FROM show_chunks($1::regclass, older_than => $2::interval) s
         JOIN timescaledb_information.chunks i ON format('%I.%I', i.chunk_schema, i.chunk_name)::regclass = s`,
      [resolved, interval],
    )).rows[0]!
    let rows = 0
    let oldest: string | undefined
    let newest: string | undefined
    if (ch.n > 0 && ch.b) {
      // Chunks never overlap in time: every row before the last dropped chunk's end is in a dropped chunk.
      const t = quoteIdent(dim.col)
      const r = (await client.query<{ n: string; lo: string | null; hi: string | null }>(
        `SELECT count(*)::text AS n, min(${t})::text AS lo, max(${t})::text AS hi FROM ${quoteQualified(resolved)} WHERE ${t} < $1::timestamptz`,
        [ch.b],
      )).rows[0]!
      rows = Number(r.n)
      oldest = r.lo ?? undefined
      newest = r.hi ?? undefined
    }
    const common = { ...base, resolved, hypertable: true, timeColumn: dim.col, timeColumnFrom: 'hypertable dimension' as const, rows, chunks: ch.n, compressedChunks: ch.z, ...(oldest ? { oldest } : {}), ...(newest ? { newest } : {}) }
    if (ch.n === 0) return { ...common, status: 'nothing', message: `${who}: nothing to delete in ${resolved} now (no chunk lies entirely before the cutoff ${cutoff})` }
    return {
      ...common,
      status: 'would-delete',
      message: `${who}: its first run deletes ${plural(rows, 'row')} in ${plural(ch.n, 'chunk')}${ch.z ? ` (${ch.z} compressed)` : ''} of ${resolved}: every chunk entirely before the cutoff now() - ${interval} = ${cutoff}${oldest ? ` (${dim.col} from ${oldest} to ${newest})` : ''}`,
    }
  }
  // A plain table that a pending migration turns into a hypertable: the manifest knows the time column.
  const spec = (manifest?.hypertables ?? []).find((h) => h.table === resolved || h.table === d.table)
  if (!spec) return { ...base, resolved, hypertable: false, status: 'unknown', message: `${who}: ${resolved} is not a hypertable now and the manifest names no time column for it: not counted` }
  const t = quoteIdent(spec.timeColumn)
  const r = (await client.query<{ n: string; lo: string | null; hi: string | null }>(
    `SELECT count(*)::text AS n, min(${t})::text AS lo, max(${t})::text AS hi FROM ${quoteQualified(resolved)} WHERE ${t} < now() - $1::interval`,
    [interval],
  )).rows[0]!
  const rows = Number(r.n)
  const common = { ...base, resolved, hypertable: false, timeColumn: spec.timeColumn, timeColumnFrom: 'manifest' as const, rows, ...(r.lo ? { oldest: r.lo } : {}), ...(r.hi ? { newest: r.hi } : {}) }
  if (rows === 0) return { ...common, status: 'nothing', message: `${who}: ${resolved} is not a hypertable yet (a pending migration makes it one); no row has ${spec.timeColumn} before the cutoff ${cutoff}: nothing to delete` }
  return {
    ...common,
    status: 'would-delete',
    message: `${who}: ${resolved} is not a hypertable yet (a pending migration makes it one); ${plural(rows, 'row')} have ${spec.timeColumn} (the manifest's time column) before the cutoff now() - ${interval} = ${cutoff} (from ${r.lo} to ${r.hi}): up to that many are deleted on the first run, in as many chunks as the conversion makes of them`,
  }
}

/** "metric_hist: 1234 rows in 10 chunks before 2026-09-01 …; …" — for a one-line refusal. */
export function impactSummary(impacts: RetentionImpact[]): string {
  return impacts
    .filter((i) => i.status === 'would-delete' || i.status === 'unknown')
    .map((i) =>
      i.status === 'unknown'
        ? `${i.table ?? i.call}: cannot be counted (${i.file}:${i.line})`
        : `${i.resolved}: ${plural(i.rows ?? 0, 'row')}${i.chunks !== undefined ? ` in ${plural(i.chunks, 'chunk')}` : ''} older than ${i.cutoff} (${i.file}, drop_after ${i.interval})`,
    )
    .join('; ')
}
