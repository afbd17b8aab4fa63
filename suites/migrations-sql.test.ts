/**
 * The MS5.0 migrations (migrations/001…009 and their down files) and manifest.json, on every
 * engine present (support/engines.ts), with the runner simulated: bootstrap
 * (extension, schema, migration_log), then each file as one multi-statement query inside
 * BEGIN … COMMIT.
 *
 * Proves: the files follow the rules (no transaction control, no CONCURRENTLY, guarded
 * constraints and compression, lock_timeout, IF [NOT] EXISTS); 001..009 produce what the manifest
 * says, per migration and in total, within TimescaleDB's rules; re-running any file changes
 * neither the schema fingerprint nor the data; down k restores the fingerprint recorded after
 * up k-1, for k = 9..1, with data and compressed chunks present; up again reproduces the same.
 */
import { readFileSync, readdirSync } from 'node:fs'
import path from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { StartedEngine } from '../harness/engines/types.ts'
import { diffSnapshots, snapshot, type SchemaSnapshot } from '../harness/validation/fingerprint/index.ts'
import { MigrationLog } from '../harness/runner/log-table.ts'
import { availableEngines } from './support/engines.ts'

const DIR = path.resolve(import.meta.dirname, '..', 'migrations')
const SCHEMA = 'factory_telemetry'
/** Seed 000: names and order. */
const NAMES = [
  '001_init_telemetry',
  '002_plc_equipment_management',
  '003_production_management',
  '004_advanced_production_features',
  '005_andon_escalation_system',
  '006_report_system',
  '007_plc_integration_phase1',
  '008_fix_critical_schema_issues',
  '009_database_optimization',
]

interface HypertableEntry {
  table: string
  timeColumn: string
  chunkInterval: string
  compression: { segmentBy: string[]; orderBy: string; compressAfter: string }
  retention: string
  createdIn: string
}
interface MigrationEntry {
  file: string
  down: string
  creates: string[]
  hypertables?: string[]
  alters?: { columns?: string[]; constraints?: string[] }
}
interface Manifest {
  schema: string
  requirements: { extensions: { timescaledb: { minVersion: string; license: string } }; postgres: { minVersion: string } }
  seedExpected: { tables: string[]; hypertables: string[] }
  tables: string[]
  hypertables: HypertableEntry[]
  views: string[]
  functions: string[]
  indexes: string[]
  migrations: Record<string, MigrationEntry>
}

const manifest = JSON.parse(readFileSync(path.join(DIR, 'manifest.json'), 'utf8')) as Manifest
const up = (name: string) => readFileSync(path.join(DIR, `${name}.sql`), 'utf8')
const down = (name: string) => readFileSync(path.join(DIR, `${name}.down.sql`), 'utf8')

/** The runner's bootstrap ("version 0"): extension, schema and migration_log. */
const BOOTSTRAP = new MigrationLog('factory_telemetry').bootstrapSql().join(';\n')

/**
 * The file with comments, string literals, quoted identifiers and dollar-quoted bodies blanked,
 * so patterns only match top-level SQL (a DO block's body is blanked: what it does is guarded).
 * With `keepQuoted`, only comments are removed.
 */
function topLevel(sql: string, keepQuoted = false): string {
  let out = ''
  let i = 0
  while (i < sql.length) {
    const rest = sql.slice(i)
    let m: RegExpMatchArray | null
    if (rest.startsWith('--')) {
      const end = sql.indexOf('\n', i)
      i = end < 0 ? sql.length : end
    } else if (rest.startsWith('/*')) {
      const end = sql.indexOf('*/', i + 2)
      i = end < 0 ? sql.length : end + 2
      out += ' '
    } else if ((m = rest.match(/^\$([A-Za-z_][A-Za-z0-9_]*)?\$/))) {
      const tag = m[0]
      const end = sql.indexOf(tag, i + tag.length)
      const next = end < 0 ? sql.length : end + tag.length
      out += keepQuoted ? sql.slice(i, next) : ' $body$ '
      i = next
    } else if (rest[0] === "'" || rest[0] === '"') {
      const q = rest[0]
      let j = i + 1
      while (j < sql.length && !(sql[j] === q && sql[j + 1] !== q)) j += sql[j] === q ? 2 : 1
      out += keepQuoted ? sql.slice(i, j + 1) : q === "'" ? " 'str' " : ' "ident" '
      i = j + 1
    } else {
      out += sql[i]
      i++
    }
  }
  return out
}

