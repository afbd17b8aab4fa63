/**
 * fast-check arbitraries derived from a live catalog (catalog.ts), never written per table.
 *
 * A generated dataset is raw: per table (in foreign-key order) a list of rows, each row a cell
 * per insertable column (a value in PostgreSQL's text input form, `null` for NULL, `undefined`
 * for DEFAULT) and a "slot" per foreign key (which parent row to reference, or null). dataset.ts
 * turns it into rows the engine accepts: children point at parents that were really inserted,
 * duplicates of a unique key are dropped, and CHECKs this module could not honour by
 * construction are evaluated by query and the rows violating them dropped (counted).
 *
 * Honoured by construction: the type's range (min/max of each integer type, numeric precision
 * and scale, varchar/char length), NOT NULL, enum labels, and the CHECK conjuncts that constrain
 * one column: ranges (`x >= a`, `x <= b`, BETWEEN), `IN (...)` / `= ANY (ARRAY[...])`,
 * `<>`, `length(x) <= n`, `x IS NOT NULL`, also under `x IS NULL OR …`. Two-column comparisons
 * (`end >= start`) are repaired by swapping the two values. Hypertable time columns get values
 * spanning several chunks of the hypertable's chunk interval, including values exactly at chunk
 * boundaries and one microsecond on either side.
 */
import fc from 'fast-check'
import type { Catalog, CheckInfo, ColumnInfo, ForeignKeyInfo, HypertableInfo, TableInfo, UniqueInfo } from '../catalog/tables.ts'
import { topologicalOrder } from '../catalog/tables.ts'

/** A cell: text input form, NULL, or DEFAULT (undefined). */
export type Cell = string | null | undefined

export interface RawRow {
  values: Cell[]
  /** One per TablePlan.fks: an index into the parent's inserted rows, or null (no reference). */
  refs: (number | null)[]
}

/** Aligned with GenerationPlan.tables. */
export type RawDataset = RawRow[][]

export interface Bound {
  value: string
  inclusive: boolean
}

export interface ColumnRule {
  min?: Bound
  max?: Bound
  in?: string[]
  notIn: string[]
  minLength?: number
  maxLength?: number
  notNull?: boolean
}

/** `a >= b` or `a > b` between two columns of one row (after normalising `<`, `<=`). */
export interface Repair {
  check: string
  greater: number
  lesser: number
  strict: boolean
}

export interface FkPlan {
  fk: ForeignKeyInfo
  /** Indexes into TablePlan.columns. */
  columns: number[]
  /** Every column of the key is nullable: the slot may be null. */
  nullable: boolean
  self: boolean
}

export interface UniquePlan {
  unique: UniqueInfo
  /** Indexes into TablePlan.columns for a plain key; null for an expression or partial index (evaluated by query). */
  columns: number[] | null
}

export interface TablePlan {
  table: TableInfo
  /** The columns an INSERT names: every column but stored generated ones. */
  columns: ColumnInfo[]
  /** Serial and identity columns: always DEFAULT, so sequences stay consistent and runs deterministic. */
  alwaysDefault: boolean[]
  fks: FkPlan[]
  repairs: Repair[]
  /** CHECKs not honoured by construction: evaluated by query on the candidate rows before insert. */
  filterChecks: CheckInfo[]
  uniques: UniquePlan[]
  rules: Map<string, ColumnRule>
  /** Column name → how its values are made (for reports). */
  generators: Map<string, string>
  maxRows: number
}

export interface GenerationPlan {
  tables: TablePlan[]
  skipped: { table: string; reason: string }[]
  /** Foreign keys that close a cycle: their children reference nothing (NULL) or are dropped. */
  cut: { table: string; fk: string }[]
}

export interface GenerationOptions {
  /** Upper bound of rows per plain table (default 6). */
  maxRows?: number
  /** Upper bound of rows per hypertable (default 12). */
  maxHypertableRows?: number
  /** Instant the generated time ranges are centred on (default 2024-01-15T00:00:00Z). */
  anchor?: Date
}

const DEFAULT_ANCHOR_US = Date.UTC(2024, 0, 15) * 1000

// ---- CHECK parsing ------------------------------------------------------------------------------

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

// ---- values -------------------------------------------------------------------------------------

