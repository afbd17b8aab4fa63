/**
 * The configuration of one command, read once: the environment (environment.ts) and
 * `pgverify.config.json` (file.ts) over the defaults. Command-line flags come last and win:
 * each verb applies its own flags over these values (flags > environment > config file >
 * defaults), so every precedence decision is visible where the flag is parsed.
 *
 * Modules below the CLI never read this themselves: they receive the values they need.
 */
import path from 'node:path'
import { CONFIG_FILE, loadConfigFile, type ConfigFile, type ThresholdKey } from './file.ts'
import { connectTimeoutMs, ENV, PG, readEnvironment, type Environment } from './environment.ts'
import { checkDatabaseUrl, urlFromPgVariables } from './database-url.ts'

export { CONFIG_FILE, type ConfigFile } from './file.ts'
export { readEnvironment, type Environment } from './environment.ts'

/** A value with where it came from, for messages ("chosen by VERIFY_ENGINE"). */
export interface Sourced<T> {
  value: T
  source: string
}

export interface Config {
  /** Absolute path of the config file, when one was read. */
  file?: string
  env: Environment
  /** DATABASE_URL, else the URL of the PG* variables (environment only: a secret has no place in a committed file). Checked: a malformed one is a usage error. */
  databaseUrl?: string
  /** Where databaseUrl came from: "DATABASE_URL" or "PGHOST/PGPORT/…". */
  databaseUrlSource?: string
  /** The engine when no --engine is given: VERIFY_ENGINE, else the config file's. */
  engine?: Sourced<string>
  /** The container image: PGVERIFY_CONTAINER_IMAGE, else the config file's; undefined = the pinned default. */
  containerImage?: Sourced<string>
  /** PG_BIN. */
  pgBin?: string
  /** The migrations directory (absolute). */
  dir: string
  /** MIGRATION_LOG_SCHEMA, else the config file's; undefined = the manifest's schema, else public. */
  logSchema?: string
  /** The config file's, else undefined (the runner's default, migration_log). */
  logTable?: string
  /** Absolute. */
  backupRoot: string
  /** Backups older than this many days are pruned (never the newest). */
  keepDays: number
  /** Where verify, bench and execute write their reports (absolute). */
  reports: string
  lockWaitMs: number
  /** The watchdog's limit on a statement waiting for a table lock (ms); 0 turns it off (runner/watchdog.ts). */
  stallTimeoutMs: number
  /** Bench limits replacing the seeds' defaults, by threshold id. */
  thresholds: Partial<Record<ThresholdKey, number>>
  lint: { allowFile?: string }
  /** plan --rehearse: production row counts per schema.table (the config file's), when no --size-from URL is given. */
  productionRows?: Record<string, number>
}

export const DEFAULTS = {
  dir: 'migrations',
  backupRoot: 'backups',
  keepDays: 7,
  reports: 'reports',
  lockWaitMs: 60_000,
  stallTimeoutMs: 60_000,
} as const

export interface ConfigSources {
  env?: Environment
  file?: ConfigFile
  cwd?: string
  /** Defaults of this program that differ from DEFAULTS (the production runner's bundled migrations). */
  defaults?: { dir?: string }
}

function database(env: Environment): Pick<Config, 'databaseUrl' | 'databaseUrlSource'> {
  if (env.databaseUrl !== undefined) return { databaseUrl: checkDatabaseUrl(env.databaseUrl, ENV.databaseUrl), databaseUrlSource: ENV.databaseUrl }
  const url = urlFromPgVariables(env.pg)
  if (url === undefined) return {}
  const source = Object.entries(PG).filter(([k]) => env.pg[k as keyof typeof env.pg] !== undefined).map(([, n]) => n).join(', ')
  return { databaseUrl: checkDatabaseUrl(url, source), databaseUrlSource: source }
}

/** Environment over file over defaults. Pure: tests hand in both sources. */
export function resolveConfig(sources: ConfigSources = {}): Config {
  const env = sources.env ?? readEnvironment()
  // Sessions read it again where they open (runner/connect.ts); a bad value is refused here, before any engine.
  connectTimeoutMs(env)
  const file = sources.file
  const cwd = sources.cwd ?? process.cwd()
  const from = <T>(envValue: T | undefined, envName: string, fileValue: T | undefined, fileKey: string): Sourced<T> | undefined =>
    envValue !== undefined ? { value: envValue, source: envName } : fileValue !== undefined ? { value: fileValue, source: `${CONFIG_FILE} "${fileKey}"` } : undefined
  return {
    ...(file ? { file: file.path } : {}),
    env,
    ...database(env),
    engine: from(env.engine, ENV.engine, file?.engine, 'engine'),
    containerImage: from(env.containerImage, ENV.containerImage, file?.containerImage, 'containerImage'),
    pgBin: env.pgBin,
    dir: file?.migrations ?? path.resolve(cwd, sources.defaults?.dir ?? DEFAULTS.dir),
    logSchema: env.logSchema ?? file?.logSchema,
    logTable: file?.logTable,
    backupRoot: file?.backupRoot ?? path.resolve(cwd, DEFAULTS.backupRoot),
    keepDays: file?.retention?.keepDays ?? DEFAULTS.keepDays,
    reports: file?.reports ?? path.resolve(cwd, DEFAULTS.reports),
    lockWaitMs: file?.lockWaitMs ?? DEFAULTS.lockWaitMs,
    stallTimeoutMs: file?.stallTimeoutMs ?? DEFAULTS.stallTimeoutMs,
    thresholds: { ...file?.thresholds },
    lint: { ...file?.lint },
    ...(file?.productionRows ? { productionRows: { ...file.productionRows } } : {}),
  }
}

/** Reads the environment and the config file of `cwd` once, for one command. */
export async function loadConfig(options: { cwd?: string; env?: NodeJS.ProcessEnv; defaults?: { dir?: string } } = {}): Promise<Config> {
  const cwd = options.cwd ?? process.cwd()
  return resolveConfig({ env: readEnvironment(options.env), file: await loadConfigFile(cwd), cwd, defaults: options.defaults })
}
