/** Row generators, one per table (pure: the same plan always yields the same rows). */
import { DAY_MS, HOUR_MS, MINUTE_MS, SCHEMA } from './options.ts'
import { gauss, S, u01, uuidFor } from './random.ts'
import { clamp01, type Equipment, FAULT_BITS, type Line, METRICS_PER_EQUIPMENT, overlapMs, type Plan, round, SHIFT_DEFS, speedTarget } from './plan.ts'

/** [metric_def_id, ts, value_bool, value_int, value_real, quality] */
export type MetricHistRow = [string, Date, boolean | null, number | null, number | null, number]

export const METRIC_HIST_COLUMNS = ['metric_def_id', 'ts', 'value_bool', 'value_int', 'value_real', 'quality'] as const

/**
 * metric_hist in time order: at each sample time, every metric of every machine. Counters and
 * temperature carry state, so the stream always starts at the plan's start; `from`/`to` only
 * filter what is yielded.
 */
export function* metricHistRows(plan: Plan, range: { from?: number; to?: number } = {}): Generator<MetricHistRow> {
  const { seed, stepMs } = plan
  const first = Math.ceil(plan.start / stepMs) * stepMs
  const dtMin = stepMs / MINUTE_MS
  const tau = 1 - Math.exp(-stepMs / (15 * MINUTE_MS))
  const state = plan.equipment.map((eq) => {
    const total = 5_000_000 + Math.floor(u01(seed, S.nominal, eq.index, 7) * 1_000_000)
    return { temp: 66, total, good: Math.floor(total * 0.985), carry: 0, stop: 0 }
  })
  const from = range.from ?? -Infinity
  const to = range.to ?? Infinity
  for (let t = first; t < plan.end; t += stepMs) {
    const ts = new Date(t)
    const emit = t >= from && t < to
    const k = t / stepMs
    for (const eq of plan.equipment) {
      const st = state[eq.index]!
      while (st.stop < eq.stops.length && eq.stops[st.stop]!.end <= t) st.stop++
      const cur = eq.stops[st.stop]
      const running = !(cur && cur.start <= t && t < cur.end)
      const ids = eq.metrics
      const speed = running ? round(speedTarget(eq, t) + 0.4 * gauss(seed, S.speed, eq.index, k), 2) : 0
      const ambient = 30 + 2 * Math.sin((2 * Math.PI * t) / DAY_MS + eq.phase)
      st.temp += ((running ? 68 + 0.02 * speed : ambient) - st.temp) * tau
      const temperature = round(st.temp + 0.1 * gauss(seed, S.temp, eq.index, k), 2)
      const current = round(running ? 8 + 0.05 * speed + 0.15 * gauss(seed, S.current, eq.index, k) : Math.max(0, 0.3 + 0.02 * gauss(seed, S.current, eq.index, k)), 2)
      if (running) {
        st.carry += speed * dtMin * 0.93
        const made = Math.floor(st.carry)
        st.carry -= made
        const scrap = Math.min(made, Math.floor(made * 0.015 + u01(seed, S.scrap, eq.index, k)))
        st.total += made
        st.good += made - scrap
      }
      if (!emit) continue
      const q = (m: number) => (u01(seed, S.quality, ids[m]!.index, k) < 0.0005 ? 0 : 192)
      yield [ids[0]!.id, ts, null, null, speed, q(0)]
      yield [ids[1]!.id, ts, null, null, temperature, q(1)]
      yield [ids[2]!.id, ts, null, null, current, q(2)]
      yield [ids[3]!.id, ts, null, st.total, null, q(3)]
      yield [ids[4]!.id, ts, null, st.good, null, q(4)]
      yield [ids[5]!.id, ts, running, null, null, q(5)]
    }
  }
}

/** Number of metric_hist rows the plan yields (without generating them). */
export function metricHistCount(plan: Plan): number {
  const first = Math.ceil(plan.start / plan.stepMs) * plan.stepMs
  const steps = first < plan.end ? Math.floor((plan.end - 1 - first) / plan.stepMs) + 1 : 0
  return steps * plan.metrics.length
}

interface OeeMinute {
  planned: number
  actual: number
  total: number
  good: number
  availability: number | null
  performance: number | null
  quality: number | null
  oee: number | null
  idealCycle: number
  actualCycle: number | null
}

