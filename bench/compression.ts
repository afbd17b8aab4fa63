/**
 * Compression per hypertable (seeds: > 70 %; issue 5: at least 90 % on realistic telemetry) and
 * storage per month (seeds: < 1 GB for typical production data).
 *
 * The dataset already had the policy applied (chunks older than 7 days compressed). Hypertables
 * whose chunks are all younger (7-day chunks hold the whole week) are then compressed entirely,
 * so that every hypertable gets a ratio; the figure's note says which. Ratios come from
 * `hypertable_compression_stats` (before/after bytes of the compressed chunks, indexes included).
 * A ratio is gated only where at least 10,000 rows were compressed: a handful of rows in a
 * compressed chunk measures per-chunk overhead, not compression.
 *
 * Storage per month = rows/day × (7 days × uncompressed bytes/row + 23 days × compressed
 * bytes/row), bytes per row measured here on all six hypertables, at the seeds' typical
 * 100,000 rows a day (gated) and at this dataset's own rate (information).
 */
import type pg from 'pg'
import { makeFigure, type Figure } from '../harness/measure/figures.ts'
import { SEED_TYPICAL_ROWS_PER_DAY } from '../harness/data/telemetry/index.ts'
import { SCHEMA, type BenchContext } from './context.ts'
import { compressChunks, type Dataset } from './dataset.ts'

const MIN_ROWS_FOR_VERDICT = 10_000
const UNCOMPRESSED_DAYS = 7
const MONTH_DAYS = 30

interface Stats {
  table: string
  chunks: number
  compressedChunks: number
  before: number
  after: number
  compressedRows: number
  allChunks: boolean
}

async function compressionStats(client: pg.ClientBase, table: string): Promise<Omit<Stats, 'allChunks' | 'compressedRows'>> {
  const r = await client.query<{ total: string; compressed: string; before: string | null; after: string | null }>(
    `SELECT sum(total_chunks)::text AS total, sum(number_compressed_chunks)::text AS compressed,
            sum(before_compression_total_bytes)::text AS before, sum(after_compression_total_bytes)::text AS after
       FROM hypertable_compression_stats($1::regclass)`,
    [table],
  )
  const x = r.rows[0]
  return { table, chunks: Number(x?.total ?? 0), compressedChunks: Number(x?.compressed ?? 0), before: Number(x?.before ?? 0), after: Number(x?.after ?? 0) }
}