/** A header comment at the top that names the migration and says what/why. */
function header(sql: string): string {
  return sql.split('\n').filter((l) => l.startsWith('--')).slice(0, 3).join('\n')
}

describe('migration files (static rules)', () => {
  it('are exactly the nine of seed 000, each with a down file, plus manifest.json', () => {
    const files = readdirSync(DIR).filter((f) => /^\d{3}_/.test(f)).sort()
    expect(files).toEqual(NAMES.flatMap((n) => [`${n}.down.sql`, `${n}.sql`]).sort())
    expect(Object.keys(manifest.migrations)).toEqual(NAMES)
    for (const n of NAMES) expect([manifest.migrations[n]!.file, manifest.migrations[n]!.down]).toEqual([`${n}.sql`, `${n}.down.sql`])
  })

  it.each(NAMES)('%s: header comment, no transaction control, no CONCURRENTLY, no post-2.11 APIs', (name) => {
    for (const [kind, sql] of [['up', up(name)], ['down', down(name)]] as const) {
      const where = `${name} (${kind})`
      expect(sql.startsWith(`-- ${name}`), `${where}: starts with a header comment naming the migration`).toBe(true)
      expect(header(sql).length, `${where}: header says what and why`).toBeGreaterThan(60)
      const code = topLevel(sql)
      const noComments = topLevel(sql, true)
      expect(code, where).not.toMatch(/\b(BEGIN|COMMIT|ROLLBACK|START\s+TRANSACTION|SAVEPOINT|END)\s*;/i)
      expect(noComments, where).not.toMatch(/\bCONCURRENTLY\b|transaction_per_chunk/i)
      expect(noComments, where).not.toMatch(/by_range|by_hash|columnstore_policy|convert_to_columnstore|enable_columnstore|\btsdb\./i)
      expect(code, `${where}: PL/pgSQL only inside DO blocks or functions`).not.toMatch(/\b(RAISE|PERFORM)\b/i)
      expect(code, `${where}: no psql meta-commands`).not.toMatch(/^\s*\\/m)
      expect(code, `${where}: migration_log belongs to the runner`).not.toMatch(/migration_log/i)
    }
  })

  it.each(NAMES)('%s: up is idempotent by construction', (name) => {
    const code = topLevel(up(name))
    expect(code).not.toMatch(/\bCREATE\s+TABLE\s+(?!IF\s+NOT\s+EXISTS)/i)
    expect(code).not.toMatch(/\bCREATE\s+(UNIQUE\s+)?INDEX\s+(?!IF\s+NOT\s+EXISTS)/i)
    expect(code).not.toMatch(/\bCREATE\s+(VIEW|FUNCTION|PROCEDURE|TRIGGER|MATERIALIZED)/i) // always OR REPLACE (or IF NOT EXISTS)
    expect(code).not.toMatch(/\bCREATE\s+(SCHEMA|EXTENSION|SEQUENCE)\s+(?!IF\s+NOT\s+EXISTS)/i)
    expect(code).not.toMatch(/\bADD\s+COLUMN\s+(?!IF\s+NOT\s+EXISTS)/i)
    expect(code, 'ADD CONSTRAINT only inside a guarded DO block').not.toMatch(/\bADD\s+CONSTRAINT\b/i)
    expect(code, 'compression only enabled inside a guarded DO block').not.toMatch(/timescaledb\.compress/i)
    for (const call of code.match(/\b(create_hypertable|add_compression_policy|add_retention_policy)\s*\([^;]*\)/gi) ?? [])
      expect(call).toMatch(/if_not_exists\s*=>\s*TRUE/i)
    if (name !== '001_init_telemetry') expect(code).toMatch(/^\s*SET\s+LOCAL\s+lock_timeout\s*=\s*'str'\s*;/m)
    if (name !== '001_init_telemetry') expect(up(name)).toContain(`SET LOCAL lock_timeout = '10s';`)
  })

  it.each(NAMES)('%s: down drops with IF EXISTS and never the extension or the schema', (name) => {
    const code = topLevel(down(name))
    expect(code).not.toMatch(/\bDROP\s+(TABLE|INDEX|VIEW|FUNCTION|TRIGGER|SEQUENCE|TYPE|MATERIALIZED\s+VIEW)\s+(?!IF\s+EXISTS)/i)
    expect(code).not.toMatch(/\bDROP\s+(CONSTRAINT|COLUMN)\s+(?!IF\s+EXISTS)/i)
    expect(code).not.toMatch(/\bDROP\s+(EXTENSION|SCHEMA)\b|\bCASCADE\b/i)
    for (const call of code.match(/\bremove_(compression|retention)_policy\s*\([^;]*\)/gi) ?? []) expect(call).toMatch(/if_exists\s*=>\s*TRUE/i)
  })
})

