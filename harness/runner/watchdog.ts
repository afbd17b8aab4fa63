/**
 * The watchdog on long database work: a second session that looks at the working session in
 * pg_stat_activity while a step runs, so that a step waiting forever is reported instead of
 * hanging the command.
 *
 * Two stalls are recognised, because they are the two that never end on their own:
 *   - a lock wait: the working session has waited on a heavyweight lock for `stallMs`. In
 *     production that is worse than slow: an ALTER queued behind an open transaction blocks every
 *     later reader and writer of the table. The watchdog cancels the statement (pg_cancel_backend),
 *     so a transactional migration rolls back and the queue behind it drains, and the caller
 *     reports who held the lock;
 *   - a server that stops answering: the watchdog's own probe gets no reply for `stallMs`. No
 *     query can cancel anything then, so the working connection is closed from this side and the
 *     caller reports a lost connection (the server rolls back the transaction when it notices).
 * Anything else that is merely slow (a long index build, a big COPY) is progress, not a stall:
 * statement_timeout is the tool for those.
 */
import type pg from 'pg'
import { HarnessError } from '../errors.ts'
import { connect } from './connect.ts'

export interface WatchdogOptions {
  /** How long a lock wait or an unanswered probe may last before it is a stall (ms). */
  stallMs: number
  /** How often the working session is looked at (ms); default a quarter of stallMs, within 100–1000 ms. */
  pollMs?: number
  /** How long opening the probe session may take (ms); default the larger of stallMs and 2 s. */
  connectTimeoutMs?: number
}

/** One session that holds what the stalled session waits for. */
export interface Blocker {
  pid: number
  application: string
  state: string
  /** How long its transaction has been open (ms), when it has one. */
  xactMs?: number
  query: string
}

export interface Stall {
  kind: 'lock' | 'server'
  pid: number
  waitedMs: number
  /** pg_stat_activity's wait_event (the lock type: relation, transactionid, …). */
  waitEvent?: string
  /** The relation and mode the session asked for, when the lock is on a relation. */
  lock?: { relation: string; mode: string }
  blockers: Blocker[]
}

/** A watchdog's probe session; one per command, reused for every step it watches. */
export class Watchdog {
  private constructor(
    private readonly side: pg.Client,
    private readonly o: Required<WatchdogOptions>,
  ) {}

  static async open(url: string, options: WatchdogOptions): Promise<Watchdog> {
    const side = await connect(url, { applicationName: 'pgverify-watchdog', connectTimeoutMs: options.connectTimeoutMs ?? Math.max(2_000, options.stallMs) })
    return new Watchdog(side, { stallMs: options.stallMs, pollMs: options.pollMs ?? Math.min(1_000, Math.max(100, Math.round(options.stallMs / 4))), connectTimeoutMs: options.connectTimeoutMs ?? 0 })
  }

  get stallMs(): number {
    return this.o.stallMs
  }

  /**
   * Runs `work` on the session `pid` of `client` and watches it. A stall ends the work (cancel or
   * close, above); the work's own error then surfaces with `stall` set on it, so the caller can
   * say what really happened instead of "canceling statement due to user request".
   */
  async watch<T>(client: pg.ClientBase, pid: number, work: () => Promise<T>): Promise<T> {
    let stall: Stall | undefined
    let waitingSince: number | undefined
    let probing: Promise<void> | undefined
    let probeStarted = 0
    const tick = () => {
      if (stall) return
      if (probing) {
        // The previous probe has not come back: the server is not answering anyone.
        if (performance.now() - probeStarted >= this.o.stallMs) {
          stall = { kind: 'server', pid, waitedMs: Math.round(performance.now() - probeStarted), blockers: [] }
          // Both sessions: the probe's reply would never come either, and the step must not wait for it.
          closeSocket(client)
          closeSocket(this.side)
        }
        return
      }
      probeStarted = performance.now()
      probing = this.probe(pid)
        .then(async (seen) => {
          if (!seen?.waitingOnLock) {
            waitingSince = undefined
            return
          }
          waitingSince ??= performance.now() - seen.waitedMs
          const waited = performance.now() - waitingSince
          if (waited < this.o.stallMs || stall) return
          stall = { kind: 'lock', pid, waitedMs: Math.round(waited), waitEvent: seen.waitEvent, ...(seen.lock ? { lock: seen.lock } : {}), blockers: await this.blockers(pid) }
          await this.side.query('SELECT pg_cancel_backend($1)', [pid])
        })
        .catch(() => {})
        .finally(() => {
          probing = undefined
        })
    }
    const timer = setInterval(tick, this.o.pollMs)
    timer.unref()
    try {
      return await work()
    } catch (e) {
      if (stall) throw Object.assign(e as object, { stall })
      throw e
    } finally {
      clearInterval(timer)
      // A probe still out must not outlive the step: the next step's probe would overlap it.
      await probing
    }
  }

