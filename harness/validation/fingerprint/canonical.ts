/** Canonical forms: code-unit order, JSON with sorted keys, and the snapshot's hash. */
import { createHash } from 'node:crypto'
import { canonicalJson, cmp, sortKeys } from '../../util/canonical.ts'
import type { SchemaSnapshot } from './types.ts'

export { canonicalJson, cmp, sortKeys }

export const byName = <T extends { name: string }>(xs: T[]): T[] => [...xs].sort((x, y) => cmp(x.name, y.name))

/** `schema.name` */
export const q = (schema: string, name: string): string => `${schema}.${name}`

/** sha256 (hex) of the snapshot's canonical JSON. */
export function fingerprintHash(s: SchemaSnapshot): string {
  return createHash('sha256').update(canonicalJson(s)).digest('hex')
}
