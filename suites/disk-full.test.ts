/**
 * A full disk and an interrupt never hang a backup or an execute, never leave a session of ours on
 * the server (no `idle in transaction` holding locks), and never leave a partial directory.
 *
 * The situation is made, not mocked: a tmpfs of our own (mount -t tmpfs, root only) is the backup
 * root, and `fallocate` fills it to leave less room than the kind of backup being written needs
 * (measured first with a backup of the same database), or fills it completely once `execute` has
 * passed its pre-validation and started writing. The real CLI runs in a child process against
 * DATABASE_URL, as an operator would run it; the test waits at most 90 s for it to end (the hang
 * of issue #15 never ended).
 */
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createBackup, type BackupResult } from '../harness/backup/backup.ts'
import { FILES } from '../harness/backup/layout.ts'
import { loadBackupData } from '../harness/data/backup-data.ts'
import { handleTarget } from '../harness/engines/target.ts'
import type { DatabaseHandle, StartedEngine } from '../harness/engines/types.ts'
import { connect } from '../harness/runner/connect.ts'
import { FileMigrationProvider } from '../harness/runner/discover.ts'
import { Migrator } from '../harness/runner/migrator.ts'
import { loadManifest } from '../harness/manifest/manifest.ts'
import { cli, reachedBeforeExit, startCli } from './support/cli.ts'
import { FILLER, fillLeaving, freeBytes, mountTmpfs, unmountTmpfs } from './support/tmpfs.ts'
import { copyDir, emptyDir, MIGRATIONS, write } from './support/dirs.ts'
import { availableEngines, needsLocalDumpTools, skipWith, useEngine } from './support/engines.ts'

const LONG = 600_000
/**
 * "Within seconds", the CLI's own start (tsx, engine probe) included: 2.5–5 s on a 2-core machine
 * running one other suite. CI once saw 56 s while the concurrency suite beside it started 16 CLI
 * processes at once (load above 20), so the bound is what a loaded runner needs; the hang of
 * issue #15 never returned at all, and the CLI is killed at 120 s.
 */
const PROMPT_MS = 90_000

/** What the backup root holds besides the filler: must be nothing after a failed backup. */
const leftovers = (dir: string) => readdirSync(dir).filter((f) => f !== FILLER)

async function sessionsOn(url: string): Promise<{ application_name: string; state: string; query: string }[]> {
  const c = await connect(url, { applicationName: 'disk-full suite check' })
  try {
    // Give the server a moment to notice a closed socket; then nothing of ours may remain.
    for (let i = 0; ; i++) {
      const rows = (await c.query(`SELECT application_name, state, query FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`)).rows
      if (rows.length === 0 || i >= 20) return rows
      await new Promise((r) => setTimeout(r, 100))
    }
  } finally {
    await c.end()
  }
}

/** How long the CLI may take to reach the point a test waits for: its start under CI's load included (see PROMPT_MS); it is killed at 120 s. */
const START_MS = 110_000

const cases = await availableEngines(['native', 'container'])
if (cases.length === 0) it.skip('no native or container engine here: the disk-full suite needs pg_dump backups against a server', () => {})

