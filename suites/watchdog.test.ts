/**
 * Nothing waits forever (issue #15, 1): the watchdog on long database work.
 *
 * A lock wait: another session holds a table lock (an open transaction that read the table, the
 * commonest cause in production), and a migration's ALTER queues behind it. Without the watchdog
 * `migrate up` would wait for as long as that session lives, and every later reader of the table
 * would queue behind the ALTER. With it, the statement is cancelled after --stall-timeout, the
 * migration rolls back, the command exits 7 naming the file:line, the lock mode, the relation and
 * the holder (pid, application, state), and no session of ours is left behind. The same through
 * `pnpm execute`, whose failed migrate phase then restores its backup as for any failure.
 *
 * A server that stops answering: the migration's backend and the watchdog's probe backend are
 * frozen with SIGSTOP (a server whose storage hangs looks like this to a client). The command
 * closes its connection after --stall-timeout and exits 6, saying the server stopped answering;
 * after SIGCONT the next `up` applies the file. Native only: it needs the server's processes.
 */
import { readdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import pg from 'pg'
import { describe, expect, it } from 'vitest'
import { cli } from './support/cli.ts'
import { emptyDir } from './support/dirs.ts'
import { availableEngines, depthOn, needs, skipWith, useEngine } from './support/engines.ts'

const LONG = 240_000

function migrations(second: string): string {
  const dir = emptyDir('pgverify-watchdog-')
  writeFileSync(path.join(dir, '001_items.sql'), 'CREATE SCHEMA app;\nCREATE TABLE app.items (id int PRIMARY KEY, name text);\nINSERT INTO app.items SELECT g, g::text FROM generate_series(1, 100) g;\n')
  writeFileSync(path.join(dir, '002_change.sql'), second)
  return dir
}

async function session(url: string, name: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url, application_name: name })
  c.on('error', () => {})
  await c.connect()
  return c
}

async function ours(url: string): Promise<string[]> {
  const c = await session(url, 'watchdog suite probe')
  try {
    const r = await c.query<{ application_name: string }>(`SELECT application_name FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'pgverify%'`)
    return r.rows.map((x) => x.application_name)
  } finally {
    await c.end()
  }
}

async function version(url: string): Promise<number> {
  const c = await session(url, 'watchdog suite probe')
  try {
    const r = await c.query<{ v: number }>(`SELECT coalesce(max(substring(migration_name from '^\\d+')::int), 0) AS v FROM public.migration_log WHERE status = 'completed'`)
    return r.rows[0]!.v
  } finally {
    await c.end()
  }
}

