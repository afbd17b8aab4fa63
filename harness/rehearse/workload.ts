/**
 * The synthetic workload: several sessions, each running its operations on a fixed cadence
 * (the seed rate), recording every operation's start, latency and outcome. A session whose
 * operation waits behind a lock simply falls behind; it does not burst to catch up, so a
 * blocked period shows as a few long operations, as it would for a real ingest loop.
 */
import pg from 'pg'
import type { OpKind, OpRecord } from './types.ts'

export interface Operation {
  id: string
  kind: OpKind
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
  readonly records: OpRecord[] = []
  #clients: pg.Client[] = []
  #running = false
  #loops: Promise<void>[] = []
  #pids: number[] = []

  constructor(
    private readonly url: string,
    private readonly sessions: SessionPlan[],
  ) {}

  /** Backend pids of the workload sessions (the sampler tells them from other backends by these). */
  get pids(): number[] {
    return [...this.#pids]
  }

  async connect(): Promise<void> {
    for (const _ of this.sessions) {
      const c = new pg.Client({ connectionString: this.url, application_name: APPLICATION })
      await c.connect()
      // A safety net only: a lock wait ends when the migration commits or rolls back.
      await c.query(`SET statement_timeout = '120s'`)
      this.#clients.push(c)
      this.#pids.push((await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid)
    }
  }

  start(): void {
    this.#running = true
    this.#loops = this.sessions.map((s, i) => this.#loop(i, s))
  }

  /** Stops after each session's operation in flight has ended (a waiting one ends when the migration's locks go). */
  async stop(): Promise<void> {
    this.#running = false
    await Promise.all(this.#loops)
  }

  async close(): Promise<void> {
    this.#running = false
    await Promise.all(this.#loops)
    await Promise.all(this.#clients.map((c) => c.end().catch(() => {})))
    this.#clients = []
  }

  async #loop(session: number, plan: SessionPlan): Promise<void> {
    const client = this.#clients[session]!
    const counts = new Map<string, number>()
    let n = 0
    let next = performance.now()
    while (this.#running) {
      const op = plan.operations[n % plan.operations.length]!
      n++
      const i = counts.get(op.id) ?? 0
      counts.set(op.id, i + 1)
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
      if (wait > 0 && this.#running) await new Promise((r) => setTimeout(r, wait))
    }
  }
}

/**
 * Runs each operation once on one session and keeps those that work at this version: a query
 * on a table a later migration creates cannot be part of the workload before it exists.
 */
export async function probeOperations(url: string, ops: Operation[]): Promise<{ usable: Operation[]; unusable: { op: string; reason: string }[] }> {
  const c = new pg.Client({ connectionString: url, application_name: `${APPLICATION}-probe` })
  await c.connect()
  const usable: Operation[] = []
  const unusable: { op: string; reason: string }[] = []
  try {
    for (const op of ops) {
      try {
        // Probe with a run number no session uses, so an insert's key does not collide later.
        await op.run(c, 1_000_000)
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
