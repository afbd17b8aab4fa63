/**
 * Offsets to 1-based line and column, in O(log n) per lookup after one linear pass over the
 * text. Columns count UTF-16 code units, as the rest of the harness does.
 */

export interface Position {
  line: number
  column: number
}

export class LineIndex {
  /** Offset of the first character of each line (line 1 starts at 0). */
  private readonly starts: number[]
  constructor(readonly source: string) {
    const starts = [0]
    for (let i = source.indexOf('\n'); i >= 0; i = source.indexOf('\n', i + 1)) starts.push(i + 1)
    this.starts = starts
  }

  at(offset: number): Position {
    const o = Math.max(0, Math.min(offset, this.source.length))
    let lo = 0
    let hi = this.starts.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1
      if (this.starts[mid]! <= o) lo = mid
      else hi = mid - 1
    }
    return { line: lo + 1, column: o - this.starts[lo]! + 1 }
  }
}

// The last few sources asked about keep their index: callers locate many offsets in one file.
const cache: LineIndex[] = []

export function lineIndex(source: string): LineIndex {
  const hit = cache.find((c) => c.source === source)
  if (hit) return hit
  const made = new LineIndex(source)
  cache.unshift(made)
  if (cache.length > 4) cache.pop()
  return made
}

export function lineColumnAt(source: string, offset: number): Position {
  return lineIndex(source).at(offset)
}
