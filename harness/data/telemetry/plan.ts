/** The plan: reference data (lines, equipment, metrics, fault bits) and event timelines (faults, planned stops, shifts). */
import { DAY_MS, DAYS_PER_SCALE, DEFAULT_HZ, EQUIPMENT_PER_SCALE, FAULTS_PER_EQUIPMENT_DAY, HOUR_MS, LINES_PER_SCALE, MINUTE_MS, type TelemetryOptions } from './options.ts'
import { hash, prng, S, u01, uuidFor } from './random.ts'

export interface Line {
  id: string
  code: string
  name: string
  equipment: Equipment[]
  /** The machine whose output counts for the line's OEE (its last machine). */
  primary: Equipment
}

export interface Equipment {
  index: number
  code: string
  lineIndex: number
  type: 'production' | 'packaging'
  /** Nominal speed, parts per minute. */
  nominalPpm: number
  ratedKw: number
  phase: number
  metrics: MetricDef[]
  /** Sorted, non-overlapping stop intervals (planned stops of its line and its faults). */
  stops: Interval[]
}

export type MetricKind = 'speed' | 'temperature' | 'motor_current' | 'total_count' | 'good_count' | 'running'

export interface MetricDef {
  id: string
  index: number
  equipmentCode: string
  key: MetricKind
  valueType: 'REAL' | 'INT' | 'BOOL'
  unit: string | null
  description: string
}

export interface Interval {
  start: number
  /** Exclusive; for an ongoing stop this is the end of the data. */
  end: number
  kind: 'fault' | 'planned'
  ongoing: boolean
}

export interface FaultBit {
  bit: number
  code: string
  name: string
  marker: 'INTERNAL' | 'UPSTREAM' | 'DOWNSTREAM'
  severity: 'low' | 'medium' | 'high' | 'critical'
  weight: number
}

export interface Fault {
  equipment: Equipment
  bit: FaultBit
  on: number
  /** null while the fault is still on at the end of the data. */
  off: number | null
}

export interface PlannedStop {
  line: Line
  start: number
  end: number
  category: 'planned' | 'changeover' | 'maintenance'
  reasonCode: string
  description: string
}

export interface Plan {
  seed: number
  scale: number
  hz: number
  /** Sample period in ms (1000 / hz, rounded). */
  stepMs: number
  /** Period of the per-minute series (oee_calculations, energy_consumption), in ms. */
  seriesStepMs: number
  start: number
  end: number
  lines: Line[]
  equipment: Equipment[]
  metrics: MetricDef[]
  faults: Fault[]
  plannedStops: PlannedStop[]
  users: { id: string; username: string; role: string; email: string; first: string; last: string; employeeId: string }[]
  shifts: { id: string; name: string; start: string; end: string; startHour: number }[]
  products: { id: string; code: string; name: string; ppm: number }[]
}

export const FAULT_BITS: readonly FaultBit[] = [
  { bit: 0, code: 'ESTOP', name: 'Emergency stop pressed', marker: 'INTERNAL', severity: 'critical', weight: 1 },
  { bit: 1, code: 'GUARD', name: 'Guard door open', marker: 'INTERNAL', severity: 'high', weight: 3 },
  { bit: 2, code: 'OVERLOAD', name: 'Motor overload', marker: 'INTERNAL', severity: 'high', weight: 2 },
  { bit: 3, code: 'AIR_LOW', name: 'Low air pressure', marker: 'INTERNAL', severity: 'medium', weight: 2 },
  { bit: 4, code: 'JAM', name: 'Product jam', marker: 'INTERNAL', severity: 'medium', weight: 12 },
  { bit: 5, code: 'STARVED', name: 'Infeed starved', marker: 'UPSTREAM', severity: 'low', weight: 10 },
  { bit: 6, code: 'BLOCKED', name: 'Outfeed blocked', marker: 'DOWNSTREAM', severity: 'low', weight: 9 },
  { bit: 7, code: 'LABEL', name: 'Label missing', marker: 'INTERNAL', severity: 'low', weight: 6 },
  { bit: 8, code: 'SENSOR', name: 'Sensor fault', marker: 'INTERNAL', severity: 'medium', weight: 3 },
  { bit: 9, code: 'DRIVE', name: 'Drive fault', marker: 'INTERNAL', severity: 'high', weight: 1 },
  { bit: 10, code: 'OVERTEMP', name: 'Over temperature', marker: 'INTERNAL', severity: 'high', weight: 1 },
  { bit: 11, code: 'VACUUM', name: 'Vacuum low', marker: 'INTERNAL', severity: 'medium', weight: 3 },
  { bit: 12, code: 'SERVO', name: 'Servo following error', marker: 'INTERNAL', severity: 'high', weight: 2 },
  { bit: 13, code: 'SAFETY', name: 'Safety relay fault', marker: 'INTERNAL', severity: 'critical', weight: 1 },
  { bit: 14, code: 'LUBE', name: 'Lubrication low', marker: 'INTERNAL', severity: 'low', weight: 2 },
  { bit: 15, code: 'COMMS', name: 'Communication timeout', marker: 'INTERNAL', severity: 'medium', weight: 2 },
]

