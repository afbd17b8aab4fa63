/**
 * A fixture database built once per engine and copied for each test that needs it: a test still
 * gets a database of its own, untouched, without paying again for the migrations and the data
 * that made it. Server engines copy with CREATE DATABASE … TEMPLATE (a file copy); the embedded
 * engine, which has no second session to copy with, boots the copy from the base's data
 * directory (its physical snapshot). Built on first use, so an engine whose tests all skip pays
 * nothing.
 */
import type { DatabaseHandle, StartedEngine } from '../../harness/engines/types.ts'

export type Copier = (label: string) => Promise<DatabaseHandle>

/**
 * `build` makes the fixture in the database it is given and must close every session it opened
 * on it (a template takes none). Returns a function that gives a fresh copy per call.
 */
export function builtOnce(engine: () => StartedEngine, label: string, build: (db: DatabaseHandle) => Promise<void>): Copier {
  let base: Promise<{ db: DatabaseHandle; snapshot?: Uint8Array }> | undefined
  return async (copyLabel) => {
    const e = engine()
    base ??= (async () => {
      const db = await e.createDatabase(label)
      await build(db)
      if (e.capabilities.concurrentConnections) return { db }
      if (!db.physical) throw new Error(`test bug: ${e.name} has neither a second session (template copy) nor a physical snapshot to copy ${label} with`)
      return { db, snapshot: await db.physical.dumpDataDir() }
    })()
    const b = await base
    return b.snapshot ? e.createDatabase(copyLabel, { from: b.snapshot }) : e.createDatabase(copyLabel, { template: b.db.name })
  }
}
