/**
 * A server whose disk fills under a migration or a check (SQLSTATE 53100, or a crash when the WAL
 * cannot be written): the file is not blamed, a transactional migration is rolled back, and the
 * run says where to make room — exit 5, never "not idempotent" or "internal error".
 *
 * The situation is made, not mocked: the native engine's cluster goes to a tmpfs of our own
 * (PGVERIFY_CLUSTER_DIR's setting, handed in), and `fallocate` fills what is left once the server
 * runs. Root only (mount); the container engine keeps its data in the container host's storage,
 * which a test cannot size, so this is a native suite.
 */
import { rmSync } from 'node:fs'
import path from 'node:path'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { startNative, type NativeStartedEngine } from '../harness/engines/native.ts'
import { runVerify } from '../harness/verify/pipeline.ts'
import { connect } from '../harness/runner/connect.ts'
import { cli } from './support/cli.ts'
import { emptyDir, MIGRATIONS, write } from './support/dirs.ts'
import { availableEngines, skipWith } from './support/engines.ts'
import { FILLER, fillLeaving, mountTmpfs, unmountTmpfs } from './support/tmpfs.ts'

const LONG = 300_000
/**
 * A fresh WAL segment (16 MB, made before the fill) for what follows: a full disk then fails the
 * write of a table's file (ERROR 53100, the transaction rolled back) before the WAL needs a new
 * segment file, whose failure is a PANIC (the server restarts: every session lost).
 */
async function freshWalSegment(url: string): Promise<void> {
  const c = await connect(url)
  try {
    await c.query('CHECKPOINT')
    await c.query(`SELECT pg_switch_wal()`)
  } finally {
    await c.end()
  }
}

const native = (await availableEngines(['native']))[0]
if (!native) it.skip('no native engine here: this suite sizes the disk under the native engine\'s cluster', () => {})