  async close(): Promise<void> {
    // A server that stopped answering never acknowledges the goodbye: wait a moment, then drop it.
    let timer: NodeJS.Timeout | undefined
    const gone = new Promise<void>((resolve) => (timer = setTimeout(resolve, 1_000)))
    await Promise.race([this.side.end().catch(() => {}), gone])
    clearTimeout(timer)
    closeSocket(this.side)
  }

  private async probe(pid: number) {
    const r = await this.side.query<{ wait_event_type: string | null; wait_event: string | null; waited_ms: number | null; relation: string | null; mode: string | null }>(
      `SELECT a.wait_event_type, a.wait_event,
              (EXTRACT(EPOCH FROM clock_timestamp() - l.waitstart) * 1000)::float8 AS waited_ms,
              l.relation::regclass::text AS relation, l.mode
         FROM pg_stat_activity a
         LEFT JOIN pg_locks l ON l.pid = a.pid AND NOT l.granted
        WHERE a.pid = $1
        LIMIT 1`,
      [pid],
    )
    const row = r.rows[0]
    if (!row) return undefined
    return {
      waitingOnLock: row.wait_event_type === 'Lock',
      waitEvent: row.wait_event ?? undefined,
      // pg_locks.waitstart (PostgreSQL 14+) says how long the wait already lasted when we first saw it.
      waitedMs: row.waited_ms ?? 0,
      lock: row.relation && row.mode ? { relation: row.relation, mode: row.mode } : undefined,
    }
  }

  private async blockers(pid: number): Promise<Blocker[]> {
    const r = await this.side.query<{ pid: number; application_name: string; state: string; xact_ms: number | null; query: string }>(
      `SELECT b.pid, b.application_name, b.state,
              (EXTRACT(EPOCH FROM clock_timestamp() - b.xact_start) * 1000)::float8 AS xact_ms,
              left(regexp_replace(b.query, '\\s+', ' ', 'g'), 120) AS query
         FROM pg_stat_activity b
        WHERE b.pid = ANY (pg_blocking_pids($1))
        ORDER BY b.pid`,
      [pid],
    )
    return r.rows.map((b) => ({ pid: b.pid, application: b.application_name, state: b.state, ...(b.xact_ms !== null ? { xactMs: Math.round(b.xact_ms) } : {}), query: b.query }))
  }
}

/**
 * The watchdog a command should run with, if any: none when it is turned off (0), and none on a
 * one-connection engine (the embedded one), where a second session cannot exist and nothing
 * else can hold a lock either.
 */
export async function openWatchdog(target: { url: string; capabilities: { concurrentConnections: boolean } }, stallMs: number, note: (line: string) => void = () => {}): Promise<Watchdog | undefined> {
  if (!stallMs || !target.capabilities.concurrentConnections) return undefined
  try {
    return await Watchdog.open(target.url, { stallMs, connectTimeoutMs: 5_000 })
  } catch (e) {
    // A server that takes one session at a time (the embedded engine behind `pgverify db`) has
    // no other session to hold a lock either: go on without, and say so.
    note(`no watchdog: the server took no second session (${(e as Error).message.split('\n')[0]}); a statement stuck on a lock would not be cancelled`)
    return undefined
  }
}

/**
 * Who holds exclusive (or, for a step that needs them all, any) table locks in the database of `url` now, said as "app.items (AccessExclusiveLock,
 * pid 123 maintenance, idle in transaction)": for a step that gave up on a lock by lock_timeout,
 * which does not say which. Best effort: undefined when it cannot be read.
 */
