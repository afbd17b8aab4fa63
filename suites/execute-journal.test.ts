/**
 * `execute` is a journaled operation (issue #15, 2): `kill -9` of `pnpm execute` at a phase
 * boundary or in the middle of a phase, then the recovery the tool offers, leaves the database
 * equal to its pre-execute state — fingerprint, row counts and content hashes, compared by the
 * test's own capture taken before the run (harness/backup/state.ts, compare.ts).
 *
 * The database starts at version 6 with telemetry, so 007, 008 and 009 are pending (the issue's
 * scenario). After each kill: a plain `execute` and `migrate up` refuse (exit 4) and say what
 * happened (started when, from which version, after what, which backup), naming the two ways out;
 * `execute --finish-rollback` restores the backup and proves it. A kill during the backup, before
 * the journal, changed nothing and leaves no journal. `--accept-current-state` is the other way out.
 *
 * Against DATABASE_URL through the real CLI, on the native engine (a server that outlives the
 * killed process): every kill point; on the container engine where present, the points that cross
 * its own dump and restore tools (KillPoint.on). Each test copies one version-6 database built
 * once per engine.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import pg from 'pg'
import { beforeAll, describe, expect, it } from 'vitest'
import { compareStates, formatComparison } from '../harness/backup/compare.ts'
import { captureState, type DatabaseState } from '../harness/backup/state.ts'
import { userSchemas } from '../harness/catalog/schemas.ts'
import { loadBackupData } from '../harness/data/backup-data.ts'
import type { DatabaseHandle, StartedEngine } from '../harness/engines/types.ts'
import { connect } from '../harness/runner/connect.ts'
import { FileMigrationProvider } from '../harness/runner/discover.ts'
import { Migrator } from '../harness/runner/migrator.ts'
import { cli, reachedBeforeExit, startCli } from './support/cli.ts'
import { builtOnce } from './support/copies.ts'
import { copyDir, emptyDir, MIGRATIONS, write } from './support/dirs.ts'
import { availableEngines, needsLocalDumpTools, useEngine, depthOn } from './support/engines.ts'

const LONG = 900_000
const LOG = { schema: 'factory_telemetry', table: 'migration_log' }
const FAILING_010 = `-- 010: fails after changing things (test)
CREATE TABLE factory_telemetry.journal_probe (id INT PRIMARY KEY);
UPDATE factory_telemetry.production_lines SET name = name || ' (changed)';
SELECT 1 / 0;
`

async function capture(url: string): Promise<DatabaseState> {
  const c = await connect(url)
  try {
    return await captureState(c, { schemas: await userSchemas(c), log: LOG })
  } finally {
    await c.end()
  }
}

async function completed(url: string): Promise<number> {
  const c = new pg.Client({ connectionString: url })
  c.on('error', () => {})
  try {
    await c.connect()
    return (await c.query(`SELECT count(*)::int AS n FROM factory_telemetry.migration_log WHERE status = 'completed'`)).rows[0].n
  } catch {
    return -1
  } finally {
    await c.end().catch(() => {})
  }
}

const journals = (root: string) => (existsSync(root) ? readdirSync(root).filter((f) => f.endsWith('.journal.json')) : [])

function expectSame(before: DatabaseState, after: DatabaseState, label: string): void {
  const c = compareStates(before, after)
  if (c.differences.length) console.log(`[${label}]\n  ${formatComparison(c).join('\n  ')}`)
  expect(c.differences).toEqual([])
  expect(after.fingerprintHash).toBe(before.fingerprintHash)
  expect(Object.fromEntries(Object.entries(after.tables).map(([t, x]) => [t, [x.rows, x.hash]]))).toEqual(Object.fromEntries(Object.entries(before.tables).map(([t, x]) => [t, [x.rows, x.hash]])))
}

interface KillPoint {
  name: string
  /** Migration files: the real ones (007-009 pending), or with a failing 010 so that a rollback runs. */
  failing010?: boolean
  reached: (ctx: { url: string; root: string; logDir: string }) => Promise<boolean> | boolean
  /** Killed before the journal: nothing changed, nothing to recover. */
  beforeJournal?: boolean
  /**
   * Where the point runs in full (native when not said). Journal logic is the same code on every
   * server; what differs is the engine's own dump and restore tools, so the container engine runs
   * the points that cross them: a mid-migrate kill (after 008; native's is after 007, the same
   * journal path one version apart) and the kill mid-rollback, each recovered by its restore.
   */
  on?: string[]
}

