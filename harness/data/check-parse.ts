/**
 * CHECK expressions read as the generator honours them: the conjuncts that constrain one column
 * (ranges, BETWEEN, IN lists and `= ANY (ARRAY[...])`, `<>`, `length(x) <= n`, NOT NULL, also
 * under `x IS NULL OR …`) become column rules; two-column comparisons become repairs.
 */
import type { Bound, ColumnRule } from './plan-types.ts'

/** Splits at top-level occurrences of `sep` (outside parentheses, brackets and quotes). */
function splitTop(s: string, sep: RegExp): string[] {
  const out: string[] = []
  let depth = 0
  let quote = false
  let start = 0
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!
    if (quote) {
      if (ch === "'") quote = s[i + 1] === "'" ? (i++, true) : false
      continue
    }
    if (ch === "'") quote = true
    else if (ch === '(' || ch === '[') depth++
    else if (ch === ')' || ch === ']') depth--
    else if (depth === 0) {
      sep.lastIndex = i
      const m = sep.exec(s)
      if (m && m.index === i) {
        out.push(s.slice(start, i))
        i += m[0].length - 1
        start = i + 1
      }
    }
  }
  out.push(s.slice(start))
  return out.map((x) => x.trim())
}

/** Removes parentheses that wrap the whole expression. */
export function stripParens(s: string): string {
  let t = s.trim()
  for (;;) {
    if (!t.startsWith('(') || !t.endsWith(')')) return t
    let depth = 0
    let quote = false
    let wraps = true
    for (let i = 0; i < t.length; i++) {
      const ch = t[i]!
      if (quote) {
        if (ch === "'") quote = t[i + 1] === "'" ? (i++, true) : false
        continue
      }
      if (ch === "'") quote = true
      else if (ch === '(') depth++
      else if (ch === ')') {
        depth--
        if (depth === 0 && i < t.length - 1) {
          wraps = false
          break
        }
      }
    }
    if (!wraps) return t
    t = t.slice(1, -1).trim()
  }
}

const IDENT = `(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)`
const unquote = (id: string) => (id.startsWith('"') ? id.slice(1, -1).replace(/""/g, '"') : id.toLowerCase() === id ? id : id.toLowerCase())

/** A literal as PostgreSQL prints it in an expression: `5`, `(-1)`, `(0)::numeric`, `'a'::text`, `'1.5'::numeric`. */
export function parseLiteral(s: string): string | undefined {
  let t = stripParens(s)
  // trailing casts, possibly several: ::numeric, ::character varying, ::timestamp with time zone
  for (;;) {
    const m = /^(.*)::\s*[A-Za-z_"][\w\s".]*(\(\d+(,\s*\d+)?\))?(\[\])?$/s.exec(t)
    if (!m || m[1]!.trim() === '') break
    t = stripParens(m[1]!)
  }
  if (/^'(?:[^']|'')*'$/s.test(t)) return t.slice(1, -1).replace(/''/g, "'")
  if (/^[+-]?\s*(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(t)) return t.replace(/\s+/g, '')
  if (/^(true|false)$/i.test(t)) return t.toLowerCase()
  return undefined
}

