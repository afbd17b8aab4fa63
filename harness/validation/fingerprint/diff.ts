/** A readable diff between two snapshots. */
import { canonicalJson, cmp } from './canonical.ts'
import { entries, type Entry } from './render.ts'
import type { SchemaSnapshot } from './types.ts'

/**
 * Readable differences from `a` to `b`: `+` present only in b, `-` only in a, `~` changed (`<a> → <b>`).
 * Empty when the snapshots are equal.
 */
export function diffSnapshots(a: SchemaSnapshot, b: SchemaSnapshot): string[] {
  const key = (e: Entry) => `${e.kind}\u0000${e.name}`
  const ma = new Map(entries(a).map((e) => [key(e), e]))
  const mb = new Map(entries(b).map((e) => [key(e), e]))
  const keys = [...new Set([...ma.keys(), ...mb.keys()])].sort((x, y) => {
    const [kx, nx] = x.split('\u0000') as [string, string]
    const [ky, ny] = y.split('\u0000') as [string, string]
    return cmp(nx, ny) || cmp(kx, ky)
  })
  const lines: string[] = []
  for (const k of keys) {
    const ea = ma.get(k)
    const eb = mb.get(k)
    // A whole table added or removed: its columns are listed, their order only matters when both sides have it.
    if ((ea ?? eb)!.kind === 'column order' && !(ea && eb)) continue
    if (ea && !eb) lines.push(`- ${ea.kind} ${ea.name}${ea.sep}${ea.text}`)
    else if (!ea && eb) lines.push(`+ ${eb.kind} ${eb.name}${eb.sep}${eb.text}`)
    else if (ea && eb && ea.text !== eb.text) lines.push(`~ ${ea.kind} ${ea.name}: ${ea.text} → ${eb.text}`)
  }
  if (lines.length === 0 && canonicalJson(a) !== canonicalJson(b)) {
    if (canonicalJson(a.schemas) !== canonicalJson(b.schemas)) lines.push(`~ schemas: ${a.schemas.join(', ')} → ${b.schemas.join(', ')}`)
    else lines.push('~ snapshot: differs in a detail not rendered by the diff (compare the JSON)')
  }
  return lines
}
