/** Canonical forms that do not depend on the machine: code-unit order and JSON with sorted keys. */

/** Code-unit order: the same on every machine, whatever the database's or Node's collation. */
export const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

/** The value with object keys sorted at every level (arrays keep their order). */
export function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys)
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const k of Object.keys(value as Record<string, unknown>).sort(cmp)) out[k] = sortKeys((value as Record<string, unknown>)[k])
    return out
  }
  return value
}

/** JSON with object keys sorted at every level. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value))
}
