/**
 * Post-migration validation (seed 000, component 4): the objects the manifest promises exist,
 * and nothing else sits in the schema; hypertables have their time column, chunk interval,
 * compression settings and policies; the migration log has one completed row per migration.
 * Read-only; returns one result per check so reports can list them.
 */
import type pg from 'pg'
import { qualify } from '../util/sql.ts'
import type { Migration } from '../sql/migration.ts'
import type { Manifest } from '../manifest/manifest.ts'

export interface CheckResult {
  id: string
  ok: boolean
  message: string
}

const split = (q: string): [string, string] => {
  const i = q.indexOf('.')
  return i < 0 ? ['public', q] : [q.slice(0, i), q.slice(i + 1)]
}

/** Which manifest objects should exist at this version: all of them at the last version, else the applied migrations' `creates`. */
export function expectedAt(manifest: Manifest, migrations: Migration[], version: number): Set<string> | 'all' {
  if (version >= (migrations[migrations.length - 1]?.version ?? 0)) return 'all'
  const names = new Set<string>()
  for (const m of migrations) if (m.version <= version) for (const o of manifest.migrations?.[m.name]?.creates ?? []) names.add(o)
  return names
}

export async function validateExpected(
  client: pg.ClientBase,
  manifest: Manifest,
  options: { scope?: Set<string> | 'all'; log?: { schema: string; table: string }; migrations?: Migration[]; version?: number } = {},
): Promise<CheckResult[]> {
  const scope = options.scope ?? 'all'
  const want = (q: string) => scope === 'all' || scope.has(q) || (options.log !== undefined && q === `${options.log.schema}.${options.log.table}`)
  const out: CheckResult[] = []
  const hasTs = (await client.query(`SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'`)).rowCount === 1

  const tables = (manifest.tables ?? []).filter(want)
  const schemas = [...new Set([...(manifest.tables ?? []), ...(manifest.views ?? [])].map((q) => split(q)[0]))]
  if (manifest.schema && !schemas.includes(manifest.schema)) schemas.push(manifest.schema)
  const existing = new Set(
    (
      await client.query<{ q: string }>(
        `SELECT n.nspname || '.' || c.relname AS q FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY($1::text[])`,
        [schemas],
      )
    ).rows.map((r) => r.q),
  )
  const missingTables = tables.filter((t) => !existing.has(t))
  out.push({ id: 'tables', ok: missingTables.length === 0, message: missingTables.length ? `missing tables: ${missingTables.join(', ')}` : `${tables.length} expected tables present` })
  if (scope === 'all') {
    const expected = new Set(manifest.tables ?? [])
    const extra = [...existing].filter((t) => !expected.has(t)).sort()
    out.push({ id: 'tables-unexpected', ok: extra.length === 0, message: extra.length ? `tables not in the manifest: ${extra.join(', ')}` : 'no unexpected tables' })
  }

  const hypertables = (manifest.hypertables ?? []).filter((h) => want(h.table))
  if (hypertables.length > 0) {
    if (!hasTs) {
      out.push({ id: 'hypertables', ok: false, message: `TimescaleDB is not installed: ${hypertables.length} hypertables cannot exist` })
    } else {
      const dims = new Map(
        (
          await client.query<{ q: string; col: string; iv: string | null }>(
            `SELECT hypertable_schema || '.' || hypertable_name AS q, column_name AS col, time_interval::text AS iv
               FROM timescaledb_information.dimensions WHERE dimension_number = 1`,
          )
        ).rows.map((r) => [r.q, r]),
      )
      const comp = new Map(
        (
          await client.query<{ q: string; enabled: boolean }>(
            `SELECT hypertable_schema || '.' || hypertable_name AS q, compression_enabled AS enabled FROM timescaledb_information.hypertables`,
          )
        ).rows.map((r) => [r.q, r.enabled]),
      )
      const segs = await client.query<{ q: string; attname: string; seg: number | null }>(
        `SELECT hypertable_schema || '.' || hypertable_name AS q, attname, segmentby_column_index AS seg FROM timescaledb_information.compression_settings`,
      )
      const jobs = await client.query<{ q: string; proc: string; config: Record<string, unknown> }>(
        `SELECT hypertable_schema || '.' || hypertable_name AS q, proc_name AS proc, config FROM timescaledb_information.jobs WHERE hypertable_name IS NOT NULL`,
      )
      for (const h of hypertables) {
        const d = dims.get(h.table)
        const problems: string[] = []
        if (!d) problems.push('is not a hypertable')
        else {
          if (d.col !== h.timeColumn) problems.push(`time column is ${d.col}, expected ${h.timeColumn}`)
          if (h.chunkInterval && d.iv !== normaliseInterval(h.chunkInterval)) problems.push(`chunk interval is ${d.iv}, expected ${h.chunkInterval}`)
        }
        // Compression and policies arrive with a later migration: only check them when in scope.
        if (d && h.compression && scope === 'all') {
          if (!comp.get(h.table)) problems.push('compression is not enabled')
          const seg = segs.rows.filter((r) => r.q === h.table && r.seg !== null).sort((a, b) => a.seg! - b.seg!).map((r) => r.attname)
          if (h.compression.segmentBy && seg.join(',') !== h.compression.segmentBy.join(',')) problems.push(`segmentby is [${seg.join(', ')}], expected [${h.compression.segmentBy.join(', ')}]`)
          const pol = jobs.rows.find((j) => j.q === h.table && j.proc === 'policy_compression')
          if (h.compression.compressAfter && !pol) problems.push('no compression policy')
          else if (h.compression.compressAfter && normaliseInterval(String(pol!.config.compress_after)) !== normaliseInterval(h.compression.compressAfter)) {
            problems.push(`compression policy after ${String(pol!.config.compress_after)}, expected ${h.compression.compressAfter}`)
          }
        }
        if (d && h.retention && scope === 'all') {
          const pol = jobs.rows.find((j) => j.q === h.table && j.proc === 'policy_retention')
          if (!pol) problems.push('no retention policy')
          else if (normaliseInterval(String(pol.config.drop_after)) !== normaliseInterval(h.retention)) problems.push(`retention drops after ${String(pol.config.drop_after)}, expected ${h.retention}`)
        }
        out.push({ id: `hypertable:${h.table}`, ok: problems.length === 0, message: problems.length ? `${h.table} ${problems.join('; ')}` : `${h.table} on ${h.timeColumn}${d?.iv ? `, chunks of ${d.iv}` : ''}` })
      }
    }
  }

  const relExists = async (names: string[], kinds: string[]) => {
    if (names.length === 0) return new Set<string>()
    const r = await client.query<{ q: string }>(
      `SELECT n.nspname || '.' || c.relname AS q FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = ANY($2::"char"[]) AND (n.nspname || '.' || c.relname) = ANY($1::text[])`,
      [names, kinds],
    )
    return new Set(r.rows.map((x) => x.q))
  }
  const views = (manifest.views ?? []).filter(want)
  const haveViews = await relExists(views, ['v', 'm'])
  const missingViews = views.filter((v) => !haveViews.has(v))
  out.push({ id: 'views', ok: missingViews.length === 0, message: missingViews.length ? `missing views: ${missingViews.join(', ')}` : `${views.length} expected views present` })

  const indexes = (manifest.indexes ?? []).filter((i) => scope === 'all' || want(i))
  const haveIdx = await relExists(indexes, ['i', 'I'])
  const missingIdx = indexes.filter((v) => !haveIdx.has(v))
  out.push({ id: 'indexes', ok: missingIdx.length === 0, message: missingIdx.length ? `missing indexes: ${missingIdx.join(', ')}` : `${indexes.length} expected indexes present` })

  const functions = (manifest.functions ?? []).filter(want)
  if (functions.length) {
    const r = await client.query<{ q: string }>(
      `SELECT DISTINCT n.nspname || '.' || p.proname AS q FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE (n.nspname || '.' || p.proname) = ANY($1::text[])`,
      [functions],
    )
    const have = new Set(r.rows.map((x) => x.q))
    const missing = functions.filter((f) => !have.has(f))
    out.push({ id: 'functions', ok: missing.length === 0, message: missing.length ? `missing functions: ${missing.join(', ')}` : `${functions.length} expected functions present` })
  }

  if (options.log && options.migrations) out.push(await validateLog(client, options.log, options.migrations, options.version))
  return out
}

