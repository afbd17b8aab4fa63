/**
 * The engine contract. Suites, the runner and the CLI only ever see these types:
 * nothing outside harness/engines/ may branch on an engine's name.
 */
import type { Environment } from '../config/environment.ts'

/** What a started engine can and cannot do; callers decide by flag, never by name. */
export interface EngineCapabilities {
  /** Several client connections with their own sessions (advisory locks, lock waits, terminate from a second session mean something). */
  concurrentConnections: boolean
  /** TimescaleDB can be created in a fresh database of this engine. */
  timescaledb: boolean
  /** TimescaleDB's TSL features (compression, retention and compression policies, jobs). */
  timescaledbCompression: boolean
  /** Background workers run TimescaleDB's policies by themselves (otherwise `CALL run_job(id)` by hand). */
  backgroundWorkers: boolean
  /** `CREATE INDEX CONCURRENTLY` and `WITH (timescaledb.transaction_per_chunk)` work. */
  nonTransactionalIndexBuilds: boolean
  /** Which logical dump tool fits this engine's server version. */
  dumpTool: 'pg_dump' | 'wasm-pg_dump' | 'none'
  /** A physical copy of a whole database can be taken and loaded (embedded data directory). */
  physicalSnapshot: boolean
  /** The harness created this server and may throw it away. False for `url`. */
  disposable: boolean
  /**
   * Work on different databases runs in parallel (a server process per session; the embedded
   * engine's databases created with `parallel`, each in a thread of its own), so stages on
   * databases of their own gain from running side by side even without `concurrentConnections`.
   */
  parallelDatabases: boolean
}

export interface EngineVersions {
  /** e.g. "15.18" */
  postgres: string
  /** Installed or installable TimescaleDB version, or "none". */
  timescaledb: string
  /** "timescale" (TSL features) | "apache" | "none" */
  timescaledbLicense: string
}

/**
 * Access to one database's instance itself, offered only where `capabilities.physicalSnapshot`
 * is true (the embedded engine), wherever the instance runs (this thread or a worker of its own).
 * Backups use it for the "volume backup" and for the WASM pg_dump.
 */
export interface PhysicalAccess {
  /** The whole data directory as a plain tar: loadable with `createDatabase(label, { from })`. */
  dumpDataDir(): Promise<Uint8Array>
  /**
   * The WASM pg_dump of `@electric-sql/pglite-tools` with `args`, run against the instance
   * (embedded-dump.ts); the plain SQL it wrote. It bypasses the socket: use it only while no
   * client of this database is in the middle of a query or transaction.
   */
  pgDump(args: string[]): Promise<Uint8Array>
}

export type ToolName = 'pg_dump' | 'pg_restore' | 'psql'

/**
 * A file a tool reads (`in`) or writes (`out`), given as a local path: a toolbox that runs the
 * tool elsewhere (inside a container) copies it there or back. `prefix` glues it to its flag
 * (`--file=`); without one it is an argument of its own.
 */
export interface ToolFile {
  in?: string
  out?: string
  prefix?: string
}
export type ToolArg = string | ToolFile

export interface ToolRun {
  code: number | null
  stdout: string
  stderr: string
  durationMs: number
}

/**
 * pg_dump, pg_restore and psql of exactly the server's version, wherever they run: the local
 * install's binaries, or the ones inside the server's own container. Callers hand in local
 * paths and the database URL they use themselves; the toolbox maps both for the tool.
 */
export interface DumpTools {
  /** e.g. "15.18" */
  readonly version: string
  /** Where the tools run, for logs and manifests: "/usr/lib/postgresql/15/bin", "inside container 1a2b3c (image)". */
  readonly where: string
  /** Never throws for a non-zero exit: the caller words the error. Passwords travel in PGPASSWORD, never in argv. */
  run(tool: ToolName, args: readonly ToolArg[], options?: { connect?: string; env?: Record<string, string>; timeoutMs?: number }): Promise<ToolRun>
}

/** One database on a started engine: where to connect, and how to throw it away. */
export interface DatabaseHandle {
  /** Connection URL for `pg` (never logged as-is: see util/redact). */
  readonly url: string
  readonly name: string
  /** Drops the database (a no-op for databases the harness did not create). Idempotent. */
  drop(): Promise<void>
  /** Present only when the engine has `capabilities.physicalSnapshot`. */
  readonly physical?: PhysicalAccess
}