const METRIC_SPECS: readonly { key: MetricKind; valueType: 'REAL' | 'INT' | 'BOOL'; unit: string | null; description: string }[] = [
  { key: 'speed', valueType: 'REAL', unit: 'ppm', description: 'Machine speed' },
  { key: 'temperature', valueType: 'REAL', unit: 'degC', description: 'Drive temperature' },
  { key: 'motor_current', valueType: 'REAL', unit: 'A', description: 'Main motor current' },
  { key: 'total_count', valueType: 'INT', unit: 'parts', description: 'Total parts counter' },
  { key: 'good_count', valueType: 'INT', unit: 'parts', description: 'Good parts counter' },
  { key: 'running', valueType: 'BOOL', unit: null, description: 'Machine running' },
]
export const METRICS_PER_EQUIPMENT = METRIC_SPECS.length

export const SHIFT_DEFS = [
  { name: 'A', start: '06:00', end: '14:00', startHour: 6 },
  { name: 'B', start: '14:00', end: '22:00', startHour: 14 },
  { name: 'C', start: '22:00', end: '06:00', startHour: 22 },
]

const PLANNED = [
  { hour: 6, minutes: 20, category: 'changeover' as const, reasonCode: 'CHANGEOVER', description: 'Product changeover at shift start', weekday: -1 },
  { hour: 12, minutes: 30, category: 'planned' as const, reasonCode: 'BREAK', description: 'Meal break', weekday: -1 },
  { hour: 14, minutes: 60, category: 'maintenance' as const, reasonCode: 'PM', description: 'Preventive maintenance', weekday: 3 },
]

function resolveOptions(options: TelemetryOptions = {}) {
  const seed = Math.trunc(options.seed ?? 1)
  const scale = options.scale ?? 1
  if (!(scale > 0) || !Number.isFinite(scale)) throw new RangeError(`scale must be a positive number, got ${scale}`)
  const days = options.days ?? DAYS_PER_SCALE * scale
  if (!(days > 0) || !Number.isFinite(days)) throw new RangeError(`days must be a positive number, got ${days}`)
  const hz = options.hz ?? DEFAULT_HZ
  if (!(hz > 0) || hz > 10) throw new RangeError(`hz must be in (0, 10], got ${hz}`)
  const end = options.end ? options.end.getTime() : Math.floor(Date.now() / HOUR_MS) * HOUR_MS
  if (!Number.isFinite(end)) throw new RangeError('end is not a valid date')
  const start = end - Math.round(days * DAY_MS)
  const stepMs = Math.max(100, Math.round(1000 / hz))
  const seriesMinutes = options.seriesMinutes ?? 1
  if (!Number.isInteger(seriesMinutes) || seriesMinutes < 1) throw new RangeError(`seriesMinutes must be a whole number ≥ 1, got ${seriesMinutes}`)
  return { seed, scale, days, hz, end, start, stepMs, seriesStepMs: seriesMinutes * MINUTE_MS }
}

