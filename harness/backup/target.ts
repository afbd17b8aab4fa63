/**
 * The database a backup, restore or execute works on, with what the backup code needs to know
 * about its engine: versions, the dump-tool capability and (embedded engine) physical access.
 *
 * Opened from DATABASE_URL (the production case: the `url` engine's capabilities, without
 * loading any engine module) or from `--engine NAME` (a disposable database on that engine, for
 * rehearsals). The production runner bundle keeps only the DATABASE_URL path.
 */
import type { DatabaseHandle, EngineCapabilities, EngineVersions, PhysicalAccess, StartedEngine } from '../engines/types.ts'
import { HarnessError } from '../errors.ts'
import { redactUrl } from '../util/redact.ts'

export interface DbTarget {
  url: string
  engineName: string
  describe: string
  versions: EngineVersions
  capabilities: Pick<EngineCapabilities, 'dumpTool' | 'physicalSnapshot' | 'concurrentConnections' | 'disposable'>
  /** Present on engines with `physicalSnapshot`. */
  physical?: PhysicalAccess
  /** The engine, when the harness started one (restores into fresh databases use it). */
  engine?: StartedEngine
}

export interface OpenedTarget extends DbTarget {
  close(): Promise<void>
}

import { readServer } from '../engines/url.ts'
export { readServer }

/** DATABASE_URL as a target: an existing server, never dropped; dumps with pg_dump. */
export async function urlTarget(url: string): Promise<DbTarget> {
  const versions = await readServer(url)
  return {
    url,
    engineName: 'url',
    describe: `url: ${redactUrl(url)}: PostgreSQL ${versions.postgres} + TimescaleDB ${versions.timescaledb}`,
    versions,
    capabilities: { dumpTool: 'pg_dump', physicalSnapshot: false, concurrentConnections: true, disposable: false },
  }
}

/** A database handle on a started engine as a target. */
export function handleTarget(engine: StartedEngine, db: DatabaseHandle): DbTarget {
  return {
    url: db.url,
    engineName: engine.name,
    describe: `${db.name} on ${engine.describe()}`,
    versions: engine.versions,
    capabilities: engine.capabilities,
    ...(db.physical ? { physical: db.physical } : {}),
    engine,
  }
}

/**
 * `--engine NAME` → a fresh disposable database on that engine (dropped by close());
 * otherwise DATABASE_URL. Engines are loaded lazily, so the production runner never loads them.
 */
export async function openDbTarget(options: { engine?: string; label?: string }): Promise<OpenedTarget> {
  const url = process.env.DATABASE_URL
  if (!options.engine && url) return { ...(await urlTarget(url)), close: async () => {} }
  if (!options.engine && !process.env.VERIFY_ENGINE) {
    throw new HarnessError('USAGE', 'no database to work on: DATABASE_URL is not set and no --engine was given', {
      hint: 'Set DATABASE_URL (the database to back up, restore or migrate), or pass --engine embedded|native|container for a rehearsal on a disposable database.',
    })
  }
  const { startEngine } = await import('../cli/target.ts')
  const engine = await startEngine(options.engine)
  try {
    if (!engine.capabilities.disposable) {
      return { ...(await urlTarget(engine.url)), engine, close: () => engine.stop() }
    }
    const db = await engine.createDatabase(options.label ?? 'target')
    return {
      ...handleTarget(engine, db),
      close: async () => {
        await db.drop().catch(() => {})
        await engine.stop()
      },
    }
  } catch (e) {
    await engine.stop().catch(() => {})
    throw e
  }
}
