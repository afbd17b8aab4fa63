/**
 * The embedded engine's logical dump, run against one PGlite instance where it lives: in this
 * thread for an in-process database, inside its worker for one in a thread of its own
 * (embedded-thread.ts). The tool is `@electric-sql/pglite-tools`' pg_dump (PostgreSQL 17 compiled
 * to WASM); it drives the instance directly, bypassing the socket.
 *
 * Why the body is JavaScript source: a worker thread runs plain JavaScript given as text (it must
 * work without tsx's loader, e.g. under the `pgverify` bin), and this one text serves both places
 * rather than two copies of the same steps drifting apart.
 *
 * The steps: the tool runs in the instance's one backend session and SETs what pg_dump sets
 * (restrict_nonsystem_relation_kind, DateStyle, extra_float_digits, …), which every later client
 * of the database would inherit: the settings are read before and put back after. pgDump
 * restores search_path without awaiting it (a `SELECT 1` lets that finish), and never ends its
 * read-only transaction, as a real server would on disconnect (ended here).
 */
import { HarnessError } from '../errors.ts'

export const DUMP_BODY = `
  const settings = "SELECT name, setting FROM pg_settings WHERE context IN ('user', 'superuser')"
  const before = (await db.query(settings)).rows
  try {
    const out = await pgDump({ pg: db, args })
    return new Uint8Array(await out.arrayBuffer())
  } finally {
    await db.query('SELECT 1').catch(() => {})
    if (db.isInTransaction()) await db.exec('ROLLBACK')
    const after = new Map((await db.query(settings)).rows.map((r) => [r.name, r.setting]))
    for (const b of before) if (!b.name.startsWith('transaction_') && after.get(b.name) !== b.setting) await db.query('SELECT set_config($1, $2, false)', [b.name, b.setting]).catch(() => {})
  }
`

type PgDump = (o: { pg: unknown; args?: string[] }) => Promise<Blob>
const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor as new (...params: string[]) => (db: unknown, pgDump: PgDump, args: string[]) => Promise<Uint8Array>
const dumpBody = new AsyncFunction('db', 'pgDump', 'args', DUMP_BODY)

export const DUMP_TOOL = '@electric-sql/pglite-tools'

export function toolMissing(message: string): HarnessError {
  return new HarnessError('BACKUP_TOOL_MISMATCH', `the WASM pg_dump (${DUMP_TOOL}) cannot be loaded: ${message}`, {
    hint: 'Run `pnpm install` in the project (it is a dependency of the embedded engine).',
  })
}

/** The tool's module URL, or undefined when it is not installed. */
export function dumpToolUrl(): string | undefined {
  try {
    return import.meta.resolve(`${DUMP_TOOL}/pg_dump`)
  } catch {
    return undefined
  }
}

/** pg_dump with `args` against an instance of this thread; the plain SQL it wrote. */
export async function dumpInProcess(db: unknown, args: string[]): Promise<Uint8Array> {
  let pgDump: PgDump
  try {
    ;({ pgDump } = (await import(`${DUMP_TOOL}/pg_dump`)) as { pgDump: PgDump })
  } catch (e) {
    throw toolMissing((e as Error).message)
  }
  return dumpBody(db, pgDump, args)
}
