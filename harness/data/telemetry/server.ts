/**
 * The telemetry of a time range made by the server itself: `INSERT … SELECT … generate_series`,
 * one statement per table per day, nothing sent from this process but the plan's ids. For data
 * too big to stream from JavaScript (a year of the seeds' typical day is ~38 M metric_hist rows;
 * the multi-row INSERTs of load.ts reach ~50–100 k rows/s, the server several times that).
 *
 * Same shape and rates as the JavaScript generator (rows.ts), simpler values: every metric of
 * every machine every `plan.stepMs`, on multiples of it from the epoch; speed, temperature and
 * current as smooth curves with noise (rounded to 0.01), counters growing with time, `running`
 * false in the daily planned stops (06:00–06:20 changeover, 12:00–12:30 break), ~0.05 % bad
 * quality; OEE per line and energy per machine per minute; ~50 faults per machine per day
 * (faults of two minutes or more also as downtime, plus the planned stops per line); KPIs per
 * line per shift and per day. Noise comes from random() after setseed(): the same seed and
 * range give the same rows.
 *
 * The reference data (lines, machines, metric definitions, users) must already be loaded by the
 * JavaScript generator (load.ts) from a plan with the same seed and scale: the ids come from it.
 */
import type pg from 'pg'
import { DAY_MS, SCHEMA } from './options.ts'
import type { Plan } from './plan.ts'

const T = (name: string) => `${SCHEMA}.${name}`

export interface ServerLoad {
  rows: Record<string, number>
  durationMs: number
}

function ids(plan: Plan) {
  return {
    metric: plan.metrics.map((m) => m.id),
    key: plan.metrics.map((m) => m.key),
    type: plan.metrics.map((m) => m.valueType),
    ppm: plan.metrics.map((m) => plan.equipment.find((e) => e.code === m.equipmentCode)!.nominalPpm),
    phase: plan.metrics.map((m) => plan.equipment.find((e) => e.code === m.equipmentCode)!.phase),
    eqCode: plan.equipment.map((e) => e.code),
    eqLine: plan.equipment.map((e) => plan.lines[e.lineIndex]!.id),
    eqPpm: plan.equipment.map((e) => e.nominalPpm),
    eqKw: plan.equipment.map((e) => e.ratedKw),
    eqPhase: plan.equipment.map((e) => e.phase),
    lineId: plan.lines.map((l) => l.id),
    linePrimary: plan.lines.map((l) => l.primary.code),
    linePpm: plan.lines.map((l) => l.primary.nominalPpm),
  }
}

/** In a planned stop at this time of day (the generator's daily changeover and break). */
const STOPPED = (ts: string) => `((extract(hour FROM ${ts} AT TIME ZONE 'UTC') = 6 AND extract(minute FROM ${ts} AT TIME ZONE 'UTC') < 20) OR (extract(hour FROM ${ts} AT TIME ZONE 'UTC') = 12 AND extract(minute FROM ${ts} AT TIME ZONE 'UTC') < 30))`

const METRIC_HIST = `
INSERT INTO ${T('metric_hist')} (metric_def_id, ts, value_bool, value_int, value_real, quality)
SELECT d.id, g.ts,
       CASE WHEN d.vt = 'BOOL' THEN NOT s.stopped END,
       CASE WHEN d.vt = 'INT' THEN CASE WHEN d.k = 'total_count' THEN c.total ELSE (c.total * 0.985)::bigint END END,
       CASE WHEN d.vt = 'REAL' THEN round((CASE d.k
         WHEN 'speed' THEN CASE WHEN s.stopped THEN 0 ELSE d.ppm * (1 + 0.03 * sin(2 * pi() * s.x / 5400 + d.phase)) + 0.7 * (random() - 0.5) END
         WHEN 'temperature' THEN CASE WHEN s.stopped THEN 31 ELSE 68 + 0.02 * d.ppm END + 2 * sin(2 * pi() * s.x / 86400 + d.phase) + 0.2 * (random() - 0.5)
         ELSE CASE WHEN s.stopped THEN 0.3 ELSE 8 + 0.05 * d.ppm END + 0.3 * (random() - 0.5) END)::numeric, 2)::float8 END,
       CASE WHEN random() < 0.0005 THEN 0 ELSE 192 END
  FROM generate_series($1::timestamptz, $2::timestamptz - interval '1 millisecond', $3::interval) g(ts)
 CROSS JOIN LATERAL (SELECT extract(epoch FROM g.ts) AS x, ${STOPPED('g.ts')} AS stopped) s
 CROSS JOIN unnest($4::uuid[], $5::text[], $6::text[], $7::float8[], $8::float8[]) d(id, k, vt, ppm, phase)
 CROSS JOIN LATERAL (SELECT (5000000 + (s.x - 1.7e9) * d.ppm / 60 * 0.87)::bigint AS total) c
 ORDER BY g.ts`

