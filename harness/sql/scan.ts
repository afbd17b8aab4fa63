/**
 * The small hand-written fallback under the parser: one linear pass that knows what can hide a
 * semicolon in PostgreSQL ('…' strings with '' and E'…' backslash escapes, "…" identifiers,
 * $tag$…$tag$ bodies, -- and nested /* *\/ comments, BEGIN ATOMIC … END bodies). It gives:
 *   - candidate statement ranges, which the parser confirms in batches (split.ts) and which stand
 *     alone only for a statement the parser refuses (a syntax error);
 *   - `code`: the text with comments, literals and bodies blanked, for pattern checks where the
 *     parser cannot go (PL/pgSQL bodies are strings to it);
 *   - where an unterminated literal, identifier, body or comment starts.
 */

export interface Candidate {
  /** First token. */
  start: number
  /** The terminating `;`, or the end of the source. */
  end: number
}

export interface Scan {
  candidates: Candidate[]
  /** Same length as the source: comments, string contents and dollar-quoted bodies blanked (newlines kept). */
  code: string
  /** Offset of what opened an unterminated literal, identifier, body or comment, if any. */
  unterminated?: number
}

const isIdentStart = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c >= 128
const isIdentChar = (c: number) => isIdentStart(c) || (c >= 48 && c <= 57) || c === 36
const isSpace = (c: number) => c === 32 || c === 10 || c === 9 || c === 13 || c === 12 || c === 11
/** a, b, c, e: the first letters of ATOMIC, BEGIN, CASE, END (lower-cased char codes). */
const ATOMIC_WORD_START = new Set([97, 98, 99, 101])
const DOLLAR_TAG = /\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/y

export function scan(sql: string): Scan {
  const candidates: Candidate[] = []
  const masked: Array<[number, number]> = []
  let unterminated: number | undefined
  let i = 0
  let stmtStart = -1
  let atomicDepth = 0
  let lastWord = ''
  const n = sql.length
  const token = (at: number) => {
    if (stmtStart < 0) stmtStart = at
  }
  const finish = (end: number) => {
    if (stmtStart >= 0) candidates.push({ start: stmtStart, end })
    stmtStart = -1
    atomicDepth = 0
    lastWord = ''
  }

  while (i < n) {
    const c = sql.charCodeAt(i)
    const next = sql.charCodeAt(i + 1)
    if (c === 45 && next === 45) { // --
      const eol = sql.indexOf('\n', i)
      const stop = eol < 0 ? n : eol
      masked.push([i, stop])
      i = stop
      continue
    }
    if (c === 47 && next === 42) { // /*
      let depth = 1
      let k = i + 2
      while (k < n && depth > 0) {
        const a = sql.charCodeAt(k)
        const b = sql.charCodeAt(k + 1)
        if (a === 47 && b === 42) { depth++; k += 2 } else if (a === 42 && b === 47) { depth--; k += 2 } else k++
      }
      if (depth > 0) unterminated ??= i
      masked.push([i, k])
      i = k
      continue
    }
    if (c === 39) { // '
      token(i)
      const prev = sql.charCodeAt(i - 1)
      const escapes = (prev === 69 || prev === 101) && !isIdentChar(sql.charCodeAt(i - 2))
      let k = i + 1
      let closed = false
      while (k < n) {
        const a = sql.charCodeAt(k)
        if (escapes && a === 92) { k += 2; continue }
        if (a === 39) {
          if (sql.charCodeAt(k + 1) === 39) { k += 2; continue }
          closed = true
          break
        }
        k++
      }
      if (!closed) unterminated ??= i
      masked.push([i + 1, Math.min(k, n)])
      i = k + 1
      continue
    }
    if (c === 34) { // "
      token(i)
      let k = i + 1
      let closed = false
      while (k < n) {
        if (sql.charCodeAt(k) === 34) {
          if (sql.charCodeAt(k + 1) === 34) { k += 2; continue }
          closed = true
          break
        }
        k++
      }
      if (!closed) unterminated ??= i
      i = k + 1
      continue
    }
    if (c === 36 && !isIdentChar(sql.charCodeAt(i - 1))) { // $tag$
      DOLLAR_TAG.lastIndex = i
      const m = DOLLAR_TAG.exec(sql)
      if (m) {
        token(i)
        const tag = m[0]
        const close = sql.indexOf(tag, i + tag.length)
        if (close < 0) unterminated ??= i
        masked.push([i + tag.length, close < 0 ? n : close])
        i = close < 0 ? n : close + tag.length
        continue
      }
    }
    if (c === 59) { // ;
      if (atomicDepth > 0) { i++; continue }
      finish(i)
      i++
      continue
    }
    if (isIdentStart(c) && !isIdentChar(sql.charCodeAt(i - 1))) {
      token(i)
      let k = i + 1
      while (k < n && isIdentChar(sql.charCodeAt(k))) k++
      // Only BEGIN, ATOMIC, CASE and END matter: look at the letters only for words of that length.
      const len = k - i
      const word = len >= 3 && len <= 6 && ATOMIC_WORD_START.has(c | 0x20) ? sql.slice(i, k).toUpperCase() : ''
      if (word === 'ATOMIC' && lastWord === 'BEGIN') atomicDepth++
      else if (atomicDepth > 0 && (word === 'CASE' || word === 'BEGIN')) atomicDepth++
      else if (atomicDepth > 0 && word === 'END') atomicDepth--
      lastWord = word
      i = k
      continue
    }
    if (!isSpace(c)) token(i)
    i++
  }
  if (atomicDepth > 0 && stmtStart >= 0) unterminated ??= stmtStart
  finish(n)
  return { candidates, code: blank(sql, masked), unterminated }
}

/** The source with the masked ranges turned into spaces (newlines kept, so lines stay put). */
function blank(sql: string, masked: Array<[number, number]>): string {
  if (masked.length === 0) return sql
  const parts: string[] = []
  let at = 0
  for (const [a, b] of masked) {
    if (b <= a) continue
    const nl = sql.indexOf('\n', a)
    parts.push(sql.slice(at, a), nl < 0 || nl >= b ? ' '.repeat(b - a) : sql.slice(a, b).replace(/[^\n]/g, ' '))
    at = b
  }
  parts.push(sql.slice(at))
  return parts.join('')
}

/** Skips whitespace and comments from `i`; returns the offset of the next token (or `to`). */
export function skipTrivia(sql: string, i: number, to = sql.length): number {
  while (i < to) {
    const c = sql.charCodeAt(i)
    if (isSpace(c)) { i++; continue }
    if (c === 45 && sql.charCodeAt(i + 1) === 45) {
      const eol = sql.indexOf('\n', i)
      i = eol < 0 ? to : eol
      continue
    }
    if (c === 47 && sql.charCodeAt(i + 1) === 42) {
      let depth = 1
      let k = i + 2
      while (k < to && depth > 0) {
        const a = sql.charCodeAt(k)
        const b = sql.charCodeAt(k + 1)
        if (a === 47 && b === 42) { depth++; k += 2 } else if (a === 42 && b === 47) { depth--; k += 2 } else k++
      }
      i = k
      continue
    }
    return i
  }
  return to
}
