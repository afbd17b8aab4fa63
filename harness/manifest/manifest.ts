/**
 * The manifest next to the migrations (`manifest.json`): what the migrations must produce,
 * what the server must offer before any of them runs, and what each migration does to existing
 * data. Optional for foreign directories. Read and validated once, here (loadManifest); every
 * reader uses the typed fields. Keys not listed in `Manifest` (description, bootstrap,
 * seedExpected, a migration's file/summary/alters …) are documentation: kept in the file, read
 * by no code.
 */
import { access } from 'node:fs/promises'
import { join } from 'node:path'
import { HarnessError } from '../errors.ts'
import { readOptionalFile } from '../util/files.ts'
import { validateDataChanges, type DataChange, type DeclaredDataChange } from './data-changes.ts'

export type { DataChange, DeclaredDataChange, RequiresChange } from './data-changes.ts'

export interface ExtensionRequirement {
  minVersion?: string
  /** "timescale" when TSL features (compression, policies) are used. */
  license?: string
}

export interface Requirements {
  extensions?: Record<string, ExtensionRequirement>
  postgres?: { minVersion?: string }
}

export interface HypertableSpec {
  table: string
  timeColumn: string
  chunkInterval?: string
  compression?: { segmentBy?: string[]; orderBy?: string; compressAfter?: string }
  retention?: string
}

export interface ManifestMigration {
  /** Objects (qualified names) this migration creates: what post-validation expects below the last version. */
  creates?: string[]
  /** Read them through declaredDataChanges(), which refuses them when they were invalid. */
  dataChanges?: DataChange[]
}

export interface Manifest {
  /** The migrations' schema: where migration_log lives unless --log-schema says otherwise. */
  schema?: string
  requirements?: Requirements
  tables?: string[]
  hypertables?: HypertableSpec[]
  views?: string[]
  functions?: string[]
  indexes?: string[]
  /** By migration name (the file name without .sql). */
  migrations?: Record<string, ManifestMigration>
  /**
   * What loadManifest found wrong in the `dataChanges`, kept rather than thrown: only their
   * readers (the data-properties stage, execute's preconditions) refuse the manifest through
   * declaredDataChanges(), so `migrate` and the other verify stages still run on it. When set,
   * no migration carries `dataChanges`.
   */
  dataChangesError?: HarnessError
}

export const MANIFEST_FILE = 'manifest.json'

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string')

export async function loadManifest(dir: string): Promise<Manifest | undefined> {
  const path = join(dir, MANIFEST_FILE)
  const text = await readOptionalFile(path)
  if (text === undefined) return undefined
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (e) {
    throw new HarnessError('MANIFEST_INVALID', `${path}: not valid JSON: ${(e as Error).message}`, { hint: 'Fix the JSON syntax (a trailing comma?).' })
  }
  if (!isObject(parsed)) {
    throw new HarnessError('MANIFEST_INVALID', `${path}: must be a JSON object`, { hint: 'See migrations/manifest.json for the shape.' })
  }
  const m = parsed as Manifest & Record<string, unknown>
  const invalid = (key: string, what: string, hint: string) => new HarnessError('MANIFEST_INVALID', `${path}: "${key}" ${what}`, { hint, details: { file: path, key } })

  if (m.schema !== undefined && typeof m.schema !== 'string') throw invalid('schema', 'must be a schema name', 'e.g. "schema": "factory_telemetry"')
  checkRequirements(m.requirements, invalid)
  for (const key of ['tables', 'views', 'functions', 'indexes'] as const) {
    const v = m[key]
    if (v !== undefined && !isStrings(v)) {
      throw new HarnessError('MANIFEST_INVALID', `${path}: "${key}" must be an array of qualified names`, { hint: 'e.g. ["factory_telemetry.metric_def"]' })
    }
  }
  if (m.hypertables !== undefined && (!Array.isArray(m.hypertables) || m.hypertables.some((h) => typeof h?.table !== 'string' || typeof h?.timeColumn !== 'string'))) {
    throw new HarnessError('MANIFEST_INVALID', `${path}: every "hypertables" entry needs "table" and "timeColumn"`, { hint: 'e.g. {"table": "s.metric_hist", "timeColumn": "ts"}' })
  }
  m.hypertables?.forEach((h, i) => checkHypertable(h, `hypertables[${i}]`, invalid))
  await checkMigrations(m, dir, path, invalid)
  return m
}

type Invalid = (key: string, what: string, hint: string) => HarnessError