const OEE = `
INSERT INTO ${T('oee_calculations')} (line_id, equipment_code, calculation_time, availability, performance, quality, oee,
       planned_production_time, actual_production_time, ideal_cycle_time, actual_cycle_time, good_parts, total_parts)
SELECT l.id, l.code, g.t, a.avail, p.perf, q.qual, round(a.avail * p.perf * q.qual, 4), 60, a.actual, p.ideal,
       CASE WHEN p.total > 0 THEN round(a.actual::numeric / p.total, 3) END, p.total - p.scrap, p.total
  FROM generate_series($1::timestamptz, $2::timestamptz - interval '1 millisecond', interval '1 minute') g(t)
 CROSS JOIN unnest($3::uuid[], $4::text[], $5::float8[]) l(id, code, ppm)
 CROSS JOIN LATERAL (SELECT CASE WHEN ${STOPPED('g.t')} THEN 0 ELSE 60 END AS actual) a0
 CROSS JOIN LATERAL (SELECT a0.actual, round(a0.actual / 60.0, 4) AS avail) a
 CROSS JOIN LATERAL (SELECT round((60 / l.ppm)::numeric, 3) AS ideal, floor(a.actual / (60 / l.ppm) * (0.9 + 0.07 * random()))::int AS total) p0
 CROSS JOIN LATERAL (SELECT p0.ideal, p0.total, floor(p0.total * 0.015 + random())::int AS scrap,
                            CASE WHEN a.actual > 0 THEN round(LEAST(p0.ideal * p0.total / a.actual, 1), 4) ELSE 0 END AS perf) p
 CROSS JOIN LATERAL (SELECT CASE WHEN p.total > 0 THEN round(LEAST((p.total - LEAST(p.scrap, p.total))::numeric / p.total, 1), 4) ELSE 1 END AS qual) q`

const ENERGY = `
INSERT INTO ${T('energy_consumption')} (equipment_code, consumption_time, line_id, power_kw, energy_kwh, voltage_v, current_a, power_factor)
SELECT e.code, g.t, e.line, w.kw, round((w.kw / 60)::numeric, 5)::float8, w.v, round((w.kw * 1000 / (sqrt(3) * w.v * w.pf))::numeric, 2)::float8, w.pf
  FROM generate_series($1::timestamptz, $2::timestamptz - interval '1 millisecond', interval '1 minute') g(t)
 CROSS JOIN unnest($3::text[], $4::uuid[], $5::float8[], $6::float8[]) e(code, line, kw, phase)
 CROSS JOIN LATERAL (SELECT CASE WHEN ${STOPPED('g.t')} THEN 0 ELSE 1 END AS run) r
 CROSS JOIN LATERAL (SELECT round((1.2 + e.kw * r.run * (0.8 + 0.1 * sin(2 * pi() * extract(epoch FROM g.t) / 5400 + e.phase)) + 0.2 * random())::numeric, 3)::float8 AS kw,
                            round((400 + 5 * (random() - 0.5))::numeric, 1)::float8 AS v, round((0.86 + 0.07 * r.run)::numeric, 3) AS pf) w`

/** ~50 faults per machine per day: each minute one with probability 50/1440, never in a planned stop. */
const FAULTS = `
INSERT INTO ${T('fault_event')} (equipment_code, bit_index, ts_on, ts_off, duration_s, detail)
SELECT e.code, f.bit, f.on_at, f.on_at + make_interval(secs => f.dur), f.dur, jsonb_build_object('source', 'plc', 'generated', 'server')
  FROM generate_series($1::timestamptz, $2::timestamptz - interval '1 minute', interval '1 minute') g(t)
 CROSS JOIN unnest($3::text[]) e(code)
 CROSS JOIN LATERAL (SELECT random() AS u, floor(random() * 16)::int AS bit, g.t + make_interval(secs => floor(random() * 50000) / 1000.0) AS on_at,
                            round(LEAST(7200, GREATEST(1, 40 * exp(1.1 * (random() + random() + random() - 1.5) * 2)))::numeric, 3) AS dur) f
 WHERE f.u < 50.0 / 1440 AND NOT ${STOPPED('g.t')}`

