/**
 * The backup → restore round trip as a verify stage: back up a migrated database holding data
 * (compressed chunks and rows at chunk boundaries included), restore it into fresh databases
 * (full, schema-only, data-only, and the data-directory copy where the engine has one) and
 * show zero differences by comparison.
 */
import { loadBackupData } from '../../data/backup-data.ts'
import { backupRoundTrip } from '../../backup/round-trip.ts'
import { coresToSpare, type StageFn } from '../stage.ts'

/**
 * Sized for the proof, not for volume (that is `pnpm bench`): three days make several 1-day
 * chunks per hypertable, four of them compressed, rows on every chunk boundary, and every table
 * populated; metric_hist one sample per ~40 min, the per-minute series every 30 min. About 4,200
 * rows (29,300 before the series were thinned: the same chunks and boundaries, a third of the
 * stage's time on native).
 */
const VERIFY_DATA = { days: 3, hz: 0.0004, uncompressedDays: 1, seriesMinutes: 30 }

export const backupRoundTripStage: StageFn = async (ctx) => {
  // The telemetry generator knows the MS5.0 schema only; other directories round-trip their schema.
  const ms5 = ctx.manifest?.schema === 'factory_telemetry' && ctx.manifest.tables?.includes('factory_telemetry.metric_hist')
  let loaded = 'no data loaded (the telemetry generator fits the MS5.0 schema only)'
  const r = await backupRoundTrip(ctx.engine, {
    dir: ctx.dir,
    migrations: ctx.migrations,
    manifest: ctx.manifest,
    logSchema: ctx.logSchema,
    sideBySide: ctx.engine.capabilities.concurrentConnections && coresToSpare(ctx),
    // --changed: the migrated databases start from replay's copy of the released base, where there is one.
    database: ctx.base && ((label) => ctx.base!.start(ctx.engine, label)),
    load: ms5
      ? async (c) => {
          const d = await loadBackupData(c, VERIFY_DATA)
          loaded = `${d.rows} rows of generated telemetry, ${d.boundaryRows} at chunk boundaries, ${d.compressedChunks} compressed chunks`
          ctx.meter?.count('roundTripRows', d.rows)
          ctx.meter?.count('roundTripBoundaryRows', d.boundaryRows)
          ctx.meter?.count('roundTripCompressedChunks', d.compressedChunks)
        }
      : undefined,
  })
  ctx.progress(`  ${r.summary}`)
  ctx.meter?.count('roundTripRestores', r.restores)
  for (const p of r.parts) ctx.meter?.part(p.label, p.ms)
  // One round trip of the final state, whatever --changed says: that state includes the new migrations.
  const scope = ctx.focus ? '; --changed: one round trip of the final schema, which includes the new or changed migrations' : ''
  return { verdict: r.verdict, summary: `${r.summary} (${loaded}${scope})`, details: r.details, ...(r.error ? { error: r.error } : {}) }
}