/** OEE of one line for the minute starting at t (a pure function of plan, line and minute). */
export function oeeMinute(plan: Plan, line: Line, t: number): OeeMinute {
  const eq = line.primary
  const plannedMs = MINUTE_MS - overlapMs(eq.stops, t, t + MINUTE_MS, 'planned')
  const runMs = MINUTE_MS - overlapMs(eq.stops, t, t + MINUTE_MS)
  const planned = Math.round(plannedMs / 1000)
  const actual = Math.min(planned, Math.round(runMs / 1000))
  const idealCycle = round(60 / eq.nominalPpm, 3)
  const perf = 0.9 + 0.07 * u01(plan.seed, S.oeePerf, line.primary.index, t / MINUTE_MS)
  const total = Math.floor((actual / idealCycle) * perf)
  const scrap = Math.min(total, Math.floor(total * 0.015 + u01(plan.seed, S.oee, line.primary.index, t / MINUTE_MS)))
  const good = total - scrap
  const availability = planned > 0 ? round(clamp01(actual / planned), 4) : null
  const performance = actual > 0 ? round(clamp01((idealCycle * total) / actual), 4) : null
  const quality = total > 0 ? round(clamp01(good / total), 4) : null
  const oee = availability !== null && performance !== null && quality !== null ? round(availability * performance * quality, 4) : availability === 0 ? 0 : null
  return { planned, actual, total, good, availability, performance, quality, oee, idealCycle, actualCycle: total > 0 ? round(actual / total, 3) : null }
}

export const OEE_COLUMNS = [
  'line_id', 'equipment_code', 'calculation_time', 'availability', 'performance', 'quality', 'oee',
  'planned_production_time', 'actual_production_time', 'ideal_cycle_time', 'actual_cycle_time', 'good_parts', 'total_parts',
] as const

/** The first reading of a per-minute series: on a multiple of its period from the epoch. */
const firstMinute = (plan: Plan) => Math.ceil(plan.start / plan.seriesStepMs) * plan.seriesStepMs

/** oee_calculations: one row per line per minute (every `seriesMinutes`). */
export function* oeeRows(plan: Plan): Generator<unknown[]> {
  for (let t = firstMinute(plan); t < plan.end; t += plan.seriesStepMs) {
    for (const line of plan.lines) {
      const o = oeeMinute(plan, line, t)
      yield [line.id, line.primary.code, new Date(t), o.availability, o.performance, o.quality, o.oee, o.planned, o.actual, o.idealCycle, o.actualCycle, o.good, o.total]
    }
  }
}

interface EnergyMinute {
  powerKw: number
  energyKwh: number
  voltage: number
  current: number
  pf: number
}

/** Energy of one machine for the minute starting at t (pure). */
export function energyMinute(plan: Plan, eq: Equipment, t: number): EnergyMinute {
  const m = t / MINUTE_MS
  const runFrac = 1 - overlapMs(eq.stops, t, t + MINUTE_MS) / MINUTE_MS
  const load = 0.8 + 0.1 * Math.sin((2 * Math.PI * t) / (90 * MINUTE_MS) + eq.phase)
  const powerKw = round(Math.max(0, 1.2 + eq.ratedKw * runFrac * load + 0.2 * gauss(plan.seed, S.energy, eq.index, m)), 3)
  const voltage = round(400 + 2.5 * gauss(plan.seed, S.volt, eq.index, m), 1)
  const pf = round(Math.min(0.999, Math.max(0.5, 0.86 + 0.07 * runFrac + 0.01 * gauss(plan.seed, S.pf, eq.index, m))), 3)
  const current = round((powerKw * 1000) / (Math.sqrt(3) * voltage * pf), 2)
  return { powerKw, energyKwh: round(powerKw / 60, 5), voltage, current, pf }
}

export const ENERGY_COLUMNS = ['equipment_code', 'consumption_time', 'line_id', 'power_kw', 'energy_kwh', 'voltage_v', 'current_a', 'power_factor'] as const

/** energy_consumption: one reading per machine per minute (every `seriesMinutes`). */
export function* energyRows(plan: Plan): Generator<unknown[]> {
  for (let t = firstMinute(plan); t < plan.end; t += plan.seriesStepMs) {
    for (const eq of plan.equipment) {
      const e = energyMinute(plan, eq, t)
      yield [eq.code, new Date(t), plan.lines[eq.lineIndex]!.id, e.powerKw, e.energyKwh, e.voltage, e.current, e.pf]
    }
  }
}

export const KPI_COLUMNS = [
  'line_id', 'period_type', 'period_start', 'period_end', 'oee', 'availability', 'performance', 'quality',
  'planned_units', 'produced_units', 'good_units', 'scrap_units', 'downtime_minutes', 'mtbf_minutes', 'mttr_minutes', 'energy_kwh',
] as const