// ---- against every engine present ------------------------------------------------------------------

const names = (xs: { name: string }[]) => new Set(xs.map((x) => x.name))
const fnName = (sig: string) => sig.replace(/\(.*$/, '')
const constraintNames = (s: SchemaSnapshot) => new Set(s.constraints.map((x) => `${x.table.split('.')[0]}.${x.name.split('.').pop()}`))
/** Indexes created with CREATE INDEX (not the ones backing a PRIMARY KEY / UNIQUE constraint). */
const explicitIndexes = (s: SchemaSnapshot) => {
  const cons = constraintNames(s)
  return new Set(s.indexes.map((i) => i.name).filter((n) => !cons.has(n)))
}
const sorted = (xs: Iterable<string>) => [...xs].sort()
const minus = (a: Set<string>, b: Set<string>) => sorted([...a].filter((x) => !b.has(x)))

/** "ts DESC, bit_index" → ["ts DESC NULLS FIRST", "bit_index ASC NULLS LAST"] (PostgreSQL's defaults). */
function normaliseOrderBy(s: string): string[] {
  return s.split(',').map((part) => {
    const [col, ...rest] = part.trim().split(/\s+/)
    const words = rest.join(' ').toUpperCase()
    const dir = /\bDESC\b/.test(words) ? 'DESC' : 'ASC'
    const nulls = /NULLS FIRST/.test(words) ? 'NULLS FIRST' : /NULLS LAST/.test(words) ? 'NULLS LAST' : dir === 'DESC' ? 'NULLS FIRST' : 'NULLS LAST'
    return `${col} ${dir} ${nulls}`
  })
}

const cases = await availableEngines()

describe.sequential.each(cases)('migrations on the $name engine', (ec) => {
  let engine: StartedEngine
  let c: pg.Client
  /** fps[k]: the snapshot after up 1..k (fps[0]: bootstrap only). */
  const fps: SchemaSnapshot[] = []
  const timings: Record<string, number> = {}

  const snap = () => snapshot(c, [SCHEMA])
  const q = async <R extends pg.QueryResultRow = Record<string, unknown>>(sql: string, values?: unknown[]) => (await c.query<R>(sql, values)).rows

  /** As the runner does: the whole file in one transaction, plus its migration_log row. */
  async function apply(name: string, direction: 'up' | 'down' = 'up') {
    const started = Date.now()
    await c.query('BEGIN')
    try {
      await c.query(direction === 'up' ? up(name) : down(name))
      if (direction === 'up')
        await c.query(
          `INSERT INTO factory_telemetry.migration_log (migration_name, migration_file, execution_time_ms) VALUES ($1, $2, $3)
           ON CONFLICT (migration_name) DO NOTHING`,
          [name, `${name}.sql`, Date.now() - started],
        )
      else await c.query(`DELETE FROM factory_telemetry.migration_log WHERE migration_name = $1`, [name])
      await c.query('COMMIT')
    } catch (e) {
      await c.query('ROLLBACK').catch(() => {})
      throw new Error(`${name} (${direction}) failed: ${(e as Error).message}`, { cause: e })
    }
    timings[`${name}${direction === 'down' ? '.down' : ''}`] = Date.now() - started
  }

  /** Row count and md5 of every manifest table's contents (migration_log aside): "changes nothing" for data. */
  async function dataDigest(): Promise<Record<string, string>> {
    const out: Record<string, string> = {}
    for (const t of manifest.tables) {
      if (t.endsWith('.migration_log')) continue
      const r = await q<{ n: number; h: string }>(`SELECT count(*)::int AS n, md5(COALESCE(string_agg(x::text, E'\\n' ORDER BY x::text), '')) AS h FROM ${t} x`)
      out[t] = `${r[0]!.n} ${r[0]!.h}`
    }
    return out
  }

  beforeAll(async () => {
    engine = await ec.provider.start({ log: () => {} })
    const db = await engine.createDatabase('migrations_sql')
    c = new pg.Client({ connectionString: db.url })
    await c.connect()
    // Created once, committed, before anything else (a rolled-back CREATE EXTENSION poisons the embedded session).
    await c.query('CREATE EXTENSION IF NOT EXISTS timescaledb')
    await c.query(BOOTSTRAP)
    fps[0] = await snap()
  }, 120_000)

  afterAll(async () => {
    if (Object.keys(timings).length) console.log(`migration timings on ${ec.name} (ms): ${JSON.stringify(timings)}`)
    await c?.end().catch(() => {})
    await engine?.stop()
  })

  it('apply 001..009 in order, one transaction each', async () => {
    for (const [k, name] of NAMES.entries()) {
      await apply(name)
      fps[k + 1] = await snap()
    }
    expect(fps).toHaveLength(10)
    expect((await q<{ n: number }>('SELECT count(*)::int AS n FROM factory_telemetry.migration_log'))[0]!.n).toBe(9)
  }, 60_000)

  it('produce every table, hypertable, view, function and index the manifest lists, and nothing else', () => {
    const s = fps[9]!
    expect(sorted(names(s.tables))).toEqual(sorted(manifest.tables))
    expect(sorted(names(s.views))).toEqual(sorted(manifest.views))
    expect(sorted(new Set(s.functions.map((f) => fnName(f.name))))).toEqual(sorted(manifest.functions))
    expect(sorted(explicitIndexes(s))).toEqual(sorted(manifest.indexes))
    expect(sorted(names(s.hypertables))).toEqual(sorted(manifest.hypertables.map((h) => h.table)))
    // What the seeds promise.
    for (const t of manifest.seedExpected.tables) expect(manifest.tables).toContain(t)
    for (const t of manifest.seedExpected.hypertables) expect(manifest.hypertables.map((h) => h.table)).toContain(t)
    expect(manifest.tables.length).toBeGreaterThanOrEqual(25)
    expect(manifest.views.length).toBeGreaterThanOrEqual(10)
    expect(manifest.functions.length).toBeGreaterThan(0)
    expect(manifest.schema).toBe(SCHEMA)
    expect(manifest.requirements.extensions.timescaledb).toEqual({ minVersion: '2.11', license: 'timescale' })
  })

  it('hypertables have the manifest time column, chunk interval, compression and policies', () => {
    const s = fps[9]!
    for (const h of manifest.hypertables) {
      const ht = s.hypertables.find((x) => x.name === h.table)
      expect(ht, h.table).toBeDefined()
      expect([ht!.dimensions.length, ht!.dimensions[0]?.column, ht!.dimensions[0]?.timeInterval], h.table).toEqual([1, h.timeColumn, h.chunkInterval])
      expect(ht!.compressionEnabled, h.table).toBe(true)
      expect(s.compression.find((x) => x.name === h.table), h.table).toEqual({
        name: h.table,
        segmentBy: h.compression.segmentBy,
        orderBy: normaliseOrderBy(h.compression.orderBy),
      })
      const jobs = s.jobs.filter((j) => j.hypertable === h.table)
      expect(jobs.map((j) => [j.procName, j.config]), h.table).toEqual([
        ['policy_compression', { compress_after: h.compression.compressAfter }],
        ['policy_retention', { drop_after: h.retention }],
      ])
      const created = NAMES.findIndex((n) => n === h.createdIn) + 1
      expect(names(fps[created]!.hypertables).has(h.table) && !names(fps[created - 1]!.hypertables).has(h.table), `${h.table} created in ${h.createdIn}`).toBe(true)
    }
    const metric = manifest.hypertables.find((h) => h.table === `${SCHEMA}.metric_hist`)!
    expect([metric.timeColumn, metric.compression.segmentBy, metric.retention, metric.compression.compressAfter]).toEqual(['ts', ['metric_def_id'], '90 days', '7 days'])
  })

  it('keep TimescaleDB 2.11 rules: unique keys include the time column and are compressible; no foreign key refers to a hypertable', () => {
    const s = fps[9]!
    const timeCol = new Map(s.hypertables.map((h) => [h.name, h.dimensions[0]!.column]))
    const comp = new Map(s.compression.map((x) => [x.name, new Set([...x.segmentBy, ...x.orderBy.map((o) => o.split(' ')[0]!)])]))
    for (const con of s.constraints) {
      if (con.type === 'FOREIGN KEY') {
        const target = con.definition.match(/REFERENCES\s+([\w.]+)\(/)?.[1]
        expect(target && timeCol.has(target), `${con.name} refers to hypertable ${target}`).toBe(false)
      }
      if ((con.type === 'PRIMARY KEY' || con.type === 'UNIQUE') && timeCol.has(con.table)) {
        const cols = con.definition.replace(/^[A-Z ]+\(/, '').replace(/\).*$/, '').split(',').map((x) => x.trim())
        expect(cols, con.name).toContain(timeCol.get(con.table))
        for (const col of cols) expect(comp.get(con.table)?.has(col), `${con.name}: ${col} is a segmentby or orderby column`).toBe(true)
      }
    }
    for (const ix of s.indexes)
      if (timeCol.has(ix.table) && /^CREATE UNIQUE/.test(ix.definition)) expect(ix.definition, ix.name).toContain(timeCol.get(ix.table))
  })

  it("each migration's manifest entry matches what it changed in the catalog", () => {
    for (const [k, name] of NAMES.entries()) {
      const [before, after] = [fps[k]!, fps[k + 1]!]
      const entry = manifest.migrations[name]!
      const created = [
        ...minus(names(after.tables), names(before.tables)),
        ...minus(names(after.views), names(before.views)),
        ...minus(new Set(after.functions.map((f) => fnName(f.name))), new Set(before.functions.map((f) => fnName(f.name)))),
        ...minus(explicitIndexes(after), explicitIndexes(before)),
      ]
      expect(sorted(entry.creates), name).toEqual(sorted(created))
      expect(sorted(entry.hypertables ?? []), name).toEqual(minus(names(after.hypertables), names(before.hypertables)))
      const oldTables = names(before.tables)
      const cols = (s: SchemaSnapshot) => new Set(s.tables.filter((t) => oldTables.has(t.name)).flatMap((t) => t.columns.map((col) => `${t.name}.${col.name}`)))
      expect(sorted(entry.alters?.columns ?? []), name).toEqual(minus(cols(after), cols(before)))
      const addedConstraints = minus(
        new Set(after.constraints.filter((x) => oldTables.has(x.table)).map((x) => x.name)),
        names(before.constraints),
      )
      expect(sorted(entry.alters?.constraints ?? []), name).toEqual(addedConstraints)
    }
  })

  it('work with data: functions, every view, compressed chunks', async () => {
    const L = '00000000-0000-0000-0000-00000000000a'
    const M = '00000000-0000-0000-0000-00000000000b'
    await c.query(`
      INSERT INTO factory_telemetry.production_lines (id, line_code, name, equipment_codes) VALUES ('${L}', 'L1', 'Line 1', '{EQ1}');
      INSERT INTO factory_telemetry.context (equipment_code, production_line_id) VALUES ('EQ1', '${L}');
      INSERT INTO factory_telemetry.metric_def (id, equipment_code, metric_key, value_type, unit, description) VALUES ('${M}', 'EQ1', 'speed', 'REAL', 'ppm', 'Line speed');
      INSERT INTO factory_telemetry.metric_hist (metric_def_id, ts, value_real)
        SELECT '${M}', date_trunc('hour', now()) - g * INTERVAL '6 hours', g FROM generate_series(1, 80) g;
      SELECT factory_telemetry.fn_record_metric('${M}', now(), p_value_real => 42);
      INSERT INTO factory_telemetry.fault_catalog (equipment_code, bit_index, name) VALUES ('EQ1', 3, 'Infeed jam');
      INSERT INTO factory_telemetry.fault_active (equipment_code, bit_index, since_ts) VALUES ('EQ1', 3, now() - INTERVAL '5 minutes');
      INSERT INTO factory_telemetry.fault_event (equipment_code, bit_index, ts_on, ts_off, duration_s)
        VALUES ('EQ1', 3, now() - INTERVAL '1 day', now() - INTERVAL '1 day' + INTERVAL '90 seconds', 90);
      INSERT INTO factory_telemetry.oee_calculations (line_id, equipment_code, calculation_time, availability, performance, quality, oee,
             planned_production_time, actual_production_time, ideal_cycle_time, good_parts, total_parts)
        SELECT '${L}', 'EQ1', date_trunc('day', now()) - INTERVAL '1 day' + g * INTERVAL '1 hour', 0.9, 0.95, 0.99,
               factory_telemetry.fn_calculate_oee(0.9, 0.95, 0.99), 3600, 3240, 1.0, 3047, 3078
          FROM generate_series(0, 23) g;
      INSERT INTO factory_telemetry.downtime_events (line_id, equipment_code, start_time, end_time, duration_seconds, reason_code, category)
        VALUES ('${L}', 'EQ1', date_trunc('day', now()) - INTERVAL '22 hours', date_trunc('day', now()) - INTERVAL '22 hours' + INTERVAL '10 minutes', 600, 'JAM', 'unplanned');
      INSERT INTO factory_telemetry.energy_consumption (equipment_code, consumption_time, line_id, power_kw, energy_kwh)
        SELECT 'EQ1', date_trunc('day', now()) - INTERVAL '1 day' + g * INTERVAL '1 hour', '${L}', 10, 10 FROM generate_series(0, 23) g;
      SELECT factory_telemetry.fn_refresh_production_kpis('${L}', (date_trunc('day', now()) - INTERVAL '1 day')::date);
    `)
    const oee = (await q<{ availability: string; performance: string; quality: string; oee: string }>(
      `SELECT * FROM factory_telemetry.fn_line_oee($1, date_trunc('day', now()) - INTERVAL '1 day', date_trunc('day', now()))`,
      [L],
    ))[0]!
    expect(oee).toEqual({ availability: '0.9000', performance: '0.9500', quality: '0.9899', oee: '0.8464' })
    const kpi = await q(`SELECT period_type, oee::text, produced_units, good_units, downtime_minutes::text, energy_kwh FROM factory_telemetry.production_kpis`)
    expect(kpi).toEqual([{ period_type: 'day', oee: '0.8464', produced_units: 24 * 3078, good_units: 24 * 3047, downtime_minutes: '10.00', energy_kwh: 240 }])
    for (const v of manifest.views) await q(`SELECT * FROM ${v} LIMIT 5`)
    expect(await q(`SELECT equipment_code, fault_name FROM factory_telemetry.v_active_faults`)).toEqual([{ equipment_code: 'EQ1', fault_name: 'Infeed jam' }])
    expect(await q(`SELECT metric_key, value_real FROM factory_telemetry.v_metric_latest`)).toEqual([{ metric_key: 'speed', value_real: 42 }])
    expect(await q(`SELECT line_code, total_seconds::int AS s FROM factory_telemetry.v_downtime_summary`)).toEqual([{ line_code: 'L1', s: 600 }])
    const compressed = await q(`SELECT compress_chunk(ch) FROM show_chunks('factory_telemetry.metric_hist', older_than => INTERVAL '7 days') ch`)
    expect(compressed.length).toBeGreaterThan(0)
    // Data does not touch the fingerprint.
    expect(diffSnapshots(fps[9]!, await snap())).toEqual([])
  }, 60_000)

  it('re-running any file on the migrated database succeeds and changes nothing (schema and data)', async () => {
    const data = await dataDigest()
    for (const name of NAMES) {
      await apply(name)
      expect(diffSnapshots(fps[9]!, await snap()), `${name} re-run`).toEqual([])
      expect(await dataDigest(), `${name} re-run: data`).toEqual(data)
    }
  }, 60_000)

  it('down k restores the fingerprint recorded after up k-1, for k = 9..1 (with data and compressed chunks)', async () => {
    const rowsBefore = await q<{ n: number; s: number }>(`SELECT count(*)::int AS n, sum(value_real) AS s FROM factory_telemetry.metric_hist`)
    for (let k = NAMES.length; k >= 1; k--) {
      const name = NAMES[k - 1]!
      await apply(name, 'down')
      expect(diffSnapshots(fps[k - 1]!, await snap()), `after ${name}.down.sql`).toEqual([])
      if (k === 9) {
        // Compression was turned off without losing a row.
        expect(await q(`SELECT count(*)::int AS n, sum(value_real) AS s FROM factory_telemetry.metric_hist`)).toEqual(rowsBefore)
        expect(await q(`SELECT count(*)::int AS n FROM timescaledb_information.chunks WHERE is_compressed`)).toEqual([{ n: 0 }])
      }
    }
    // Version 0: the runner's bootstrap is untouched.
    expect(await q(`SELECT extname FROM pg_extension WHERE extname = 'timescaledb'`)).toHaveLength(1)
    expect(await q(`SELECT to_regclass('factory_telemetry.migration_log') IS NOT NULL AS ok`)).toEqual([{ ok: true }])
    expect(fps[0]!.tables.map((t) => t.name)).toEqual([`${SCHEMA}.migration_log`])
  }, 60_000)

  it('up again after a full down reproduces every fingerprint', async () => {
    for (const [k, name] of NAMES.entries()) {
      await apply(name)
      expect(diffSnapshots(fps[k + 1]!, await snap()), `re-up ${name}`).toEqual([])
    }
  }, 60_000)
})