/** One code point per unit: ASCII mostly, then Latin/Greek/Cyrillic, CJK, astral (emoji, math), combining marks, quotes and whitespace. Never NUL or a lone surrogate. */
const charUnit: fc.Arbitrary<string> = fc.oneof(
  { weight: 12, arbitrary: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) },
  { weight: 2, arbitrary: fc.integer({ min: 0xa0, max: 0x4ff }).map((c) => String.fromCharCode(c)) },
  { weight: 1, arbitrary: fc.integer({ min: 0x4e00, max: 0x9fff }).map((c) => String.fromCharCode(c)) },
  { weight: 2, arbitrary: fc.oneof(fc.integer({ min: 0x1f300, max: 0x1faff }), fc.integer({ min: 0x1d400, max: 0x1d7ff })).map((c) => String.fromCodePoint(c)) },
  { weight: 1, arbitrary: fc.integer({ min: 0x300, max: 0x36f }).map((c) => String.fromCharCode(c)) },
  { weight: 1, arbitrary: fc.constantFrom('\t', '\n', '\r', ' ', '\u00a0', '\u2028', '\\', "'", '"', '\u{10ffff}', '\ufeff') },
)

const codePoints = (s: string) => [...s].length

function textArb(rule: ColumnRule, typeLimit: number | undefined): fc.Arbitrary<string> | undefined {
  const max = Math.min(typeLimit ?? Infinity, rule.maxLength ?? Infinity)
  const min = Math.max(0, rule.minLength ?? 0)
  if (min > max) return undefined
  const shortMax = Math.max(min, Math.min(max, 24))
  const parts: fc.WeightedArbitrary<string>[] = [{ weight: 8, arbitrary: fc.string({ unit: charUnit, minLength: min, maxLength: shortMax }) }]
  if (min === 0) parts.unshift({ weight: 1, arbitrary: fc.constant('') })
  if (max > 64) {
    // Long text: where the type allows it, thousands of code points.
    const longMax = Math.min(max, 4000)
    const longMin = Math.max(min, Math.min(200, longMax))
    parts.push({
      weight: 1,
      arbitrary: fc
        .tuple(fc.string({ unit: charUnit, minLength: 1, maxLength: 12 }), fc.integer({ min: 1, max: 400 }))
        .map(([s, n]) => {
          const cps = [...s.repeat(Math.ceil(longMin / codePoints(s)) + n)]
          return cps.slice(0, Math.min(longMax, cps.length)).join('')
        }),
    })
  }
  if (max >= 1 && min <= 1) parts.push({ weight: 1, arbitrary: fc.constantFrom('😀', '𝔸', 'é', '\u0065\u0301', '漢') })
  if (max >= 1) {
    const atMax = Math.min(max, 300)
    if (atMax >= min && atMax === max) parts.push({ weight: 1, arbitrary: fc.string({ unit: charUnit, minLength: atMax, maxLength: atMax }) })
  }
  // withCrossShrink: a failing long or special string may shrink to the simplest alternative.
  return fc.oneof({ withCrossShrink: true }, ...parts)
}

// Exact decimal arithmetic on strings (bounds, numeric precision and scale).
function scaled(dec: string, scale: number): { value: bigint; exact: boolean } | undefined {
  const m = /^([+-])?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(dec.trim())
  if (!m || (m[2] === '' && (m[3] ?? '') === '')) return undefined
  const neg = m[1] === '-'
  let int = m[2] || '0'
  let frac = m[3] ?? ''
  const exp = Number(m[4] ?? 0)
  if (exp > 0) {
    const f = frac.padEnd(exp, '0')
    int += f.slice(0, exp)
    frac = f.slice(exp)
  } else if (exp < 0) {
    const i = int.padStart(-exp + 1, '0')
    frac = i.slice(i.length + exp) + frac
    int = i.slice(0, i.length + exp)
  }
  const kept = frac.slice(0, Math.max(0, scale)).padEnd(Math.max(0, scale), '0')
  const dropped = frac.slice(Math.max(0, scale))
  let v = BigInt(int + kept)
  const exact = !/[1-9]/.test(dropped)
  if (neg) v = -v
  return { value: v, exact }
}

function ceilScaled(b: Bound, scale: number): bigint | undefined {
  const s = scaled(b.value, scale)
  if (!s) return undefined
  // truncation went toward zero: for a positive inexact value the ceiling is one more
  let v = s.value
  if (!s.exact && !b.value.trim().startsWith('-')) v += 1n
  if (s.exact && !b.inclusive) v += 1n
  return v
}

function floorScaled(b: Bound, scale: number): bigint | undefined {
  const s = scaled(b.value, scale)
  if (!s) return undefined
  let v = s.value
  if (!s.exact && b.value.trim().startsWith('-')) v -= 1n
  if (s.exact && !b.inclusive) v -= 1n
  return v
}

