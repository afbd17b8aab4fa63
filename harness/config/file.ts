/**
 * `pgverify.config.json` in the working directory: the project's settings, so the command line
 * stays short. Every key is optional; an unknown key or a value of the wrong kind is a usage
 * error naming the key (a misspelt setting must not be silently ignored).
 *
 *   {
 *     "migrations": "db/migrations",          directory of the migration files
 *     "logSchema": "factory_telemetry",       schema of the migration log
 *     "logTable": "migration_log",            table of the migration log
 *     "engine": "native",                     embedded | native | container | url
 *     "containerImage": "registry/pg:15",     the container engine's image
 *     "backupRoot": "backups",                where backups are written and pruned
 *     "retention": { "keepDays": 7 },         backup prune: days kept (the newest always is)
 *     "reports": "reports",                   where verify, bench and execute write reports
 *     "lockWaitMs": 60000,                    wait for another runner's lock
 *     "stallTimeoutMs": 60000,                cancel a statement stuck on a table lock this long (0: never)
 *     "thresholds": { "dashboard": 100 },     bench: the seeds' limits, by threshold id
 *     "lint": { "allowFile": "lint-allow.json" }   the lint allow-list (default: in the migrations directory)
 *     "productionRows": { "factory_telemetry.metric_hist": 36000000 }
 *                                             plan --rehearse: production row counts per schema.table
 *                                             (instead of reading them with --size-from URL)
 *   }
 *
 * Relative paths are relative to the file's directory.
 */
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { HarnessError } from '../errors.ts'

export const CONFIG_FILE = 'pgverify.config.json'

/** What the engine names are; engines/select.ts holds the engines themselves. */
export const ENGINE_CHOICES = ['embedded', 'native', 'container', 'url'] as const

/** The bench thresholds a config file may set (measure/thresholds.ts has their defaults and sources). */
export const THRESHOLD_IDS = ['insert', 'query', 'dashboard', 'connect', 'ingest', 'compression', 'storage'] as const
export type ThresholdKey = (typeof THRESHOLD_IDS)[number]

export interface ConfigFile {
  /** Absolute path of the file read. */
  path: string
  migrations?: string
  logSchema?: string
  logTable?: string
  engine?: (typeof ENGINE_CHOICES)[number]
  containerImage?: string
  backupRoot?: string
  retention?: { keepDays?: number }
  reports?: string
  lockWaitMs?: number
  stallTimeoutMs?: number
  thresholds?: Partial<Record<ThresholdKey, number>>
  lint?: { allowFile?: string }
  productionRows?: Record<string, number>
}

type Check = (v: unknown, key: string, file: string) => unknown

const fail = (file: string, key: string, what: string, hint?: string): never => {
  throw new HarnessError('USAGE', `${file}: "${key}" ${what}`, { hint: hint ?? `Fix or remove "${key}" in ${file} (see the README, "Configuration").` })
}

const text: Check = (v, key, file) => (typeof v === 'string' && v.trim() !== '' ? v : fail(file, key, `must be a non-empty string, got ${JSON.stringify(v)}`))
const pathIn = (dir: string): Check => (v, key, file) => path.resolve(dir, text(v, key, file) as string)
const identifier: Check = (v, key, file) => {
  const s = text(v, key, file) as string
  return /^[A-Za-z_][A-Za-z0-9_$]*$/.test(s) ? s : fail(file, key, `must be a plain SQL identifier (letters, digits, _), got ${JSON.stringify(s)}`)
}
const wholeNumber: Check = (v, key, file) => (typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : fail(file, key, `must be a whole number ≥ 0, got ${JSON.stringify(v)}`))
const positive: Check = (v, key, file) => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : fail(file, key, `must be a number > 0, got ${JSON.stringify(v)}`))
const oneOf = (choices: readonly string[]): Check => (v, key, file) => (typeof v === 'string' && choices.includes(v) ? v : fail(file, key, `must be one of ${choices.join(', ')}, got ${JSON.stringify(v)}`))

/** `{ "schema.table": rows }`: a qualified name (as regclass prints it) and a whole number each. */
function tableRows(v: unknown, key: string, file: string): Record<string, number> {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return fail(file, key, `must be an object of "schema.table": rows, got ${JSON.stringify(v)}`)
  const out: Record<string, number> = {}
  for (const [table, rows] of Object.entries(v)) {
    if (!/^[^.\s]+\.[^.\s]+$/.test(table)) fail(file, `${key}.${table}`, 'is not a schema-qualified table name (schema.table)', `Name each table with its schema, e.g. "factory_telemetry.metric_hist".`)
    out[table] = wholeNumber(rows, `${key}.${table}`, file) as number
  }
  return out
}

function object(v: unknown, key: string, file: string, fields: Record<string, Check>): Record<string, unknown> {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return fail(file, key, `must be an object, got ${JSON.stringify(v)}`)
  const out: Record<string, unknown> = {}
  for (const [k, val] of Object.entries(v)) {
    const name = key ? `${key}.${k}` : k
    const check = fields[k]
    if (!check) fail(file, name, 'is not a setting', `Known ${key ? `keys of "${key}"` : 'settings'}: ${Object.keys(fields).join(', ')}.`)
    out[k] = check!(val, name, file)
  }
  return out
}

/** Validates the parsed JSON of a config file; relative paths are resolved against `dir`. */
export function validateConfig(value: unknown, file: string, dir: string = path.dirname(file)): ConfigFile {
  const fields: Record<string, Check> = {
    $schema: () => undefined,
    migrations: pathIn(dir),
    logSchema: identifier,
    logTable: identifier,
    engine: oneOf(ENGINE_CHOICES),
    containerImage: text,
    backupRoot: pathIn(dir),
    retention: (v, key, f) => object(v, key, f, { keepDays: wholeNumber }),
    reports: pathIn(dir),
    lockWaitMs: wholeNumber,
    stallTimeoutMs: wholeNumber,
    thresholds: (v, key, f) => object(v, key, f, Object.fromEntries(THRESHOLD_IDS.map((id) => [id, positive]))),
    lint: (v, key, f) => object(v, key, f, { allowFile: pathIn(dir) }),
    productionRows: (v, key, f) => tableRows(v, key, f),
  }
  const values = object(value, '', file, fields)
  delete values.$schema
  return { path: file, ...values } as ConfigFile
}

/** Reads `pgverify.config.json` from `cwd`; undefined when there is none. */
export async function loadConfigFile(cwd: string = process.cwd()): Promise<ConfigFile | undefined> {
  const file = path.resolve(cwd, CONFIG_FILE)
  let raw: string
  try {
    raw = await readFile(file, 'utf8')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new HarnessError('USAGE', `${file}: cannot read the config file: ${(e as Error).message}`, { hint: 'Make it readable, or remove it.' })
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(raw)
  } catch (e) {
    throw new HarnessError('USAGE', `${file}: not valid JSON: ${(e as Error).message}`, { hint: `${CONFIG_FILE} is one JSON object of settings (see the README, "Configuration").` })
  }
  return validateConfig(parsed, file)
}
