/**
 * The fingerprints a run records (one per version, taken by replay, read back by later stages
 * to compare with) kept packed: canonical JSON, deflated. A snapshot object of a real schema is
 * hundreds of kilobytes of small strings and arrays; packed it is a few tens, so keeping one per
 * version no longer makes memory grow with the number of migrations the way the objects did.
 * Each `get` unpacks a fresh copy: the caller compares it and drops it.
 */
import { deflateSync, inflateSync } from 'node:zlib'
import type { SchemaSnapshot } from './types.ts'

/** What stages need of the recorded fingerprints: a plain Map satisfies it too. */
export interface Snapshots {
  get(version: number): SchemaSnapshot | undefined
  set(version: number, snapshot: SchemaSnapshot): unknown
  readonly size: number
}

export class PackedSnapshots implements Snapshots {
  private readonly packed = new Map<number, Buffer>()

  get size(): number {
    return this.packed.size
  }

  set(version: number, snapshot: SchemaSnapshot): this {
    this.packed.set(version, deflateSync(JSON.stringify(snapshot)))
    return this
  }

  get(version: number): SchemaSnapshot | undefined {
    const p = this.packed.get(version)
    return p ? (JSON.parse(inflateSync(p).toString('utf8')) as SchemaSnapshot) : undefined
  }

  /** Bytes held, packed. */
  bytes(): number {
    let n = 0
    for (const p of this.packed.values()) n += p.length
    return n
  }
}
