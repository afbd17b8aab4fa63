/**
 * Concurrency with real runner PROCESSES (the CLI, as users start it) on every engine present
 * with real concurrent sessions (support/engines.ts: native and container; the embedded engine
 * serves one connection at a time and is skipped, saying so). The in-process crowd of 16
 * Migrators is in runner.test.ts.
 *
 * To make "the others waited" deterministic rather than a race against process start-up, the
 * winner's migration 002 reads a gate table that the test holds ACCESS EXCLUSIVE: whoever gets
 * the migration lock first stays inside 002 until the test opens the gate, so every other process
 * meets a held lock, whenever it starts.
 */
import { spawn } from 'node:child_process'
import type pg from 'pg'
import { beforeAll, describe, expect, it } from 'vitest'
import type { DatabaseHandle, StartedEngine } from '../harness/engines/types.ts'
import { connect } from '../harness/runner/connect.ts'
import { lockKey } from '../harness/runner/lock.ts'
import { copyDir, edit, PLAIN, ROOT } from './support/dirs.ts'
import { availableEngines, needs, useEngine } from './support/engines.ts'

const cases = await availableEngines()

const CROWD = 16

interface Proc {
  stdout: string
  stderr: string
  code?: number | null
  signal?: NodeJS.Signals | null
  exited: Promise<void>
  kill(signal: NodeJS.Signals): void
}

/** The real command line in a child process, with live access to its output. */
function runner(args: string[], env: Record<string, string>): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', 'harness/cli/index.ts', ...args], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: undefined, VERIFY_ENGINE: undefined, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const p: Proc = {
    stdout: '',
    stderr: '',
    exited: new Promise((resolve) => child.on('close', (code, signal) => {
      p.code = code
      p.signal = signal
      resolve()
    })),
    kill: (signal) => child.kill(signal),
  }
  child.stdout.on('data', (d) => (p.stdout += d))
  child.stderr.on('data', (d) => (p.stderr += d))
  const timer = setTimeout(() => child.kill('SIGKILL'), 180_000)
  void p.exited.then(() => clearTimeout(timer))
  return p
}

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

const key = BigInt(lockKey('"app"."migration_log"'))
const lockArgs = [Number((key >> 32n) & 0xffffffffn), Number(key & 0xffffffffn)]

/** The backend holding the runners' advisory lock, if any. */
async function lockHolder(c: pg.ClientBase): Promise<number | undefined> {
  return (await c.query(`SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid::bigint = $1 AND objid::bigint = $2`, lockArgs)).rows[0]?.pid
}

