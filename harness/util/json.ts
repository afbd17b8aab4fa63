/**
 * JSON as every report and `--json` output writes it: two-space indented, durations (keys that
 * end in `Ms`) as whole milliseconds, dates as ISO 8601 in UTC (`…Z`, what Date's toJSON
 * gives). Timers return fractions of a millisecond; scripts comparing runs want integers, and
 * a fraction of a millisecond means nothing in a duration a person reads.
 */
const wholeMs = (key: string, value: unknown): unknown => (typeof value === 'number' && Number.isFinite(value) && /Ms$/.test(key) ? Math.round(value) : value)

export const toJson = (value: unknown): string => JSON.stringify(value, wholeMs, 2)
