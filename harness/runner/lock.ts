/**
 * One runner at a time per migration log: a session-level advisory lock, keyed on the log's
 * qualified name. It dies with the session, so a killed runner cannot keep it.
 */
import type pg from 'pg'
import { createHash } from 'node:crypto'
import { HarnessError } from '../errors.ts'

export interface LockOptions {
  /** How long to wait for another runner; 0 fails at once. */
  waitMs: number
  pollMs?: number
  onWait?: (holder: string) => void
}

/** A signed 64-bit key derived from the log table name, as a decimal string for `$1::bigint`. */
export function lockKey(qualifiedLog: string): string {
  const h = createHash('sha256').update(`pgverify:${qualifiedLog}`).digest()
  return h.readBigInt64BE(0).toString()
}

async function holder(client: pg.ClientBase, key: string): Promise<string> {
  const k = BigInt(key)
  const classid = Number((k >> 32n) & 0xffffffffn)
  const objid = Number(k & 0xffffffffn)
  try {
    const r = await client.query<{ pid: number; app: string | null; since: string | null }>(
      `SELECT a.pid, a.application_name AS app, to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS') AS since
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted AND l.classid::bigint = $1 AND l.objid::bigint = $2 LIMIT 1`,
      [classid, objid],
    )
    const row = r.rows[0]
    return row ? `backend pid ${row.pid}${row.app ? ` (${row.app})` : ''}, connected since ${row.since}` : 'another session'
  } catch {
    return 'another session'
  }
}

/**
 * A runner killed during a long statement closes its socket, but the server notices only when it
 * next talks to the client: the backend would finish the statement (minutes, for a big index
 * build) holding the lock. `client_connection_check_interval` (PostgreSQL 14+) makes the server
 * poll the socket while a statement runs, and server-side TCP keepalives end the session of a
 * client whose host vanished without closing the connection (about 60 s). Session settings, put
 * back on release; a server without them (PostgreSQL 13 and older) is left as it is. Measured on
 * PostgreSQL 15: a SIGKILLed runner inside a 30 s statement kept the lock 30 s without this, under
 * 1 s with it (suites/concurrency.test.ts).
 */
const DEAD_CLIENT_SETTINGS: Record<string, string> = {
  client_connection_check_interval: '1000',
  tcp_keepalives_idle: '30',
  tcp_keepalives_interval: '10',
  tcp_keepalives_count: '3',
}

async function watchForDeadClient(client: pg.ClientBase): Promise<() => Promise<void>> {
  const names = Object.keys(DEAD_CLIENT_SETTINGS)
  let before: Array<{ name: string; setting: string }> = []
  try {
    // One round trip (the runner does this for every up and down), without the pg_settings view;
    // a row's setting is read before its set_config runs, so `setting` is the value before. A
    // setting the server does not have reads NULL and is left out.
    before = (
      await client.query<{ name: string; setting: string }>(
        `SELECT s.name, current_setting(s.name, true) AS setting, set_config(s.name, s.value, false) FROM unnest($1::text[], $2::text[]) AS s(name, value) WHERE current_setting(s.name, true) IS NOT NULL`,
        [names, names.map((n) => DEAD_CLIENT_SETTINGS[n])],
      )
    ).rows
  } catch {
    /* not offered (or refused) by this server: nothing to put back */
    before = []
  }
  return async () => {
    if (before.length === 0) return
    await client.query(`SELECT set_config(name, value, false) FROM unnest($1::text[], $2::text[]) AS s(name, value)`, [before.map((b) => b.name), before.map((b) => b.setting)]).catch(() => {})
  }
}

export async function acquireLock(client: pg.ClientBase, key: string, options: LockOptions): Promise<() => Promise<void>> {
  const deadline = Date.now() + options.waitMs
  let reported = false
  const restore = await watchForDeadClient(client)
  for (;;) {
    let r: pg.QueryResult<{ ok: boolean }>
    try {
      r = await client.query<{ ok: boolean }>(`SELECT pg_try_advisory_lock($1::bigint) AS ok`, [key])
    } catch (e) {
      await restore()
      throw e
    }
    if (r.rows[0]?.ok) {
      return async () => {
        await client.query(`SELECT pg_advisory_unlock($1::bigint)`, [key]).catch(() => {})
        await restore()
      }
    }
    const who = await holder(client, key)
    if (Date.now() >= deadline) {
      await restore()
      throw new HarnessError('LOCK_TIMEOUT', options.waitMs === 0
        ? `another migration runner holds the migration lock (${who}); not waiting (--lock-wait 0)`
        : `another migration runner held the migration lock for more than ${options.waitMs} ms (${who}); gave up`, {
        hint: 'Wait for the other run to finish (`pnpm migrate status` shows progress), or raise --lock-wait. A killed runner releases the lock when its session ends.',
        details: { holder: who, waitMs: options.waitMs },
      })
    }
    if (!reported) {
      options.onWait?.(who)
      reported = true
    }
    await new Promise((res) => setTimeout(res, Math.min(options.pollMs ?? 200, Math.max(1, deadline - Date.now()))))
  }
}
