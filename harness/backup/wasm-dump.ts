/**
 * The embedded engine's logical dump for backups: `@electric-sql/pglite-tools`' pg_dump
 * (PostgreSQL 17, compiled to WASM) driving the database's PGlite instance where it lives (the
 * engine runs it: engines/embedded-dump.ts). It always writes plain SQL with one INSERT per row
 * (`--inserts`). Loaded lazily: the production runner never needs it.
 *
 * The tool talks to the instance directly, bypassing the socket, so the caller must make sure no
 * client of that database is in the middle of a query or transaction while it runs.
 */
import { readFileSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import path from 'node:path'
import { DUMP_TOOL } from '../engines/embedded-dump.ts'
import type { PhysicalAccess } from '../engines/types.ts'
import { HarnessError, isHarnessError } from '../errors.ts'


export function wasmDumpVersion(): string {
  try {
    const require = createRequire(import.meta.url)
    const entry = require.resolve(`${DUMP_TOOL}/pg_dump`)
    let dir = path.dirname(entry)
    for (let i = 0; i < 4; i++, dir = path.dirname(dir)) {
      try {
        const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string }
        if (pkg.name === DUMP_TOOL) return `${DUMP_TOOL}@${pkg.version}`
      } catch {
        /* keep looking upwards */
      }
    }
  } catch {
    /* not installed: reported when a dump is attempted */
  }
  return DUMP_TOOL
}

/** Runs the WASM pg_dump with `args` where the database lives (engines/embedded-dump.ts) and writes its output to `file`; returns the byte count. */
export async function wasmDump(physical: PhysicalAccess, args: string[], file: string): Promise<number> {
  let bytes: Uint8Array
  try {
    bytes = await physical.pgDump(args)
  } catch (e) {
    if (isHarnessError(e)) throw e
    throw new HarnessError('BACKUP_FAILED', `WASM pg_dump ${args.join(' ')} failed: ${(e as Error).message.trim()}`, {
      hint: 'The WASM pg_dump has a size limit on some data (electric-sql/pglite#712). The volume backup (volumes/postgres_data.tar.gz) is the embedded engine\'s complete copy; back up with --kind full to rely on it, or reduce the data.',
      cause: e,
    })
  }
  await writeFile(file, bytes)
  return bytes.byteLength
}
