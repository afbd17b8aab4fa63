/**
 * The one place that decides where a command works, and the one type for it: a `Target` is a
 * database with what the commands need to know about its server (versions, capabilities, the
 * dump tools, physical access on the embedded engine) and how to let go of it.
 *
 *   openTarget     --engine NAME → a fresh disposable database on that engine (a rehearsal);
 *                  else DATABASE_URL (production: never dropped); else the engine named by
 *                  VERIFY_ENGINE or the config file; else a usage error saying how to choose
 *   handleTarget   a database the caller made on an engine it started (suites, round trips)
 *   startEngine    an engine chosen by name or automatically, torn down on Ctrl-C/SIGTERM
 *
 * The caller hands in what it read from the command line, the environment and the config file
 * (config/), and where its log lines go: nothing here reads the environment or prints itself.
 * DATABASE_URL is opened without loading any engine module beyond the url engine's probe, so
 * the production runner bundle (where engines/select.ts is a stub) keeps working.
 */
import { HarnessError } from '../errors.ts'
import { redactUrl } from '../util/redact.ts'
import { installSignalHandlers, registerCleanup } from './cleanup.ts'
import { localDumpTools } from './client-tools.ts'
import { chooseEngine, type EngineRequest } from './select.ts'
import type { DatabaseHandle, DumpTools, EngineCapabilities, EngineSettings, EngineVersions, PhysicalAccess, StartedEngine } from './types.ts'
import { readServer } from './url.ts'

export type { EngineRequest } from './select.ts'

export interface Target {
  /** Connection URL (never printed as-is: see util/redact). */
  url: string
  /** `url` for DATABASE_URL, else the engine's name. */
  engineName: string
  /** For people: `url: postgres://…: PostgreSQL 15.18 + TimescaleDB 2.28.3`, `verify_1 on native: …`. */
  describe: string
  versions: EngineVersions
  capabilities: Pick<EngineCapabilities, 'dumpTool' | 'physicalSnapshot' | 'concurrentConnections' | 'disposable'>
  /** Present on engines with `physicalSnapshot` (the embedded engine's data directory, its PGlite). */
  physical?: PhysicalAccess
  /** The engine, when the harness started one (restores into fresh databases use it). */
  engine?: StartedEngine
  /** The database made on that engine (absent for DATABASE_URL and the url engine's own database). */
  db?: DatabaseHandle
  /** pg_dump/pg_restore/psql of this server's version (for `dumpTool: 'pg_dump'`): the engine's own, else the local install's. */
  dumpTools(): Promise<DumpTools>
  /** Lets go of what opening the target started (database, engine). A no-op for a database the caller owns. */
  close(): Promise<void>
}

export interface StartEngineOptions {
  /** The engine asked for by name, and by whom; absent: the most production-like one present. */
  request?: EngineRequest
  settings?: EngineSettings
  /** Where the choice, its reason and the engine's start-up lines go. */
  log: (line: string) => void
  /** See EngineStartOptions.threadAhead. */
  threadAhead?: boolean
}

/** Starts the requested (or automatically chosen) engine; Ctrl-C and SIGTERM stop it. */
export async function startEngine(options: StartEngineOptions): Promise<StartedEngine> {
  installSignalHandlers()
  const settings = options.settings ?? {}
  const choice = await chooseEngine(options.request, settings)
  options.log(`engine: ${choice.provider.name} (${choice.reason})`)
  const engine = await choice.provider.start({ ...settings, log: options.log, threadAhead: options.threadAhead })
  // Native and container engines register their own teardown; this covers every engine alike.
  const unregister = registerCleanup(`${engine.name} engine`, () => engine.stop())
  const stop = engine.stop.bind(engine)
  return Object.assign(engine, {
    stop: async () => {
      unregister()
      await stop()
    },
  })
}

/** DATABASE_URL as a target: an existing server, never dropped; dumps with the local pg_dump of its major. */
export async function urlTarget(url: string, settings: EngineSettings = {}): Promise<Target> {
  const versions = await readServer(url)
  return {
    url,
    engineName: 'url',
    describe: `url: ${redactUrl(url)}: PostgreSQL ${versions.postgres} + TimescaleDB ${versions.timescaledb}`,
    versions,
    capabilities: { dumpTool: 'pg_dump', physicalSnapshot: false, concurrentConnections: true, disposable: false },
    dumpTools: () => localDumpTools(versions.postgres, settings.pgBin),
    close: async () => {},
  }
}

/**
 * A database on a started engine as a target (without `db`: the engine's own database, as for
 * the url engine). The caller owns both: close() leaves them alone.
 */
export function handleTarget(engine: StartedEngine, db?: DatabaseHandle, settings: EngineSettings = {}): Target {
  return {
    url: db?.url ?? engine.url,
    engineName: engine.name,
    describe: db ? `${db.name} on ${engine.describe()}` : engine.describe(),
    versions: engine.versions,
    capabilities: engine.capabilities,
    ...(db?.physical ? { physical: db.physical } : {}),
    engine,
    ...(db ? { db } : {}),
    dumpTools: () => (engine.dumpTools ? engine.dumpTools() : localDumpTools(engine.versions.postgres, settings.pgBin)),
    close: async () => {},
  }
}

export interface OpenTargetOptions {
  /** `--engine NAME`: a disposable database on that engine, even when DATABASE_URL is set. */
  engine?: string
  /** DATABASE_URL. */
  databaseUrl?: string
  /** The engine to use when neither --engine nor DATABASE_URL says (VERIFY_ENGINE, the config file). */
  fallbackEngine?: EngineRequest
  /** Part of the disposable database's name (`backup`, `restore`, …). */
  label?: string
  settings?: EngineSettings
  log: (line: string) => void
}

/** The one decision: --engine, else DATABASE_URL, else the configured engine, else a usage error. */
export async function openTarget(options: OpenTargetOptions): Promise<Target> {
  const settings: EngineSettings = { ...options.settings, ...(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {}) }
  // A command on a database cleans up on Ctrl-C/SIGTERM too (partial backups, dump tools, sessions).
  installSignalHandlers()
  if (!options.engine && options.databaseUrl) return urlTarget(options.databaseUrl, settings)
  const request = options.engine ? { name: options.engine, source: '--engine' } : options.fallbackEngine
  if (!request) {
    throw new HarnessError('USAGE', 'no database to work on: DATABASE_URL is not set and no --engine was given', {
      hint: 'Set DATABASE_URL, or PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE as for psql (for a throw-away server: run `pnpm db` in another terminal and export the line it prints), or pass --engine embedded|native|container for a rehearsal on a disposable database.',
    })
  }
  const engine = await startEngine({ request, settings, log: options.log })
  try {
    // The url engine: the server named by DATABASE_URL itself, never dropped.
    if (!engine.capabilities.disposable) return { ...handleTarget(engine, undefined, settings), close: () => engine.stop() }
    const db = await engine.createDatabase(options.label ?? 'migrate')
    options.log(`database: ${db.name} on ${engine.describe()} (disposable: dropped when the command ends)`)
    return {
      ...handleTarget(engine, db, settings),
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
