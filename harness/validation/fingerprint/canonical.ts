/** Canonical forms: code-unit order, JSON with sorted keys, and the snapshot's hash. */
import { createHash } from 'node:crypto'
import { cmp } from '../../catalog/common.ts'
import type { SchemaSnapshot } from './types.ts'

export { cmp }

export const byName = <T extends { name: string }>(xs: T[]): T[] => [...xs].sort((x, y) => cmp(x.name, y.name))

/** `schema.name` */
export const q = (schema: string, name: string): string => `${schema}.${name}`

/** JSON with object keys sorted at every level. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value))
}

export function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys)
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const k of Object.keys(value as Record<string, unknown>).sort(cmp)) out[k] = sortKeys((value as Record<string, unknown>)[k])
    return out
  }
  return value
}

/** sha256 (hex) of the snapshot's canonical JSON. */
export function fingerprintHash(s: SchemaSnapshot): string {
  return createHash('sha256').update(canonicalJson(s)).digest('hex')
}