describe.each(cases)('a full disk or an interrupt on the $name engine', (c) => {
  const started = useEngine(c)
  let engine: StartedEngine
  let db: DatabaseHandle
  let reference: BackupResult
  let mnt: { dir: string } | { reason: string }
  const root = () => (mnt as { dir: string }).dir

  beforeAll(async () => {
    engine = started()
    db = await engine.createDatabase('diskfull')
    const client = await connect(db.url)
    try {
      const r = await new Migrator({ client, provider: new FileMigrationProvider(MIGRATIONS), logSchema: 'factory_telemetry', lockWaitMs: 0 }).up()
      if (r.error) throw r.error
      await loadBackupData(client, { days: 3, hz: 0.05, uncompressedDays: 1 })
    } finally {
      await client.end()
    }
    // What each kind of backup writes for this database: the room to leave is half of that.
    reference = await createBackup(handleTarget(engine, db), { root: emptyDir('pgverify-diskfull-ref-'), manifest: await loadManifest(MIGRATIONS) })
    mnt = mountTmpfs(1024 * 1024 * 1024, 'pgverify-diskfull-')
  }, LONG)

  afterAll(() => unmountTmpfs(mnt))

  const sizeOf = (rel: string) => reference.manifest.files.find((f) => f.path === rel)!.bytes

  it.for([
    { kind: 'data', file: FILES.data },
    { kind: 'full', file: FILES.fullDump },
    { kind: 'schema', file: FILES.schemaDump },
  ])('--kind $kind with too little room: exit 1 at once, the file named, no session, no partial directory', { timeout: LONG }, async ({ kind, file }, ctx) => {
    if ('reason' in mnt) return skipWith(ctx, mnt.reason)
    await needsLocalDumpTools(ctx, engine, 'a DATABASE_URL backup')
    fillLeaving(root(), Math.floor(sizeOf(file) / 2))
    const t0 = Date.now()
    const r = await cli(['backup', '--backup-root', root(), '--kind', kind], { DATABASE_URL: db.url }, 120_000)
    const ms = Date.now() - t0
    console.log(`[${c.name}] --kind ${kind}: ${sizeOf(file)} bytes needed, ${Math.floor(sizeOf(file) / 2)} free: exit ${r.code} after ${ms} ms\n${r.stderr.trim()}`)
    expect(r.code).toBe(1)
    expect(ms).toBeLessThan(PROMPT_MS)
    expect(r.stderr).toContain(`${file}: no space left on the device (ENOSPC)`)
    expect(r.stderr).toMatch(/the partial backup .* was removed and the database session closed/)
    expect(r.stderr).toMatch(/what to do: Free space on the file system of .* or choose another --backup-root/)
    expect(leftovers(root())).toEqual([])
    expect(await sessionsOn(db.url)).toEqual([])
  })

  it('execute: the disk fills after pre-validation, during the backup: exit at once, nothing migrated, no session, no partial directory', async (ctx) => {
    if ('reason' in mnt) return skipWith(ctx, mnt.reason)
    await needsLocalDumpTools(ctx, engine, 'execute against DATABASE_URL')
    rmSync(path.join(root(), FILLER), { force: true })
    const dir = copyDir(MIGRATIONS)
    write(dir, '010_comment.sql', `COMMENT ON TABLE factory_telemetry.production_lines IS 'disk-full suite';\n`)
    const logDir = emptyDir('pgverify-diskfull-log-')
    const t0 = Date.now()
    const run = startCli(['execute', '--yes', '--dir', dir, '--backup-root', root(), '--log-dir', logDir], { DATABASE_URL: db.url })
    // Pre-validation found room; once the backup has started writing, the disk is full.
    const started = await reachedBeforeExit('the backup to start', START_MS, () => leftovers(root()).some((f) => f.includes('.partial-') && existsSync(path.join(root(), f, 'database'))), run)
    expect(started, `execute ended before its backup started:\n${run.output()}`).toBe('reached')
    fillLeaving(root(), 0)
    const r = await run.done
    const ms = Date.now() - t0
    console.log(`[${c.name}] execute: exit ${r.code} after ${ms} ms\n${r.stdout.split('\n').filter((l) => /ENOSPC|NOT CHANGED|FAILED/.test(l)).join('\n')}`)
    expect(r.code).toBe(1)
    expect(ms).toBeLessThan(PROMPT_MS)
    expect(r.stdout + r.stderr).toMatch(/no space left on the device \(ENOSPC\)/)
    expect(r.stdout + r.stderr).toMatch(/NOT CHANGED: the backup failed, so no migration was run/)
    expect(leftovers(root())).toEqual([])
    expect(await sessionsOn(db.url)).toEqual([])
    const c2 = await connect(db.url)
    try {
      expect((await c2.query(`SELECT count(*)::int AS n FROM factory_telemetry.migration_log WHERE migration_name LIKE '010%'`)).rows[0].n).toBe(0)
    } finally {
      await c2.end()
    }
  }, LONG)

  it.for(['SIGINT', 'SIGTERM'] as const)('%s during the data export: exit at once, partial directory removed, no session left', { timeout: LONG }, async (signal, ctx) => {
    if ('reason' in mnt) return skipWith(ctx, mnt.reason)
    await needsLocalDumpTools(ctx, engine, 'a DATABASE_URL backup')
    rmSync(path.join(root(), FILLER), { force: true })
    const t0 = Date.now()
    const run = startCli(['backup', '--backup-root', root()], { DATABASE_URL: db.url })
    let partial = ''
    const started = await reachedBeforeExit('the data export to start', START_MS, () => {
      partial = leftovers(root()).find((f) => f.includes('.partial-')) ?? ''
      return partial !== '' && existsSync(path.join(root(), partial, FILES.data))
    }, run)
    expect(started, `the backup ended before its data export was seen:\n${run.output()}`).toBe('reached')
    const tSignal = Date.now()
    run.child.kill(signal)
    const r = await run.done
    console.log(`[${c.name}] ${signal} ${tSignal - t0} ms after start: exit ${r.code ?? r.signal} ${Date.now() - tSignal} ms later\n${r.stderr.trim()}`)
    expect(r.code).toBe(signal === 'SIGINT' ? 130 : 143)
    expect(Date.now() - tSignal).toBeLessThan(PROMPT_MS)
    expect(r.stderr).toMatch(new RegExp(`cleanup: partial backup .*${partial.replace(/[.]/g, '\\.')} done`))
    // The session the cleanup closed is not reported as the server's failure.
    expect(r.stderr.trimEnd().split('\n').at(-1)).toBe(`stopped by ${signal} (exit ${r.code})`)
    expect(r.stderr).not.toMatch(/server went away|CONNECTION_FAILED/)
    expect(leftovers(root())).toEqual([])
    expect(await sessionsOn(db.url)).toEqual([])
  })

  it('the measured reference backup fits in the file system once the filler is gone (the fills above were the only cause)', (ctx) => {
    if ('reason' in mnt) return skipWith(ctx, mnt.reason)
    rmSync(path.join(root(), FILLER), { force: true })
    expect(freeBytes(root())).toBeGreaterThan(reference.bytes * 2)
    mkdirSync(path.join(root(), 'probe'))
    rmSync(path.join(root(), 'probe'), { recursive: true })
  })
})
