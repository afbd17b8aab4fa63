/** Deterministic randomness: counter-based hashing, so every value depends on the seed and its coordinates only. */

/** 32-bit avalanche mix (murmur3 fmix32). */
function fmix(h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** A hash of up to four integers (any magnitude up to 2^53) into 32 bits. */
export function hash(a: number, b = 0, c = 0, d = 0): number {
  let h = 0x9e3779b9
  for (const v of [a, b, c, d]) {
    const lo = v >>> 0
    const hi = Math.floor(v / 4294967296) >>> 0
    h = fmix((h ^ lo) + 0x7f4a7c15)
    h = fmix((h ^ hi) + 0x165667b1)
  }
  return h
}

/** Uniform in [0, 1) from a counter: the same inputs always give the same value. */
export const u01 = (a: number, b = 0, c = 0, d = 0): number => hash(a, b, c, d) / 4294967296

/** Approximately standard normal (sum of three uniforms, variance 1), counter-based. */
export const gauss = (a: number, b = 0, c = 0, d = 0): number =>
  (u01(a, b, c, d) + u01(a, b, c, d ^ 0x5bd1e995) + u01(a, b ^ 0x1b873593, c, d) - 1.5) * 2

/** A sequential PRNG (mulberry32) for event timelines. */
export function prng(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A version-4-shaped UUID derived from the seed, a kind and an index. */
export function uuidFor(seed: number, kind: string, index: number): string {
  let k = 0
  for (let i = 0; i < kind.length; i++) k = fmix(k ^ kind.charCodeAt(i)) + i
  const words = [0, 1, 2, 3].map((w) => hash(seed, k, index, w).toString(16).padStart(8, '0'))
  const hex = words.join('')
  const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16)
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`
}

// Stream identifiers for counter-based noise (arbitrary distinct constants).
export const S = { speed: 11, temp: 12, current: 13, quality: 14, scrap: 15, oee: 21, oeePerf: 22, energy: 31, volt: 32, pf: 33, fault: 41, ongoing: 42, phase: 51, nominal: 52 }
