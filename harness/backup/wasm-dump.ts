/**
 * The embedded engine's logical dump: `@electric-sql/pglite-tools`' pg_dump (PostgreSQL 17,
 * compiled to WASM) driving the database's PGlite instance in-process. It always writes plain
 * SQL with one INSERT per row (`--inserts`). Loaded lazily: the production runner never needs it.
 *
 * The tool talks to the instance directly, bypassing the socket, so the caller must make sure no
 * client of that database is in the middle of a query or transaction while it runs.
 */
import { readFileSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import path from 'node:path'
import type { PhysicalAccess } from '../engines/types.ts'
import { HarnessError } from '../errors.ts'

const PACKAGE = '@electric-sql/pglite-tools'

export function wasmDumpVersion(): string {
  try {
    const require = createRequire(import.meta.url)
    const entry = require.resolve(`${PACKAGE}/pg_dump`)
    let dir = path.dirname(entry)
    for (let i = 0; i < 4; i++, dir = path.dirname(dir)) {
      try {
        const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string }
        if (pkg.name === PACKAGE) return `${PACKAGE}@${pkg.version}`
      } catch {
        /* keep looking upwards */
      }
    }
  } catch {
    /* not installed: reported when a dump is attempted */
  }
  return PACKAGE
}

/** Runs the WASM pg_dump with `args` and writes its output to `file`; returns the byte count. */
export async function wasmDump(physical: PhysicalAccess, args: string[], file: string): Promise<number> {
  let pgDump: (o: { pg: unknown; args?: string[] }) => Promise<Blob>
  try {
    ;({ pgDump } = (await import(PACKAGE + '/pg_dump')) as { pgDump: typeof pgDump })
  } catch (e) {
    throw new HarnessError('BACKUP_TOOL_MISMATCH', `the WASM pg_dump (${PACKAGE}) cannot be loaded: ${(e as Error).message}`, {
      hint: 'Run `pnpm install` in the project (it is a dependency of the embedded engine).',
      cause: e,
    })
  }
  // The tool runs in the instance's one backend session and SETs what pg_dump sets
  // (restrict_nonsystem_relation_kind, DateStyle, extra_float_digits, …); every later client of
  // this embedded database would inherit them. Snapshot them now, put them back afterwards.
  const before = (await physical.pglite.query<{ name: string; setting: string }>(`SELECT name, setting FROM pg_settings WHERE context IN ('user', 'superuser')`)).rows
  let out: Blob
  try {
    out = await pgDump({ pg: physical.pglite, args })
  } catch (e) {
    throw new HarnessError('BACKUP_FAILED', `WASM pg_dump ${args.join(' ')} failed: ${(e as Error).message.trim()}`, {
      hint: 'The WASM pg_dump has a size limit on some data (electric-sql/pglite#712). The volume backup (volumes/postgres_data.tar.gz) is the embedded engine\'s complete copy; back up with --kind full to rely on it, or reduce the data.',
      cause: e,
    })
  } finally {
    // pgDump restores the instance's search_path without awaiting it; let that finish first.
    await physical.pglite.query('SELECT 1').catch(() => {})
    // pg_dump never ends its read-only transaction (a real server would on disconnect): end it.
    if (physical.pglite.isInTransaction()) await physical.pglite.exec('ROLLBACK')
    const after = new Map((await physical.pglite.query<{ name: string; setting: string }>(`SELECT name, setting FROM pg_settings WHERE context IN ('user', 'superuser')`)).rows.map((r) => [r.name, r.setting]))
    for (const b of before) if (!b.name.startsWith('transaction_') && after.get(b.name) !== b.setting) await physical.pglite.query(`SELECT set_config($1, $2, false)`, [b.name, b.setting]).catch(() => {})
  }
  const bytes = new Uint8Array(await out.arrayBuffer())
  await writeFile(file, bytes)
  return bytes.byteLength
}