/** One completed row with the file's checksum per applied migration; nothing else completed. */
export async function validateLog(client: pg.ClientBase, log: { schema: string; table: string }, migrations: Migration[], upTo?: number): Promise<CheckResult> {
  const q = qualify(log.schema, log.table)
  const rows = (await client.query<{ name: string; status: string; checksum: string | null }>(`SELECT migration_name AS name, status, checksum FROM ${q}`)).rows
  const completed = new Map(rows.filter((r) => r.status === 'completed').map((r) => [r.name, r.checksum]))
  const problems: string[] = []
  const expected = migrations.filter((m) => upTo === undefined || m.version <= upTo)
  for (const m of expected) {
    if (!completed.has(m.name)) problems.push(`${m.name} has no completed row`)
    else if (completed.get(m.name) !== m.up.checksum) problems.push(`${m.name} checksum ${completed.get(m.name)} ≠ file ${m.up.checksum}`)
  }
  const known = new Set(expected.map((m) => m.name))
  for (const name of completed.keys()) if (!known.has(name)) problems.push(`unexpected completed row ${name}`)
  return { id: 'migration-log', ok: problems.length === 0, message: problems.length ? problems.join('; ') : `${expected.length} completed rows with matching checksums` }
}

/** PostgreSQL prints "7 days", "1 day", "01:00:00"; manifests may say "1 hour". */
export function normaliseInterval(s: string): string {
  const m = /^\s*(\d+)\s*(hour|hours|minute|minutes)\s*$/i.exec(s)
  if (m) {
    const n = Number(m[1])
    const mins = /hour/i.test(m[2]!) ? n * 60 : n
    return `${String(Math.floor(mins / 60)).padStart(2, '0')}:${String(mins % 60).padStart(2, '0')}:00`
  }
  return s.trim()
}
