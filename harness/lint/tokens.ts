/**
 * Tokens of a statement's blanked text (comments, literals and bodies already blanked by the
 * splitter), for two jobs only: placing a finding's caret on the keyword it is about (the parse
 * tree has no location for keywords such as CONCURRENTLY or DROP), and the fallback checks of a
 * statement the parser refuses.
 */

export interface Tok {
  kind: 'word' | 'qident' | 'string' | 'dollar' | 'number' | 'op'
  /** Offsets in the statement. */
  start: number
  end: number
  /** Upper-cased for words, the raw characters otherwise. */
  up: string
  /** Identifier value: lower-cased word, or the contents of "…". */
  value: string
}

const isIdentStart = (c: string | undefined) => c !== undefined && /[A-Za-z_\u0080-\uffff]/.test(c)
const isIdentChar = (c: string | undefined) => c !== undefined && /[A-Za-z0-9_$\u0080-\uffff]/.test(c)
const TWO_CHAR_OPS = new Set(['=>', ':=', '::', '<>', '>=', '<=', '!=', '||'])

export function lex(code: string): Tok[] {
  const toks: Tok[] = []
  const push = (kind: Tok['kind'], start: number, end: number, value = code.slice(start, end)) =>
    toks.push({ kind, start, end, up: kind === 'word' ? code.slice(start, end).toUpperCase() : code.slice(start, end), value })
  let i = 0
  while (i < code.length) {
    const c = code[i]!
    if (/\s/.test(c)) { i++; continue }
    if (c === '"') {
      let k = i + 1
      while (k < code.length) {
        if (code[k] === '"') { if (code[k + 1] === '"') { k += 2; continue } break }
        k++
      }
      push('qident', i, Math.min(k + 1, code.length), code.slice(i + 1, k).replace(/""/g, '"'))
      i = k + 1
      continue
    }
    if (c === "'") {
      const k = code.indexOf("'", i + 1)
      const end = k < 0 ? code.length : k + 1
      push('string', i, end, '')
      i = end
      continue
    }
    if (c === '$' && !isIdentChar(code[i - 1])) {
      const m = /^\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/.exec(code.slice(i, i + 64))
      if (m) {
        const close = code.indexOf(m[0], i + m[0].length)
        const end = close < 0 ? code.length : close + m[0].length
        push('dollar', i, end, '')
        i = end
        continue
      }
    }
    if (isIdentStart(c)) {
      let k = i + 1
      while (k < code.length && isIdentChar(code[k])) k++
      if (code[k] === "'" && /^[EBXNebxn]$/.test(code.slice(i, k))) {
        const close = code.indexOf("'", k + 1)
        const end = close < 0 ? code.length : close + 1
        push('string', i, end, '')
        i = end
        continue
      }
      push('word', i, k, code.slice(i, k).toLowerCase())
      i = k
      continue
    }
    if (/[0-9]/.test(c)) {
      let k = i + 1
      while (k < code.length && /[0-9.eE]/.test(code[k]!)) k++
      push('number', i, k)
      i = k
      continue
    }
    const two = code.slice(i, i + 2)
    if (TWO_CHAR_OPS.has(two)) { push('op', i, i + 2); i += 2; continue }
    push('op', i, i + 1)
    i++
  }
  return toks
}

export const isWord = (t: Tok | undefined, ...words: string[]) => t !== undefined && t.kind === 'word' && (words.length === 0 || words.includes(t.up))
export const isOp = (t: Tok | undefined, op: string) => t !== undefined && t.kind === 'op' && t.up === op
export const isIdent = (t: Tok | undefined) => t !== undefined && (t.kind === 'word' || t.kind === 'qident')

/** Top-level comma-separated ranges [from, to) inside toks[from, to). */
export function splitTop(toks: Tok[], from: number, to: number): Array<[number, number]> {
  const out: Array<[number, number]> = []
  let depth = 0
  let start = from
  for (let k = from; k < to; k++) {
    const t = toks[k]!
    if (isOp(t, '(') || isOp(t, '[')) depth++
    else if (isOp(t, ')') || isOp(t, ']')) depth--
    else if (depth === 0 && isOp(t, ',')) { out.push([start, k]); start = k + 1 }
  }
  if (start < to) out.push([start, to])
  return out
}

/** First token of the word sequence at depth 0 in toks[from, to), or undefined. */
export function findTop(toks: Tok[], from: number, to: number, ...words: string[]): Tok | undefined {
  let depth = 0
  for (let k = from; k < to; k++) {
    const t = toks[k]!
    if (isOp(t, '(') || isOp(t, '[')) depth++
    else if (isOp(t, ')') || isOp(t, ']')) depth--
    else if (depth === 0 && words.every((w, j) => k + j < to && isWord(toks[k + j], w))) return t
  }
  return undefined
}

/** First token of the word (any depth). */
export const findWord = (toks: Tok[], word: string) => toks.find((t) => isWord(t, word))
