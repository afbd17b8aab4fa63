/**
 * PostgreSQL's own parser (libpg_query compiled to WebAssembly: the `libpg-query` package, the
 * PostgreSQL 17 grammar). Loading is asynchronous and happens once per process (`loadParser`);
 * after that every parse is synchronous.
 *
 * The parser works on UTF-8 bytes: the locations in its trees (statement locations, node
 * `location` fields) are byte offsets, which `ByteMap` turns into the UTF-16 offsets JavaScript
 * strings use; the cursor of a syntax error counts characters (code points), as PostgreSQL's
 * error position does.
 */
import { loadModule, parseSync } from 'libpg-query'

/** A parse tree node as libpg_query's JSON gives it: `{ NodeType: { …fields } }`. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Node = Record<string, any>

export interface RawStatement {
  /** `{ CreateStmt: {…} }` etc. */
  stmt: Node
  /** Byte offset of the statement in the parsed text (right after the previous `;`). */
  location: number
  /** Byte length up to (not including) the terminating `;`; undefined: to the end of the text. */
  length?: number
}

export interface SyntaxProblem {
  message: string
  /** 0-based offset of the error in the parsed text, in characters (code points: PostgreSQL's own count), not bytes. */
  cursor: number
}

export type ParseOutcome = { ok: true; statements: RawStatement[] } | { ok: false; error: SyntaxProblem }

let loading: Promise<void> | undefined
let loaded = false
let loadMs = 0

/** Loads the WebAssembly parser (once; later calls return at once). */
export async function loadParser(): Promise<void> {
  if (loaded) return
  loading ??= (async () => {
    const t0 = performance.now()
    await loadModule()
    loadMs = performance.now() - t0
    loaded = true
  })()
  await loading
}

export const parserLoaded = () => loaded
/** How long loading took in this process (ms), for the benchmark. */
export const parserLoadMs = () => loadMs

export function parse(text: string): ParseOutcome {
  if (!loaded) throw new Error('the SQL parser is not loaded: await loadParser() first')
  if (text.trim() === '') return { ok: true, statements: [] }
  try {
    const tree = parseSync(text) as { stmts?: Array<{ stmt: Node; stmt_location?: number; stmt_len?: number }> }
    return { ok: true, statements: (tree.stmts ?? []).map((s) => ({ stmt: s.stmt, location: s.stmt_location ?? 0, length: s.stmt_len || undefined })) }
  } catch (e) {
    const err = e as Error & { sqlDetails?: { message: string; cursorPosition: number } }
    if (!err.sqlDetails) throw e
    return { ok: false, error: { message: err.sqlDetails.message, cursor: err.sqlDetails.cursorPosition } }
  }
}

/** The node type and its fields: `{ CreateStmt: f }` → ['CreateStmt', f]. */
export function nodeOf(n: Node | undefined): [string, Node] | undefined {
  if (!n) return undefined
  const key = Object.keys(n)[0]
  return key === undefined ? undefined : [key, n[key] as Node]
}

/** Byte offsets of UTF-8 text to UTF-16 offsets of the same text. Identity for ASCII. */
export class ByteMap {
  private readonly map?: Uint32Array
  constructor(text: string) {
    // eslint-disable-next-line no-control-regex
    if (!/[^\x00-\x7f]/.test(text)) return
    const map = new Uint32Array(Buffer.byteLength(text, 'utf8') + 1)
    let b = 0
    for (let i = 0; i < text.length; i++) {
      const cp = text.codePointAt(i)!
      const bytes = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4
      for (let k = 0; k < bytes; k++) map[b++] = i
      if (cp > 0xffff) i++
    }
    map[b] = text.length
    this.map = map
  }

  toChar(byteOffset: number): number {
    if (!this.map) return byteOffset
    return this.map[Math.max(0, Math.min(byteOffset, this.map.length - 1))]!
  }
}
