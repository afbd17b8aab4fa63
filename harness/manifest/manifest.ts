/**
 * The manifest next to the migrations (`manifest.json`): what the migrations must produce,
 * and what the server must offer before any of them runs. Optional for foreign directories.
 */
import { join } from 'node:path'
import { HarnessError } from '../errors.ts'
import { readOptionalFile } from '../util/files.ts'

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

export interface Manifest {
  schema?: string
  requirements?: Requirements
  tables?: string[]
  hypertables?: HypertableSpec[]
  views?: string[]
  functions?: string[]
  indexes?: string[]
  migrations?: Record<string, { creates?: string[] }>
  [key: string]: unknown
}

export const MANIFEST_FILE = 'manifest.json'

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
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new HarnessError('MANIFEST_INVALID', `${path}: must be a JSON object`, { hint: 'See migrations/manifest.json for the shape.' })
  }
  const m = parsed as Manifest
  for (const key of ['tables', 'views', 'functions', 'indexes'] as const) {
    const v = m[key]
    if (v !== undefined && (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))) {
      throw new HarnessError('MANIFEST_INVALID', `${path}: "${key}" must be an array of qualified names`, { hint: 'e.g. ["factory_telemetry.metric_def"]' })
    }
  }
  if (m.hypertables !== undefined && (!Array.isArray(m.hypertables) || m.hypertables.some((h) => typeof h?.table !== 'string' || typeof h?.timeColumn !== 'string'))) {
    throw new HarnessError('MANIFEST_INVALID', `${path}: every "hypertables" entry needs "table" and "timeColumn"`, { hint: 'e.g. {"table": "s.metric_hist", "timeColumn": "ts"}' })
  }
  return m
}