const DOWNTIME = `
INSERT INTO ${T('downtime_events')} (line_id, equipment_code, start_time, end_time, duration_seconds, reason_code, reason_description, category, subcategory, fault_bit_index)
SELECT ec.production_line_id, f.equipment_code, f.ts_on, f.ts_off, round(f.duration_s)::int, 'FAULT_' || f.bit_index, 'Fault bit ' || f.bit_index,
       CASE WHEN f.bit_index IN (0, 1, 2, 9, 10, 12, 13) THEN 'maintenance' ELSE 'unplanned' END, 'internal', f.bit_index
  FROM ${T('fault_event')} f JOIN ${T('equipment_config')} ec ON ec.equipment_code = f.equipment_code
 WHERE f.ts_on >= $1::timestamptz AND f.ts_on < $2::timestamptz AND f.duration_s >= 120
UNION ALL
SELECT l.id, l.code, d.day + p.at, d.day + p.at + p.len, extract(epoch FROM p.len)::int, p.reason, p.what, p.category, NULL, NULL
  FROM generate_series($1::timestamptz, $2::timestamptz - interval '1 day', interval '1 day') d(day)
 CROSS JOIN unnest($3::uuid[], $4::text[]) l(id, code)
 CROSS JOIN (VALUES (interval '6 hours', interval '20 minutes', 'CHANGEOVER', 'Product changeover at shift start', 'changeover'),
                    (interval '12 hours', interval '30 minutes', 'BREAK', 'Meal break', 'planned')) p(at, len, reason, what, category)
ON CONFLICT DO NOTHING`

const KPIS = `
INSERT INTO ${T('production_kpis')} (line_id, period_type, period_start, period_end, oee, availability, performance, quality,
       planned_units, produced_units, good_units, scrap_units, downtime_minutes, energy_kwh)
SELECT o.line_id, p.kind, p.s, p.e, round(avg(o.oee), 4), round(avg(o.availability), 4), round(avg(o.performance), 4), round(avg(o.quality), 4),
       sum(o.planned_production_time / 60.0 * 120)::int, sum(o.total_parts), sum(o.good_parts), sum(o.total_parts - o.good_parts),
       round(sum(60 - o.actual_production_time) / 60.0, 2), NULL
  FROM (SELECT 'day' AS kind, d AS s, d + interval '1 day' AS e FROM generate_series($1::timestamptz, $2::timestamptz - interval '1 day', interval '1 day') d
        UNION ALL
        SELECT 'shift', d + h, d + h + interval '8 hours' FROM generate_series($1::timestamptz, $2::timestamptz - interval '1 day', interval '1 day') d
         CROSS JOIN (VALUES (interval '6 hours'), (interval '14 hours')) x(h)) p
  JOIN ${T('oee_calculations')} o ON o.calculation_time >= p.s AND o.calculation_time < p.e
 GROUP BY o.line_id, p.kind, p.s, p.e`

/**
 * Generates [from, to) (whole UTC days) day by day, each day its own transaction; returns the
 * rows inserted per table. `onDay` is told after each day, with the rows so far.
 */
export async function generateOnServer(client: pg.ClientBase, plan: Plan, range: { from: number; to: number }, onDay?: (done: number, days: number, rows: number) => void): Promise<ServerLoad> {
  const t0 = performance.now()
  const x = ids(plan)
  const rows: Record<string, number> = {}
  const add = (t: string, n: number | null) => (rows[T(t)] = (rows[T(t)] ?? 0) + (n ?? 0))
  const days = Math.round((range.to - range.from) / DAY_MS)
  const step = `${plan.stepMs} milliseconds`
  await client.query('SELECT setseed($1)', [((plan.seed * 7919 + range.from / DAY_MS) % 1000) / 1000])
  let total = 0
  for (let day = 0; day < days; day++) {
    const from = new Date(range.from + day * DAY_MS)
    const to = new Date(range.from + (day + 1) * DAY_MS)
    await client.query('BEGIN')
    try {
      const h = await client.query(METRIC_HIST, [from, to, step, x.metric, x.key, x.type, x.ppm, x.phase])
      add('metric_hist', h.rowCount)
      const o = await client.query(OEE, [from, to, x.lineId, x.linePrimary, x.linePpm])
      add('oee_calculations', o.rowCount)
      const e = await client.query(ENERGY, [from, to, x.eqCode, x.eqLine, x.eqKw, x.eqPhase])
      add('energy_consumption', e.rowCount)
      const f = await client.query(FAULTS, [from, to, x.eqCode])
      add('fault_event', f.rowCount)
      const d = await client.query(DOWNTIME, [from, to, x.lineId, x.linePrimary])
      add('downtime_events', d.rowCount)
      const k = await client.query(KPIS, [from, to])
      add('production_kpis', k.rowCount)
      await client.query('COMMIT')
      total += (h.rowCount ?? 0) + (o.rowCount ?? 0) + (e.rowCount ?? 0) + (f.rowCount ?? 0) + (d.rowCount ?? 0) + (k.rowCount ?? 0)
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {})
      throw err
    }
    onDay?.(day + 1, days, total)
  }
  return { rows, durationMs: performance.now() - t0 }
}
