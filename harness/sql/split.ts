/**
 * Splits a migration file into statements without a server, keeping each statement's offset
 * so a server error position maps back to file:line:column, and so statement boundaries are
 * known (fault injection, non-transactional execution).
 *
 * It understands what can hide a semicolon in PostgreSQL: '…' strings ('' escapes, E'…'
 * backslash escapes), "…" identifiers, $tag$…$tag$ bodies, -- and nested /* *\/ comments,
 * and SQL-standard `BEGIN ATOMIC … END` function bodies.
 */

export interface Statement {
  /** 0-based position in the file. */
  index: number
  /** Exactly what is sent to the server: from the first token to before the terminating semicolon. */
  text: string
  /** Same length as `text`, with comments, string literals and dollar-quoted bodies blanked: for pattern checks. */
  code: string
  /** UTF-16 offset of `text` in the file. */
  start: number
  /** 1-based line and column of the first character of `text`. */
  line: number
  column: number
}

export interface Position {
  line: number
  column: number
}

const isIdentChar = (c: string | undefined) => c !== undefined && /[A-Za-z0-9_$\u0080-\uffff]/.test(c)
const isIdentStart = (c: string | undefined) => c !== undefined && /[A-Za-z_\u0080-\uffff]/.test(c)

export function lineColumnAt(source: string, offset: number): Position {
  let line = 1
  let lastNewline = -1
  for (let i = 0; i < offset && i < source.length; i++) {
    if (source.charCodeAt(i) === 10) {
      line++
      lastNewline = i
    }
  }
  return { line, column: offset - lastNewline }
}

export function splitStatements(sql: string): Statement[] {
  const statements: Statement[] = []
  const blank = sql.split('') // mutated copy: masked characters become spaces
  let i = 0
  let stmtStart = -1 // offset of the current statement's first token, -1 when none yet
  let atomicDepth = 0 // >0 inside BEGIN ATOMIC … END
  let lastWord = ''

  const mask = (from: number, to: number) => {
    for (let k = from; k < to; k++) if (blank[k] !== '\n') blank[k] = ' '
  }
  const markToken = (at: number) => {
    if (stmtStart < 0) stmtStart = at
  }
  const finish = (end: number) => {
    if (stmtStart >= 0) {
      const { line, column } = lineColumnAt(sql, stmtStart)
      const text = sql.slice(stmtStart, end).trimEnd()
      statements.push({ index: statements.length, text, code: blank.slice(stmtStart, stmtStart + text.length).join(''), start: stmtStart, line, column })
    }
    stmtStart = -1
    atomicDepth = 0
    lastWord = ''
  }

  while (i < sql.length) {
    const c = sql[i]!
    const next = sql[i + 1]

    if (c === '-' && next === '-') {
      const end = sql.indexOf('\n', i)
      const stop = end < 0 ? sql.length : end
      mask(i, stop)
      i = stop
      continue
    }
    if (c === '/' && next === '*') {
      let depth = 1
      let k = i + 2
      while (k < sql.length && depth > 0) {
        if (sql[k] === '/' && sql[k + 1] === '*') { depth++; k += 2 }
        else if (sql[k] === '*' && sql[k + 1] === '/') { depth--; k += 2 }
        else k++
      }
      mask(i, k)
      i = k
      continue
    }
    if (c === "'") {
      markToken(i)
      // E'…' strings treat backslash as an escape; standard strings do not.
      const escapes = i > 0 && (sql[i - 1] === 'E' || sql[i - 1] === 'e') && !isIdentChar(sql[i - 2])
      let k = i + 1
      while (k < sql.length) {
        if (escapes && sql[k] === '\\') { k += 2; continue }
        if (sql[k] === "'") {
          if (sql[k + 1] === "'") { k += 2; continue }
          break
        }
        k++
      }
      mask(i + 1, k)
      i = k + 1
      continue
    }
    if (c === '"') {
      markToken(i)
      let k = i + 1
      while (k < sql.length) {
        if (sql[k] === '"') {
          if (sql[k + 1] === '"') { k += 2; continue }
          break
        }
        k++
      }
      i = k + 1
      continue
    }
    if (c === '$' && !isIdentChar(sql[i - 1])) {
      const m = /^\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/.exec(sql.slice(i, i + 64))
      if (m) {
        markToken(i)
        const tag = m[0]
        const close = sql.indexOf(tag, i + tag.length)
        const stop = close < 0 ? sql.length : close + tag.length
        mask(i + tag.length, close < 0 ? sql.length : close)
        i = stop
        continue
      }
    }
    if (c === ';') {
      if (atomicDepth > 0) { i++; continue }
      finish(i)
      i++
      continue
    }
    if (isIdentStart(c) && !isIdentChar(sql[i - 1])) {
      markToken(i)
      let k = i + 1
      while (k < sql.length && isIdentChar(sql[k])) k++
      const word = sql.slice(i, k).toUpperCase()
      if (word === 'ATOMIC' && lastWord === 'BEGIN') atomicDepth++
      else if (atomicDepth > 0 && (word === 'CASE' || word === 'BEGIN')) atomicDepth++
      else if (atomicDepth > 0 && word === 'END') atomicDepth--
      lastWord = word
      i = k
      continue
    }
    if (!/\s/.test(c)) markToken(i)
    i++
  }
  finish(sql.length)
  return statements
}

/**
 * Maps a server error `position` (1-based, counted in characters of the statement text)
 * to a UTF-16 offset in the statement: PostgreSQL counts code points, JavaScript code units.
 */
export function positionToOffset(text: string, position: number): number {
  let offset = 0
  let chars = 1
  while (chars < position && offset < text.length) {
    const cp = text.codePointAt(offset)!
    offset += cp > 0xffff ? 2 : 1
    chars++
  }
  return offset
}