function parseArrayList(s: string): string[] | undefined {
  const m = /^ARRAY\[(.*)\]$/is.exec(stripParens(stripParens(s).replace(/::[\w\s"]+\[\]$/, '')))
  const body = m ? m[1]! : /^\((.*)\)$/s.exec(s.trim())?.[1]
  if (body === undefined) return undefined
  const items = splitTop(body, /,/y).map(parseLiteral)
  return items.every((x) => x !== undefined) ? (items as string[]) : undefined
}

type Conjunct =
  | { kind: 'rule'; column: string; apply: (r: ColumnRule) => void }
  | { kind: 'compare'; a: string; b: string; op: string; nullGuarded: boolean }
  | { kind: 'other' }

const FLIP: Record<string, string> = { '>=': '<=', '>': '<', '<=': '>=', '<': '>', '=': '=', '<>': '<>', '!=': '<>' }

function parseConjunct(raw: string): Conjunct {
  const s = stripParens(raw)
  // x IS NULL OR <rule on x>  /  a IS NULL OR b IS NULL OR a >= b
  const ors = splitTop(s, /\s+OR\s+/iy)
  if (ors.length > 1) {
    const nulls = new Set<string>()
    const rest: string[] = []
    for (const o of ors) {
      const m = new RegExp(`^(${IDENT})\\s+IS\\s+NULL$`, 'i').exec(stripParens(o))
      if (m) nulls.add(unquote(m[1]!))
      else rest.push(o)
    }
    if (rest.length !== 1) return { kind: 'other' }
    const inner = parseConjunct(rest[0]!)
    if (inner.kind === 'rule' && nulls.size <= 1 && [...nulls].every((n) => n === inner.column)) return inner
    if (inner.kind === 'compare' && [...nulls].every((n) => n === inner.a || n === inner.b)) return { ...inner, nullGuarded: true }
    return { kind: 'other' }
  }
  let m = new RegExp(`^(${IDENT})\\s+IS\\s+NOT\\s+NULL$`, 'i').exec(s)
  if (m) return { kind: 'rule', column: unquote(m[1]!), apply: (r) => (r.notNull = true) }
  // x = ANY (ARRAY[...]) / x IN (...)
  m = new RegExp(`^\\(?(${IDENT})(?:\\)?::[\\w\\s"]+)?\\s*(?:=\\s*ANY\\s*|IN\\s*)(\\(.*\\))$`, 'is').exec(s)
  if (m) {
    const list = parseArrayList(stripParens(m[2]!)) ?? parseArrayList(m[2]!)
    if (list) return { kind: 'rule', column: unquote(m[1]!), apply: (r) => (r.in = r.in ? r.in.filter((x) => list.includes(x)) : list) }
    return { kind: 'other' }
  }
  m = new RegExp(`^\\(?(${IDENT})(?:\\)?::[\\w\\s"]+)?\\s*(?:<>|!=)\\s*ALL\\s*(\\(.*\\))$`, 'is').exec(s)
  if (m) {
    const list = parseArrayList(stripParens(m[2]!))
    if (list) return { kind: 'rule', column: unquote(m[1]!), apply: (r) => r.notIn.push(...list) }
    return { kind: 'other' }
  }
  // length(x) op n
  m = new RegExp(`^(?:length|char_length|character_length)\\((${IDENT})(?:::[\\w\\s"]+)?\\)\\s*(>=|>|<=|<|=)\\s*(.+)$`, 'is').exec(s)
  if (m) {
    const n = parseLiteral(m[3]!)
    if (n === undefined || !/^\d+$/.test(n)) return { kind: 'other' }
    const v = Number(n)
    const op = m[2]!
    return {
      kind: 'rule',
      column: unquote(m[1]!),
      apply: (r) => {
        if (op === '>=' || op === '=') r.minLength = Math.max(r.minLength ?? 0, v)
        if (op === '>') r.minLength = Math.max(r.minLength ?? 0, v + 1)
        if (op === '<=' || op === '=') r.maxLength = Math.min(r.maxLength ?? Infinity, v)
        if (op === '<') r.maxLength = Math.min(r.maxLength ?? Infinity, v - 1)
      },
    }
  }
  // x op literal, literal op x, a op b
  const cmp = splitTop(s, /\s*(>=|<=|<>|!=|>|<|=)\s*/y)
  if (cmp.length === 2) {
    const opm = /(>=|<=|<>|!=|>|<|=)/.exec(s.slice(cmp[0]!.length, s.length - cmp[1]!.length))
    const op = opm?.[1]
    if (!op) return { kind: 'other' }
    const col = (x: string) => {
      const t = stripParens(x).replace(/::[\w\s"]+$/, '')
      return new RegExp(`^${IDENT}$`).test(t) && parseLiteral(t) === undefined ? unquote(t) : undefined
    }
    const [l, r] = [cmp[0]!, cmp[1]!]
    const lc = col(l)
    const rc = col(r)
    const ll = parseLiteral(l)
    const rl = parseLiteral(r)
    if (lc && rl !== undefined) return { kind: 'rule', column: lc, apply: ruleFor(op, rl) }
    if (rc && ll !== undefined) return { kind: 'rule', column: rc, apply: ruleFor(FLIP[op]!, ll) }
    if (lc && rc && lc !== rc && op !== '=' && op !== '<>' && op !== '!=') return { kind: 'compare', a: lc, b: rc, op, nullGuarded: false }
  }
  return { kind: 'other' }
}

function ruleFor(op: string, v: string): (r: ColumnRule) => void {
  return (r) => {
    if (op === '>=' || op === '>') r.min = tighter(r.min, { value: v, inclusive: op === '>=' }, 1)
    if (op === '<=' || op === '<') r.max = tighter(r.max, { value: v, inclusive: op === '<=' }, -1)
    if (op === '=') r.in = r.in ? r.in.filter((x) => x === v) : [v]
    if (op === '<>' || op === '!=') r.notIn.push(v)
  }
}

function tighter(a: Bound | undefined, b: Bound, dir: 1 | -1): Bound {
  if (!a) return b
  const x = Number(a.value)
  const y = Number(b.value)
  if (Number.isNaN(x) || Number.isNaN(y)) return b
  if (x === y) return { value: a.value, inclusive: a.inclusive && b.inclusive }
  return (dir === 1 ? y > x : y < x) ? b : a
}

/** `BETWEEN` as people write it in declarations; the catalog always prints the expanded form. */
function expandBetween(s: string): string {
  return s.replace(new RegExp(`(${IDENT})\\s+BETWEEN\\s+(\\S+)\\s+AND\\s+(\\S+)`, 'gi'), '($1 >= $2) AND ($1 <= $3)')
}

export interface ParsedCheck {
  rules: { column: string; apply: (r: ColumnRule) => void }[]
  compares: { a: string; b: string; op: string }[]
  /** Every conjunct was understood as a one-column rule: honoured by construction alone. */
  complete: boolean
}

export function parseCheck(expression: string): ParsedCheck {
  const conj = splitTop(stripParens(expandBetween(expression)), /\s+AND\s+/iy)
  const out: ParsedCheck = { rules: [], compares: [], complete: true }
  for (const c of conj) {
    const p = parseConjunct(c)
    if (p.kind === 'rule') out.rules.push(p)
    else {
      out.complete = false
      if (p.kind === 'compare') out.compares.push(p)
    }
  }
  return out
}