async function rowsInCompressedChunks(client: pg.ClientBase, table: string): Promise<number> {
  const [schema, name] = table.split('.')
  const chunks = await client.query<{ c: string }>(
    `SELECT format('%I.%I', chunk_schema, chunk_name) AS c FROM timescaledb_information.chunks
      WHERE hypertable_schema = $1 AND hypertable_name = $2 AND is_compressed`,
    [schema, name],
  )
  let n = 0
  for (const { c } of chunks.rows) n += Number((await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${c}`)).rows[0]?.n ?? 0)
  return n
}

export async function compressionAndStorage(ctx: BenchContext, ds: Dataset): Promise<Figure[]> {
  const client = ds.client
  const stats: Stats[] = []
  for (const h of ds.before) {
    const allChunks = (ds.compressedByPolicy[h.table] ?? 0) === 0
    if (allChunks) await compressChunks(client, h.table)
    const s = await compressionStats(client, h.table)
    stats.push({ ...s, allChunks, compressedRows: await rowsInCompressedChunks(client, h.table) })
  }
  const figures: Figure[] = []
  for (const s of stats) {
    if (!s.before) continue
    const pct = (1 - s.after / s.before) * 100
    const gated = s.compressedRows >= MIN_ROWS_FOR_VERDICT
    const name = s.table.replace(`${SCHEMA}.`, '')
    const how = s.allChunks
      ? `no chunk older than ${ctx.sizes.compressAfter} yet: all ${s.compressedChunks} chunks compressed for the measurement`
      : `${s.compressedChunks} of ${s.chunks} chunks (older than ${ctx.sizes.compressAfter})`
    figures.push(
      makeFigure({
        id: `compression.${name}`,
        label: `Compression: ${name}`,
        group: 'compression',
        unit: '%',
        better: 'higher',
        value: pct,
        ...(gated ? { threshold: 'compression' as const, target: 'compression-90' as const } : {}),
        detail: { beforeBytes: s.before, afterBytes: s.after, compressedChunks: s.compressedChunks, chunks: s.chunks, compressedRows: s.compressedRows, allChunksCompressed: String(s.allChunks) },
        note: `${fmtBytes(s.before)} → ${fmtBytes(s.after)}, ${s.compressedRows.toLocaleString('en-US')} rows; ${how}${gated ? '' : `; fewer than ${MIN_ROWS_FOR_VERDICT.toLocaleString('en-US')} rows: not gated`}`,
      }),
    )
  }
  const before = stats.reduce((a, s) => a + s.before, 0)
  const after = stats.reduce((a, s) => a + s.after, 0)
  const fraction = before > 0 ? after / before : NaN
  figures.push(
    makeFigure({
      id: 'compression.total',
      label: 'Compression: all hypertables (byte-weighted)',
      group: 'compression',
      unit: '%',
      better: 'higher',
      value: (1 - fraction) * 100,
      threshold: 'compression',
      target: 'compression-90',
      detail: { beforeBytes: before, afterBytes: after },
      note: `${fmtBytes(before)} → ${fmtBytes(after)}`,
    }),
  )

  // Bytes per row before compression, over every row of every hypertable.
  const rows = ds.before.reduce((a, h) => a + h.rows, 0)
  const bytes = ds.before.reduce((a, h) => a + h.bytes, 0)
  const bprU = bytes / rows
  const bprC = bprU * fraction
  const month = (rowsPerDay: number) => (rowsPerDay * (UNCOMPRESSED_DAYS * bprU + (MONTH_DAYS - UNCOMPRESSED_DAYS) * bprC)) / 1e9
  const generatedPerDay = rows / ds.days
  figures.push(
    makeFigure({ id: 'storage.bytes_per_row', label: 'Storage: bytes per row, uncompressed (table + indexes)', group: 'storage', unit: 'bytes/row', better: 'lower', value: bprU }),
    makeFigure({ id: 'storage.bytes_per_row_compressed', label: 'Storage: bytes per row, compressed', group: 'storage', unit: 'bytes/row', better: 'lower', value: bprC }),
    makeFigure({
      id: 'storage.month_typical',
      label: `Storage per month at the seeds' typical ${SEED_TYPICAL_ROWS_PER_DAY.toLocaleString('en-US')} rows/day`,
      group: 'storage',
      unit: 'GB/month',
      better: 'lower',
      value: month(SEED_TYPICAL_ROWS_PER_DAY),
      threshold: 'storage',
      detail: { rowsPerDay: SEED_TYPICAL_ROWS_PER_DAY, bytesPerRowUncompressed: bprU, bytesPerRowCompressed: bprC, uncompressedDays: UNCOMPRESSED_DAYS, monthDays: MONTH_DAYS },
      note: `${UNCOMPRESSED_DAYS} days uncompressed + ${MONTH_DAYS - UNCOMPRESSED_DAYS} days compressed; uncompressed throughout: ${((SEED_TYPICAL_ROWS_PER_DAY * MONTH_DAYS * bprU) / 1e9).toFixed(3)} GB`,
    }),
    makeFigure({
      id: 'storage.month_dataset',
      label: `Storage per month at this dataset's ${Math.round(generatedPerDay).toLocaleString('en-US')} rows/day`,
      group: 'storage',
      unit: 'GB/month',
      better: 'lower',
      value: month(generatedPerDay),
      note: 'information: the dataset’s own rate (scale × ~112,600 rows/day at the default 0.05 Hz)',
    }),
  )
  return figures
}

function fmtBytes(b: number): string {
  return b >= 1e6 ? `${(b / 1e6).toFixed(1)} MB` : `${(b / 1e3).toFixed(0)} kB`
}