/** Completed KPI periods of the plan: every shift and every day wholly inside the data. */
export function kpiPeriods(plan: Plan): { type: 'shift' | 'day'; start: number; end: number }[] {
  const out: { type: 'shift' | 'day'; start: number; end: number }[] = []
  for (let day = Math.floor(plan.start / DAY_MS) * DAY_MS; day < plan.end; day += DAY_MS) {
    for (const s of SHIFT_DEFS) {
      const start = day + s.startHour * HOUR_MS
      if (start >= plan.start && start + 8 * HOUR_MS <= plan.end) out.push({ type: 'shift', start, end: start + 8 * HOUR_MS })
    }
    if (day >= plan.start && day + DAY_MS <= plan.end) out.push({ type: 'day', start: day, end: day + DAY_MS })
  }
  return out.sort((a, b) => a.start - b.start || a.type.localeCompare(b.type))
}

/** production_kpis: per line per completed shift and day, aggregated from the OEE, fault and energy data. */
export function* kpiRows(plan: Plan): Generator<unknown[]> {
  for (const p of kpiPeriods(plan)) {
    for (const line of plan.lines) {
      let planned = 0
      let actual = 0
      let total = 0
      let good = 0
      let ideal = 0
      let energy = 0
      for (let t = p.start; t < p.end; t += MINUTE_MS) {
        const o = oeeMinute(plan, line, t)
        planned += o.planned
        actual += o.actual
        total += o.total
        good += o.good
        ideal += o.idealCycle * o.total
        for (const eq of line.equipment) energy += energyMinute(plan, eq, t).energyKwh
      }
      const a = planned > 0 ? round(clamp01(actual / planned), 4) : null
      const perf = actual > 0 ? round(clamp01(ideal / actual), 4) : null
      const q = total > 0 ? round(clamp01(good / total), 4) : null
      const oee = a !== null && perf !== null && q !== null ? round(a * perf * q, 4) : null
      const faults = plan.faults.filter((f) => f.equipment === line.primary && f.on >= p.start && f.on < p.end && f.off !== null)
      const repairMin = faults.reduce((s, f) => s + (f.off! - f.on), 0) / MINUTE_MS
      yield [
        line.id, p.type, new Date(p.start), new Date(p.end), oee, a, perf, q,
        Math.round((planned / 60) * line.primary.nominalPpm), total, good, total - good,
        round((planned - actual) / 60, 2),
        faults.length ? round(actual / 60 / faults.length, 2) : null,
        faults.length ? round(repairMin / faults.length, 2) : null,
        round(energy, 3),
      ]
    }
  }
}

export const FAULT_CATALOG_COLUMNS = ['equipment_code', 'bit_index', 'name', 'description', 'marker', 'severity'] as const

export function* faultCatalogRows(plan: Plan): Generator<unknown[]> {
  for (const eq of plan.equipment) {
    for (const b of FAULT_BITS) yield [eq.code, b.bit, b.name, `${b.code}: ${b.name} on ${eq.code}`, b.marker, b.severity]
  }
}

export const FAULT_EVENT_COLUMNS = ['equipment_code', 'bit_index', 'ts_on', 'ts_off', 'duration_s', 'detail'] as const

const shiftAt = (t: number) => SHIFT_DEFS.find((s) => {
  const h = new Date(t).getUTCHours()
  return s.startHour === 22 ? h >= 22 || h < 6 : h >= s.startHour && h < s.startHour + 8
})!.name

export function* faultEventRows(plan: Plan): Generator<unknown[]> {
  for (const f of plan.faults) {
    yield [
      f.equipment.code, f.bit.bit, new Date(f.on), f.off === null ? null : new Date(f.off),
      f.off === null ? null : ((f.off - f.on) / 1000).toFixed(3),
      JSON.stringify({ code: f.bit.code, shift: shiftAt(f.on), source: 'plc' }),
    ]
  }
}

export const FAULT_ACTIVE_COLUMNS = ['equipment_code', 'bit_index', 'since_ts', 'last_update_ts'] as const

export function* faultActiveRows(plan: Plan): Generator<unknown[]> {
  for (const f of plan.faults) if (f.off === null) yield [f.equipment.code, f.bit.bit, new Date(f.on), new Date(plan.end - 1000)]
}

export const DOWNTIME_COLUMNS = [
  'line_id', 'equipment_code', 'start_time', 'end_time', 'duration_seconds', 'reason_code', 'reason_description',
  'category', 'subcategory', 'fault_bit_index', 'reported_by', 'confirmed_by', 'confirmed_at', 'notes',
] as const