export interface CreateDatabaseOptions {
  /**
   * Start from this physical snapshot (a `PhysicalAccess.dumpDataDir()` tar, plain or gzip-compressed) instead of an empty
   * database. Only meaningful with `capabilities.physicalSnapshot`: callers check that flag first
   * (the server engines do not read this option).
   */
  from?: Uint8Array
  /**
   * Server engines: a copy of this database of the same server (CREATE DATABASE … TEMPLATE), which
   * must have no open session. A file copy, so a database at version k costs the same whatever k is.
   * Engines without several sessions (embedded) do not read it: callers check concurrentConnections.
   */
  template?: string
  /**
   * These extensions created in the new database before it is handed over (CREATE EXTENSION IF NOT
   * EXISTS, in the default schema), as the runner's bootstrap would create them: for callers whose
   * first step is that bootstrap anyway. The embedded engine boots TimescaleDB's from the cluster
   * it keeps with the extension created, instead of running CREATE EXTENSION in WASM (~0.25 s of
   * CPU per database, more on a busy machine). Not with `from` or `template` (a copy holds what it holds).
   */
  extensions?: string[]
  /**
   * Run this database apart from the others, so that work on it proceeds in parallel with
   * theirs (the embedded engine: a worker thread of its own, `physical` served from there).
   * Server engines do not read it: their databases always work in parallel.
   */
  parallel?: boolean
}

export interface StartedEngine {
  readonly name: EngineName
  /** URL of the engine's default database. */
  readonly url: string
  readonly versions: EngineVersions
  readonly capabilities: EngineCapabilities
  /** Human-readable one-liner: "embedded: PostgreSQL 17.5 (WASM, single connection, no background workers) + TimescaleDB 2.23.0-dev (timescale license)". */
  describe(): string
  /**
   * Where the engine keeps its databases' files and how to give it more room, for an engine the
   * harness runs itself: said when the server runs short of disk (a server of the user's own has
   * its own storage, which we do not know).
   */
  readonly storage?: string
  /** A new, empty database (no extensions created), cheap enough to make per test; or a copy of a physical snapshot (`options.from`). */
  createDatabase(label?: string, options?: CreateDatabaseOptions): Promise<DatabaseHandle>
  /**
   * The dump tools that belong to this server, when they are not simply the local install's
   * (the container engine runs the ones inside its container, so versions always match).
   */
  dumpTools?(): Promise<DumpTools>
  /** Stops the engine and removes everything it made. Idempotent; safe to call from signal handlers. */
  stop(): Promise<void>
}

export type EngineName = 'embedded' | 'native' | 'container' | 'url'

/**
 * The configured values engines need, read by config/ and handed in (flags, environment,
 * pgverify.config.json). Anything left out falls back to config's reading of the environment.
 */
export interface EngineSettings {
  /** DATABASE_URL: the url engine's server. */
  databaseUrl?: string
  /** The container engine's image and where that choice came from (default: the pinned image). */
  containerImage?: { image: string; source: string }
  /** PG_BIN: the bin directory of the PostgreSQL install the native engine runs. */
  pgBin?: string
  /** PGVERIFY_CLUSTER_DIR and TMPDIR, which decide where the native engine's cluster goes (engines/cluster-dir.ts). */
  clusterEnv?: Pick<Environment, 'clusterDir' | 'tmpDir'>
}

export interface EngineStartOptions extends EngineSettings {
  /** Where log lines about starting/stopping go. Defaults to stderr. */
  log?: (line: string) => void
  /**
   * Let TimescaleDB's background workers run policies by themselves (server engines that the
   * harness starts). Off by default: a proof must not depend on when a retention job fires;
   * jobs are run explicitly (`CALL run_job`) where a stage wants their effect.
   */
  backgroundJobs?: boolean
  /**
   * The caller's first database will be one that works beside others (`parallel`): an engine
   * that serves those from worker threads (embedded) starts one while it boots, so that database
   * does not wait for a worker to load PostgreSQL. Verify asks for it; a command that never
   * makes such a database should not (the worker would load for nothing).
   */
  threadAhead?: boolean
}

export interface EngineProvider {
  readonly name: EngineName
  /** Whether this engine can start here; the reason is printed when it is chosen or skipped. */
  probe(settings?: EngineSettings): Promise<{ ok: boolean; reason: string }>
  start(options?: EngineStartOptions): Promise<StartedEngine>
}