describe.runIf(native)('a full disk under the server', () => {
  let mnt: { dir: string } | { reason: string }
  let engine: NativeStartedEngine | undefined
  const room = () => (mnt as { dir: string }).dir

  beforeAll(() => {
    mnt = mountTmpfs(512 * 1024 * 1024, 'pgverify-serverfull-')
  })
  // A server of its own per test: a full disk can stop one for good (a crash whose recovery
  // cannot write), and the next test must not inherit that.
  beforeEach(async () => {
    if ('dir' in mnt) engine = await startNative({ clusterEnv: { clusterDir: mnt.dir }, log: () => {} })
  }, LONG)
  afterEach(async () => {
    rmSync(path.join(room(), FILLER), { force: true })
    await engine?.stop()
    engine = undefined
  }, LONG)
  afterAll(() => unmountTmpfs(mnt))

  it('migrate up: a statement the disk cannot hold fails as SERVER_RESOURCES (exit 5), named, rolled back, the file not blamed; with room, the same file applies', { timeout: LONG }, async (ctx) => {
    if ('reason' in mnt) return skipWith(ctx, mnt.reason)
    const db = await engine!.createDatabase('full_migrate')
    const dir = emptyDir('pgverify-serverfull-migs-')
    write(dir, '001_big.sql', `CREATE SCHEMA app;\nCREATE TABLE app.big (id int PRIMARY KEY, pad text NOT NULL);\nINSERT INTO app.big SELECT g, repeat('x', 200) FROM generate_series(1, 200000) g;\n`)
    try {
      await freshWalSegment(engine!.url)
      fillLeaving(room(), 4 * 1024 * 1024)
      const r = await cli(['migrate', 'up', '--dir', dir], { DATABASE_URL: db.url })
      console.log(`[server-full] migrate up on a full disk: exit ${r.code}\n${r.stderr.trim()}`)
      expect(r.code).toBe(5)
      expect(r.stderr).toMatch(/\[SERVER_RESOURCES\] the server ran out of disk space while running statement 3 of 001_big\.sql/)
      expect(r.stderr).toMatch(/001_big\.sql:3:1: ERROR 53100/)
      expect(r.stderr).toMatch(/001_big\.sql was rolled back: the database is as it was after bootstrap \(version 0\)\. The file is not shown to be at fault\. Free space/)
      const c = await connect(db.url)
      try {
        expect((await c.query(`SELECT to_regclass('app.big') AS t`)).rows[0].t).toBeNull()
      } finally {
        await c.end()
      }
      rmSync(path.join(room(), FILLER), { force: true })
      const again = await cli(['migrate', 'up', '--dir', dir], { DATABASE_URL: db.url })
      expect(again.code, again.stderr).toBe(0)
    } finally {
      rmSync(path.join(room(), FILLER), { force: true })
      await db.drop()
    }
  })

  it('verify: a disk full from the replay on: every stage it stops ends as the server\'s trouble, not a finding about the files, and says where the cluster is', { timeout: LONG }, async (ctx) => {
    if ('reason' in mnt) return skipWith(ctx, mnt.reason)
    await freshWalSegment(engine!.url)
    // Filled once verify's database exists, the moment the replay starts (progress is called synchronously).
    const onProgress = (line: string) => void (line.startsWith('▸ Replay') && fillLeaving(room(), 1024 * 1024))
    const report = await runVerify(engine!, { dir: MIGRATIONS, seed: 1, reportsDir: emptyDir('pgverify-serverfull-reports-'), skip: ['load'], onProgress })
    const failed = report.stages.filter((s) => s.verdict === 'failed')
    console.log(`[server-full] verify on a full disk:\n${failed.map((s) => `  ${s.id}: [${s.error?.code}] ${s.summary.slice(0, 160)}`).join('\n')}`)
    expect(failed.map((s) => s.id)).toContain('replay')
    // What the disk stopped is the server's trouble: never a bug of ours, never a verdict on the files.
    for (const s of failed) expect([`${s.id}: SERVER_RESOURCES`, `${s.id}: CONNECTION_FAILED`]).toContain(`${s.id}: ${s.error?.code}`)
    const short = failed.filter((s) => s.error?.code === 'SERVER_RESOURCES')
    expect(short.map((s) => s.id)).toContain('replay')
    for (const s of short) expect(s.details.join('\n')).toContain(`the native engine's cluster is in ${room()}`)
  })

  it('a new session the full disk cannot set up is refused with the reason and what to do, not "is the server running"', { timeout: LONG }, async (ctx) => {
    if ('reason' in mnt) return skipWith(ctx, mnt.reason)
    const db = await engine!.createDatabase('full_connect')
    await freshWalSegment(engine!.url)
    fillLeaving(room(), 0)
    // The first session of a database writes its relation-cache file: on a full disk it cannot.
    const r = await cli(['migrate', 'status', '--dir', MIGRATIONS], { DATABASE_URL: db.url })
    console.log(`[server-full] a first session on a full disk: exit ${r.code}\n${r.stderr.trim()}`)
    expect(r.code).toBe(6)
    expect(r.stderr).toMatch(/\[CONNECTION_FAILED\] cannot connect to .*: could not write init file \(the server could not write a file the new session needs: its disk is probably full\)/)
    expect(r.stderr).toMatch(/what to do: Free space on the file system that holds the server's data directory/)
  })

  it('verify on a disk already full: its database cannot be made, and the run says so (SERVER_RESOURCES), not a bug', { timeout: LONG }, async (ctx) => {
    if ('reason' in mnt) return skipWith(ctx, mnt.reason)
    fillLeaving(room(), 0)
    const run = runVerify(engine!, { dir: MIGRATIONS, seed: 1, reportsDir: emptyDir('pgverify-serverfull-reports-'), skip: ['load'] })
    await expect(run).rejects.toMatchObject({ code: 'SERVER_RESOURCES', message: expect.stringMatching(/^the server ran out of disk space: .*No space left on device \[SQLSTATE 53100\]/) })
  })

  it('verify: a disk that fills once the replay passed makes idempotency\'s re-runs the server\'s trouble, not "not idempotent"', { timeout: LONG }, async (ctx) => {
    if ('reason' in mnt) return skipWith(ctx, mnt.reason)
    const others = ['diagnostic-replay', 'post-validation', 'jobs', 'second-up', 'down-up', 'fault-injection', 'data-properties', 'backup-round-trip', 'load']
    try {
      await freshWalSegment(engine!.url)
      // Filled the moment the stage starts (progress is called synchronously, before its first statement).
      const onProgress = (line: string) => void (line.startsWith('▸ Idempotency') && fillLeaving(room(), 0))
      const report = await runVerify(engine!, { dir: MIGRATIONS, seed: 1, reportsDir: emptyDir('pgverify-serverfull-reports-'), skip: others, onProgress })
      const by = Object.fromEntries(report.stages.map((s) => [s.id, s]))
      console.log(`[server-full] idempotency on a disk filled after the replay: [${by.idempotency?.error?.code}] ${by.idempotency?.summary.slice(0, 200)}`)
      expect(by.replay?.verdict).toBe('passed')
      expect(by.idempotency?.verdict).toBe('failed')
      expect(by.idempotency?.error?.code).toBe('SERVER_RESOURCES')
      expect(by.idempotency?.summary).not.toMatch(/not idempotent/)
      expect(by.idempotency?.details.join('\n')).toContain(`the native engine's cluster is in ${room()}`)
    } finally {
      rmSync(path.join(room(), FILLER), { force: true })
    }
  })
})
