/**
 * Backups proven by restoring them, on every engine present (support/engines.ts).
 *
 * The nine MS5.0 migrations, telemetry (rows exactly at and 1 µs around chunk boundaries, older
 * chunks compressed), one backup with the engine's dump tool (pg_dump's custom format, or the
 * embedded engine's WASM pg_dump plus its data-directory copy); then each kind restored and
 * compared with the state recorded in the backup: the comparison's "0 differences" is the
 * evidence, and it is shown able to find a single changed value.
 * Where the engine dumps with pg_dump: the round trip on the plain fixture set at a larger
 * scale, in place, and through `pnpm backup`/`pnpm restore` against DATABASE_URL.
 * Corrupted backups are refused by name (once, on the first engine); retention keeps what it must.
 *
 * Times and sizes go to reports/backup-figures.json and are printed.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, truncateSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import os from 'node:os'
import path from 'node:path'
import type pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createBackup, type BackupResult } from '../harness/backup/backup.ts'
import { backupRoundTrip } from '../harness/backup/round-trip.ts'
import { compareStates, formatComparison } from '../harness/backup/compare.ts'
import { BACKUP_NAME_RE, MANIFEST_JSON, MANIFEST_SUM } from '../harness/backup/layout.ts'
import { verifyBackup } from '../harness/backup/manifest.ts'
import { restoreBackup, type RestoreKind, type RestoreResult } from '../harness/backup/restore.ts'
import { pruneBackups } from '../harness/backup/retention.ts'
import { runScript } from '../harness/backup/sql-script.ts'
import { captureState } from '../harness/backup/state.ts'
import { userSchemas } from '../harness/catalog/schemas.ts'
import { handleTarget } from '../harness/engines/target.ts'
import { locateClientTools, toolError, toolSaid } from '../harness/engines/client-tools.ts'
import { toolLostServer } from '../harness/sqlstate.ts'
import type { DatabaseHandle, StartedEngine } from '../harness/engines/types.ts'
import { HarnessError } from '../harness/errors.ts'
import { connect } from '../harness/runner/connect.ts'
import { FileMigrationProvider } from '../harness/runner/discover.ts'
import { Migrator } from '../harness/runner/migrator.ts'
import { loadManifest, type Manifest } from '../harness/manifest/manifest.ts'
import { loadBackupData, type LoadedData } from '../harness/data/backup-data.ts'
import { cli } from './support/cli.ts'
import { MIGRATIONS, PLAIN, ROOT, emptyDir } from './support/dirs.ts'
import { availableEngines, lacking, needs, needsLocalDumpTools, useEngine } from './support/engines.ts'

const cases = await availableEngines()

const LONG = 900_000
// Temp dirs come from support/dirs.ts, which removes them after the file.
const tmpDir = (prefix: string) => emptyDir(prefix)

// The default scale (788k rows) takes minutes to load, dump and restore on the WASM engine: CI
// runs the same checks on a smaller slice with compressed chunks; BACKUP_DATA=default for figures.
const FULL = process.env.BACKUP_DATA === 'default'
const DATA = FULL ? {} : { days: 4, hz: 0.002, uncompressedDays: 1, seriesMinutes: 30 }
const DATA_LABEL = FULL ? 'harness/data/telemetry.ts defaults (scale 1, 7 days, 1 sample / 20 s per metric)' : 'a reduced slice (4 days, 1 sample / 500 s per metric, the per-minute series every 30 min, last day uncompressed)'

// ---- figures ------------------------------------------------------------------------------------
const figures: Record<string, Record<string, unknown>> = {}
afterAll(() => {
  // Only groups measured in this run (a filtered run measures some), merged into the last file.
  const measured = Object.fromEntries(Object.entries(figures).filter(([, v]) => Object.keys(v).length > 0))
  if (Object.keys(measured).length === 0) return
  mkdirSync(path.join(ROOT, 'reports'), { recursive: true })
  const file = path.join(ROOT, 'reports/backup-figures.json')
  const previous = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>) : {}
  const stamped = Object.fromEntries(Object.entries(measured).map(([k, v]) => [k, { measuredAt: new Date().toISOString(), ...v }]))
  writeFileSync(file, JSON.stringify({ ...previous, machine: { cpus: os.cpus().length, memoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1) }, ...stamped }, null, 2) + '\n')
  console.log(`[backup figures] ${file}\n${JSON.stringify(stamped, null, 2)}`)
})
const mib = (n: number) => +(n / 2 ** 20).toFixed(2)

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = await connect(url)
  try {
    return await fn(c)
  } finally {
    await c.end()
  }
}

async function migrate(url: string, dir: string, schema: string): Promise<void> {
  await withClient(url, async (c) => {
    const r = await new Migrator({ client: c, provider: new FileMigrationProvider(dir), logSchema: schema, lockWaitMs: 0 }).up()
    if (r.error) throw r.error
  })
}

/** The whole restore result as lines, printed so the evidence is in the test log. */
function show(label: string, r: RestoreResult): void {
  console.log(`[${label}] ${r.kind} (${r.mode}) in ${Math.round(r.durationMs)} ms (verify ${Math.round(r.timings.verifyMs)}, load ${Math.round(r.timings.loadMs)}, compare ${Math.round(r.timings.compareMs)})\n  ${formatComparison(r.comparison).join('\n  ')}`)
}
const timing = (r: RestoreResult) => ({ totalMs: Math.round(r.durationMs), verifyMs: Math.round(r.timings.verifyMs), loadMs: Math.round(r.timings.loadMs), compareMs: Math.round(r.timings.compareMs) })