function formatScaled(v: bigint, scale: number): string {
  if (scale <= 0) return v.toString()
  const neg = v < 0n
  const digits = (neg ? -v : v).toString().padStart(scale + 1, '0')
  return `${neg ? '-' : ''}${digits.slice(0, -scale)}.${digits.slice(-scale)}`
}

const bigMin = (a: bigint, b: bigint) => (a < b ? a : b)
const bigMax = (a: bigint, b: bigint) => (a > b ? a : b)

/** PostgreSQL orders NaN above every number (and equal to itself); used for the specials. */
function pgCompare(a: number, b: number): number {
  if (Number.isNaN(a)) return Number.isNaN(b) ? 0 : 1
  if (Number.isNaN(b)) return -1
  return a < b ? -1 : a > b ? 1 : 0
}

function satisfiesNumber(x: number, rule: ColumnRule): boolean {
  if (rule.min) {
    const c = pgCompare(x, Number(rule.min.value))
    if (c < 0 || (c === 0 && !rule.min.inclusive)) return false
  }
  if (rule.max) {
    const c = pgCompare(x, Number(rule.max.value))
    if (c > 0 || (c === 0 && !rule.max.inclusive)) return false
  }
  return true
}

function integerArb(bits: 16 | 32 | 64, rule: ColumnRule): fc.Arbitrary<string> | undefined {
  const typeMin = -(2n ** BigInt(bits - 1))
  const typeMax = 2n ** BigInt(bits - 1) - 1n
  const lo = bigMax(typeMin, rule.min ? (ceilScaled(rule.min, 0) ?? typeMin) : typeMin)
  const hi = bigMin(typeMax, rule.max ? (floorScaled(rule.max, 0) ?? typeMax) : typeMax)
  if (lo > hi) return undefined
  const specials = [0n, 1n, -1n, typeMin, typeMax, lo, hi, lo + 1n, hi - 1n].filter((v) => v >= lo && v <= hi)
  const parts: fc.WeightedArbitrary<bigint>[] = [
    { weight: 4, arbitrary: fc.bigInt({ min: lo, max: hi }) },
    { weight: 2, arbitrary: fc.constantFrom(...[...new Set(specials)]) },
  ]
  if (bigMax(lo, -1000n) <= bigMin(hi, 1000n)) parts.unshift({ weight: 4, arbitrary: fc.bigInt({ min: bigMax(lo, -1000n), max: bigMin(hi, 1000n) }) })
  return fc.oneof({ withCrossShrink: true }, ...parts).map((v) => v.toString())
}

function numericArb(precision: number | undefined, scale: number | undefined, rule: ColumnRule): fc.Arbitrary<string> | undefined {
  const s = Math.max(0, scale ?? 4)
  const p = precision ?? 18
  const limit = 10n ** BigInt(p) - 1n
  const lo = bigMax(-limit, rule.min ? (ceilScaled(rule.min, s) ?? -limit) : -limit)
  const hi = bigMin(limit, rule.max ? (floorScaled(rule.max, s) ?? limit) : limit)
  const parts: fc.WeightedArbitrary<string>[] = []
  if (lo <= hi) {
    const unit = 10n ** BigInt(s)
    const specials = [0n, unit, -unit, 1n, -1n, lo, hi, limit, -limit].filter((v) => v >= lo && v <= hi)
    const nearLo = bigMax(lo, -1000n * unit)
    const nearHi = bigMin(hi, 1000n * unit)
    if (nearLo <= nearHi) parts.push({ weight: 4, arbitrary: fc.bigInt({ min: nearLo, max: nearHi }).map((v) => formatScaled(v, s)) })
    parts.push({ weight: 3, arbitrary: fc.bigInt({ min: lo, max: hi }).map((v) => formatScaled(v, s)) })
    parts.push({ weight: 2, arbitrary: fc.constantFrom(...[...new Set(specials)]).map((v) => formatScaled(v, s)) })
  }
  const extra = ['NaN', ...(precision === undefined ? ['Infinity', '-Infinity'] : [])].filter((x) => satisfiesNumber(Number(x), rule))
  if (extra.length) parts.push({ weight: 1, arbitrary: fc.constantFrom(...extra) })
  if (parts.length === 0) return undefined
  return fc.oneof({ withCrossShrink: true }, ...parts)
}