/** Faults of two minutes or more become unplanned downtime; planned stops are recorded on the line's last machine. */
export function* downtimeRows(plan: Plan): Generator<unknown[]> {
  const operator = plan.users.find((u) => u.role === 'operator')!.id
  const lead = plan.users.find((u) => u.role === 'shift_manager')!.id
  const rows: { t: number; row: unknown[] }[] = []
  for (const f of plan.faults) {
    const ongoing = f.off === null
    if (!ongoing && f.off! - f.on < 120_000) continue
    const line = plan.lines[f.equipment.lineIndex]!
    const category = f.bit.severity === 'high' || f.bit.severity === 'critical' ? 'maintenance' : 'unplanned'
    rows.push({
      t: f.on,
      row: [
        line.id, f.equipment.code, new Date(f.on), ongoing ? null : new Date(f.off!), ongoing ? null : Math.round((f.off! - f.on) / 1000),
        f.bit.code, f.bit.name, category, f.bit.marker.toLowerCase(), f.bit.bit, operator,
        ongoing ? null : lead, ongoing ? null : new Date(f.off! + 5 * MINUTE_MS), null,
      ],
    })
  }
  for (const p of plan.plannedStops) {
    rows.push({
      t: p.start,
      row: [p.line.id, p.line.primary.code, new Date(p.start), new Date(p.end), Math.round((p.end - p.start) / 1000), p.reasonCode, p.description, p.category, null, null, lead, lead, new Date(p.end), null],
    })
  }
  rows.sort((a, b) => a.t - b.t)
  for (const r of rows) yield r.row
}

/** Reference data, in foreign-key order: [qualified table, columns, rows]. */
export function referenceTables(plan: Plan): [string, readonly string[], unknown[][]][] {
  const q = (t: string) => `${SCHEMA}.${t}`
  const days: number[] = []
  for (let d = Math.floor(plan.start / DAY_MS) * DAY_MS; d < plan.end; d += DAY_MS) days.push(d)
  const schedules: unknown[][] = []
  const jobs: unknown[][] = []
  const operators = plan.users.filter((u) => u.role === 'operator')
  const manager = plan.users.find((u) => u.role === 'production_manager')!.id
  const currentJob = new Map<number, string>()
  for (const [di, d] of days.entries()) {
    const isLast = d + DAY_MS > plan.end
    for (const [li, line] of plan.lines.entries()) {
      const product = plan.products[(di + li) % plan.products.length]!
      const id = uuidFor(plan.seed, 'schedule', di * 1000 + li)
      const target = Math.round(product.ppm * 60 * 22)
      const actual = isLast ? Math.round(target * ((plan.end - d) / DAY_MS) * 0.8) : Math.round(target * (0.8 + 0.15 * u01(plan.seed, 61, di, li)))
      schedules.push([id, line.id, product.id, new Date(d), new Date(d + DAY_MS), target, actual, 3, isLast ? 'in_progress' : 'completed', manager])
      const job = uuidFor(plan.seed, 'job', di * 1000 + li)
      const shift = plan.shifts[di % plan.shifts.length]!
      const started = new Date(d + 6 * HOUR_MS)
      jobs.push([job, id, operators[li % operators.length]!.id, new Date(d), new Date(d + 5 * HOUR_MS), started, isLast ? null : new Date(d + DAY_MS), isLast ? 'in_progress' : 'completed', shift.id])
      currentJob.set(li, job)
    }
  }
  const lastShift = shiftAt(plan.end - 1)
  return [
    [q('production_lines'), ['id', 'line_code', 'name', 'description', 'equipment_codes', 'target_speed', 'enabled'],
      plan.lines.map((l) => [l.id, l.code, l.name, `Bottling line ${l.code}`, l.equipment.map((e) => e.code), l.primary.nominalPpm, true])],
    [q('equipment_config'), ['equipment_code', 'production_line_id', 'equipment_type', 'ideal_cycle_time_s', 'target_speed', 'fault_thresholds'],
      plan.equipment.map((e) => [e.code, plan.lines[e.lineIndex]!.id, e.type, round(60 / e.nominalPpm, 3), e.nominalPpm, JSON.stringify({ max_temperature: 85, max_current: 20 })])],
    [q('users'), ['id', 'username', 'email', 'first_name', 'last_name', 'employee_id', 'role', 'department'],
      plan.users.map((u) => [u.id, u.username, u.email, u.first, u.last, u.employeeId, u.role, 'Production'])],
    [q('shifts'), ['id', 'name', 'start_time', 'end_time'], plan.shifts.map((s) => [s.id, s.name, s.start, s.end])],
    [q('product_types'), ['id', 'product_code', 'name', 'target_speed', 'cycle_time_seconds'],
      plan.products.map((p) => [p.id, p.code, p.name, p.ppm, round(60 / p.ppm, 3)])],
    [q('production_schedules'), ['id', 'line_id', 'product_type_id', 'scheduled_start', 'scheduled_end', 'target_quantity', 'actual_quantity', 'priority', 'status', 'created_by'], schedules],
    [q('job_assignments'), ['id', 'schedule_id', 'user_id', 'assigned_at', 'accepted_at', 'started_at', 'completed_at', 'status', 'shift_id'], jobs],
    [q('context'), ['equipment_code', 'current_operator', 'current_shift', 'planned_stop', 'production_line_id', 'current_job_id'],
      plan.equipment.map((e) => [e.code, operators[e.lineIndex % operators.length]!.username, lastShift, false, plan.lines[e.lineIndex]!.id, currentJob.get(e.lineIndex) ?? null])],
    [q('metric_def'), ['id', 'equipment_code', 'metric_key', 'value_type', 'unit', 'description'],
      plan.metrics.map((m) => [m.id, m.equipmentCode, m.key, m.valueType, m.unit, m.description])],
    [q('plc_connections'), ['id', 'name', 'ip_address', 'port', 'plc_type', 'slot', 'line_id', 'poll_interval_ms', 'status'],
      plan.lines.map((l, i) => [uuidFor(plan.seed, 'plc', i), `PLC-${l.code}`, `10.0.${Math.floor(i / 200)}.${(i % 200) + 10}`, 44818, 'LOGIX', 0, l.id, plan.stepMs, 'connected'])],
    [q('plc_tags'), ['id', 'connection_id', 'tag_name', 'address', 'data_type', 'metric_def_id', 'scan_rate_ms', 'description'],
      plan.metrics.map((m) => {
        const eq = plan.equipment[Math.floor(m.index / METRICS_PER_EQUIPMENT)]!
        const tag = `${eq.code.replaceAll('-', '_')}.${m.key}`
        return [uuidFor(plan.seed, 'tag', m.index), uuidFor(plan.seed, 'plc', eq.lineIndex), tag, `Program:MainProgram.${tag}`, m.valueType === 'BOOL' ? 'BOOL' : m.valueType === 'INT' ? 'DINT' : 'REAL', m.id, plan.stepMs, m.description]
      })],
    [q('metric_binding'), ['id', 'metric_def_id', 'plc_kind', 'address', 'bit_index', 'scale_factor', 'plc_tag_id'],
      plan.metrics.map((m) => {
        const eq = plan.equipment[Math.floor(m.index / METRICS_PER_EQUIPMENT)]!
        return [uuidFor(plan.seed, 'binding', m.index), m.id, 'LOGIX', `Program:MainProgram.${eq.code.replaceAll('-', '_')}.${m.key}`, m.valueType === 'BOOL' ? 0 : null, 1.0, uuidFor(plan.seed, 'tag', m.index)]
      })],
    [q('fault_catalog'), FAULT_CATALOG_COLUMNS, [...faultCatalogRows(plan)]],
  ]
}

