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

export async function acquireLock(client: pg.ClientBase, key: string, options: LockOptions): Promise<() => Promise<void>> {
  const deadline = Date.now() + options.waitMs
  let reported = false
  for (;;) {
    const r = await client.query<{ ok: boolean }>(`SELECT pg_try_advisory_lock($1::bigint) AS ok`, [key])
    if (r.rows[0]?.ok) {
      return async () => {
        await client.query(`SELECT pg_advisory_unlock($1::bigint)`, [key]).catch(() => {})
      }
    }
    const who = await holder(client, key)
    if (Date.now() >= deadline) {
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