function floatString(x: number): string {
  if (Number.isNaN(x)) return 'NaN'
  if (x === Infinity) return 'Infinity'
  if (x === -Infinity) return '-Infinity'
  if (Object.is(x, -0)) return '-0'
  return String(x)
}

function floatArb(single: boolean, rule: ColumnRule): fc.Arbitrary<string> | undefined {
  const min = rule.min ? Number(rule.min.value) : undefined
  const max = rule.max ? Number(rule.max.value) : undefined
  const round = single ? Math.fround : (x: number) => x
  const specials = (single
    ? [0, -0, 1, -1, 0.1, 1.401298464324817e-45, 3.4028234663852886e38, -3.4028234663852886e38, 1.1754943508222875e-38]
    : [0, -0, 1, -1, 0.1, 5e-324, Number.MAX_VALUE, -Number.MAX_VALUE, 2.2250738585072014e-308, 2 ** 53 + 1]
  )
    .map(round)
    .concat([NaN, Infinity, -Infinity])
    .concat(min !== undefined ? [min] : [], max !== undefined ? [max] : [])
    .filter((x) => satisfiesNumber(x, rule))
  const lo = min !== undefined && Number.isFinite(min) ? min : single ? -3.4028234663852886e38 : -Number.MAX_VALUE
  const hi = max !== undefined && Number.isFinite(max) ? max : single ? 3.4028234663852886e38 : Number.MAX_VALUE
  const parts: fc.WeightedArbitrary<number>[] = []
  if (lo <= hi) {
    const base = single
      ? fc.float({ min: Math.fround(lo), max: Math.fround(hi), noNaN: true, noDefaultInfinity: true })
      : fc.double({ min: lo, max: hi, noNaN: true, noDefaultInfinity: true })
    const nlo = Math.max(lo, -1e6)
    const nhi = Math.min(hi, 1e6)
    if (Math.ceil(nlo * 100) <= Math.floor(nhi * 100)) parts.push({ weight: 4, arbitrary: fc.integer({ min: Math.ceil(nlo * 100), max: Math.floor(nhi * 100) }).map((v) => round(v / 100)) })
    parts.push({ weight: 3, arbitrary: base })
  }
  if (specials.length) parts.push({ weight: 2, arbitrary: fc.constantFrom(...specials) })
  if (parts.length === 0) return undefined
  return fc
    .oneof({ withCrossShrink: true }, ...parts)
    .filter((x) => satisfiesNumber(x, rule))
    .map(floatString)
}

/** `YYYY-MM-DDTHH:MM:SS.ffffff` from microseconds since the Unix epoch (UTC). */
export function formatMicros(us: number, zone: boolean): string {
  const ms = Math.floor(us / 1000)
  const rest = us - ms * 1000
  const iso = new Date(ms).toISOString() // 2024-01-15T00:00:00.000Z
  return `${iso.slice(0, 23)}${String(rest).padStart(3, '0')}${zone ? 'Z' : ''}`
}

const DAY_US = 86_400_000_000

function timestampArb(zone: boolean, anchorUs: number, ht: HypertableInfo | undefined, isTime: boolean): fc.Arbitrary<string> {
  if (isTime && ht && !ht.integer && ht.interval > 0) {
    // Several chunks around the anchor; exact chunk boundaries (aligned on the Unix epoch, as
    // TimescaleDB aligns them) and one microsecond either side of them.
    const I = ht.interval
    const b0 = Math.ceil(anchorUs / I) * I
    return fc
      .tuple(fc.integer({ min: -2, max: 3 }), fc.oneof(fc.constant(0), fc.constant(-1), fc.constant(1), fc.integer({ min: 0, max: I - 1 })))
      .map(([j, off]) => formatMicros(b0 + j * I + off, zone))
  }
  const realistic = fc.integer({ min: anchorUs - 30 * DAY_US, max: anchorUs + 60 * DAY_US }).map((u) => formatMicros(u, zone))
  const wide = fc.integer({ min: 0, max: Date.UTC(2100, 0, 1) * 1000 }).map((u) => formatMicros(u, zone))
  const specials = fc.constantFrom(formatMicros(0, zone), formatMicros(Date.UTC(2000, 0, 1) * 1000, zone), formatMicros(anchorUs, zone), 'infinity', '-infinity')
  return fc.oneof({ withCrossShrink: true }, { weight: 7, arbitrary: realistic }, { weight: 2, arbitrary: wide }, { weight: 1, arbitrary: specials })
}