describe.each(await availableEngines())('$name engine', (c) => {
  const engine = useEngine(c)

  it('a statement stuck behind another session’s lock is cancelled after --stall-timeout: exit 7, the holder named, rolled back', async (ctx) => {
    needs(ctx, engine(), 'concurrentConnections', 'the lock-wait watchdog')
    const db = await engine().createDatabase('watchdog-lock')
    const dir = migrations('SET LOCAL statement_timeout = 0;\nALTER TABLE app.items ADD COLUMN note text;\n')
    const first = await cli(['migrate', 'up', '--dir', dir, '--to', '1'], { DATABASE_URL: db.url })
    expect(first.code, first.stderr).toBe(0)
    const holder = await session(db.url, 'report-job')
    try {
      await holder.query('BEGIN')
      await holder.query('SELECT count(*) FROM app.items')
      const t0 = performance.now()
      const r = await cli(['migrate', 'up', '--dir', dir, '--stall-timeout', '1500'], { DATABASE_URL: db.url }, LONG)
      const ms = performance.now() - t0
      expect(r.code, r.stdout + r.stderr).toBe(7)
      expect(r.stderr).toMatch(/002_change\.sql:2:1: ERROR 57014: stalled: waited \d+\.\d s for AccessExclusiveLock on app\.items \(limit 1\.5 s\), held by pid \d+ \(report-job, idle in transaction, transaction open \d/)
      expect(r.stderr).toMatch(/002_change\.sql was rolled back: the database is as it was after 001_items/)
      expect(r.stderr).toMatch(/Let the blocking session \(\d+\) finish, or end it/)
      // Cancelled at the limit, not at a timeout of ours: well under a minute including Node's start.
      expect(ms).toBeLessThan(60_000)
      expect(await version(db.url)).toBe(1)
      expect(await ours(db.url)).toEqual([])
      // The holder was left alone: it is ours to end, not the tool's.
      expect((await holder.query('SELECT 1 AS one')).rows[0].one).toBe(1)
    } finally {
      await holder.query('ROLLBACK').catch(() => {})
      await holder.end()
    }
    const again = await cli(['migrate', 'up', '--dir', dir], { DATABASE_URL: db.url }, LONG)
    expect(again.code, again.stderr).toBe(0)
    expect(await version(db.url)).toBe(2)
    await db.drop()
  }, LONG)

  it('a backup queued behind an exclusive lock stops after --stall-timeout: exit 7, the table named, no partial directory, no session left', async (ctx) => {
    needs(ctx, engine(), 'concurrentConnections', 'a backup behind a lock')
    depthOn(ctx, engine(), ['native'], 'a backup behind a lock')
    const db = await engine().createDatabase('watchdog-backup')
    const dir = migrations('SELECT 1;\n')
    expect((await cli(['migrate', 'up', '--dir', dir], { DATABASE_URL: db.url })).code).toBe(0)
    const root = emptyDir('pgverify-watchdog-backups-')
    const holder = await session(db.url, 'maintenance')
    try {
      await holder.query('BEGIN')
      await holder.query('LOCK TABLE app.items IN ACCESS EXCLUSIVE MODE')
      for (const kind of ['data', 'full']) {
        const r = await cli(['backup', '--kind', kind, '--dir', dir, '--backup-root', root, '--stall-timeout', '1500'], { DATABASE_URL: db.url }, LONG)
        expect(r.code, `${kind}: ${r.stdout}${r.stderr}`).toBe(7)
        expect(r.stderr).toMatch(/the backup of postgres:\/\/\S+ waited 1\.5 s for a lock on (app\.items|a table); held: app\.items \(AccessExclusiveLock, pid \d+ maintenance, idle in transaction\) and stopped; the partial backup \S+ was removed and its session closed/)
        expect(readdirSync(root)).toEqual([])
        expect(await ours(db.url)).toEqual([])
      }
    } finally {
      await holder.query('ROLLBACK').catch(() => {})
      await holder.end()
    }
    expect((await cli(['backup', '--kind', 'data', '--dir', dir, '--backup-root', root], { DATABASE_URL: db.url }, LONG)).code).toBe(0)
    await db.drop()
  }, LONG)

  it('an in-place restore behind an application that still reads gives up after --stall-timeout: exit 7, the reader named, nothing kept', async (ctx) => {
    needs(ctx, engine(), 'concurrentConnections', 'a restore behind a lock')
    depthOn(ctx, engine(), ['native'], 'a restore behind a lock')
    const db = await engine().createDatabase('watchdog-restore')
    const dir = migrations('SELECT 1;\n')
    expect((await cli(['migrate', 'up', '--dir', dir, '--log-schema', 'ops'], { DATABASE_URL: db.url })).code).toBe(0)
    const root = emptyDir('pgverify-watchdog-backups-')
    expect((await cli(['backup', '--kind', 'full', '--dir', dir, '--log-schema', 'ops', '--backup-root', root], { DATABASE_URL: db.url }, LONG)).code).toBe(0)
    const backup = path.join(root, readdirSync(root)[0]!)
    const reader = await session(db.url, 'dashboard')
    try {
      await reader.query('BEGIN')
      await reader.query('SELECT count(*) FROM app.items')
      const r = await cli(['restore', backup, '--yes', '--stall-timeout', '1500'], { DATABASE_URL: db.url }, LONG)
      expect(r.code, r.stdout + r.stderr).toBe(7)
      expect(r.stderr).toMatch(/the restore of pre-migration-\S+ into postgres:\/\/\S+ waited 1\.5 s for a table lock; held: app\.items \(AccessShareLock, pid \d+ dashboard, idle in transaction\)[^\n]*\. It ran in one transaction, so nothing of it was kept/)
      expect(await ours(db.url)).toEqual([])
      expect((await reader.query('SELECT count(*)::int AS n FROM app.items')).rows[0].n).toBe(100)
    } finally {
      await reader.query('ROLLBACK').catch(() => {})
      await reader.end()
    }
    const again = await cli(['restore', backup, '--yes'], { DATABASE_URL: db.url }, LONG)
    expect(again.code, again.stderr).toBe(0)
    await db.drop()
  }, LONG)

  it('--stall-timeout 0 turns the watchdog off; a bad value is a usage error before any connection', async (ctx) => {
    needs(ctx, engine(), 'concurrentConnections', 'the lock-wait watchdog')
    depthOn(ctx, engine(), ['native'], '--stall-timeout 0 and its usage error')
    const dir = migrations('SELECT 1;\n')
    const bad = await cli(['migrate', 'up', '--dir', dir, '--stall-timeout', '1.5s'], { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' })
    expect(bad.code, bad.stderr).toBe(2)
    expect(bad.stderr).toMatch(/--stall-timeout/)
    const db = await engine().createDatabase('watchdog-off')
    const off = await cli(['migrate', 'up', '--dir', dir, '--stall-timeout', '0'], { DATABASE_URL: db.url })
    expect(off.code, off.stderr).toBe(0)
    await db.drop()
  }, LONG)

  it('a server that stops answering: the connection is closed after --stall-timeout, exit 6, and the next up applies the file', async (ctx) => {
    if (c.name !== 'native') skipWith(ctx, `not exercised on ${c.name}: freezing the server's processes needs them on this machine (native engine)`)
    const db = await engine().createDatabase('watchdog-frozen')
    const dir = migrations('SELECT pg_sleep(6);\nALTER TABLE app.items ADD COLUMN note text;\n')
    expect((await cli(['migrate', 'up', '--dir', dir, '--to', '1'], { DATABASE_URL: db.url })).code).toBe(0)
    const probe = await session(db.url, 'watchdog suite probe')
    const frozen: number[] = []
    try {
      const run = cli(['migrate', 'up', '--dir', dir, '--stall-timeout', '1500'], { DATABASE_URL: db.url }, LONG)
      for (let i = 0; i < 300 && frozen.length < 2; i++) {
        const r = await probe.query<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND (application_name = 'pgverify-watchdog' OR (application_name = 'pgverify-migrate up' AND query LIKE 'SELECT pg_sleep%'))`,
        )
        if (r.rows.length === 2) for (const { pid } of r.rows) frozen.push(pid)
        else await new Promise((res) => setTimeout(res, 100))
      }
      expect(frozen).toHaveLength(2)
      for (const pid of frozen) process.kill(pid, 'SIGSTOP')
      const t0 = performance.now()
      const r = await run
      const ms = performance.now() - t0
      expect(r.code, r.stdout + r.stderr).toBe(6)
      expect(r.stderr).toMatch(/the server did not answer the watchdog's probe for \d+\.\d s \(limit 1\.5 s\): the connection was closed/)
      expect(r.stderr).toMatch(/lost the connection to the database \(the server stopped answering\) while running 002_change\.sql/)
      expect(r.stderr).toMatch(/The server rolled 002_change\.sql back with the session/)
      expect(r.stderr).not.toMatch(/Fix the file/)
      expect(ms).toBeLessThan(30_000)
    } finally {
      for (const pid of frozen) process.kill(pid, 'SIGCONT')
      await probe.end().catch(() => {})
    }
    // The frozen backends see their clients gone once they run again; the file applies cleanly.
    const again = await cli(['migrate', 'up', '--dir', dir], { DATABASE_URL: db.url }, LONG)
    expect(again.code, again.stderr).toBe(0)
    expect(await version(db.url)).toBe(2)
    await db.drop()
  }, LONG)
})
