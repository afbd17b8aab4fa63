/** Small readers over libpg_query parse trees (`{ NodeType: { …fields } }`). */
import { ByteMap, type Node } from '../sql/parser.ts'

export type { Node }

export interface TableRef {
  /** Undefined when written unqualified and no search_path was set: matches that name in any schema. */
  schema?: string
  name: string
}

export const showRef = (r: TableRef) => (r.schema ? `${r.schema}.${r.name}` : r.name)
export const objectKey = (r: TableRef) => `${r.schema ?? '?'}.${r.name}`.toLowerCase()
export const sameTable = (a: TableRef, b: TableRef) => a.name === b.name && (a.schema === undefined || b.schema === undefined || a.schema === b.schema)

/** The value of a `String` node (or undefined). */
export const str = (n: Node | undefined): string | undefined => n?.String?.sval
/** A list of `String` nodes as strings. */
export const strings = (list: Node[] | undefined): string[] => (list ?? []).map((n) => str(n)).filter((s): s is string => s !== undefined)

export const refOf = (rv: Node | undefined, searchPath: string | undefined): TableRef | undefined =>
  rv?.relname ? { schema: rv.schemaname ?? searchPath, name: rv.relname } : undefined

/** `a`, `a.b`, `a.b.c` as name parts → a table ref (last two parts). */
export const refFromParts = (parts: string[], searchPath: string | undefined): TableRef | undefined =>
  parts.length === 0 ? undefined : parts.length >= 2 ? { schema: parts[parts.length - 2]!, name: parts[parts.length - 1]! } : { schema: searchPath, name: parts[0]! }

/** 'schema.table' or '"Odd"."Name"' inside a regclass string. */
export function refFromString(s: string, searchPath: string | undefined): TableRef | undefined {
  const parts: string[] = []
  const re = /\s*(?:"((?:[^"]|"")*)"|([^".\s]+))\s*(\.|$)/y
  for (let m = re.exec(s); m; m = re.exec(s)) {
    parts.push(m[1] !== undefined ? m[1].replace(/""/g, '"') : m[2]!.toLowerCase())
    if (m[3] === '' || re.lastIndex >= s.length) break
  }
  return refFromParts(parts, searchPath)
}

/** A type name, normalised: pg_catalog. dropped, arrays marked: `int4`, `text[]`, `public.citext`. */
export function typeName(t: Node | undefined): string {
  if (!t) return '?'
  const names = strings(t.names).filter((n, i, all) => !(i === 0 && all.length > 1 && n === 'pg_catalog'))
  return `${t.setof ? 'setof ' : ''}${names.join('.')}${(t.arrayBounds ?? []).map(() => '[]').join('')}`
}

/** A constant's value: string, number, boolean or null (undefined: not a constant). */
export function constValue(n: Node | undefined): string | number | boolean | null | undefined {
  const c = n?.A_Const ?? n?.TypeCast?.arg?.A_Const
  if (!c) return undefined
  if (c.isnull) return null
  if (c.sval) return c.sval.sval ?? ''
  if (c.ival) return c.ival.ival ?? 0
  if (c.fval) return Number(c.fval.fval)
  if (c.boolval) return c.boolval.boolval === true
  return undefined
}

/** Is the argument a true boolean (TRUE, 't', 'on', 'yes', 1…)? */
export function isTrue(n: Node | undefined): boolean {
  const v = constValue(n)
  if (typeof v === 'boolean') return v
  if (typeof v === 'string') return /^(t|true|on|yes|1|y)$/i.test(v.trim())
  if (typeof v === 'number') return v !== 0
  return false
}

export interface Call {
  name: string
  /** Byte location in the statement. */
  location: number
  positional: Node[]
  named: Map<string, Node>
}

/** Calls every node of the tree (objects only, depth first). */
export function walk(tree: unknown, visit: (type: string, fields: Node) => void): void {
  const go = (v: unknown): void => {
    if (Array.isArray(v)) {
      for (const x of v) go(x)
      return
    }
    if (!v || typeof v !== 'object') return
    for (const [k, f] of Object.entries(v as Node)) {
      if (/^[A-Z]/.test(k) && f && typeof f === 'object' && !Array.isArray(f)) visit(k, f as Node)
      go(f)
    }
  }
  go(tree)
}

/** Every function call in the tree, with its arguments split into positional and named. */
export function calls(tree: Node): Call[] {
  const out: Call[] = []
  const add = (fc: Node) => {
    const parts = strings(fc.funcname)
    const call: Call = { name: (parts[parts.length - 1] ?? '').toLowerCase(), location: fc.location ?? 0, positional: [], named: new Map() }
    for (const a of (fc.args as Node[] | undefined) ?? []) {
      if (a.NamedArgExpr) call.named.set(String(a.NamedArgExpr.name).toLowerCase(), a.NamedArgExpr.arg)
      else call.positional.push(a)
    }
    out.push(call)
  }
  walk(tree, (type, f) => {
    if (type === 'FuncCall') add(f)
    else if (type === 'CallStmt' && f.funccall) add(f.funccall as Node)
  })
  return out
}

/** Offsets in a statement: the parser's byte locations → UTF-16 offsets of its text. */
export class Locations {
  private readonly map: ByteMap
  constructor(text: string) {
    this.map = new ByteMap(text)
  }
  at(byteLocation: number | undefined): number | undefined {
    return byteLocation === undefined || byteLocation < 0 ? undefined : this.map.toChar(byteLocation)
  }
}
