/**
 * The data-only restore (`--kind data`): the backup's tables truncated and loaded from
 * data_only.sql in one transaction, then the chunks that were compressed compressed again.
 */
import path from 'node:path'
import type pg from 'pg'
import { HarnessError } from '../errors.ts'
import { qualify, splitQualified } from '../util/sql.ts'
import { dataFileTables } from './data-export.ts'
import type { BackupManifest } from './manifest.ts'
import { inOneTransaction, runScriptFile } from './sql-script.ts'
import { canSetReplicaRole } from './timescale.ts'
import { open } from 'node:fs/promises'

/** The first `bytes` of a file as text (a cut multi-byte character at the end is dropped). */
async function readHead(file: string, bytes: number): Promise<string> {
  const fh = await open(file, 'r')
  try {
    const buf = Buffer.alloc(bytes)
    const { bytesRead } = await fh.read(buf, 0, bytes, 0)
    return buf.subarray(0, bytesRead).toString('utf8')
  } finally {
    await fh.close()
  }
}


export async function hasTimescale(client: pg.ClientBase): Promise<boolean> {
  return (await client.query(`SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'`)).rowCount === 1
}

/** Data-only: truncate the backup's tables, load the rows, compress the chunks that were compressed. */
export async function restoreData(client: pg.ClientBase, dir: string, rel: string, m: BackupManifest, log: (l: string) => void, notes: string[], lockTimeoutMs = 60_000): Promise<void> {
  // Only the header is read as text: the rows are streamed (runScriptFile), whatever the file's size.
  const tables = dataFileTables(await readHead(path.join(dir, rel), 100_000))
  const missing: string[] = []
  for (const t of tables) {
    const { schema, table } = splitQualified(t)
    if (!(await client.query<{ r: string | null }>(`SELECT to_regclass($1) AS r`, [qualify(schema, table)])).rows[0]?.r) missing.push(t)
  }
  if (missing.length) {
    throw new HarnessError('RESTORE_FAILED', `a data-only restore needs the schema in place, but ${missing.length} table${missing.length > 1 ? 's are' : ' is'} missing: ${missing.slice(0, 10).join(', ')}; nothing was restored`, {
      hint: 'Migrate the database first (`pnpm migrate up` to the backup\'s version), or restore --kind full.',
    })
  }
  await inOneTransaction(client, async () => {
    // TRUNCATE needs every table's lock: an application still reading would keep it waiting (and everything queued behind it).
    await client.query(`SELECT set_config('lock_timeout', $1, true)`, [String(lockTimeoutMs)])
    const replica = await canSetReplicaRole(client)
    if (replica) await client.query('SET LOCAL session_replication_role = replica')
    else notes.push('this role may not set session_replication_role: rows were loaded in foreign-key order with triggers firing')
    if (tables.length) await client.query(`TRUNCATE ${tables.map((t) => qualify(splitQualified(t).schema, splitQualified(t).table)).join(', ')}`)
    let t = performance.now()
    const r = await runScriptFile(client, path.join(dir, rel), rel)
    log(`${rel}: ${tables.length} tables truncated and loaded, ${r.statements} statements (${Math.round(performance.now() - t)} ms)`)
    t = performance.now()
    let compressed = 0
    if (await hasTimescale(client)) {
      await client.query(`SET LOCAL TimeZone = 'UTC'`)
      for (const [h, st] of Object.entries(m.state.hypertables)) {
        const want = new Set(st.chunkList.filter((c) => c.compressed).map((c) => c.range))
        if (want.size === 0) continue
        const chunks = (
          await client.query<{ c: string; r: string; z: boolean }>(
            `SELECT format('%I.%I', chunk_schema, chunk_name) AS c, is_compressed AS z,
                    coalesce(range_start::text, range_start_integer::text) || '..' || coalesce(range_end::text, range_end_integer::text) AS r
               FROM timescaledb_information.chunks WHERE hypertable_schema || '.' || hypertable_name = $1`,
            [h],
          )
        ).rows
        for (const c of chunks) {
          if (want.has(c.r) && !c.z) {
            await client.query(`SELECT compress_chunk($1::regclass)`, [c.c])
            compressed++
          }
        }
      }
    }
    if (compressed) log(`compressed ${compressed} chunks that were compressed in the backup (${Math.round(performance.now() - t)} ms)`)
  })
}