/**
 * Every table's rows in load order (reference data, events, then the time series), each as a
 * lazily evaluated iterable. metric_latest is derived while metric_hist streams, so it is last.
 */
export function telemetryTables(plan: Plan): { table: string; columns: readonly string[]; rows: () => Iterable<unknown[]> }[] {
  const q = (t: string) => `${SCHEMA}.${t}`
  return [
    ...referenceTables(plan).map(([table, columns, rows]) => ({ table, columns, rows: () => rows })),
    { table: q('fault_event'), columns: FAULT_EVENT_COLUMNS, rows: () => faultEventRows(plan) },
    { table: q('fault_active'), columns: FAULT_ACTIVE_COLUMNS, rows: () => faultActiveRows(plan) },
    { table: q('downtime_events'), columns: DOWNTIME_COLUMNS, rows: () => downtimeRows(plan) },
    { table: q('oee_calculations'), columns: OEE_COLUMNS, rows: () => oeeRows(plan) },
    { table: q('energy_consumption'), columns: ENERGY_COLUMNS, rows: () => energyRows(plan) },
    { table: q('production_kpis'), columns: KPI_COLUMNS, rows: () => kpiRows(plan) },
    { table: q('metric_hist'), columns: METRIC_HIST_COLUMNS, rows: () => metricHistRows(plan) },
  ]
}

export const METRIC_LATEST_COLUMNS = ['metric_def_id', 'ts', 'value_bool', 'value_int', 'value_real'] as const

/** metric_latest from the last metric_hist row of each metric. */
export function metricLatestRows(last: Map<string, MetricHistRow>): unknown[][] {
  return [...last.values()].map((r) => [r[0], r[1], r[2], r[3], r[4]])
}
