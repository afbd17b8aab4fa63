/**
 * The database a backup, restore or execute works on, with what the backup code needs to know
 * about its engine: versions, the dump-tool capability and (embedded engine) physical access.
 *
 * Opened from DATABASE_URL (the production case: the `url` engine's capabilities, without
 * loading any engine module) or from `--engine NAME` (a disposable database on that engine, for
 * rehearsals). The production runner bundle keeps only the DATABASE_URL path.
 */
import type { DatabaseHandle, DumpTools, EngineCapabilities, EngineVersions, PhysicalAccess, StartedEngine } from '../engines/types.ts'
import { redactUrl } from '../util/redact.ts'
import { localDumpTools } from './tools.ts'

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
  /** pg_dump/pg_restore/psql of this server's version (for `dumpTool: 'pg_dump'`): the engine's own, else the local install's. */
  dumpTools(): Promise<DumpTools>
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
    dumpTools: () => localDumpTools(versions.postgres),
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
    dumpTools: () => (engine.dumpTools ? engine.dumpTools() : localDumpTools(engine.versions.postgres)),
  }
}

/**
 * `--engine NAME` → a fresh disposable database on that engine (dropped by close());
 * otherwise DATABASE_URL. The decision is engines/target.ts's openTarget, shared with `pnpm migrate`;
 * it is loaded lazily, so the production runner never loads the engines.
 */
export async function openDbTarget(options: { engine?: string; label?: string }): Promise<OpenedTarget> {
  const { openTarget } = await import('../engines/target.ts')
  const t = await openTarget(options)
  try {
    if (t.engine && t.db) return { ...handleTarget(t.engine, t.db), close: t.close }
    return { ...(await urlTarget(t.url)), ...(t.engine ? { engine: t.engine } : {}), close: t.close }
  } catch (e) {
    await t.close().catch(() => {})
    throw e
  }
}
