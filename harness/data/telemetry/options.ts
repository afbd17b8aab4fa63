/** Options, results and the constants of the telemetry generator. */

export interface TelemetryOptions {
  /** Seed of every random choice (default 1). */
  seed?: number
  /** Multiplies equipment and days (default 1). */
  scale?: number
  /** Days of data (default 7 × scale). */
  days?: number
  /** Data ends here (exclusive); default: now rounded down to the hour. */
  end?: Date
  /** metric_hist samples per second per metric (default 0.05: one sample per 20 s, see the header). */
  hz?: number
  /**
   * oee_calculations and energy_consumption: one reading every this many minutes (default 1, the
   * seed's rate). Each reading still covers its own minute; a larger step only thins the series,
   * for data sized for a proof rather than a benchmark (the round trip needs chunks, not volume).
   */
  seriesMinutes?: number
}

export interface LoadOptions {
  /** Rows per INSERT statement (default: as many as fit in ~24,000 parameters, at most 4,000). */
  batchRows?: number
  /** Called after each metric_hist batch with the rows inserted so far. */
  onProgress?: (inserted: number, total: number) => void
}

export interface LoadResult {
  /** Rows inserted per qualified table. */
  rows: Record<string, number>
  durationMs: number
  range: { start: Date; end: Date }
}

export const SCHEMA = 'factory_telemetry'
export const DEFAULT_HZ = 0.05
export const LINES_PER_SCALE = 2
export const EQUIPMENT_PER_SCALE = 4
export const DAYS_PER_SCALE = 7
export const FAULTS_PER_EQUIPMENT_DAY = 50
/** Seed 001's "typical setup" volume, the reference for per-day and per-month figures. */
export const SEED_TYPICAL_ROWS_PER_DAY = 100_000

export const DAY_MS = 86_400_000
export const MINUTE_MS = 60_000
export const HOUR_MS = 3_600_000

/** Spans of the seeds' typical data, in days (`pnpm bench --scale year`: day, week, month and year). */
export const SPAN_DAYS = { day: 1, week: 7, month: 30, year: 365 } as const
export type SpanName = keyof typeof SPAN_DAYS
export const isSpan = (s: string): s is SpanName => Object.hasOwn(SPAN_DAYS, s)
/** Every span up to the one named, smallest first. */
export const spansUpTo = (last: SpanName): SpanName[] => (Object.keys(SPAN_DAYS) as SpanName[]).filter((s) => SPAN_DAYS[s] <= SPAN_DAYS[last])
