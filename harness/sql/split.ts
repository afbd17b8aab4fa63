/**
 * Splits a migration file into statements without a server, keeping each statement's offset so
 * a server error position maps back to file:line:column, and so statement boundaries are exact
 * (fault injection fails after each one; `--! no-transaction` files run one by one).
 *
 * Boundaries come from PostgreSQL's own parser (parser.ts). The file is parsed in batches of
 * whole statements, cut where the small scanner (scan.ts) sees a top-level `;`, so the cost is
 * linear in the file size however many statements it has. A batch the parser refuses is parsed
 * statement by statement: the statements it accepts keep its boundaries, and a statement it
 * refuses is a syntax error (located) with the scanner's boundaries, exactly what the runner
 * would send to the server.
 */
import { lineIndex, lineColumnAt, type Position } from './lines.ts'
import { ByteMap, loadParser, parse, type Node, type RawStatement } from './parser.ts'
import { scan, skipTrivia } from './scan.ts'

export { lineColumnAt, loadParser, type Position }

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
  /** The parser's node type (`CreateStmt`, `IndexStmt`…); undefined when the statement has a syntax error. */
  node?: string
}

export interface SyntaxError {
  /** Index of the statement it is in. */
  statement: number
  /** UTF-16 offset in the file, and its line and column. */
  offset: number
  line: number
  column: number
  message: string
}

export interface SplitResult {
  statements: Statement[]
  syntaxErrors: SyntaxError[]
  /** Where an unterminated string, quoted identifier, dollar-quoted body, block comment or BEGIN ATOMIC body starts. */
  unterminated?: Position & { offset: number }
}

export interface SplitOptions {
  /** Called once per statement while its parse tree is at hand (undefined for a syntax error); trees are not kept. */
  visit?: (statement: Statement, tree: Node | undefined) => void
}

/** Characters per parser batch: large enough to amortise the call, small enough to keep the JSON small. */
const BATCH_CHARS = 128 * 1024

/** Splits `sql`; the parser must be loaded (`await loadParser()`). */
export function splitSql(sql: string, options: SplitOptions = {}): SplitResult {
  const { candidates, code, unterminated } = scan(sql)
  const lines = lineIndex(sql)
  const statements: Statement[] = []
  const syntaxErrors: SyntaxError[] = []
  const add = (start: number, end: number, tree: Node | undefined) => {
    const text = sql.slice(start, end).trimEnd()
    const { line, column } = lines.at(start)
    const s: Statement = { index: statements.length, text, code: code.slice(start, start + text.length), start, line, column, node: tree ? Object.keys(tree)[0] : undefined }
    statements.push(s)
    options.visit?.(s, tree)
    return s
  }
  /** Adds what the parser found in sql[from, to); its locations are bytes of that slice. */
  const addParsed = (from: number, to: number, raw: RawStatement[]) => {
    const map = new ByteMap(sql.slice(from, to))
    for (const r of raw) {
      const a = skipTrivia(sql, from + map.toChar(r.location), to)
      const b = r.length === undefined ? to : from + map.toChar(r.location + r.length)
      if (a < b) add(a, b, r.stmt)
    }
  }

  let c = 0
  while (c < candidates.length) {
    // A batch: whole candidate statements, up to BATCH_CHARS (at least one).
    const first = c
    let last = c
    while (last + 1 < candidates.length && candidates[last + 1]!.end - candidates[first]!.start <= BATCH_CHARS) last++
    c = last + 1
    const from = candidates[first]!.start
    const to = candidates[last]!.end
    const whole = parse(sql.slice(from, to))
    if (whole.ok) {
      addParsed(from, to, whole.statements)
      continue
    }
    for (let k = first; k <= last; k++) {
      const { start, end } = candidates[k]!
      const one = parse(sql.slice(start, end))
      if (one.ok) {
        addParsed(start, end, one.statements)
        continue
      }
      const s = add(start, end, undefined)
      // The cursor of a syntax error counts characters (code points), unlike node locations (bytes).
      const offset = start + positionToOffset(sql.slice(start, end), one.error.cursor + 1)
      const at = lines.at(offset)
      syntaxErrors.push({ statement: s.index, offset, line: at.line, column: at.column, message: one.error.message })
    }
  }
  return { statements, syntaxErrors, unterminated: unterminated === undefined ? undefined : { offset: unterminated, ...lines.at(unterminated) } }
}

export function splitStatements(sql: string): Statement[] {
  return splitSql(sql).statements
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