function dateArb(anchorUs: number): fc.Arbitrary<string> {
  const anchorDay = Math.floor(anchorUs / DAY_US)
  const fmt = (d: number) => new Date(d * 86_400_000).toISOString().slice(0, 10)
  return fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: anchorDay - 400, max: anchorDay + 400 }).map(fmt) },
    { weight: 2, arbitrary: fc.integer({ min: 0, max: 47_000 }).map(fmt) },
    { weight: 1, arbitrary: fc.constantFrom('1970-01-01', '2000-02-29', '2038-01-19', 'infinity', '-infinity') },
  )
}

function timeArb(zone: boolean): fc.Arbitrary<string> {
  const fmt = (us: number) => {
    const h = Math.floor(us / 3_600_000_000)
    const m = Math.floor((us % 3_600_000_000) / 60_000_000)
    const s = Math.floor((us % 60_000_000) / 1_000_000)
    const f = us % 1_000_000
    return `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}.${String(f).padStart(6, '0')}`
  }
  const t = fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 0, max: DAY_US - 1 }).map(fmt) }, { weight: 1, arbitrary: fc.constantFrom('00:00:00', '23:59:59.999999', '24:00:00', '12:00:00') })
  return zone ? fc.tuple(t, fc.constantFrom('+00', '+02', '-05:30', '+14')).map(([a, z]) => a + z) : t
}

function intervalArb(): fc.Arbitrary<string> {
  const fmt = ([mo, d, us]: [number, number, number]) => {
    const neg = us < 0
    const a = Math.abs(us)
    const h = Math.floor(a / 3_600_000_000)
    const m = Math.floor((a % 3_600_000_000) / 60_000_000)
    const s = Math.floor((a % 60_000_000) / 1_000_000)
    const f = a % 1_000_000
    return `${mo} mons ${d} days ${neg ? '-' : ''}${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}.${String(f).padStart(6, '0')}`
  }
  return fc.oneof(
    { weight: 4, arbitrary: fc.tuple(fc.integer({ min: -24, max: 24 }), fc.integer({ min: -60, max: 60 }), fc.integer({ min: -1e11, max: 1e11 })).map(fmt) },
    { weight: 1, arbitrary: fc.constantFrom('00:00:00', '1 day', '7 days', '-1 mons', '00:00:00.000001') },
  )
}

const byte = fc.integer({ min: 0, max: 255 })

function inetArb(cidr: boolean): fc.Arbitrary<string> {
  if (cidr) return fc.oneof(fc.tuple(byte, byte, byte).map(([a, b, c]) => `${a}.${b}.${c}.0/24`), fc.tuple(byte, byte, byte, byte).map((x) => `${x.join('.')}/32`), fc.constant('2001:db8::/32'))
  return fc.oneof(
    { weight: 4, arbitrary: fc.tuple(byte, byte, byte, byte).map((x) => x.join('.')) },
    { weight: 1, arbitrary: fc.tuple(byte, byte, byte, byte, fc.integer({ min: 0, max: 32 })).map(([a, b, c, d, n]) => `${a}.${b}.${c}.${d}/${n}`) },
    { weight: 1, arbitrary: fc.constantFrom('::1', '2001:db8::1', 'fe80::1/64', '0.0.0.0', '255.255.255.255') },
  )
}

const jsonArb = fc
  .jsonValue({ maxDepth: 2, stringUnit: charUnit })
  .map((v) => JSON.stringify(v))
  .filter((s) => !s.includes('\\u0000'))

