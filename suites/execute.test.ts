/**
 * `pnpm execute`, the orchestrated migration with automatic rollback, against disposable engines.
 *
 * A deliberately failing migration 010 (and, separately, one that succeeds but fails the
 * post-migration validation) must end with the database in its pre-migration state: checked by
 * execute's own round-trip comparison AND by an independent capture taken by the test before
 * the run, and the report must say so. --dry-run must change nothing. On every engine present
 * (support/engines.ts); through the CLI against DATABASE_URL with the real pg_dump/pg_restore
 * where the engine dumps with pg_dump and the local client tools fit its server.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import type pg from 'pg'
import { beforeAll, describe, expect, it } from 'vitest'
import { compareStates, formatComparison } from '../harness/backup/compare.ts'
import { captureState, type DatabaseState } from '../harness/backup/state.ts'
import { handleTarget } from '../harness/engines/target.ts'
import type { DatabaseHandle, StartedEngine } from '../harness/engines/types.ts'
import { execute } from '../harness/execute/execute.ts'
import { connect } from '../harness/runner/connect.ts'
import { FileMigrationProvider } from '../harness/runner/discover.ts'
import { Migrator } from '../harness/runner/migrator.ts'
import { loadBackupData } from '../harness/data/backup-data.ts'
import { cli } from './support/cli.ts'
import { builtOnce } from './support/copies.ts'
import { copyDir, edit, MIGRATIONS, PLAIN, write, emptyDir } from './support/dirs.ts'
import { availableEngines, depthOn, needsLocalDumpTools, useEngine } from './support/engines.ts'

const LONG = 900_000
// Temp dirs come from support/dirs.ts, which removes them after the file.
const tmpDir = (prefix: string) => emptyDir(prefix)

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = await connect(url)
  try {
    return await fn(c)
  } finally {
    await c.end()
  }
}

async function migrate(url: string, dir: string, schema: string, to?: number): Promise<void> {
  await withClient(url, async (c) => {
    const r = await new Migrator({ client: c, provider: new FileMigrationProvider(dir), logSchema: schema, lockWaitMs: 0 }).up({ to })
    if (r.error) throw r.error
  })
}

const capture = (url: string, schemas: string[], log: { schema: string; table: string }) => withClient(url, (c) => captureState(c, { schemas, log }))

/** The test's own before/after comparison, independent of what execute reports. */
function expectSameState(before: DatabaseState, after: DatabaseState): void {
  const c = compareStates(before, after)
  console.log(`[independent comparison]\n  ${formatComparison(c).join('\n  ')}`)
  expect(c.differences).toEqual([])
  expect(after.fingerprintHash).toBe(before.fingerprintHash)
}

const FAILING_010 = `-- 010_add_shift_notes: deliberately failing (test)
CREATE TABLE factory_telemetry.shift_notes (id BIGSERIAL PRIMARY KEY, note TEXT NOT NULL);
INSERT INTO factory_telemetry.shift_notes (note) VALUES ('first');
UPDATE factory_telemetry.production_lines SET name = name || ' (renamed)';
SELECT 1 / 0;
`
/** Succeeds, but leaves a table the manifest does not know: post-migration validation fails. */
const STRAY_010 = `-- 010_stray_table: applies cleanly, but the manifest does not expect its table (test)
CREATE TABLE factory_telemetry.stray_table (id INT PRIMARY KEY);
DELETE FROM factory_telemetry.metric_hist WHERE ts < (SELECT min(ts) + interval '1 hour' FROM factory_telemetry.metric_hist);
`

const cases = await availableEngines()

