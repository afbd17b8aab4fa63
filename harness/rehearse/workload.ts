/**
 * The synthetic workload: several sessions, each running its operations on a fixed cadence
 * (the seed rate), recording every operation's start, latency and outcome. A session whose
 * operation waits behind a lock simply falls behind; it does not burst to catch up, so a
 * blocked period shows as a few long operations, as it would for a real ingest loop.
 *
 * The sessions stay connected from one run to the next (verify's walk rehearses migration after
 * migration on one database, scene.ts): `plan()` gives them new operations when the schema
 * changed, and each operation's run count goes on, so an insert never repeats a key it made.
 */
import { setTimeout as delay } from 'node:timers/promises'
import pg from 'pg'
import type { OpKind, OpRecord } from './types.ts'

export interface Operation {
  id: string
  kind: OpKind
  /** What it runs: an operation whose SQL changed (a column added to its table) is probed again. */
  sql: string
  /** The one table it runs on (`schema.name`), when it runs on one; else it may read several. */
  table?: string
  /** `i` counts this operation's runs, so inserts make new keys each time. */
  run(client: pg.ClientBase, i: number): Promise<void>
}

export interface SessionPlan {
  /** Operations run in turn. */
  operations: Operation[]
  /** Time between the starts of two operations of this session. */
  periodMs: number
}

const APPLICATION = 'pgverify-rehearse-workload'

export class Workload {
  /** The operations of the current run (since `start()`). */
  records: OpRecord[] = []
  #sessions: SessionPlan[] = []
  #clients: pg.Client[] = []
  #running = false
  #loops: Promise<void>[] = []
  /** Ends the sessions' waits between two operations at `stop()`, so it does not wait out a period. */
  #stopping = new AbortController()
  #pids: number[] = []
  /** Runs per operation id, across runs and sessions. */
  readonly #counts = new Map<string, number>()

  constructor(private readonly url: string) {}

  /** Backend pids of the workload sessions (the sampler tells them from other backends by these). */
  get pids(): number[] {
    return [...this.#pids]
  }

  get sessions(): number {
    return this.#sessions.length
  }

  /** The sessions of the next run; connects any session not connected yet. Only while stopped. */
  async plan(sessions: SessionPlan[]): Promise<void> {
    if (this.#running) throw new Error('Workload.plan while running')
    this.#sessions = sessions
    while (this.#clients.length < sessions.length) {
      const c = new pg.Client({ connectionString: this.url, application_name: APPLICATION })
      await c.connect()
      // A safety net only: a lock wait ends when the migration commits or rolls back.
      await c.query(`SET statement_timeout = '120s'`)
      this.#clients.push(c)
      this.#pids.push((await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid)
    }
  }

  start(): void {
    this.records = []
    this.#stopping = new AbortController()
    this.#running = true
    this.#loops = this.#sessions.map((s, i) => this.#loop(i, s))
  }

  /** Stops after each session's operation in flight has ended (a waiting one ends when the migration's locks go). */
  async stop(): Promise<void> {
    this.#running = false
    this.#stopping.abort()
    await Promise.all(this.#loops)
    this.#loops = []
  }

  async close(): Promise<void> {
    await this.stop()
    await Promise.all(this.#clients.map((c) => c.end().catch(() => {})))
    this.#clients = []
    this.#pids = []
  }

  async #loop(session: number, plan: SessionPlan): Promise<void> {
    const client = this.#clients[session]!
    let n = 0
    let next = performance.now()
    while (this.#running) {
      const op = plan.operations[n % plan.operations.length]!
      n++
      const i = this.#counts.get(op.id) ?? 0
      this.#counts.set(op.id, i + 1)
      const startMs = performance.now()
      try {
        await op.run(client, i)
        this.records.push({ op: op.id, kind: op.kind, session, startMs, latencyMs: performance.now() - startMs, ok: true })
      } catch (e) {
        const err = e as Error & { code?: string }
        this.records.push({ op: op.id, kind: op.kind, session, startMs, latencyMs: performance.now() - startMs, ok: false, error: err.message, ...(err.code ? { sqlstate: err.code } : {}) })
      }
      next = Math.max(next + plan.periodMs, performance.now())
      const wait = next - performance.now()
      if (wait > 0 && this.#running) await delay(wait, undefined, { signal: this.#stopping.signal }).catch(() => {})
    }
  }
}

/** Probe runs count from here: far above what any session reaches, and each probe of an operation gets its own. */
const PROBE_RUNS = 1_000_000

/**
 * Runs each operation once on one session and keeps those that work at this version: a query
 * on a table a later migration creates cannot be part of the workload before it exists.
 * `round` numbers the probes of one database, so a second probe of an insert makes a new key.
 */
export async function probeOperations(url: string, ops: Operation[], round = 0): Promise<{ usable: Operation[]; unusable: { op: string; reason: string }[] }> {
  const usable: Operation[] = []
  const unusable: { op: string; reason: string }[] = []
  if (!ops.length) return { usable, unusable }
  const c = new pg.Client({ connectionString: url, application_name: `${APPLICATION}-probe` })
  await c.connect()
  try {
    for (const op of ops) {
      try {
        await op.run(c, PROBE_RUNS + round)
        usable.push(op)
      } catch (e) {
        unusable.push({ op: op.id, reason: (e as Error).message })
      }
    }
  } finally {
    await c.end().catch(() => {})
  }
  return { usable, unusable }
}
