/**
 * The round-trip comparison: two DatabaseStates (the one recorded in a backup's manifest and
 * the one read after restoring it) → a list of differences. Empty means equal in everything
 * compared, and the summary says what was compared, so "equal" is shown, not assumed.
 *
 *   schema       the fingerprint (tables, columns, constraints, indexes, views, functions,
 *                triggers, sequences, types, hypertables, compression settings, jobs)
 *   tables       every table's row count and content hash (hypertables through the hypertable)
 *   chunks       chunk count, compressed-chunk count and per-chunk compression state
 *   jobs         registered TimescaleDB jobs with schedule and config
 *   sequences    last_value / is_called
 *   log          the migration log's rows, column by column
 *   extensions   installed extensions and versions
 *
 * A restore of one kind only promises some of these: `scopeFor(kind)` says which.
 */
import { diffSnapshots } from '../validation/fingerprint/index.ts'
import type { DatabaseState } from './state.ts'

export type Area = 'schemas' | 'schema' | 'tables' | 'chunks' | 'jobs' | 'sequences' | 'log' | 'extensions'

export interface Difference {
  area: Area
  /** The object concerned, e.g. `factory_telemetry.metric_hist`. */
  object: string
  /** One readable line, e.g. `factory_telemetry.metric_hist: 725760 rows → 725759 rows`. */
  text: string
}

export interface CompareScope {
  /** Compare row data (counts and hashes); `'empty'` expects every table to have zero rows. */
  data: boolean | 'empty'
  /** Compare chunk layout and compression state (physical data placement). */
  chunks: boolean
  sequences: boolean
  log: boolean
}

export const FULL_SCOPE: CompareScope = { data: true, chunks: true, sequences: true, log: true }

/** What a restore of each kind promises to reproduce. */
export function scopeFor(kind: 'full' | 'schema' | 'data' | 'volume'): CompareScope {
  switch (kind) {
    case 'schema':
      return { data: 'empty', chunks: false, sequences: false, log: false }
    case 'data':
      return { data: true, chunks: true, sequences: true, log: true }
    default:
      return FULL_SCOPE
  }
}

export interface Comparison {
  differences: Difference[]
  /** What was compared, with counts: printed next to "0 differences". */
  compared: string[]
}

const sorted = (xs: Iterable<string>) => [...new Set(xs)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))

