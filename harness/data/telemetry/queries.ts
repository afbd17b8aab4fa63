/**
 * The queries a plant dashboard runs (seeds: typical dashboard queries < 100 ms), and the
 * report query over compressed chunks (any query < 1000 ms). Parameters come from the loaded
 * dataset; "now" is the end of the data, so figures do not depend on the wall clock.
 * Shared by the benchmarks (bench/) and the rehearsal under load (harness/rehearse/).
 */
import type { Plan } from './plan.ts'
import { DAY_MS, HOUR_MS } from './options.ts'

export interface QueryParams {
  /** End of the data: the dashboard's "now". */
  now: Date
  lineId: string
  lineEquipment: string[]
  /** One analog metric (speed of the line's last machine). */
  metricId: string
  todayStart: Date
  shiftStart: Date
  shiftEnd: Date
  /** A range that lies in compressed chunks. */
  reportFrom: Date
  reportTo: Date
}

export interface DashboardQuery {
  id: string
  label: string
  kind: 'dashboard' | 'report'
  sql: string
  params(p: QueryParams): unknown[]
}

export const QUERIES: readonly DashboardQuery[] = [
  {
    id: 'latest_per_metric',
    label: 'Latest value per metric for a line',
    kind: 'dashboard',
    sql: `SELECT d.equipment_code, d.metric_key, h.ts, h.value_bool, h.value_int, h.value_real, h.quality
            FROM factory_telemetry.metric_def d
            CROSS JOIN LATERAL (
              SELECT ts, value_bool, value_int, value_real, quality
                FROM factory_telemetry.metric_hist h
               WHERE h.metric_def_id = d.id AND h.ts <= $2::timestamptz AND h.ts > $2::timestamptz - INTERVAL '1 day'
               ORDER BY h.ts DESC LIMIT 1) h
           WHERE d.equipment_code = ANY ($1::text[])
           ORDER BY d.equipment_code, d.metric_key`,
    params: (p) => [p.lineEquipment, p.now],
  },
  {
    id: 'last_hour_by_minute',
    label: 'Last hour of one metric in 1-minute buckets',
    kind: 'dashboard',
    sql: `SELECT time_bucket(INTERVAL '1 minute', ts) AS minute, avg(value_real) AS avg, min(value_real) AS min, max(value_real) AS max, count(*) AS samples
            FROM factory_telemetry.metric_hist
           WHERE metric_def_id = $1 AND ts >= $2::timestamptz - INTERVAL '1 hour' AND ts < $2::timestamptz
           GROUP BY 1 ORDER BY 1`,
    params: (p) => [p.metricId, p.now],
  },
  {
    id: 'oee_today',
    label: "Today's OEE per line",
    kind: 'dashboard',
    sql: `SELECT pl.line_code, o.availability, o.performance, o.quality, o.oee
            FROM factory_telemetry.production_lines pl
            CROSS JOIN LATERAL factory_telemetry.fn_line_oee(pl.id, $1::timestamptz, $2::timestamptz) o
           ORDER BY pl.line_code`,
    params: (p) => [p.todayStart, p.now],
  },
  {
    id: 'energy_week',
    label: 'Energy per day for a week',
    kind: 'dashboard',
    // Aggregated per line first, the line's code joined to the 16 result rows (not to 40,000 readings).
    sql: `SELECT d.day, pl.line_code, d.kwh, d.peak_kw
            FROM (SELECT time_bucket(INTERVAL '1 day', consumption_time) AS day, line_id, sum(energy_kwh) AS kwh, max(power_kw) AS peak_kw
                    FROM factory_telemetry.energy_consumption
                   WHERE consumption_time >= $1::timestamptz - INTERVAL '7 days' AND consumption_time < $1::timestamptz
                   GROUP BY 1, 2) d
            JOIN factory_telemetry.production_lines pl ON pl.id = d.line_id
           ORDER BY 1, 2`,
    params: (p) => [p.now],
  },
  {
    id: 'active_faults',
    label: 'Active faults with catalog text',
    kind: 'dashboard',
    sql: `SELECT equipment_code, bit_index, fault_name, description, severity, marker, since_ts, active_for
            FROM factory_telemetry.v_active_faults
           ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 ELSE 3 END, since_ts`,
    params: () => [],
  },
  {
    id: 'downtime_shift',
    label: 'Downtime by reason for a shift',
    kind: 'dashboard',
    sql: `SELECT d.reason_code, d.category, count(*) AS events,
                 sum(EXTRACT(EPOCH FROM LEAST(COALESCE(d.end_time, $3::timestamptz), $3::timestamptz) - GREATEST(d.start_time, $2::timestamptz))) AS seconds
            FROM factory_telemetry.downtime_events d
           WHERE d.line_id = $1 AND d.start_time < $3::timestamptz AND COALESCE(d.end_time, $3::timestamptz) > $2::timestamptz
           GROUP BY 1, 2 ORDER BY seconds DESC`,
    params: (p) => [p.lineId, p.shiftStart, p.shiftEnd],
  },
  {
    id: 'report_compressed',
    label: 'Report: hourly statistics of a line over compressed chunks',
    kind: 'report',
    sql: `SELECT d.equipment_code, d.metric_key, time_bucket(INTERVAL '1 hour', h.ts) AS hour,
                 avg(h.value_real) AS avg_real, min(h.value_real) AS min_real, max(h.value_real) AS max_real,
                 max(h.value_int) - min(h.value_int) AS counter_delta, count(*) AS samples,
                 count(*) FILTER (WHERE h.quality < 192) AS bad_quality
            FROM factory_telemetry.metric_hist h
            JOIN factory_telemetry.metric_def d ON d.id = h.metric_def_id
           WHERE d.equipment_code = ANY ($1::text[]) AND h.ts >= $2::timestamptz AND h.ts < $3::timestamptz
           GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`,
    params: (p) => [p.lineEquipment, p.reportFrom, p.reportTo],
  },
]

/**
 * The parameters a plan implies: its first line, the end of its data as "now", the last complete
 * shift (shifts start at 06, 14 and 22 UTC). The report range defaults to the first day; the
 * benchmarks narrow it to the compressed chunks.
 */
export function planQueryParams(plan: Plan, report?: { from: number; to: number }): QueryParams {
  const line = plan.lines[0]!
  const end = plan.end
  let shiftStart = Math.floor((end - 8 * HOUR_MS) / HOUR_MS) * HOUR_MS
  while (![6, 14, 22].includes(new Date(shiftStart).getUTCHours())) shiftStart -= HOUR_MS
  return {
    now: new Date(end),
    lineId: line.id,
    lineEquipment: line.equipment.map((e) => e.code),
    metricId: line.primary.metrics[0]!.id,
    todayStart: new Date(Math.floor((end - 1) / DAY_MS) * DAY_MS),
    shiftStart: new Date(shiftStart),
    shiftEnd: new Date(shiftStart + 8 * HOUR_MS),
    reportFrom: new Date(report?.from ?? plan.start),
    reportTo: new Date(report?.to ?? Math.min(plan.start + DAY_MS, end)),
  }
}