describe.each(cases)(`${CROWD} runner processes against one database on the $name engine`, (c) => {
  const started = useEngine(c)
  let engine: StartedEngine
  beforeAll(() => {
    engine = started()
  })

  /** A database with a gate table held shut by `gate` (an open transaction), and the plain set whose 002 passes through it. */
  async function gated(label: string): Promise<{ db: DatabaseHandle; dir: string; gate: pg.Client; watch: pg.Client; close(): Promise<void> }> {
    const db = await engine.createDatabase(label)
    const gate = await connect(db.url, { applicationName: 'test-gate' })
    const watch = await connect(db.url, { applicationName: 'test-watch' })
    await gate.query('CREATE TABLE public.gate (x int)')
    await gate.query('BEGIN')
    await gate.query('LOCK TABLE public.gate IN ACCESS EXCLUSIVE MODE')
    const dir = copyDir(PLAIN)
    edit(dir, '002_orders.sql', (s) => `${s}\n-- The test holds this table locked until every other runner has met the migration lock.\nSELECT count(*) FROM public.gate;\n`)
    return {
      db,
      dir,
      gate,
      watch,
      async close() {
        await gate.end().catch(() => {})
        await watch.end().catch(() => {})
        await db.drop()
      },
    }
  }

  /** The backend of the runner that got the migration lock, once it waits at the gate. */
  async function winnerAtGate(watch: pg.Client): Promise<number> {
    let pid: number | undefined
    await until('a runner waiting at the gate', async () => {
      pid = (await watch.query(`SELECT l.pid FROM pg_locks l WHERE l.relation = 'public.gate'::regclass AND NOT l.granted`)).rows[0]?.pid
      return pid !== undefined
    })
    expect(await lockHolder(watch)).toBe(pid)
    return pid!
  }

  async function logRows(watch: pg.Client) {
    return (await watch.query(`SELECT migration_name, status, count(*) OVER (PARTITION BY migration_name)::int AS n FROM app.migration_log ORDER BY id`)).rows
  }

  it(`${CROWD} processes started at once: one applies, ${CROWD - 1} wait for the lock and then find nothing to do; each migration applied once`, async (ctx) => {
    needs(ctx, engine, 'concurrentConnections', 'runner processes competing for one database')
    const s = await gated('crowd')
    try {
      const t0 = Date.now()
      const procs = Array.from({ length: CROWD }, () => runner(['migrate', 'up', '--dir', s.dir], { DATABASE_URL: s.db.url }))
      const winner = await winnerAtGate(s.watch)
      // Every other process must meet the held lock: it says so and keeps waiting.
      await until(`${CROWD - 1} runners waiting for the migration lock`, () => procs.filter((p) => /waiting for the migration lock/.test(p.stderr)).length === CROWD - 1)
      const started = Date.now() - t0
      await s.gate.query('COMMIT')
      await Promise.all(procs.map((p) => p.exited))
      const all = Date.now() - t0
      const out = procs.map((p) => `exit ${p.code}\n${p.stdout}${p.stderr}`)
      expect(procs.map((p) => p.code), out.join('\n---\n')).toEqual(Array(CROWD).fill(0))
      const applied = procs.filter((p) => /applied 3 migrations: version 0 → 3/.test(p.stdout))
      const idle = procs.filter((p) => /nothing to do: database at version 3/.test(p.stdout))
      expect(applied).toHaveLength(1)
      expect(idle).toHaveLength(CROWD - 1)
      for (const p of idle) expect(p.stderr).toMatch(new RegExp(`waiting for the migration lock held by backend pid ${winner} \\(pgverify-migrate up\\), connected since \\d{4}-\\d\\d-\\d\\d`))
      expect(applied[0]!.stderr).not.toMatch(/waiting for the migration lock/)
      expect(await logRows(s.watch)).toEqual([
        { migration_name: '001_accounts', status: 'completed', n: 1 },
        { migration_name: '002_orders', status: 'completed', n: 1 },
        { migration_name: '003_orders_placed_idx', status: 'completed', n: 1 },
      ])
      expect(await lockHolder(s.watch)).toBeUndefined()
      console.log(`[concurrency] ${CROWD} processes: all waiting after ${started} ms, all exited ${all} ms after start`)
    } finally {
      await s.close()
    }
  })

  it(`with --lock-wait 0 the ${CROWD - 1} losers exit 7 with LOCK_TIMEOUT naming the holder; the winner applies`, async (ctx) => {
    needs(ctx, engine, 'concurrentConnections', 'runner processes competing for one database')
    const s = await gated('crowd_nowait')
    try {
      const procs = Array.from({ length: CROWD }, () => runner(['migrate', 'up', '--dir', s.dir, '--lock-wait', '0'], { DATABASE_URL: s.db.url }))
      const winner = await winnerAtGate(s.watch)
      const exitedCount = () => procs.filter((p) => p.code !== undefined).length
      await until(`${CROWD - 1} runners to give up`, () => exitedCount() === CROWD - 1)
      const losers = procs.filter((p) => p.code !== undefined)
      for (const p of losers) {
        expect(p.code, p.stderr).toBe(7)
        expect(p.stderr).toMatch(new RegExp(`error \\[LOCK_TIMEOUT\\] another migration runner holds the migration lock \\(backend pid ${winner} \\(pgverify-migrate up\\), connected since [^)]+\\); not waiting \\(--lock-wait 0\\)`))
        expect(p.stderr).toMatch(/what to do: Wait for the other run to finish/)
        expect(p.stdout).toBe('')
      }
      // Nothing was written by the losers: the winner is still inside 002, so only 001 is recorded.
      expect((await s.watch.query(`SELECT migration_name, status FROM app.migration_log ORDER BY id`)).rows).toEqual([{ migration_name: '001_accounts', status: 'completed' }])
      await s.gate.query('COMMIT')
      const [w] = procs.filter((p) => p.code === undefined)
      await w!.exited
      expect(w!.code, w!.stderr).toBe(0)
      expect(w!.stdout).toMatch(/applied 3 migrations: version 0 → 3/)
      expect((await logRows(s.watch)).map((r) => [r.migration_name, r.status, r.n])).toEqual([
        ['001_accounts', 'completed', 1],
        ['002_orders', 'completed', 1],
        ['003_orders_placed_idx', 'completed', 1],
      ])
    } finally {
      await s.close()
    }
  })

  it('a runner SIGKILLed while it holds the lock (mid-statement) does not leave the database locked: the next runner proceeds', async (ctx) => {
    needs(ctx, engine, 'concurrentConnections', 'runner processes competing for one database')
    const db = await engine.createDatabase('sigkill')
    const watch = await connect(db.url, { applicationName: 'test-watch' })
    try {
      const slow = copyDir(PLAIN)
      edit(slow, '002_orders.sql', (s) => s.replace('pg_sleep(0.2)', 'pg_sleep(120)'))
      const a = runner(['migrate', 'up', '--dir', slow], { DATABASE_URL: db.url })
      let pid: number | undefined
      await until('the runner inside pg_sleep(120)', async () => {
        pid = (await watch.query(`SELECT pid FROM pg_stat_activity WHERE application_name = 'pgverify-migrate up' AND state = 'active' AND query LIKE '%pg_sleep(120)%'`)).rows[0]?.pid
        return pid !== undefined
      })
      expect(await lockHolder(watch)).toBe(pid)
      a.kill('SIGKILL')
      const killedAt = Date.now()
      await a.exited
      expect(a.signal).toBe('SIGKILL')
      // The server notices the closed socket while the statement runs (client_connection_check_interval,
      // set by the runner for its session) and ends the backend: lock and transaction go with it.
      await until('the lock to be released', async () => (await lockHolder(watch)) === undefined, 30_000)
      const releasedMs = Date.now() - killedAt
      const gone = (await watch.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1`, [pid])).rows[0].n
      console.log(`[concurrency] lock free ${releasedMs} ms after SIGKILL of a runner inside a 120 s statement (backend ${gone ? 'still listed' : 'gone'})`)
      expect(releasedMs).toBeLessThan(5_000)
      expect((await watch.query(`SELECT migration_name, status FROM app.migration_log ORDER BY id`)).rows).toEqual([{ migration_name: '001_accounts', status: 'completed' }])
      expect((await watch.query(`SELECT to_regclass('app.orders') AS t`)).rows[0].t).toBeNull()
      const b = runner(['migrate', 'up', '--dir', copyDir(PLAIN), '--lock-wait', '0'], { DATABASE_URL: db.url })
      await b.exited
      expect(b.code, b.stderr).toBe(0)
      expect(b.stdout).toMatch(/applied 2 migrations: version 1 → 3/)
    } finally {
      await watch.end()
      await db.drop()
    }
  })

  it('the same when the killed runner was waiting for a table lock another session holds (the lock goes before that session lets go)', async (ctx) => {
    needs(ctx, engine, 'concurrentConnections', 'runner processes competing for one database')
    const s = await gated('sigkill_lockwait')
    try {
      const a = runner(['migrate', 'up', '--dir', s.dir], { DATABASE_URL: s.db.url })
      await winnerAtGate(s.watch)
      a.kill('SIGKILL')
      const killedAt = Date.now()
      await a.exited
      await until('the lock to be released', async () => (await lockHolder(s.watch)) === undefined, 30_000)
      const releasedMs = Date.now() - killedAt
      console.log(`[concurrency] lock free ${releasedMs} ms after SIGKILL of a runner waiting for a table lock`)
      expect(releasedMs).toBeLessThan(5_000)
      // The gate is still shut: the release did not wait for the other session.
      expect((await s.watch.query(`SELECT count(*)::int AS n FROM pg_locks WHERE relation = 'public.gate'::regclass AND granted AND mode = 'AccessExclusiveLock'`)).rows[0].n).toBe(1)
      await s.gate.query('COMMIT')
      const b = runner(['migrate', 'up', '--dir', s.dir, '--lock-wait', '0'], { DATABASE_URL: s.db.url })
      await b.exited
      expect(b.code, b.stderr).toBe(0)
      expect(b.stdout).toMatch(/applied 2 migrations: version 1 → 3/)
    } finally {
      await s.close()
    }
  })
})