/** The base value generator of a type (no NULL, no arrays), or undefined when the type is not supported. */
function scalarArb(col: ColumnInfo, rule: ColumnRule, ctx: { anchorUs: number; ht?: HypertableInfo; isTime: boolean }): { arb: fc.Arbitrary<string>; how: string } | undefined {
  const t = col.base
  if (rule.in) {
    const vals = rule.in.filter((v) => !rule.notIn.includes(v))
    const allowed = t.enumLabels ? vals.filter((v) => t.enumLabels!.includes(v)) : vals
    if (allowed.length === 0) return undefined
    return { arb: fc.constantFrom(...allowed), how: `IN list (${allowed.length} values)` }
  }
  // `<>` compares values, not spellings: -0 = 0 and 1.0 = 1 for numbers.
  const numeric = ['smallint', 'integer', 'bigint', 'numeric', 'double precision', 'real'].includes(t.name)
  const same = (a: string, b: string) => (numeric ? a === b || (!Number.isNaN(Number(a)) && Number(a) === Number(b)) || (a === 'NaN' && b === 'NaN') : a === b)
  const excluded = (v: string) => rule.notIn.some((x) => same(v, x))
  const notIn = (a: fc.Arbitrary<string> | undefined) => (a && rule.notIn.length ? a.filter((v) => !excluded(v)) : a)
  const from = (vals: string[]) => {
    const ok = vals.filter((v) => !excluded(v))
    return ok.length ? fc.constantFrom(...ok) : undefined
  }
  const r = (arb: fc.Arbitrary<string> | undefined, how: string) => (arb ? { arb, how } : undefined)
  if (t.enumLabels) return r(from(t.enumLabels), `enum (${t.enumLabels.length} labels)`)
  if (ctx.isTime && ctx.ht?.integer) {
    const I = ctx.ht.interval || 1000
    return r(notIn(fc.tuple(fc.integer({ min: -2, max: 3 }), fc.constantFrom(0, -1, 1, Math.floor(I / 2))).map(([j, o]) => String(1000 * I + j * I + o))), `integer time spanning chunks of ${I}`)
  }
  switch (t.name) {
    case 'smallint':
      return r(notIn(integerArb(16, rule)), 'smallint range')
    case 'integer':
      return r(notIn(integerArb(32, rule)), 'integer range')
    case 'bigint':
      return r(notIn(integerArb(64, rule)), 'bigint range')
    case 'numeric':
      return r(notIn(numericArb(t.precision, t.scale, rule)), t.precision !== undefined ? `numeric(${t.precision},${t.scale})` : 'numeric')
    case 'double precision':
      return r(notIn(floatArb(false, rule)), 'float8 incl. specials')
    case 'real':
      return r(notIn(floatArb(true, rule)), 'float4 incl. specials')
    case 'text':
    case 'character varying':
    case 'character':
    case 'name':
    case 'citext': {
      const limit = t.name === 'name' ? 63 : t.length
      const arb = textArb(rule, limit)
      return r(notIn(arb), `text${limit !== undefined ? `(${limit})` : ''}${rule.maxLength !== undefined ? ` length ≤ ${rule.maxLength}` : ''}`)
    }
    case 'boolean':
      return r(from(['false', 'true']), 'boolean')
    case 'uuid':
      return r(notIn(fc.oneof({ weight: 9, arbitrary: fc.uuid() }, { weight: 1, arbitrary: fc.constantFrom('00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff') })), 'uuid')
    case 'json':
    case 'jsonb':
      return r(notIn(jsonArb), t.name)
    case 'timestamp with time zone':
    case 'timestamp without time zone':
      return r(notIn(timestampArb(t.name === 'timestamp with time zone', ctx.anchorUs, ctx.ht, ctx.isTime)), ctx.isTime && ctx.ht ? `time column: chunks of ${ctx.ht.interval / 1e6} s and their boundaries` : 'timestamp')
    case 'date':
      return r(notIn(dateArb(ctx.anchorUs)), 'date')
    case 'time without time zone':
      return r(notIn(timeArb(false)), 'time')
    case 'time with time zone':
      return r(notIn(timeArb(true)), 'timetz')
    case 'interval':
      return r(notIn(intervalArb()), 'interval')
    case 'inet':
      return r(notIn(inetArb(false)), 'inet')
    case 'cidr':
      return r(notIn(inetArb(true)), 'cidr')
    case 'macaddr':
      return r(notIn(fc.array(byte, { minLength: 6, maxLength: 6 }).map((b) => b.map((x) => x.toString(16).padStart(2, '0')).join(':'))), 'macaddr')
    case 'bytea':
      return r(notIn(fc.uint8Array({ maxLength: 64 }).map((b) => '\\x' + Buffer.from(b).toString('hex'))), 'bytea')
    default:
      return undefined
  }
}

function arrayLiteral(items: (string | null)[]): string {
  return `{${items.map((e) => (e === null ? 'NULL' : `"${e.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`)).join(',')}}`
}

function columnArb(col: ColumnInfo, rule: ColumnRule, ctx: { anchorUs: number; ht?: HypertableInfo; isTime: boolean }): { arb: fc.Arbitrary<string>; how: string } | undefined {
  if (col.base.array) {
    const el = scalarArb(col, { notIn: [] }, { ...ctx, isTime: false })
    if (!el) return undefined
    return { arb: fc.array(fc.option(el.arb, { freq: 8, nil: null }), { maxLength: 3 }).map(arrayLiteral), how: `array of ${el.how}` }
  }
  return scalarArb(col, rule, ctx)
}

// ---- plans --------------------------------------------------------------------------------------