// =================================================================================================
describe.each(cases)('execute on the $name engine', (c) => {
  const started = useEngine(c)
  let engine: StartedEngine
  beforeAll(() => {
    engine = started()
  })

  describe('MS5.0, telemetry, compressed chunks', () => {
    const log = { schema: 'factory_telemetry', table: 'migration_log' }

    // MS5.0 at version 9 with telemetry and compressed chunks, built once per engine and copied per test.
    const copy = builtOnce(() => engine, 'ms50_telemetry', async (db) => {
      await migrate(db.url, MIGRATIONS, 'factory_telemetry')
      const data = await withClient(db.url, (c) => loadBackupData(c, { days: 2, hz: 0.02, uncompressedDays: 1 }))
      expect(data.compressedChunks).toBeGreaterThan(0)
    })

    async function prepared(label: string): Promise<{ db: DatabaseHandle; before: DatabaseState }> {
      const db = await copy(label)
      return { db, before: await capture(db.url, ['factory_telemetry'], log) }
    }

    it('a failing migration 010 ends with the database restored to its pre-migration state, and the report says so', async () => {
      const { db, before } = await prepared('failing')
      const dir = copyDir(MIGRATIONS)
      write(dir, '010_add_shift_notes.sql', FAILING_010)
      const logDir = tmpDir('pgverify-reports-')
      const r = await execute({ target: handleTarget(engine, db), dir, backupRoot: tmpDir('pgverify-backups-'), logDir, lockWaitMs: 0 })
      expect(r.outcome).toBe('restored')
      expect(r.phases.map((p) => [p.id, p.verdict])).toEqual([
        ['environment', 'passed'],
        ['pre-validation', 'passed'],
        ['backup', 'passed'],
        ['migrate', 'failed'],
        ['post-validation', 'skipped'],
        ['rollback', 'passed'],
      ])
      expect(r.rollback?.comparison?.differences).toEqual([])
      expect(r.versionBefore).toBe(9)
      expect(r.versionAfter).toBe(9)
      expectSameState(before, await capture(db.url, ['factory_telemetry'], log))
      // The report says plainly what happened and what state the database is in.
      const text = readFileSync(r.files.report, 'utf8')
      expect(text).toMatch(/^FAILED AND ROLLED BACK: database restored to its pre-migration state$/m)
      expect(text).toMatch(/Database state: RESTORED: migration 010_add_shift_notes\.sql failed; the database was restored from .*pre-migration-\d{8}-\d{6} and is in its pre-migration state \(version 9\): the comparison with the state recorded at backup time shows 0 differences\./)
      expect(text).toMatch(/010_add_shift_notes\.sql:5:\d+: ERROR 22012: division by zero/)
      expect(text).toMatch(/^ {4}0 differences$/m)
      const json = JSON.parse(readFileSync(r.files.json, 'utf8'))
      expect(json.outcome).toBe('restored')
      expect(path.basename(r.files.log)).toMatch(/^phase3-execution-\d{8}-\d{6}\.log$/)
      expect(path.basename(r.files.report)).toMatch(/^phase3-execution-report-\d{8}-\d{6}\.txt$/)
      const logText = readFileSync(r.files.log, 'utf8')
      expect(logText).toMatch(/\[ERROR\] +✗ 010_add_shift_notes FAILED/)
      expect(logText).toMatch(/\[ERROR\] +010_add_shift_notes\.sql:5:1: ERROR 22012: division by zero/)
      expect(logText).toMatch(/\[WARN\] migration 010_add_shift_notes\.sql failed: restoring the pre-migration backup/)
      await db.drop()
    }, LONG)

    it('a migration that passes but fails post-migration validation is rolled back too', async (ctx) => {
      // What differs from the failing 010 is only what starts the rollback (execute's own logic);
      // the restore it ends in, which is the engine's, is the failing-010 case's on every engine.
      depthOn(ctx, engine, ['native'], 'the rollback after a failed post-migration validation')
      const { db, before } = await prepared('stray')
      const dir = copyDir(MIGRATIONS)
      write(dir, '010_stray_table.sql', STRAY_010)
      const r = await execute({ target: handleTarget(engine, db), dir, backupRoot: tmpDir('pgverify-backups-'), logDir: tmpDir('pgverify-reports-'), lockWaitMs: 0 })
      expect(r.phases.find((p) => p.id === 'migrate')?.verdict).toBe('passed')
      expect(r.phases.find((p) => p.id === 'post-validation')).toMatchObject({ verdict: 'failed', summary: expect.stringMatching(/tables-unexpected/) })
      expect(r.outcome).toBe('restored')
      expect(r.state).toMatch(/post-migration validation failed; the database was restored/)
      expectSameState(before, await capture(db.url, ['factory_telemetry'], log))
      await db.drop()
    }, LONG)

    it('a pending migration that is fine: migrated, validated, backup kept', async () => {
      const db = await engine.createDatabase('pending')
      await migrate(db.url, MIGRATIONS, 'factory_telemetry', 8)
      const backupRoot = tmpDir('pgverify-backups-')
      const r = await execute({ target: handleTarget(engine, db), dir: MIGRATIONS, backupRoot, logDir: tmpDir('pgverify-reports-'), lockWaitMs: 0 })
      expect(r.outcome).toBe('migrated')
      expect(r.state).toMatch(/^MIGRATED: version 8 → 9; post-migration validation passed/)
      expect(r.postValidation?.filter((c) => !c.ok)).toEqual([])
      expect(readdirSync(backupRoot)).toEqual([r.backup!.name])
      await db.drop()
    }, LONG)

    it('--dry-run changes nothing: same state, no backup; the plan and checks are reported', async () => {
      const { db, before } = await prepared('dry')
      const dir = copyDir(MIGRATIONS)
      write(dir, '010_add_shift_notes.sql', FAILING_010)
      const backupRoot = path.join(tmpDir('pgverify-backups-'), 'not-yet')
      const r = await execute({ target: handleTarget(engine, db), dir, backupRoot, logDir: tmpDir('pgverify-reports-'), dryRun: true, lockWaitMs: 0 })
      expect(r.outcome).toBe('dry-run')
      expect(r.plan.map((s) => s.file)).toEqual(['010_add_shift_notes.sql'])
      expect(r.checks.filter((c) => c.status === 'failed')).toEqual([])
      expect(r.checks.map((c) => c.id)).toEqual(expect.arrayContaining(['memory', 'cpu', 'disk-space', 'connectivity', 'versions', 'migration-files', 'migration-log', 'dump-tool', 'backup-dir']))
      expect(r.phases.filter((p) => p.verdict === 'planned').map((p) => p.id)).toEqual(['backup', 'migrate', 'post-validation', 'rollback'])
      expect(existsSync(backupRoot)).toBe(false)
      expectSameState(before, await capture(db.url, ['factory_telemetry'], log))
      await db.drop()
    }, LONG)

    it('refuses before any change when existing rows break a declared precondition of a pending migration', async () => {
      // Our 008 fixes such rows itself (quarantine), so it declares no precondition: the
      // mechanism is shown on a copy whose 008 still assumes one, as a set that needs it would.
      const dir = copyDir(MIGRATIONS)
      edit(dir, 'manifest.json', (s) => {
        const m = JSON.parse(s)
        m.migrations['008_fix_critical_schema_issues'].dataChanges.push({ kind: 'requires', table: 'factory_telemetry.metric_binding', check: 'scale_factor IS NULL OR scale_factor <> 0', note: 'chk_metric_binding_scale_nonzero' })
        return JSON.stringify(m, null, 2)
      })
      const db = await engine.createDatabase('precondition')
      await migrate(db.url, dir, 'factory_telemetry', 7)
      // Valid at version 7; 008 adds CHECK (scale_factor <> 0), which this row would fail halfway.
      await withClient(db.url, async (c) => {
        const id = (await c.query(`INSERT INTO factory_telemetry.metric_def (equipment_code, metric_key, value_type, description) VALUES ('EQ1', 'speed', 'REAL', 'speed') RETURNING id`)).rows[0].id
        await c.query(`INSERT INTO factory_telemetry.metric_binding (metric_def_id, plc_kind, address, scale_factor) VALUES ($1, 'LOGIX', 'Speed', 0)`, [id])
      })
      const before = await capture(db.url, ['factory_telemetry'], log)
      const backupRoot = tmpDir('pgverify-backups-')
      const r = await execute({ target: handleTarget(engine, db), dir, backupRoot, logDir: tmpDir('pgverify-reports-'), lockWaitMs: 0 })
      const check = r.checks.find((c) => c.id === 'data-preconditions')
      expect(check?.status).toBe('failed')
      expect(check?.message).toMatch(/008_fix_critical_schema_issues needs factory_telemetry\.metric_binding CHECK \(scale_factor IS NULL OR scale_factor <> 0\): 1 row violate/)
      expect(r.outcome).not.toBe('migrated')
      expect(readdirSync(backupRoot)).toEqual([])
      expectSameState(before, await capture(db.url, ['factory_telemetry'], log))
      await db.drop()
    }, LONG)

    it('refuses before any change when the rollback could not put public back (objects of its own, or the log there)', async (ctx) => {
      depthOn(ctx, engine, ['native'], 'the rollback-coverage pre-check')
      const dir = tmpDir('pgverify-public-set-')
      write(dir, '001_items.sql', 'CREATE TABLE items (id int PRIMARY KEY);\nINSERT INTO items VALUES (1), (2);\n')
      write(dir, '002_note.sql', 'ALTER TABLE items ADD COLUMN note text;\n')
      const db = await engine.createDatabase('public_set')
      // The log in public (no manifest names a schema): refused even before public holds anything.
      const fresh = await execute({ target: handleTarget(engine, db), dir, backupRoot: tmpDir('pgverify-backups-'), logDir: tmpDir('pgverify-reports-'), dryRun: true, lockWaitMs: 0 })
      expect(fresh.checks.find((x) => x.id === 'rollback-coverage')).toMatchObject({ status: 'failed', message: expect.stringMatching(/the migration log would be created in schema public \(public\.migration_log\)/), hint: expect.stringMatching(/--log-schema NAME/) })
      await migrate(db.url, dir, 'public', 1)
      const backupRoot = tmpDir('pgverify-backups-')
      const r = await execute({ target: handleTarget(engine, db), dir, backupRoot, logDir: tmpDir('pgverify-reports-'), lockWaitMs: 0 })
      expect(r.checks.find((x) => x.id === 'rollback-coverage')).toMatchObject({ status: 'failed', message: expect.stringMatching(/^schema public holds 2 objects of its own \(items \(r\), migration_log \(r\)\): a restore replaces whole schemas and never public/) })
      expect(r.outcome).toBe('not-started')
      expect(readdirSync(backupRoot)).toEqual([])
      await withClient(db.url, async (c) => expect((await c.query(`SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = 'items' AND column_name = 'note'`)).rows[0].n).toBe(0))
      await db.drop()
    }, LONG)

    it('pnpm execute --engine NAME with the failing 010 exits 1 and says RESTORED (from an empty database)', async (ctx) => {
      // The command line's exit code, words and files; the rollback itself is proven in-process above on every engine.
      depthOn(ctx, engine, ['native', 'embedded'], 'the command line of execute --engine')
      const dir = copyDir(MIGRATIONS)
      write(dir, '010_add_shift_notes.sql', FAILING_010)
      const logDir = tmpDir('pgverify-reports-')
      const r = await cli(['execute', '--engine', c.name, '--dir', dir, '--backup-root', tmpDir('pgverify-backups-'), '--log-dir', logDir], {}, 600_000)
      expect(r.code).toBe(1)
      expect(r.stdout).toMatch(/RESTORED: migration 010_add_shift_notes\.sql failed; the database was restored from .* and is in its pre-migration state \(version 0\): .* 0 differences/)
      expect(r.stdout).toMatch(/what to do: Fix the cause above .* run `pnpm execute` again: the database is back at version 0/)
      const files = readdirSync(logDir).sort()
      expect(files).toEqual([expect.stringMatching(/^phase3-execution-\d{8}-\d{6}\.log$/), expect.stringMatching(/^phase3-execution-report-\d{8}-\d{6}\.json$/), expect.stringMatching(/^phase3-execution-report-\d{8}-\d{6}\.txt$/)])
    }, LONG)
  })

  describe('pnpm execute against DATABASE_URL (plain set, real pg_dump/pg_restore)', () => {
    const log = { schema: 'app', table: 'migration_log' }

    // The plain set at version 3 with 55 000 rows, built once per engine and copied per test.
    const copy = builtOnce(() => engine, 'plain_rows', async (db) => {
      await migrate(db.url, PLAIN, 'app')
      await withClient(db.url, async (c) => {
        await c.query(`INSERT INTO app.accounts (email) SELECT 'user' || g || '@example.test' FROM generate_series(1, 5000) g`)
        await c.query(`INSERT INTO app.orders (account_id, total) SELECT 1 + g % 5000, (g % 997) / 3.0 FROM generate_series(1, 50000) g`)
      })
    })

    async function prepared(label: string): Promise<{ db: DatabaseHandle; before: DatabaseState }> {
      const db = await copy(label)
      return { db, before: await capture(db.url, ['app'], log) }
    }

    it('a failing 004 ends with the database restored (fingerprint and data equal) and a report that says so', async (ctx) => {
      await needsLocalDumpTools(ctx, engine, 'pnpm execute against DATABASE_URL')
      const { db, before } = await prepared('failing')
      const dir = copyDir(PLAIN)
      write(dir, '004_refunds.sql', `CREATE TABLE app.refunds (id BIGSERIAL PRIMARY KEY, order_id BIGINT REFERENCES app.orders (id));\nUPDATE app.orders SET total = total + 1;\nSELECT 1 / 0;\n`)
      const logDir = tmpDir('pgverify-reports-')
      const backupRoot = tmpDir('pgverify-backups-')
      const r = await cli(['execute', '--yes', '--dir', dir, '--backup-root', backupRoot, '--log-dir', logDir], { DATABASE_URL: db.url }, 600_000)
      expect(r.code).toBe(1)
      expect(r.stdout).toMatch(/RESTORED: migration 004_refunds\.sql failed; .* pre-migration state \(version 3\): .* 0 differences/)
      expectSameState(before, await capture(db.url, ['app'], log))
      const report = readFileSync(path.join(logDir, readdirSync(logDir).find((f) => f.endsWith('.txt'))!), 'utf8')
      expect(report).toMatch(/^FAILED AND ROLLED BACK: database restored to its pre-migration state$/m)
      expect(report).toMatch(new RegExp(`^  tool: pg_dump ${engine.versions.postgres.split('.')[0]}\\.\\d+ `, 'm'))
      expect(report).toMatch(/database\/full_backup\.dump/)
      expect(report).toMatch(/^ {4}0 differences$/m)
      await db.drop()
    }, LONG)

    it('--dry-run changes nothing and writes no backup', async (ctx) => {
      await needsLocalDumpTools(ctx, engine, 'pnpm execute --dry-run against DATABASE_URL')
      const { db, before } = await prepared('dry')
      const dir = copyDir(PLAIN)
      write(dir, '004_refunds.sql', `SELECT 1 / 0;\n`)
      const backupRoot = path.join(tmpDir('pgverify-backups-'), 'none')
      const r = await cli(['execute', '--dry-run', '--dir', dir, '--backup-root', backupRoot, '--log-dir', tmpDir('pgverify-reports-')], { DATABASE_URL: db.url }, 300_000)
      expect(r.code).toBe(0)
      expect(r.stdout).toMatch(/UNCHANGED \(dry run\): checks passed; 1 migration would be applied \(version 3 → 4\)/)
      expect(existsSync(backupRoot)).toBe(false)
      expectSameState(before, await capture(db.url, ['app'], log))
      await db.drop()
    }, LONG)

    it('never writes the password of DATABASE_URL into the log, the report or the backup manifest', async (ctx) => {
      await needsLocalDumpTools(ctx, engine, 'pnpm execute against DATABASE_URL with a password')
      const db = await engine.createDatabase('secret')
      await migrate(db.url, PLAIN, 'app', 2)
      await withClient(db.url, (c) => c.query(`CREATE ROLE secret_user LOGIN SUPERUSER PASSWORD 'Sup3r-s3cret-pw'`))
      const u = new URL(db.url)
      u.username = 'secret_user'
      u.password = 'Sup3r-s3cret-pw'
      const logDir = tmpDir('pgverify-reports-')
      const backupRoot = tmpDir('pgverify-backups-')
      const r = await cli(['execute', '--yes', '--dir', PLAIN, '--backup-root', backupRoot, '--log-dir', logDir], { DATABASE_URL: u.toString() }, 300_000)
      expect(r.code).toBe(0)
      const everything = [r.stdout, r.stderr, ...readdirSync(logDir).map((f) => readFileSync(path.join(logDir, f), 'utf8'))]
      const b = path.join(backupRoot, readdirSync(backupRoot)[0]!)
      for (const f of ['BACKUP_MANIFEST.json', 'BACKUP_MANIFEST.txt', 'config/environment.txt', 'logs/backup.log']) everything.push(readFileSync(path.join(b, f), 'utf8'))
      for (const t of everything) expect(t).not.toContain('Sup3r-s3cret-pw')
      expect(everything.join('\n')).toContain('secret_user:***@')
      await withClient(db.url, (c) => c.query(`DROP ROLE secret_user`)).catch(() => {})
      await db.drop()
    }, LONG)
  })
})