async function expectRejects(p: Promise<unknown>, code: string, message: RegExp): Promise<HarnessError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  )
  expect(e).toBeInstanceOf(HarnessError)
  expect((e as HarnessError).code).toBe(code)
  expect((e as HarnessError).message).toMatch(message)
  return e as HarnessError
}

// =================================================================================================
describe.each(cases)('backups on the $name engine', (c) => {
  const started = useEngine(c)
  let engine: StartedEngine
  beforeAll(() => {
    engine = started()
  })

  describe('MS5.0 with telemetry', () => {
    let source: DatabaseHandle
    let manifest: Manifest
    let data: LoadedData
    let backup: BackupResult
    let root: string
    const fig: Record<string, unknown> = {}
    figures[`${c.name} (MS5.0)`] = fig

    beforeAll(async () => {
      if (!FULL) console.warn(`[suites] backup round trip on the ${engine.name} engine on ${DATA_LABEL}; BACKUP_DATA=default measures the default scale (~788k rows; 4–5 min on the WASM engine)`)
      manifest = (await loadManifest(MIGRATIONS))!
      source = await engine.createDatabase('source')
      await migrate(source.url, MIGRATIONS, 'factory_telemetry')
      data = await withClient(source.url, (c) => loadBackupData(c, DATA))
      expect(data.compressedChunks).toBeGreaterThan(0)
      root = tmpDir('pgverify-backups-')
      backup = await createBackup(handleTarget(engine, source), { root, manifest })
      Object.assign(fig, {
        engine: engine.describe(),
        dataScale: DATA_LABEL,
        rows: data.rows,
        metricHistRows: backup.manifest.state.tables['factory_telemetry.metric_hist']?.rows,
        compressedChunks: data.compressedChunks,
        loadMs: Math.round(data.durationMs),
        databaseMiB: mib(await withClient(source.url, async (c) => Number((await c.query<{ b: string }>('SELECT pg_database_size(current_database())::text AS b')).rows[0]!.b))),
        backupMs: Math.round(backup.durationMs),
        backupStateCaptureMs: Math.round(backup.stateMs),
        backupMiB: mib(backup.bytes),
        files: Object.fromEntries(backup.manifest.files.map((f) => [f.path, { MiB: mib(f.bytes), ms: f.durationMs === undefined ? undefined : Math.round(f.durationMs) }])),
      })
    }, LONG)

    it('the backup is complete under its final name, with a manifest that describes every file and the data', async () => {
      expect(backup.name).toMatch(BACKUP_NAME_RE)
      expect(readdirSync(root)).toEqual([backup.name]) // no temporary directory left behind
      const m = backup.manifest
      // What the engine's tools write: pg_dump's custom format, or the WASM pg_dump's plain SQL plus the data-directory copy.
      const pgDump = engine.capabilities.dumpTool === 'pg_dump'
      const physical = engine.capabilities.physicalSnapshot
      expect(m.kinds).toEqual(physical ? ['full', 'schema', 'data', 'volume'] : ['full', 'schema', 'data'])
      const logical = pgDump ? ['database/full_backup.dump', 'database/schema_only.dump'] : ['database/full_backup.sql', 'database/schema_only.sql']
      for (const f of [...logical, 'database/schema_timescaledb.sql', 'database/data_only.sql', ...(physical ? ['volumes/postgres_data.tar.gz'] : []), 'config/environment.txt', 'logs/backup.log', 'BACKUP_MANIFEST.txt']) {
        const entry = m.files.find((x) => x.path === f)
        expect(entry, f).toBeDefined()
        const bytes = readFileSync(path.join(backup.dir, f))
        expect(entry!.bytes).toBe(bytes.length)
        expect(entry!.sha256).toBe(createHash('sha256').update(bytes).digest('hex'))
      }
      expect(m.files.map((f) => f.path).filter((f) => f.startsWith('volumes/'))).toEqual(physical ? ['volumes/postgres_data.tar.gz'] : [])
      expect(m.engine.name).toBe(engine.name)
      // The server's own version string: "17.5", or a packager's "15.18 (Debian 15.18-0+deb12u1)".
      expect(m.server.postgres.split(' ')[0]).toBe(engine.versions.postgres)
      expect(m.server.timescaledb).toBe(engine.versions.timescaledb)
      if (pgDump) {
        expect(m.tool).toMatchObject({ logical: expect.stringMatching(new RegExp(`^pg_dump ${engine.versions.postgres.split('.')[0]}\\.`)), format: 'custom' })
        for (const f of logical) expect(readFileSync(path.join(backup.dir, f)).subarray(0, 5).toString(), f).toBe('PGDMP')
      } else expect(m.tool.logical).toMatch(/WASM pg_dump \(@electric-sql\/pglite-tools@/)
      if (physical) expect(m.tool.physical).toMatch(/data directory/)
      else expect(m.tool.physical).toBeNull()
      // Row counts per table, read through the hypertables, match what was loaded.
      for (const [t, n] of Object.entries(data.perTable)) {
        const extra = t === 'factory_telemetry.metric_hist' ? data.boundaryRows : 0
        expect(m.state.tables[t]?.rows, t).toBe(n + extra)
      }
      expect(Object.values(m.state.hypertables).reduce((s, h) => s + h.compressedChunks, 0)).toBe(data.compressedChunks)
      expect(m.migrationLog).toMatchObject({ table: 'factory_telemetry.migration_log', rows: 9, version: 9 })
      expect(m.state.migrationLog!.rows.map((r) => r.status)).toEqual(Array(9).fill('completed'))
      const txt = readFileSync(path.join(backup.dir, 'BACKUP_MANIFEST.txt'), 'utf8')
      for (const w of [path.basename(logical[0]!), 'data_only.sql', ...(physical ? ['postgres_data.tar.gz'] : []), 'factory_telemetry.metric_hist', '009_database_optimization', m.server.timescaledb]) expect(txt).toContain(w)
      const v = await verifyBackup(backup.dir)
      expect(v.problems).toEqual([])
      expect(v.ok).toBe(true)
    })

    it('full restore into a fresh database: the comparison shows 0 differences, and finds one changed value', async () => {
      const fresh = await engine.createDatabase('full')
      const r = await restoreBackup(backup.dir, handleTarget(engine, fresh), { kind: 'full', mode: 'fresh' })
      show(`${engine.name} full`, r)
      fig.restoreFull = timing(r)
      expect(r.comparison.differences).toEqual([])
      expect(r.comparison.compared.join(' ')).toMatch(new RegExp(`\\(${data.compressedChunks} compressed\\)`))
      // Independent of the comparison: compressed chunks and the boundary rows are really there.
      const probe = async (url: string) =>
        withClient(url, async (c) => (await c.query<{ z: string; b: string }>(
          `SELECT (SELECT count(*) FROM timescaledb_information.chunks WHERE is_compressed)::text AS z,
                  (SELECT count(*) FROM factory_telemetry.metric_hist WHERE extract(microseconds FROM ts)::bigint % 1000000 <> 0)::text AS b`,
        )).rows[0]!)
      const [a, b] = [await probe(source.url), await probe(fresh.url)]
      expect(b).toEqual(a)
      expect(Number(a.b)).toBe(data.boundaryRows)
      // The comparison is not blind: change one value inside a compressed chunk of the copy.
      await withClient(fresh.url, async (c) => {
        const row = (await c.query<{ id: string; ts: Date; z: boolean }>(
          `SELECT h.metric_def_id AS id, h.ts, ch.is_compressed AS z
             FROM (SELECT metric_def_id, ts FROM factory_telemetry.metric_hist WHERE value_real IS NOT NULL ORDER BY ts LIMIT 1) h
             JOIN timescaledb_information.chunks ch ON ch.hypertable_name = 'metric_hist' AND h.ts >= ch.range_start AND h.ts < ch.range_end`,
        )).rows[0]!
        expect(row.z).toBe(true) // the changed row sits in a compressed chunk
        const u = await c.query(`UPDATE factory_telemetry.metric_hist SET value_real = value_real + 1 WHERE metric_def_id = $1 AND ts = $2`, [row.id, row.ts])
        expect(u.rowCount).toBe(1)
      })
      const after = await withClient(fresh.url, (c) => captureState(c, { schemas: ['factory_telemetry'], log: { schema: 'factory_telemetry', table: 'migration_log' } }))
      const diff = compareStates(backup.manifest.state, after)
      expect(diff.differences.map((d) => d.text)).toEqual([expect.stringMatching(/^~ table factory_telemetry\.metric_hist: same \d+ rows, different content/)])
      await fresh.drop()
    }, LONG)

    it('volume (data-directory copy) restore: a new database with 0 differences', async (ctx) => {
      needs(ctx, engine, 'physicalSnapshot', 'the volume (data-directory copy) restore')
      const host = await engine.createDatabase('volume-host')
      const r = await restoreBackup(backup.dir, handleTarget(engine, host), { kind: 'volume', mode: 'fresh' })
      show(`${engine.name} volume`, r)
      fig.restoreVolume = timing(r)
      expect(r.comparison.differences).toEqual([])
      await r.target.drop?.()
      await host.drop()
    }, LONG)

    it('schema-only restore: the same fingerprint (hypertables, compression, policies) and empty tables', async () => {
      const fresh = await engine.createDatabase('schema')
      const r = await restoreBackup(backup.dir, handleTarget(engine, fresh), { kind: 'schema', mode: 'fresh' })
      show(`${engine.name} schema`, r)
      fig.restoreSchema = timing(r)
      expect(r.comparison.differences).toEqual([])
      const st = await withClient(fresh.url, (c) => captureState(c, { schemas: ['factory_telemetry'] }))
      expect(st.fingerprintHash).toBe(backup.manifest.state.fingerprintHash)
      expect(Object.keys(st.hypertables).length).toBe(6)
      expect(Object.values(st.tables).every((t) => t.rows === 0)).toBe(true)
      await fresh.drop()
    }, LONG)

    it('data-only restore into a database migrated by the runner: the same data, chunks compressed as before', async () => {
      const migrated = await engine.createDatabase('data')
      await migrate(migrated.url, MIGRATIONS, 'factory_telemetry')
      const r = await restoreBackup(backup.dir, handleTarget(engine, migrated), { kind: 'data', mode: 'in-place' })
      show(`${engine.name} data`, r)
      fig.restoreData = timing(r)
      expect(r.comparison.differences).toEqual([])
      await migrated.drop()
    }, LONG)

    it('a backup is written under a temporary name and only appears complete', async () => {
      const db = await engine.createDatabase('small')
      await migrate(db.url, MIGRATIONS, 'factory_telemetry')
      const r2 = tmpDir('pgverify-backups-')
      const seen: string[][] = []
      const b = await createBackup(handleTarget(engine, db), { root: r2, manifest, kinds: ['schema'], onLog: () => seen.push(readdirSync(r2)) })
      expect(seen.length).toBeGreaterThan(3)
      // Nothing on disk until the session is open (the first lines: the name and the tool), then only the partial directory.
      for (const listing of seen) expect(listing).toEqual(listing.length ? [expect.stringMatching(/^\.pre-migration-\d{8}-\d{6}\.partial-\d+$/)] : [])
      expect(seen.filter((l) => l.length === 1).length).toBeGreaterThan(2)
      expect(readdirSync(r2)).toEqual([b.name])
      await db.drop()
    }, LONG)
  })

  describe('real pg_dump/pg_restore, plain fixture set', () => {
    let source: DatabaseHandle
    let backup: BackupResult
    const fig: Record<string, unknown> = {}
    figures[`${c.name} (plain set)`] = fig
    const WHAT = 'the pg_dump/pg_restore round trip on the plain set'

    beforeAll(async () => {
      // Each test skips, saying why, on an engine without pg_dump: nothing to load then.
      if (lacking(engine, 'pg_dump', WHAT)) return
      source = await engine.createDatabase('source')
      await migrate(source.url, PLAIN, 'app')
      await withClient(source.url, async (c) => {
        await c.query(`INSERT INTO app.accounts (email, created_at) SELECT 'user' || g || '@example.test', timestamptz '2026-01-01 00:00:00+00' + g * interval '1 minute' FROM generate_series(1, 20000) g`)
        await c.query(`INSERT INTO app.orders (account_id, total, placed_at) SELECT 1 + g % 20000, round((g % 100000) / 7.0, 2), timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second' FROM generate_series(1, 200000) g`)
      })
      backup = await createBackup(handleTarget(engine, source), { root: tmpDir('pgverify-backups-'), manifest: await loadManifest(PLAIN) })
      Object.assign(fig, {
        engine: engine.describe(),
        dataScale: 'plain fixture set: 20,000 accounts, 200,000 orders',
        rows: Object.values(backup.manifest.state.tables).reduce((s, t) => s + t.rows, 0),
        backupMs: Math.round(backup.durationMs),
        backupStateCaptureMs: Math.round(backup.stateMs),
        backupMiB: mib(backup.bytes),
        files: Object.fromEntries(backup.manifest.files.map((f) => [f.path, { MiB: mib(f.bytes), ms: f.durationMs === undefined ? undefined : Math.round(f.durationMs) }])),
      })
    }, LONG)

    it('pg_dump of the server\'s major version wrote custom-format archives from one snapshot', (ctx) => {
      needs(ctx, engine, 'pg_dump', WHAT)
      expect(backup.manifest.tool).toMatchObject({ logical: expect.stringMatching(new RegExp(`^pg_dump ${engine.versions.postgres.split('.')[0]}\\.`)), physical: null, format: 'custom' })
      expect(backup.manifest.kinds).toEqual(['full', 'schema', 'data'])
      for (const f of ['database/full_backup.dump', 'database/schema_only.dump']) {
        expect(backup.manifest.files.find((x) => x.path === f)?.tool).toMatch(/--snapshot/)
        expect(readFileSync(path.join(backup.dir, f)).subarray(0, 5).toString()).toBe('PGDMP')
      }
    })

    it.for(['full', 'schema'] as RestoreKind[])('%s restore into a fresh database: 0 differences', { timeout: LONG }, async (kind, ctx) => {
      needs(ctx, engine, 'pg_dump', WHAT)
      const fresh = await engine.createDatabase(kind)
      const r = await restoreBackup(backup.dir, handleTarget(engine, fresh), { kind, mode: 'fresh' })
      show(`${engine.name} ${kind}`, r)
      fig[`restore${kind === 'full' ? 'Full' : 'Schema'}`] = timing(r)
      expect(r.comparison.differences).toEqual([])
      await fresh.drop()
    })

    it('data-only restore into a database migrated by the runner: 0 differences', async (ctx) => {
      needs(ctx, engine, 'pg_dump', WHAT)
      const migrated = await engine.createDatabase('data')
      await migrate(migrated.url, PLAIN, 'app')
      const r = await restoreBackup(backup.dir, handleTarget(engine, migrated), { kind: 'data', mode: 'in-place' })
      show(`${engine.name} data`, r)
      fig.restoreData = timing(r)
      expect(r.comparison.differences).toEqual([])
      await migrated.drop()
    }, LONG)

    it('in-place restore replaces the covered schema and leaves other schemas alone', async (ctx) => {
      needs(ctx, engine, 'pg_dump', WHAT)
      const db = await engine.createDatabase('inplace')
      const fresh = await restoreBackup(backup.dir, handleTarget(engine, db), { kind: 'full', mode: 'fresh' })
      expect(fresh.comparison.differences).toEqual([])
      await withClient(db.url, (c) => c.query(`DELETE FROM app.orders WHERE id % 3 = 0; CREATE TABLE app.stray (x int); CREATE SCHEMA keep_me; CREATE TABLE keep_me.t (x int); INSERT INTO keep_me.t VALUES (42)`))
      const before = await withClient(db.url, (c) => captureState(c, { schemas: ['app'], log: { schema: 'app', table: 'migration_log' } }))
      expect(compareStates(backup.manifest.state, before).differences.length).toBeGreaterThan(0)
      const r = await restoreBackup(backup.dir, handleTarget(engine, db), { kind: 'full', mode: 'in-place' })
      show(`${engine.name} in-place`, r)
      expect(r.comparison.differences).toEqual([])
      expect(r.replaced).toEqual(['app'])
      expect(r.leftAlone).toEqual(['keep_me'])
      expect(await withClient(db.url, async (c) => (await c.query(`SELECT x FROM keep_me.t`)).rows)).toEqual([{ x: 42 }])
      await db.drop()
    }, LONG)

    it('a flipped byte in the pg_dump archive is refused by name', async (ctx) => {
      needs(ctx, engine, 'pg_dump', WHAT)
      const d = path.join(tmpDir('pgverify-corrupt-'), backup.name)
      cpSync(backup.dir, d, { recursive: true })
      const f = path.join(d, 'database/full_backup.dump')
      const b = readFileSync(f)
      b[b.length >> 1] = b[b.length >> 1]! ^ 0x80
      writeFileSync(f, b)
      const target = await engine.createDatabase('victim')
      await expectRejects(restoreBackup(d, handleTarget(engine, target), { kind: 'full', mode: 'fresh' }), 'BACKUP_CORRUPT', /database\/full_backup\.dump: content changed/)
      await target.drop()
    })

    it('backupRoundTrip (the one-call round trip for pnpm verify) passes, and fails when a restore cannot be made', async (ctx) => {
      needs(ctx, engine, 'pg_dump', WHAT)
      const migrations = await new FileMigrationProvider(PLAIN).getMigrations()
      const load = (c: pg.ClientBase) => c.query(`INSERT INTO app.accounts (email) SELECT 'rt' || g || '@example.test' FROM generate_series(1, 500) g`).then(() => {})
      const ok = await backupRoundTrip(engine, { dir: PLAIN, migrations, manifest: await loadManifest(PLAIN), logSchema: 'app', load })
      console.log(`[${engine.name} round trip] ${ok.summary}\n  ${ok.details.join('\n  ')}`)
      expect(ok.verdict).toBe('passed')
      // Made side by side on a server, reported in the kinds' order.
      expect(ok.details.filter((d) => /restore \(\d+ ms\): 0 differences/.test(d)).map((d) => d.split(' ')[0])).toEqual(['full', 'schema', 'data'])
      expect(ok.restores).toBe(3)
      // A restore that cannot be made is a failed round trip, with the reason (no physical copies on this engine).
      expect(engine.capabilities.physicalSnapshot).toBe(false)
      const bad = await backupRoundTrip(engine, { dir: PLAIN, migrations, manifest: await loadManifest(PLAIN), logSchema: 'app', load, kinds: ['volume'] })
      expect(bad.verdict).toBe('failed')
      expect(bad.details.join('\n')).toMatch(/volume restore failed: \[USAGE\] backup pre-migration-\S+ has no volume backup/)
    }, LONG)

    it('a set whose objects all live in public is not "0 differences": the round trip says it proved nothing and why', async (ctx) => {
      needs(ctx, engine, 'pg_dump', WHAT)
      const dir = emptyDir('pgverify-public-set-')
      writeFileSync(path.join(dir, '001_items.sql'), 'CREATE TABLE items (id int PRIMARY KEY);\nINSERT INTO items VALUES (1), (2);\n')
      const migrations = await new FileMigrationProvider(dir).getMigrations()
      const r = await backupRoundTrip(engine, { dir, migrations, logSchema: 'public' })
      expect(r.verdict).toBe('skipped')
      expect(r.summary).toMatch(/^backup round trip not proven: NOT covered: schema public holds 2 objects of its own \(items \(r\), migration_log \(r\)\)/)
      expect(r.restores).toBe(0)
    }, LONG)

    it('pnpm backup against DATABASE_URL writes a verified backup; pnpm restore --yes puts it back in place', async (ctx) => {
      await needsLocalDumpTools(ctx, engine, 'pnpm backup and pnpm restore against DATABASE_URL')
      const root = tmpDir('pgverify-backups-')
      const b = await cli(['backup', '--backup-root', root, '--dir', PLAIN], { DATABASE_URL: source.url }, 300_000)
      expect(b.stderr + b.stdout).not.toMatch(/error/i)
      expect(b.code).toBe(0)
      const [name] = readdirSync(root)
      expect(name).toMatch(BACKUP_NAME_RE)
      expect(b.stdout).toContain(path.join(root, name!))
      const noYes = await cli(['restore', path.join(root, name!)], { DATABASE_URL: source.url })
      expect(noYes.code).toBe(2)
      expect(noYes.stderr).toMatch(/--yes/)
      const r = await cli(['restore', path.join(root, name!), '--yes'], { DATABASE_URL: source.url }, 300_000)
      expect(r.code).toBe(0)
      expect(r.stdout).toMatch(/^0 differences$/m)
      expect(existsSync(path.join(root, name!, MANIFEST_JSON))).toBe(true)
    }, LONG)
  })
})

// =================================================================================================
// Checks of the backup's files, engine-independent: once, on the first engine present (the
// embedded one unless SUITE_ENGINES leaves it out).
describe.runIf(cases[0])(`corrupted backups are refused by name (${cases[0]?.name} engine, small backup)`, () => {
  const started = useEngine(cases[0]!)
  let engine: StartedEngine
  let backup: BackupResult
  const copy = (label: string) => {
    const d = path.join(tmpDir(`pgverify-corrupt-${label}-`), backup.name)
    cpSync(backup.dir, d, { recursive: true })
    return d
  }
  const flip = (file: string) => {
    const b = readFileSync(file)
    const i = Math.floor(b.length / 2)
    b[i] = b[i]! ^ 0x01
    writeFileSync(file, b)
  }

  beforeAll(async () => {
    engine = started()
    const db = await engine.createDatabase('small')
    await migrate(db.url, MIGRATIONS, 'factory_telemetry')
    await withClient(db.url, (c) => loadBackupData(c, { days: 1, hz: 0.01, uncompressedDays: 0.5 }))
    backup = await createBackup(handleTarget(engine, db), { root: tmpDir('pgverify-backups-'), manifest: await loadManifest(MIGRATIONS) })
  }, LONG)
  /** The backup's file of a role (its name depends on the engine's dump tool). */
  const fileOf = (role: string) => backup.manifest.files.find((f) => f.role === role)!.path

  /** Restore must refuse before touching the target: the fresh database stays empty. */
  async function refused(dir: string, file: string, problem: RegExp): Promise<void> {
    const v = await verifyBackup(dir)
    expect(v.ok).toBe(false)
    expect(v.problems).toEqual([{ file, problem: expect.stringMatching(problem) }])
    const target = await engine.createDatabase('victim')
    await expectRejects(restoreBackup(dir, handleTarget(engine, target), { kind: 'full', mode: 'fresh' }), 'BACKUP_CORRUPT', new RegExp(`${file.replace(/\./g, '\\.')}: ${problem.source}`))
    expect(await withClient(target.url, (c) => userSchemas(c))).toEqual([])
    await target.drop()
  }

  it('a failing statement in a restore is named by file, line and SQLSTATE, and nothing of the restore is kept', async () => {
    const db = await engine.createDatabase('script')
    const script = ['CREATE TABLE public.t (id int PRIMARY KEY);', "INSERT INTO public.t VALUES (1); -- a comment; with a semicolon", "INSERT INTO public.t VALUES (length($$;$$) + 1), (length(E'\\';') + 1);", '', 'INSERT INTO public.t VALUES (1);', 'SELECT 1;'].join('\n')
    const e = await withClient(db.url, async (c) => {
      await c.query('BEGIN')
      const err = await runScript(c, script, 'database/full_backup.sql', { maxChars: 10_000 }).then(() => undefined, (x: unknown) => x as HarnessError)
      await c.query('ROLLBACK')
      return err
    })
    expect(e?.code).toBe('RESTORE_FAILED')
    expect(e?.message).toMatch(/^database\/full_backup\.sql:5: \[SQLSTATE 23505\] duplicate key value violates unique constraint "t_pkey"/)
    expect(e?.message).toMatch(/statement: INSERT INTO public\.t VALUES \(1\)/)
    expect(await withClient(db.url, async (c) => (await c.query(`SELECT to_regclass('public.t') AS t`)).rows[0].t)).toBeNull()
    await db.drop()
  })

  it('the intact backup verifies', async () => {
    const v = await verifyBackup(backup.dir)
    expect(v).toMatchObject({ ok: true, problems: [], extra: [] })
    expect(v.checked.length).toBe(backup.manifest.files.length)
  })

  it('a flipped byte', async () => {
    const d = copy('flip')
    flip(path.join(d, 'database/data_only.sql'))
    await refused(d, 'database/data_only.sql', /content changed \(same size\)/)
  })

  it('a truncated file', async () => {
    const d = copy('trunc')
    const f = path.join(d, fileOf('full'))
    truncateSync(f, Math.floor(statSync(f).size / 3))
    await refused(d, fileOf('full'), /truncated: \d+ bytes, manifest says \d+/)
  })

  it('a missing file', async () => {
    const d = copy('missing')
    // The data-directory copy where the engine makes one, else the TimescaleDB schema script.
    const gone = backup.manifest.files.find((f) => f.role === 'volume')?.path ?? fileOf('schema-timescaledb')
    unlinkSync(path.join(d, gone))
    await refused(d, gone, /missing/)
  })

  it('an edited manifest', async () => {
    const d = copy('manifest')
    const f = path.join(d, MANIFEST_JSON)
    writeFileSync(f, readFileSync(f, 'utf8').replace('"rows": 9', '"rows": 8'))
    await refused(d, MANIFEST_JSON, /changed since the backup/)
  })

  it('an incomplete backup (no manifest) is not a backup', async () => {
    const d = copy('nomanifest')
    unlinkSync(path.join(d, MANIFEST_JSON))
    await refused(d, MANIFEST_JSON, /missing: not a complete backup/)
  })

  it('pnpm backup verify and pnpm restore name the damaged file and exit 9', async () => {
    const d = copy('cli')
    flip(path.join(d, fileOf('schema')))
    const ok = await cli(['backup', 'verify', backup.dir])
    expect(ok.code).toBe(0)
    expect(ok.stdout).toMatch(/backup verified/)
    const v = await cli(['backup', 'verify', d])
    expect(v.code).toBe(9)
    const schemaFile = fileOf('schema').replace(/[./]/g, (x) => `\\${x}`)
    expect(v.stdout).toMatch(new RegExp(`BAD\\s+${schemaFile}: content changed`))
    const r = await cli(['restore', d, '--engine', engine.name], {}, 300_000)
    expect(r.code).toBe(9)
    expect(r.stderr).toMatch(new RegExp(`\\[BACKUP_CORRUPT\\][\\s\\S]*${schemaFile}: content changed`))
  }, LONG)

  it('a backup from another TimescaleDB version is refused with both versions named', async () => {
    const d = copy('version')
    const f = path.join(d, MANIFEST_JSON)
    const m = JSON.parse(readFileSync(f, 'utf8'))
    m.server.timescaledb = '2.99.0'
    const json = JSON.stringify(m, null, 2) + '\n'
    writeFileSync(f, json)
    writeFileSync(path.join(d, MANIFEST_SUM), `${createHash('sha256').update(json).digest('hex')}  ${MANIFEST_JSON}\n`)
    expect((await verifyBackup(d)).ok).toBe(true)
    const target = await engine.createDatabase('other-version')
    await expectRejects(restoreBackup(d, handleTarget(engine, target), { kind: 'full', mode: 'fresh' }), 'BACKUP_VERSION_MISMATCH', new RegExp(`TimescaleDB 2\\.99\\.0; .* has TimescaleDB ${backup.manifest.server.timescaledb.replace(/\./g, '\\.')}`))
    expect(await withClient(target.url, (c) => userSchemas(c))).toEqual([])
    await target.drop()
  })
})

// =================================================================================================
describe('retention', () => {
  const now = new Date('2026-11-23T12:00:00Z')
  const DAY = 86_400_000
  function fakeRoot(ages: number[]): { root: string; names: string[] } {
    const root = tmpDir('pgverify-retention-')
    const names = ages.map((age, i) => {
      const at = new Date(now.getTime() - age * DAY - i * 1000)
      const name = `pre-migration-${at.toISOString().slice(0, 19).replace(/[-:]/g, '').replace('T', '-')}`
      mkdirSync(path.join(root, name))
      writeFileSync(path.join(root, name, MANIFEST_JSON), JSON.stringify({ format: 'pgverify-backup/1', createdAt: at.toISOString() }))
      return name
    })
    return { root, names }
  }

  it('removes backups older than 7 days; --dry-run lists them and removes nothing', async () => {
    const { root, names } = fakeRoot([0.5, 3, 8, 30])
    const dry = await pruneBackups(root, { dryRun: true, now })
    expect(dry.removed.map((r) => r.name).sort()).toEqual([names[2], names[3]].sort())
    expect(readdirSync(root).sort()).toEqual([...names].sort())
    const real = await pruneBackups(root, { now })
    expect(real.removed.map((r) => r.name).sort()).toEqual([names[2], names[3]].sort())
    expect(readdirSync(root).sort()).toEqual([names[0], names[1]].sort())
  })

  it('never removes the newest backup, however old', async () => {
    const { root, names } = fakeRoot([20, 40])
    const r = await pruneBackups(root, { now })
    expect(r.removed.map((x) => x.name)).toEqual([names[1]])
    expect(r.kept[0]).toMatchObject({ name: names[0], reason: expect.stringMatching(/newest backup/) })
    expect(readdirSync(root)).toEqual([names[0]])
  })

  it('the period is configurable', async () => {
    const { root, names } = fakeRoot([1, 8, 12])
    const r = await pruneBackups(root, { keepDays: 10, now })
    expect(r.removed.map((x) => x.name)).toEqual([names[2]])
  })

  it('leaves alone backups being written and directories without a manifest, removes interrupted ones (their writer is gone); age comes from the manifest, not mtime', async () => {
    const { root, names } = fakeRoot([0.1, 50])
    const writing = `.pre-migration-20261123-110000.partial-${process.pid}`
    const interrupted = '.pre-migration-20261101-110000.partial-999999'
    const foreign = 'pre-migration-20261001-000000'
    for (const d of [writing, interrupted, foreign]) mkdirSync(path.join(root, d))
    const old = new Date(now.getTime() - 100 * DAY)
    for (const d of [writing, interrupted, foreign, names[0]!]) utimesSync(path.join(root, d), old, old)
    const dry = await pruneBackups(root, { now, dryRun: true })
    expect(dry.removed.map((x) => [x.name, x.reason])).toEqual(
      expect.arrayContaining([[interrupted, expect.stringMatching(/an interrupted backup \(process 999999 is gone\)/)]]),
    )
    expect(readdirSync(root)).toContain(interrupted)
    const r = await pruneBackups(root, { now })
    expect(r.removed.map((x) => x.name).sort()).toEqual([interrupted, names[1]].sort())
    expect(r.skipped.map((x) => [x.name, x.reason])).toEqual(
      expect.arrayContaining([
        [writing, expect.stringMatching(/being written \(process \d+ is running\)/)],
        [foreign, expect.stringMatching(/no readable BACKUP_MANIFEST\.json/)],
      ]),
    )
    expect(readdirSync(root).sort()).toEqual([names[0], writing, foreign].sort())
  })

  it('pnpm backup prune --dry-run lists what would go', async () => {
    const { root, names } = fakeRoot([1, 9])
    // The CLI uses the real clock: make the fake ages relative to it.
    const r = await cli(['backup', 'prune', '--backup-root', root, '--dry-run', '--keep-days', '7'])
    expect(r.code).toBe(0)
    expect(readdirSync(root).length).toBe(2)
    expect(r.stdout).toMatch(/(would remove|keep)/)
    expect(r.stdout).toMatch(/retention 7 days, dry run/)
    void names
  })
})

// =================================================================================================
describe('client tools', () => {
  it('pg_dump of another major version is refused, naming what was found', async () => {
    await expectRejects(locateClientTools('99.1'), 'BACKUP_TOOL_MISMATCH', /no pg_dump\/pg_restore\/psql of PostgreSQL 99 .*found: .*pg_dump \(PostgreSQL 15\./)
  })

  it('a tool that lost the server mid-query: its error line stays in the message above the long query it prints after it, so the failure reads as the server going away', () => {
    // What pg_dump 15 printed in CI when the server stopped under its catalog query (the query shortened here).
    const query = Array.from({ length: 20 }, (_, i) => `  AND clause_${i} = ${i}`)
    const stderr = [
      'pg_dump: error: query failed: server closed the connection unexpectedly',
      '\tThis probably means the server terminated abnormally',
      '\tbefore or while processing the request.',
      'pg_dump: detail: Query was: SELECT p.tableoid, p.oid, p.proname FROM pg_proc p',
      ...query,
      '  OR p.proacl IS DISTINCT FROM pip.initprivs)',
    ].join('\n')
    const e = toolError('BACKUP_FAILED', 'pg_dump', { code: 1, stdout: '', stderr, durationMs: 5 }, 'postgres://u:secret@db.example/app', 'hint')
    expect(e.message).toMatch(/^pg_dump failed \(exit 1\) on postgres:\/\/u:\S*@db\.example\/app:\npg_dump: error: query failed: server closed the connection unexpectedly\n\tThis probably means/)
    expect(e.message).toMatch(/\n… \(10 more lines\)\n/)
    expect(e.message).toMatch(/OR p\.proacl IS DISTINCT FROM pip\.initprivs\)$/)
    expect(e.message).not.toContain('secret')
    expect(toolLostServer(e.message)).toBe(true)
    // Short output is shown whole; without an error line, the last lines.
    expect(toolSaid('pg_dump: error: connection to server failed')).toBe('pg_dump: error: connection to server failed')
    expect(toolSaid(Array.from({ length: 30 }, (_, i) => `line ${i}`).join('\n'), 3)).toBe('line 27\nline 28\nline 29')
  })

})
