/**
 * fast-check arbitraries for one column's values, by type (integers, numerics, floats, text,
 * timestamps spanning a hypertable's chunks with values on the boundaries, dates, times,
 * intervals, inet, json, uuid, enums, arrays), narrowed by the column's rules.
 */
import fc from 'fast-check'
import type { ColumnInfo, HypertableInfo } from '../catalog/tables.ts'
import type { Bound, ColumnRule } from './plan-types.ts'

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

export function columnArb(col: ColumnInfo, rule: ColumnRule, ctx: { anchorUs: number; ht?: HypertableInfo; isTime: boolean }): { arb: fc.Arbitrary<string>; how: string } | undefined {
  if (col.base.array) {
    const el = scalarArb(col, { notIn: [] }, { ...ctx, isTime: false })
    if (!el) return undefined
    return { arb: fc.array(fc.option(el.arb, { freq: 8, nil: null }), { maxLength: 3 }).map(arrayLiteral), how: `array of ${el.how}` }
  }
  return scalarArb(col, rule, ctx)
}