export function compareStates(expected: DatabaseState, actual: DatabaseState, scope: CompareScope = FULL_SCOPE): Comparison {
  const out: Difference[] = []
  const compared: string[] = []
  const add = (area: Area, object: string, text: string) => out.push({ area, object, text })

  // Schemas present: a schema the restore should have removed, or failed to create.
  for (const s of sorted([...expected.schemas, ...actual.schemas])) {
    if (!expected.schemas.includes(s)) add('schemas', s, `+ schema ${s} (not in the backup)`)
    else if (!actual.schemas.includes(s)) add('schemas', s, `- schema ${s} (in the backup, missing here)`)
  }

  // Schema fingerprint, compared on the backup's schemas.
  const diff = diffSnapshots(expected.fingerprint, actual.fingerprint)
  for (const line of diff) add('schema', line.replace(/^[-+~] \S+ /, '').split(/[: ]/)[0] ?? '', line)
  compared.push(`schema fingerprint ${expected.fingerprintHash.slice(0, 12)} (${expected.fingerprint.tables.length} tables, ${expected.fingerprint.indexes.length} indexes, ${expected.fingerprint.functions.length} functions, ${expected.fingerprint.hypertables.length} hypertables)`)

  // Extensions.
  for (const e of sorted([...Object.keys(expected.extensions), ...Object.keys(actual.extensions)])) {
    const a = expected.extensions[e]
    const b = actual.extensions[e]
    if (a === b) continue
    if (a === undefined) add('extensions', e, `+ extension ${e} ${b} (not in the backup)`)
    else if (b === undefined) add('extensions', e, `- extension ${e} ${a} (missing)`)
    else add('extensions', e, `~ extension ${e}: ${a} → ${b}`)
  }
  compared.push(`${Object.keys(expected.extensions).length} extensions`)

  // Tables.
  if (scope.data) {
    let rows = 0
    for (const t of sorted([...Object.keys(expected.tables), ...Object.keys(actual.tables)])) {
      const a = expected.tables[t]
      const b = actual.tables[t]
      if (!a) {
        add('tables', t, `+ table ${t} (${b!.rows} rows; not in the backup)`)
        continue
      }
      if (!b) {
        add('tables', t, `- table ${t} (${a.rows} rows in the backup; missing)`)
        continue
      }
      if (scope.data === 'empty') {
        if (b.rows !== 0) add('tables', t, `~ table ${t}: ${b.rows} rows, expected none (schema-only restore)`)
        continue
      }
      rows += a.rows
      if (a.rows !== b.rows) add('tables', t, `~ table ${t}: ${a.rows} rows → ${b.rows} rows`)
      else if (a.hash !== b.hash) add('tables', t, `~ table ${t}: same ${a.rows} rows, different content (hash ${a.hash.slice(0, 12)} → ${b.hash.slice(0, 12)})`)
    }
    compared.push(scope.data === 'empty' ? `${Object.keys(expected.tables).length} tables empty` : `${Object.keys(expected.tables).length} tables, ${rows} rows, content hashes`)
  }

  // Chunks.
  if (scope.chunks) {
    let chunks = 0
    let compressed = 0
    for (const h of sorted([...Object.keys(expected.hypertables), ...Object.keys(actual.hypertables)])) {
      const a = expected.hypertables[h]
      const b = actual.hypertables[h]
      if (!a || !b) continue // a missing hypertable is a schema difference already
      chunks += a.chunks
      compressed += a.compressedChunks
      if (a.chunks !== b.chunks || a.compressedChunks !== b.compressedChunks) {
        add('chunks', h, `~ hypertable ${h}: ${a.chunks} chunks (${a.compressedChunks} compressed) → ${b.chunks} chunks (${b.compressedChunks} compressed)`)
      }
      const bm = new Map(b.chunkList.map((c) => [c.range, c.compressed]))
      const am = new Map(a.chunkList.map((c) => [c.range, c.compressed]))
      for (const c of a.chunkList) {
        if (!bm.has(c.range)) add('chunks', h, `- chunk ${h} [${c.range}]${c.compressed ? ' (compressed)' : ''}`)
        else if (bm.get(c.range) !== c.compressed) add('chunks', h, `~ chunk ${h} [${c.range}]: ${c.compressed ? 'compressed' : 'uncompressed'} → ${bm.get(c.range) ? 'compressed' : 'uncompressed'}`)
      }
      for (const c of b.chunkList) if (!am.has(c.range)) add('chunks', h, `+ chunk ${h} [${c.range}]${c.compressed ? ' (compressed)' : ''}`)
    }
    compared.push(`${Object.keys(expected.hypertables).length} hypertables, ${chunks} chunks (${compressed} compressed)`)
  }

  // Jobs (always: they are schema, registered by the migrations).
  const key = (j: DatabaseState['jobs'][number]) => `${j.name} ${JSON.stringify(j.config)}`
  const ja = new Map(expected.jobs.map((j) => [key(j), j]))
  const jb = new Map(actual.jobs.map((j) => [key(j), j]))
  for (const k of sorted([...ja.keys(), ...jb.keys()])) {
    const a = ja.get(k)
    const b = jb.get(k)
    if (!a) add('jobs', b!.name, `+ job ${b!.name} config ${JSON.stringify(b!.config)} (not in the backup)`)
    else if (!b) add('jobs', a.name, `- job ${a.name} config ${JSON.stringify(a.config)} (missing)`)
    else {
      const fields = (['scheduleInterval', 'scheduled', 'maxRuntime', 'maxRetries', 'retryPeriod'] as const).filter((f) => a[f] !== b[f])
      for (const f of fields) add('jobs', a.name, `~ job ${a.name}: ${f} ${String(a[f])} → ${String(b[f])}`)
    }
  }
  compared.push(`${expected.jobs.length} jobs with schedules and configs`)

  if (scope.sequences) {
    for (const s of sorted([...Object.keys(expected.sequences), ...Object.keys(actual.sequences)])) {
      const a = expected.sequences[s]
      const b = actual.sequences[s]
      if (a === b) continue
      if (a === undefined) add('sequences', s, `+ sequence ${s} at ${b} (not in the backup)`)
      else if (b === undefined) add('sequences', s, `- sequence ${s} (was at ${a})`)
      else add('sequences', s, `~ sequence ${s}: ${a} → ${b}`)
    }
    compared.push(`${Object.keys(expected.sequences).length} sequence positions`)
  }

  if (scope.log) {
    const a = expected.migrationLog
    const b = actual.migrationLog
    if (a && !b) add('log', a.table, `- migration log ${a.table} (${a.rows.length} rows in the backup; missing)`)
    else if (!a && b) add('log', b.table, `+ migration log ${b.table} (${b.rows.length} rows; not in the backup)`)
    else if (a && b) {
      const n = Math.max(a.rows.length, b.rows.length)
      for (let i = 0; i < n; i++) {
        const x = a.rows[i]
        const y = b.rows[i]
        const label = (x ?? y)!.migration_name ?? `row ${i + 1}`
        if (!x) add('log', a.table, `+ ${a.table} row ${label} (${y!.status ?? ''}; not in the backup)`)
        else if (!y) add('log', a.table, `- ${a.table} row ${label} (${x.status ?? ''}; missing)`)
        else {
          const cols = a.columns.filter((c) => x[c] !== y[c])
          if (cols.length) add('log', a.table, `~ ${a.table} row ${label}: ${cols.map((c) => `${c} ${JSON.stringify(x[c])} → ${JSON.stringify(y[c])}`).join(', ')}`)
        }
      }
      compared.push(`migration log ${a.table}: ${a.rows.length} rows, every column`)
    } else compared.push('no migration log on either side')
  }
  return { differences: out, compared }
}

/** Lines for terminals and reports: what was compared, then each difference (or "0 differences"). */
export function formatComparison(c: Comparison, limit = 60): string[] {
  const lines = [`compared: ${c.compared.join('; ')}`]
  if (c.differences.length === 0) lines.push('0 differences')
  else {
    lines.push(`${c.differences.length} difference${c.differences.length > 1 ? 's' : ''}:`)
    for (const d of c.differences.slice(0, limit)) lines.push(`  [${d.area}] ${d.text}`)
    if (c.differences.length > limit) lines.push(`  … ${c.differences.length - limit} more`)
  }
  return lines
}