function checkRequirements(r: unknown, invalid: Invalid): void {
  if (r === undefined) return
  const shape = 'e.g. {"extensions": {"timescaledb": {"minVersion": "2.11", "license": "timescale"}}, "postgres": {"minVersion": "15"}}'
  if (!isObject(r)) throw invalid('requirements', 'must be an object', shape)
  if (r.extensions !== undefined) {
    if (!isObject(r.extensions)) throw invalid('requirements.extensions', 'must map extension names to their requirements', shape)
    for (const [name, want] of Object.entries(r.extensions)) {
      const key = `requirements.extensions.${name}`
      if (!isObject(want)) throw invalid(key, 'must be an object ({"minVersion": …, "license": …})', shape)
      if (want.minVersion !== undefined && typeof want.minVersion !== 'string') throw invalid(`${key}.minVersion`, 'must be a version string', 'e.g. "minVersion": "2.11"')
      if (want.license !== undefined && typeof want.license !== 'string') throw invalid(`${key}.license`, 'must be a string', 'e.g. "license": "timescale" when compression or policies are used')
    }
  }
  if (r.postgres !== undefined) {
    if (!isObject(r.postgres)) throw invalid('requirements.postgres', 'must be an object', shape)
    if (r.postgres.minVersion !== undefined && typeof r.postgres.minVersion !== 'string') throw invalid('requirements.postgres.minVersion', 'must be a version string', 'e.g. "minVersion": "15"')
  }
}

function checkHypertable(h: HypertableSpec, key: string, invalid: Invalid): void {
  const interval = (k: 'chunkInterval' | 'retention', v: unknown) => {
    if (v !== undefined && typeof v !== 'string') throw invalid(`${key}.${k}`, 'must be an interval', `e.g. "${k}": "7 days"`)
  }
  interval('chunkInterval', h.chunkInterval)
  interval('retention', h.retention)
  const c: unknown = h.compression
  if (c === undefined) return
  const shape = 'e.g. "compression": {"segmentBy": ["device_id"], "orderBy": "ts DESC", "compressAfter": "7 days"}'
  if (!isObject(c)) throw invalid(`${key}.compression`, 'must be an object', shape)
  if (c.segmentBy !== undefined && !isStrings(c.segmentBy)) throw invalid(`${key}.compression.segmentBy`, 'must be an array of column names', shape)
  if (c.orderBy !== undefined && typeof c.orderBy !== 'string') throw invalid(`${key}.compression.orderBy`, 'must be a string', shape)
  if (c.compressAfter !== undefined && typeof c.compressAfter !== 'string') throw invalid(`${key}.compression.compressAfter`, 'must be an interval', shape)
}

async function checkMigrations(m: Manifest, dir: string, path: string, invalid: Invalid): Promise<void> {
  const migrations: unknown = m.migrations
  if (migrations === undefined) return
  if (!isObject(migrations)) throw invalid('migrations', 'must map migration names to their entries', 'e.g. "migrations": {"001_init": {"creates": ["s.t"]}}')
  for (const [name, entry] of Object.entries(migrations)) {
    const key = `migrations["${name}"]`
    if (!isObject(entry)) throw invalid(key, 'must be an object', 'e.g. {"creates": ["s.t"], "dataChanges": []}')
    if (entry.creates !== undefined && !isStrings(entry.creates)) throw invalid(`${key}.creates`, 'must be an array of qualified names', 'e.g. ["factory_telemetry.metric_def"]')
  }
  const entries = migrations as Record<string, ManifestMigration>
  try {
    for (const [name, entry] of Object.entries(entries)) {
      if (entry.dataChanges === undefined) continue
      const hasFile = await access(join(dir, `${name}.sql`)).then(
        () => true,
        () => false,
      )
      entry.dataChanges = validateDataChanges(entry.dataChanges, path, name, hasFile)
    }
  } catch (e) {
    if (!(e instanceof HarnessError)) throw e
    m.dataChangesError = e
    for (const entry of Object.values(entries)) delete entry.dataChanges
  }
}

/**
 * Every migration's declared data changes, in version order. Throws the MANIFEST_INVALID that
 * loadManifest found in them, for the readers that cannot go on without them.
 */
export function declaredDataChanges(manifest: Manifest | undefined): DeclaredDataChange[] {
  if (manifest?.dataChangesError) throw manifest.dataChangesError
  const out: DeclaredDataChange[] = []
  for (const [name, entry] of Object.entries(manifest?.migrations ?? {})) {
    for (const change of entry.dataChanges ?? []) out.push({ migration: name, version: Number(/^(\d+)/.exec(name)?.[1] ?? 0), change })
  }
  return out.sort((a, b) => a.version - b.version)
}