/** Builds the reference data and the event timelines (no time series yet). Pure. */
export function planTelemetry(options: TelemetryOptions = {}): Plan {
  const { seed, scale, hz, start, end, stepMs, seriesStepMs } = resolveOptions(options)
  const nEquipment = Math.max(1, Math.round(EQUIPMENT_PER_SCALE * scale))
  const nLines = Math.min(nEquipment, Math.max(1, Math.round(LINES_PER_SCALE * scale)))

  const lines: Line[] = []
  for (let l = 0; l < nLines; l++) {
    const code = `L${String(l + 1).padStart(2, '0')}`
    lines.push({ id: uuidFor(seed, 'line', l), code, name: `Line ${l + 1}`, equipment: [], primary: undefined as unknown as Equipment })
  }
  const equipment: Equipment[] = []
  const metrics: MetricDef[] = []
  for (let e = 0; e < nEquipment; e++) {
    const lineIndex = e % nLines
    const line = lines[lineIndex]!
    const pos = line.equipment.length
    const code = `${line.code}-${pos === 0 ? 'FILL' : pos === 1 ? 'PACK' : `M${pos + 1}`}${String(e + 1).padStart(3, '0')}`
    const eq: Equipment = {
      index: e,
      code,
      lineIndex,
      type: pos === 0 ? 'production' : 'packaging',
      nominalPpm: 100 + Math.round(u01(seed, S.nominal, e) * 40),
      ratedKw: 15 + Math.round(u01(seed, S.nominal, e, 1) * 30),
      phase: u01(seed, S.phase, e) * 2 * Math.PI,
      metrics: [],
      stops: [],
    }
    for (const [m, spec] of METRIC_SPECS.entries()) {
      const index = e * METRICS_PER_EQUIPMENT + m
      const def: MetricDef = { id: uuidFor(seed, 'metric', index), index, equipmentCode: code, key: spec.key, valueType: spec.valueType, unit: spec.unit, description: `${spec.description} (${code})` }
      eq.metrics.push(def)
      metrics.push(def)
    }
    line.equipment.push(eq)
    equipment.push(eq)
  }
  for (const line of lines) line.primary = line.equipment[line.equipment.length - 1]!

  // Planned stops per line, every day in range.
  const plannedStops: PlannedStop[] = []
  for (let day = Math.floor(start / DAY_MS) * DAY_MS; day < end; day += DAY_MS) {
    const weekday = new Date(day).getUTCDay()
    for (const p of PLANNED) {
      if (p.weekday >= 0 && p.weekday !== weekday) continue
      const s = day + p.hour * HOUR_MS
      const f = s + p.minutes * MINUTE_MS
      if (s < start || s >= end) continue
      for (const line of lines) plannedStops.push({ line, start: s, end: Math.min(f, end), category: p.category, reasonCode: p.reasonCode, description: p.description })
    }
  }
  plannedStops.sort((a, b) => a.start - b.start || a.line.code.localeCompare(b.line.code))

  // Faults per equipment: Poisson arrivals, log-normal durations, never inside a planned stop.
  const totalWeight = FAULT_BITS.reduce((s, b) => s + b.weight, 0)
  const pickBit = (u: number): FaultBit => {
    let acc = 0
    for (const b of FAULT_BITS) {
      acc += b.weight / totalWeight
      if (u < acc) return b
    }
    return FAULT_BITS[FAULT_BITS.length - 1]!
  }
  const faults: Fault[] = []
  const ratePerMs = FAULTS_PER_EQUIPMENT_DAY / DAY_MS
  for (const eq of equipment) {
    const rnd = prng(hash(seed, S.fault, eq.index))
    const planned = plannedStops.filter((p) => p.line === lines[eq.lineIndex])
    const own: Fault[] = []
    let t = start + Math.round((-Math.log(1 - rnd()) / ratePerMs) * 0.5)
    while (t < end) {
      const bit = pickBit(rnd())
      // Median 40 s, ~16 % at 2 minutes or more, capped at 2 hours; whole milliseconds.
      const z = (rnd() + rnd() + rnd() - 1.5) * 2
      const durMs = Math.min(2 * HOUR_MS, Math.max(1000, Math.round(40_000 * Math.exp(1.1 * z))))
      const on = Math.floor(t / 1000) * 1000 + Math.floor(rnd() * 1000)
      const off = on + durMs
      const clash = planned.some((p) => on < p.end + 60_000 && off > p.start - 60_000)
      if (!clash && on >= start) {
        if (off >= end) {
          own.push({ equipment: eq, bit, on, off: null })
          break
        }
        own.push({ equipment: eq, bit, on, off })
      }
      t = Math.max(off, on) + 30_000 + Math.round(-Math.log(1 - rnd()) / ratePerMs)
    }
    // A few faults are still on at the end (the first machine always, others at random).
    const last = own[own.length - 1]
    if ((eq.index === 0 || u01(seed, S.ongoing, eq.index) < 0.3) && (!last || last.off !== null)) {
      const on = Math.max((last?.off ?? start) + 60_000, end - Math.round((5 + u01(seed, S.ongoing, eq.index, 1) * 45) * MINUTE_MS))
      const clash = planned.some((p) => on < p.end + 60_000 && end > p.start - 60_000)
      if (on < end - 60_000 && !clash) own.push({ equipment: eq, bit: pickBit(u01(seed, S.ongoing, eq.index, 2)), on, off: null })
    }
    faults.push(...own)
    const stops: Interval[] = [
      ...planned.map((p) => ({ start: p.start, end: p.end, kind: 'planned' as const, ongoing: false })),
      ...own.map((f) => ({ start: f.on, end: f.off ?? end, kind: 'fault' as const, ongoing: f.off === null })),
    ]
    stops.sort((a, b) => a.start - b.start)
    eq.stops = stops
  }
  faults.sort((a, b) => a.on - b.on || a.equipment.index - b.equipment.index)

  const users = [
    ['admin', 'admin', 'Ada', 'Admin'],
    ['pmanager', 'production_manager', 'Pat', 'Manager'],
    ['shiftlead.a', 'shift_manager', 'Sam', 'Lead'],
    ['shiftlead.b', 'shift_manager', 'Kim', 'Lead'],
    ['operator.1', 'operator', 'Olu', 'Operator'],
    ['operator.2', 'operator', 'Ola', 'Operator'],
    ['maint.1', 'maintenance', 'Max', 'Wrench'],
  ].map(([username, role, first, last], i) => ({
    id: uuidFor(seed, 'user', i),
    username: username!,
    role: role!,
    email: `${username}@factory.example`,
    first: first!,
    last: last!,
    employeeId: `E${String(1000 + i)}`,
  }))
  const shifts = SHIFT_DEFS.map((s, i) => ({ id: uuidFor(seed, 'shift', i), ...s }))
  const products = [
    { id: uuidFor(seed, 'product', 0), code: 'BTL-500', name: 'Bottle 500 ml', ppm: 120 },
    { id: uuidFor(seed, 'product', 1), code: 'BTL-1000', name: 'Bottle 1 l', ppm: 90 },
  ]
  return { seed, scale, hz, stepMs, seriesStepMs, start, end, lines, equipment, metrics, faults, plannedStops, users, shifts, products }
}

// ---- interval helpers -------------------------------------------------------------------------------

/** Milliseconds of [a, b) covered by the sorted, non-overlapping intervals (optionally of one kind). */
export function overlapMs(intervals: readonly Interval[], a: number, b: number, kind?: Interval['kind']): number {
  let lo = 0
  let hi = intervals.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (intervals[mid]!.end <= a) lo = mid + 1
    else hi = mid
  }
  let sum = 0
  for (let i = lo; i < intervals.length; i++) {
    const iv = intervals[i]!
    if (iv.start >= b) break
    if (kind && iv.kind !== kind) continue
    sum += Math.min(b, iv.end) - Math.max(a, iv.start)
  }
  return Math.max(0, sum)
}

export const round = (v: number, dp: number) => {
  const f = 10 ** dp
  return Math.round(v * f) / f
}
export const clamp01 = (v: number) => Math.min(1, Math.max(0, v))

/** Planned speed of a machine at time t (parts per minute), before noise. */
export function speedTarget(eq: Equipment, t: number): number {
  return eq.nominalPpm * (1 + 0.03 * Math.sin((2 * Math.PI * t) / (90 * MINUTE_MS) + eq.phase))
}