/** Whether an SQL expression mentions the column (bare or quoted). */
export const wordIn = (name: string, sql: string) => new RegExp(`(^|[^\\w"$])(${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}|"${name.replace(/"/g, '""').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}")($|[^\\w"$])`).test(sql)

export function buildPlan(catalog: Catalog, options: GenerationOptions = {}): { plan: GenerationPlan; arbitrary: fc.Arbitrary<RawDataset> } {
  const anchorUs = options.anchor ? options.anchor.getTime() * 1000 : DEFAULT_ANCHOR_US
  const { order, cut } = topologicalOrder(catalog.tables)
  const skipped: { table: string; reason: string }[] = []
  const referenced = new Map<string, Set<string>>()
  for (const t of catalog.tables) for (const f of t.foreignKeys) for (const c of f.refColumns) (referenced.get(f.refTable) ?? referenced.set(f.refTable, new Set()).get(f.refTable)!).add(c)
  const generated = new Set<string>()
  const plans: TablePlan[] = []
  const arbs: fc.Arbitrary<RawRow[]>[] = []

  for (const t of order) {
    const columns = t.columns.filter((c) => !c.generated)
    const alwaysDefault = columns.map((c) => c.serial)
    const rules = new Map<string, ColumnRule>(columns.map((c) => [c.name, { notIn: [] }]))
    const fkCols = new Set(t.foreignKeys.flatMap((f) => f.columns))
    const repairs: Repair[] = []
    const filterChecks: CheckInfo[] = []
    for (const ch of t.checks) {
      const p = parseCheck(ch.expression)
      for (const r of p.rules) {
        const rule = rules.get(r.column)
        if (rule) r.apply(rule)
      }
      if (!p.complete) filterChecks.push(ch)
      for (const c of p.compares) {
        const a = columns.findIndex((x) => x.name === c.a)
        const b = columns.findIndex((x) => x.name === c.b)
        if (a < 0 || b < 0 || fkCols.has(c.a) || fkCols.has(c.b) || columns[a]!.base.name !== columns[b]!.base.name || columns[a]!.base.array) continue
        const [greater, lesser] = c.op.startsWith('>') ? [a, b] : [b, a]
        repairs.push({ check: ch.name, greater, lesser, strict: c.op === '>' || c.op === '<' })
      }
    }
    // Columns a query must see with their real value (never DEFAULT): keys, referenced columns,
    // columns of CHECKs and unique expressions evaluated by query.
    const pinned = new Set<string>()
    for (const u of t.uniques) {
      if (u.columns) u.columns.forEach((c) => pinned.add(c))
      else for (const c of columns) if (u.expressions.some((e) => wordIn(c.name, e)) || (u.predicate && wordIn(c.name, u.predicate))) pinned.add(c.name)
      if (u.predicate) for (const c of columns) if (wordIn(c.name, u.predicate)) pinned.add(c.name)
    }
    for (const ch of filterChecks) {
      ch.columns.forEach((c) => pinned.add(c))
      for (const c of columns) if (wordIn(c.name, ch.expression)) pinned.add(c.name)
    }
    for (const c of referenced.get(t.name) ?? []) pinned.add(c)
    if (t.hypertable) pinned.add(t.hypertable.timeColumn)

    const cells: fc.Arbitrary<Cell>[] = []
    const generators = new Map<string, string>()
    let unsupported: string | undefined
    for (const [i, c] of columns.entries()) {
      const rule = rules.get(c.name)!
      const notNull = c.notNull || rule.notNull === true
      if (alwaysDefault[i]) {
        cells.push(fc.constant(undefined))
        generators.set(c.name, 'DEFAULT (sequence/identity)')
        continue
      }
      const made = columnArb(c, rule, { anchorUs, ht: t.hypertable, isTime: t.hypertable?.timeColumn === c.name })
      const omittable = c.default !== null && !pinned.has(c.name)
      if (!made) {
        if (fkCols.has(c.name)) cells.push(fc.constant(null))
        else if (!notNull) cells.push(fc.constant(null))
        else if (c.default !== null) cells.push(fc.constant(undefined))
        else {
          unsupported = `column ${c.name} (${c.type}) is NOT NULL without a default, and the generator has no value for it (unknown type, or no value satisfies its CHECKs)`
          break
        }
        generators.set(c.name, `unsupported type ${c.type}: ${notNull ? 'DEFAULT' : 'NULL'}`)
        continue
      }
      let arb: fc.Arbitrary<Cell> = made.arb
      if (!notNull) arb = fc.option(made.arb, { freq: 5, nil: null })
      if (omittable) arb = fc.oneof({ withCrossShrink: true }, { weight: 1, arbitrary: fc.constant(undefined) }, { weight: 3, arbitrary: arb })
      cells.push(arb)
      generators.set(c.name, `${made.how}${notNull ? '' : ', NULL'}${omittable ? ', DEFAULT' : ''}`)
    }
    if (unsupported) {
      skipped.push({ table: t.name, reason: unsupported })
      continue
    }
    const fks: FkPlan[] = []
    let orphan: string | undefined
    for (const f of t.foreignKeys) {
      const idx = f.columns.map((c) => columns.findIndex((x) => x.name === c))
      if (idx.some((i) => i < 0)) continue
      const nullable = f.columns.some((c) => !columns.find((x) => x.name === c)!.notNull && !rules.get(c)!.notNull)
      const self = f.refTable === t.name
      const parentKnown = self || generated.has(f.refTable) || !catalog.tables.some((x) => x.name === f.refTable)
      if (!parentKnown && !nullable) orphan = `its NOT NULL foreign key ${f.name} references ${f.refTable}, which is not generated`
      fks.push({ fk: f, columns: idx, nullable, self })
    }
    if (orphan) {
      skipped.push({ table: t.name, reason: orphan })
      continue
    }
    const uniques: UniquePlan[] = t.uniques.map((u) => ({
      unique: u,
      columns: u.columns && !u.predicate ? u.columns.map((c) => columns.findIndex((x) => x.name === c)) : null,
    }))
    const maxRows = t.hypertable ? (options.maxHypertableRows ?? 12) : (options.maxRows ?? 6)
    const refs = fks.map((f) => (f.nullable ? fc.option(fc.nat({ max: 63 }), { freq: 6, nil: null }) : fc.nat({ max: 63 })))
    const row = fc.record({ values: fc.tuple(...cells), refs: fc.tuple(...refs) }) as fc.Arbitrary<RawRow>
    plans.push({ table: t, columns, alwaysDefault, fks, repairs, filterChecks, uniques, rules, generators, maxRows })
    // size 'max': lengths spread over 0…maxRows (rows are cheap next to the migrations themselves).
    arbs.push(fc.array(row, { maxLength: maxRows, size: 'max' }))
    generated.add(t.name)
  }
  const arbitrary = (arbs.length ? fc.tuple(...arbs) : fc.constant([])) as fc.Arbitrary<RawDataset>
  return { plan: { tables: plans, skipped, cut }, arbitrary }
}