const POINTS: KillPoint[] = [
  { name: 'during the backup (before the journal)', beforeJournal: true, reached: ({ root }) => readdirSync(root).some((f) => existsSync(path.join(root, f, 'database/data_only.sql'))) },
  { name: 'at the backup → migrate boundary (journal written)', reached: ({ root }) => journals(root).length > 0 },
  { name: 'mid-migrate, after 007 committed', reached: async ({ url }) => (await completed(url)) >= 7 },
  { name: 'mid-migrate, after 008 committed', on: ['container'], reached: async ({ url }) => (await completed(url)) >= 8 },
  { name: 'at the migrate → post-validation boundary', reached: async ({ url }) => (await completed(url)) >= 9 },
  {
    name: 'mid-rollback (010 failed, the backup being restored)',
    failing010: true,
    on: ['native', 'container'],
    reached: ({ logDir }) => readdirSync(logDir).some((f) => f.endsWith('.log') && /restoring the pre-migration backup/.test(readFileSync(path.join(logDir, f), 'utf8'))),
  },
]

const cases = await availableEngines(['native', 'container'])
if (cases.length === 0) it.skip('no native or container engine here: kill -9 of execute needs a server that outlives the process', () => {})

describe.each(cases)('execute killed and recovered on the $name engine', (c) => {
  const started = useEngine(c)
  let engine: StartedEngine
  beforeAll(() => {
    engine = started()
  })

  // The version-6 database with telemetry is built once per engine, on first use, and copied per
  // test (support/copies.ts): each kill point still starts from a database of its own, untouched,
  // without paying for nine migrations up, the load and three down each time.
  const copy = builtOnce(() => engine, 'journal_base_v6', async (db) => {
    const client = await connect(db.url)
    try {
      // The telemetry generator writes the version-9 schema: load it there, then go down to 6 (the rows stay).
      const migrator = new Migrator({ client, provider: new FileMigrationProvider(MIGRATIONS), logSchema: 'factory_telemetry', lockWaitMs: 0 })
      const r = await migrator.up()
      if (r.error) throw r.error
      await loadBackupData(client, { days: 2, hz: 0.05, uncompressedDays: 1 })
      const d = await migrator.down({ to: 6 })
      if (d.error) throw d.error
    } finally {
      await client.end()
    }
  })

  async function atVersion6(label: string): Promise<{ db: DatabaseHandle; before: DatabaseState }> {
    const db = await copy(label)
    return { db, before: await capture(db.url) }
  }

  for (const point of POINTS) {
    it(`kill -9 ${point.name}: the next commands refuse and say why; --finish-rollback restores the exact pre-execute state`, async (ctx) => {
      await needsLocalDumpTools(ctx, engine, 'execute against DATABASE_URL')
      depthOn(ctx, engine, point.on ?? ['native'], `kill -9 ${point.name}`)
      const { db, before } = await atVersion6(point.name.replace(/\W+/g, '_').slice(0, 20))
      const dir = copyDir(MIGRATIONS)
      if (point.failing010) write(dir, '010_fails.sql', FAILING_010)
      const root = emptyDir('pgverify-journal-backups-')
      const logDir = emptyDir('pgverify-journal-logs-')
      const args = ['execute', '--yes', '--dir', dir, '--backup-root', root, '--log-dir', logDir]
      const run = startCli(args, { DATABASE_URL: db.url }, 600_000)
      const hit = (await reachedBeforeExit(point.name, 300_000, () => point.reached({ url: db.url, root, logDir }), run)) === 'reached'
      run.child.kill('SIGKILL')
      const killed = await run.done
      expect(hit, `execute ended before the kill point:\n${run.output()}`).toBe(true)
      expect(killed.signal).toBe('SIGKILL')
      // pg_dump or psql children of the killed process may still finish their work; wait for them.
      await new Promise((r) => setTimeout(r, 1500))

      if (point.beforeJournal) {
        expect(journals(root)).toEqual([])
        expectSame(before, await capture(db.url), point.name)
        const dry = await cli([...args, '--dry-run'], { DATABASE_URL: db.url })
        expect(dry.code, dry.stdout + dry.stderr).toBe(0)
        return
      }
      expect(journals(root)).toHaveLength(1)

      // 1. nothing takes the interrupted state as a baseline silently
      const again = await cli(args, { DATABASE_URL: db.url })
      const said = again.stdout + again.stderr
      console.log(`[${c.name}] ${point.name}: plain execute →\n${said.split('\n').filter((l) => /NOT CHANGED|what to do/.test(l)).join('\n')}`)
      expect(again.code, said).toBe(4)
      expect(said).toMatch(/NOT CHANGED: an execute started at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC from version 6 \(to (9|10)\) was interrupted after .+; the database is now at version \d+; the pre-migration backup is .*pre-migration-\d{8}-\d{6}/)
      expect(said).toMatch(/--finish-rollback/)
      expect(said).toMatch(/--accept-current-state/)
      const up = await cli(['migrate', 'up', '--dir', dir, '--backup-root', root], { DATABASE_URL: db.url })
      expect(up.code, up.stdout + up.stderr).toBe(4)
      expect(up.stderr).toMatch(/\[EXECUTE_INTERRUPTED\] up refused: an execute started at .* was interrupted/)

      // 2. the recovery the tool offers
      const fin = await cli([...args, '--finish-rollback'], { DATABASE_URL: db.url }, 300_000)
      expect(fin.code, fin.stdout + fin.stderr).toBe(0)
      expect(fin.stdout).toMatch(/RESTORED: an execute started at .* was interrupted .*\. The rollback is finished: .* shows 0 differences\./)
      expect(journals(root)).toEqual([])
      expectSame(before, await capture(db.url), point.name)
    }, LONG)
  }

  it('--accept-current-state is the other way out: the journal is closed, the log says so, and the run goes on from there', async (ctx) => {
    await needsLocalDumpTools(ctx, engine, 'execute against DATABASE_URL')
    // Closing the journal and going on is the same code on every server (the plain execute that
    // follows is the execute suite's); the restores that differ per engine are the kill points'.
    depthOn(ctx, engine, ['native'], '--accept-current-state after a kill -9')
    const { db } = await atVersion6('accept')
    const dir = copyDir(MIGRATIONS)
    const root = emptyDir('pgverify-journal-backups-')
    const logDir = emptyDir('pgverify-journal-logs-')
    const args = ['execute', '--yes', '--dir', dir, '--backup-root', root, '--log-dir', logDir]
    const run = startCli(args, { DATABASE_URL: db.url }, 600_000)
    expect(await reachedBeforeExit('007', 300_000, async () => (await completed(db.url)) >= 7, run)).toBe('reached')
    run.child.kill('SIGKILL')
    await run.done
    const r = await cli([...args, '--accept-current-state'], { DATABASE_URL: db.url }, 300_000)
    expect(r.code, r.stdout + r.stderr).toBe(0)
    expect(r.stdout + r.stderr).toMatch(/ACCEPTED \(--accept-current-state\): an execute started at .* from version 6 \(to 9\) was interrupted/)
    expect(journals(root)).toEqual([])
    expect(await completed(db.url)).toBe(9)
  }, LONG)
})