export async function exclusiveHolders(url: string, modes: 'exclusive' | 'any' = 'exclusive'): Promise<string | undefined> {
  const c = await connect(url, { applicationName: 'pgverify-watchdog', connectTimeoutMs: 5_000 }).catch(() => undefined)
  if (!c) return undefined
  try {
    const r = await c.query<{ rel: string; mode: string; pid: number; app: string; state: string }>(
      `SELECT l.relation::regclass::text AS rel, l.mode, l.pid, a.application_name AS app, a.state
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.granted AND l.locktype = 'relation' AND ($1 = 'any' OR l.mode IN ('AccessExclusiveLock', 'ExclusiveLock'))
          AND a.application_name NOT LIKE 'pgverify%'
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) AND l.pid <> pg_backend_pid()
        ORDER BY 1 LIMIT 5`,
      [modes],
    )
    return r.rows.length ? r.rows.map((x) => `${x.rel} (${x.mode}, pid ${x.pid} ${x.app || 'no application_name'}, ${x.state})`).join('; ') : undefined
  } catch {
    return undefined
  } finally {
    await c.end().catch(() => {})
  }
}

/** The stall a watched step ended with, if it ended with one. */
export const stallOf = (e: unknown): Stall | undefined => (e && typeof e === 'object' && 'stall' in e ? (e as { stall: Stall }).stall : undefined)

/** One line on who holds the lock, for messages. */
export function describeStall(s: Stall, limitMs: number): string {
  if (s.kind === 'server') return `the server did not answer the watchdog's probe for ${seconds(s.waitedMs)} (limit ${seconds(limitMs)}): the connection was closed`
  const what = s.lock ? `${s.lock.mode} on ${s.lock.relation}` : `a lock (${s.waitEvent ?? "unknown"})`
  const who = s.blockers.length
    ? s.blockers.map((b) => `pid ${b.pid} (${b.application || 'no application_name'}, ${b.state}${b.xactMs !== undefined ? `, transaction open ${seconds(b.xactMs)}` : ''}: ${b.query || '(no query)'})`).join('; ')
    : 'a session that is gone now'
  return `waited ${seconds(s.waitedMs)} for ${what} (limit ${seconds(limitMs)}), held by ${who}; the watchdog cancelled the statement`
}

/** What to do about a stall, said the same way by every caller. */
export function stallHint(s: Stall): string {
  if (s.kind === 'server') return 'The server stopped answering (overloaded, paused, or its storage stalled). Check it, then run the command again; `pnpm migrate status` shows what completed.'
  const pids = s.blockers.map((b) => b.pid).join(', ')
  return `Let the blocking session${s.blockers.length > 1 ? 's' : ''}${pids ? ` (${pids})` : ''} finish, or end ${s.blockers.length > 1 ? 'them' : 'it'} (SELECT pg_terminate_backend(pid)), then run the command again. To wait longer, raise --stall-timeout (0 turns the watchdog off); to fail sooner and retry, start the file with SET LOCAL lock_timeout.`
}

/** A stall as the HarnessError a command exits with (STALLED: exit 7, like any lock we could not get). */
export function stalledError(s: Stall, limitMs: number, where: string, state: string): HarnessError {
  if (s.kind === 'server') return new HarnessError('CONNECTION_FAILED', `${where}: ${describeStall(s, limitMs)}. ${state}`, { hint: stallHint(s), details: { stall: s } })
  return new HarnessError('STALLED', `${where}: ${describeStall(s, limitMs)}. ${state}`, { hint: stallHint(s), details: { stall: s } })
}

function closeSocket(client: pg.ClientBase): void {
  // pg keeps the socket on `connection.stream`; destroying it fails the pending query at once.
  const stream = (client as unknown as { connection?: { stream?: { destroy?: () => void } } }).connection?.stream
  stream?.destroy?.()
}

const seconds = (ms: number) => (ms >= 10_000 ? `${Math.round(ms / 1000)} s` : `${(ms / 1000).toFixed(1)} s`)
