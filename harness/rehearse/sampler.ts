/**
 * The sampling session: every `periodMs` (10 ms by default) one query over pg_locks and
 * pg_stat_activity records the relation locks the migration's backend holds (mode, relation; the catalog's own left out) and the
 * workload sessions waiting behind it (pg_blocking_pids) with how long they have waited so far.
 * One query per poll, so a sample is one consistent view; each poll's own round trip is kept,
 * which is the sampler's cost on the server (it reads shared lock tables).
 */
import pg from 'pg'
import type { LockHeld, Sample, Waiter } from './types.ts'

export const DEFAULT_PERIOD_MS = 10

/** A relation's name where the lock is on one, else the lock type (transactionid, advisory, …). */
const LOCK_TARGET = `COALESCE(l.relation::regclass::text, l.locktype)`

const POLL_SQL = `
  SELECT
    (SELECT coalesce(json_agg(json_build_object('mode', l.mode, 'relation', ${LOCK_TARGET}) ORDER BY ${LOCK_TARGET}, l.mode), '[]')
       FROM pg_locks l WHERE l.pid = $1 AND l.granted AND l.locktype = 'relation'
        AND l.relation NOT IN (SELECT oid FROM pg_class WHERE relnamespace = 'pg_catalog'::regnamespace)) AS held,
    (SELECT coalesce(json_agg(json_build_object('pid', a.pid,
              'waitedMs', extract(epoch FROM clock_timestamp() - a.query_start) * 1000,
              'mode', w.mode, 'relation', w.target)), '[]')
       FROM pg_stat_activity a
       LEFT JOIN LATERAL (SELECT l.mode, ${LOCK_TARGET} AS target FROM pg_locks l WHERE l.pid = a.pid AND NOT l.granted LIMIT 1) w ON true
      WHERE a.pid = ANY($2::int[]) AND a.wait_event_type = 'Lock' AND $1 = ANY(pg_blocking_pids(a.pid))) AS waiters`

/** A relation the migration created is not visible to the sampler's session until it commits: regclass shows its oid. */
const named = (relation: string): string => (/^\d+$/.test(relation) ? `new relation (oid ${relation})` : relation)

export class Sampler {
  /** The polls of the current run (since `start()`). */
  samples: Sample[] = []
  #client?: pg.Client
  #running = false
  #loop?: Promise<void>
  #workloadPids: number[] = []

  constructor(
    private readonly url: string,
    private readonly migrationPid: number,
    readonly periodMs = DEFAULT_PERIOD_MS,
  ) {}

  /** Starts polling for these workload sessions; the session is opened once and kept for later runs. */
  async start(workloadPids: number[]): Promise<void> {
    if (!this.#client) {
      const c = new pg.Client({ connectionString: this.url, application_name: 'pgverify-rehearse-sampler' })
      await c.connect()
      this.#client = c
    }
    this.#workloadPids = [...workloadPids]
    this.samples = []
    this.#running = true
    this.#loop = this.#run()
  }

  /** One poll now, outside the cadence (the runner's hooks ask for the locks right after a statement). */
  async poll(): Promise<Sample> {
    const t0 = performance.now()
    // A named statement: parsed and planned once per session, not every 10 ms (measured on native at
    // load ~14 with 41 locks held and a waiter: 4.2-4.9 ms mean per poll instead of 8.0-12.4 ms).
    const r = await this.#client!.query<{ held: LockHeld[]; waiters: (Omit<Waiter, 'wants'> & LockHeld)[] }>({ name: 'pgverify-rehearse-poll', text: POLL_SQL, values: [this.migrationPid, this.#workloadPids] })
    const row = r.rows[0]!
    const atMs = performance.now()
    return {
      atMs,
      pollMs: atMs - t0,
      held: row.held.map((l) => ({ mode: l.mode, relation: named(l.relation) })),
      waiters: row.waiters.map((w) => ({ pid: w.pid, waitedMs: Number(w.waitedMs), wants: { mode: w.mode, relation: named(w.relation) } })),
    }
  }

  /** Stops polling (the session stays open for the next run). */
  async stop(): Promise<void> {
    this.#running = false
    await this.#loop
    this.#loop = undefined
  }

  async close(): Promise<void> {
    await this.stop()
    await this.#client?.end().catch(() => {})
    this.#client = undefined
  }

  async #run(): Promise<void> {
    // One client: a poll asked for by a hook and the cadence's poll queue on it, never overlap.
    while (this.#running) {
      const started = performance.now()
      this.samples.push(await this.poll())
      const wait = this.periodMs - (performance.now() - started)
      if (wait > 0 && this.#running) await new Promise((r) => setTimeout(r, wait))
    }
  }
}