/** Value used to compare keys for uniqueness the way PostgreSQL's equality does, for the generated forms. */
export function keyForm(col: ColumnInfo, v: string): string {
  if (col.base.array) return v
  switch (col.base.name) {
    case 'double precision':
    case 'real':
      return v === '-0' ? '0' : v
    case 'character':
      return v.replace(/ +$/, '')
    case 'numeric': {
      if (!/^-?\d/.test(v)) return v
      const [i, f = ''] = v.replace(/^-/, '').split('.')
      const frac = f.replace(/0+$/, '')
      const int = i!.replace(/^0+(?=\d)/, '')
      const zero = /^0*$/.test(int) && frac === ''
      return `${v.startsWith('-') && !zero ? '-' : ''}${int}${frac ? '.' + frac : ''}`
    }
    case 'uuid':
      return v.toLowerCase()
    default:
      return v
  }
}

/** A sortable number for two-column comparisons (timestamps, dates, numbers); undefined when not comparable. */
export function orderValue(col: ColumnInfo, v: string): number | undefined {
  if (v === 'infinity' || v === 'Infinity') return Infinity
  if (v === '-infinity' || v === '-Infinity') return -Infinity
  if (v === 'NaN') return Infinity
  switch (col.base.name) {
    case 'timestamp with time zone':
    case 'timestamp without time zone': {
      const ms = Date.parse(v.endsWith('Z') ? v : `${v}Z`)
      const us = /\.\d{3}(\d{3})/.exec(v)?.[1]
      return Number.isNaN(ms) ? undefined : ms * 1000 + Number(us ?? 0)
    }
    case 'date':
      return Date.parse(`${v}T00:00:00Z`)
    case 'smallint':
    case 'integer':
    case 'bigint':
    case 'numeric':
    case 'double precision':
    case 'real': {
      const n = Number(v)
      return Number.isNaN(n) ? undefined : n
    }
    default:
      return undefined
  }
}
