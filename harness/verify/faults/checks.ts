/**
 * What every fault point must leave behind, checked by query: the failure reported and located,
 * migration_log showing it (and nothing else changed), the lock free, sequences restorable.
 */
import type pg from 'pg'
import type { SequencePosition } from '../../catalog/sequences.ts'
import { formatLocated } from '../../runner/locate.ts'
import { lockKey } from '../../runner/lock.ts'
import type { Migrator } from '../../runner/migrator.ts'
import type { Migration } from '../../sql/migration.ts'
import { Problem, where } from './model.ts'

export async function expectInjected(r: Awaited<ReturnType<Migrator['up']>>, m: Migration, i: number): Promise<void> {
  const res = r.results.find((x) => x.name === m.name)
  const e = res?.error
  if (!r.error || r.error.code !== 'MIGRATION_FAILED' || !e) {
    throw new Problem(`the failure injected after ${where(m, i)} was not reported as a failed migration`, [r.error ? `${r.error.code}: ${r.error.message}` : `up returned no error; results: ${r.results.map((x) => `${x.name} ${x.status}`).join(', ')}`])
  }
  if (!e.message.includes('fault injected by pgverify')) {
    // The file failed on its own before reaching the boundary.
    throw new Problem(`${m.up.file} failed before the injected fault after statement ${i + 1}: ${e.file}:${e.line}:${e.column}${e.sqlstate ? ` (SQLSTATE ${e.sqlstate})` : ''}`, formatLocated(e).split('\n'))
  }
  if (e.statement !== i + 1) throw new Problem(`the failure injected after statement ${i + 1} of ${m.up.file} was located at statement ${e.statement}`, formatLocated(e).split('\n'))
}

export async function otherLogRows(client: pg.ClientBase, migrator: Migrator, name: string): Promise<string> {
  const r = await client.query<{ s: string | null }>(
    `SELECT string_agg(concat_ws('|', migration_name, status, checksum, execution_time_ms, error_message), E'\\n' ORDER BY migration_name) AS s FROM ${migrator.log.qualified} WHERE migration_name <> $1`,
    [name],
  )
  return r.rows[0]?.s ?? ''
}

export async function checkLog(client: pg.ClientBase, migrator: Migrator, m: Migration, i: number, at: string, othersBefore: string): Promise<void> {
  const rows = (await client.query<{ status: string; error_message: string | null }>(`SELECT status, error_message FROM ${migrator.log.qualified} WHERE migration_name = $1`, [m.name])).rows
  const injected = `fault injected by pgverify after statement ${i + 1} of ${m.up.statements.length}`
  const st = m.up.statements[i]!
  if (rows.length !== 1 || rows[0]!.status !== 'failed' || !rows[0]!.error_message?.includes(injected)) {
    throw new Problem(`${migrator.log.schema}.${migrator.log.table} does not show the injected failure ${at}`, [
      `expected one row for ${m.name} with status 'failed' and error "${m.up.file}:${st.line}:…: ${injected}"`,
      `found: ${rows.length ? rows.map((r) => `${r.status}: ${r.error_message ?? '(no error)'}`).join(' | ') : 'no row'}`,
    ])
  }
  if (!rows[0]!.error_message!.startsWith(`${m.up.file}:`)) {
    throw new Problem(`${migrator.log.schema}.${migrator.log.table} records the injected failure without its file:line:column ${at}`, [rows[0]!.error_message!])
  }
  const others = await otherLogRows(client, migrator, m.name)
  if (others !== othersBefore) throw new Problem(`other rows of ${migrator.log.schema}.${migrator.log.table} changed ${at}`, ['before:', ...othersBefore.split('\n'), 'after:', ...others.split('\n')])
}

/**
 * Session advisory locks are re-entrant: pg_try_advisory_lock from the runner's own session would
 * succeed even if the runner had kept the lock. So pg_locks is asked first (no backend holds it),
 * then the lock is taken and given back once. Advisory locks belong to a database: only this
 * database's are counted (other stages run the runner beside this one, on databases of their own).
 */
export async function checkLockFree(client: pg.ClientBase, migrator: Migrator, at: string): Promise<void> {
  const key = lockKey(migrator.log.qualified)
  const k = BigInt(key)
  const held = async () =>
    (
      await client.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 1`,
        [Number((k >> 32n) & 0xffffffffn), Number(k & 0xffffffffn)],
      )
    ).rows[0]!.n
  const before = await held()
  if (before !== 0) throw new Problem(`the migration lock is still held ${at}`, [`pg_locks shows ${before} granted advisory lock(s) on key ${key}`])
  const got = (await client.query<{ ok: boolean }>(`SELECT pg_try_advisory_lock($1::bigint) AS ok`, [key])).rows[0]!.ok
  const released = got ? (await client.query<{ ok: boolean }>(`SELECT pg_advisory_unlock($1::bigint) AS ok`, [key])).rows[0]!.ok : false
  if (!got || !released || (await held()) !== 0) throw new Problem(`the migration lock cannot be taken and given back ${at}`, [`pg_try_advisory_lock(${key}) = ${got}, pg_advisory_unlock = ${released}`])
}

/** Sequences back where they were (the down file does not reset them), so serial ids come out the same. */
export async function restoreSequences(client: pg.ClientBase, seqs: SequencePosition[]): Promise<void> {
  for (const s of seqs) {
    const exists = (await client.query<{ r: string | null }>(`SELECT to_regclass($1) AS r`, [s.sql])).rows[0]?.r
    if (exists && s.last !== null) await client.query(`SELECT setval($1::regclass, $2::bigint, $3)`, [s.sql, s.last, s.called])
  }
}
