/**
 * What every benchmark module receives: the started engine, the run's sizes, and a log.
 * Sizes live here, in one table, so `--quick` and the default run differ in one place.
 */
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import type pg from 'pg'
import type { StartedEngine } from '../harness/engines/types.ts'
import { HarnessError } from '../harness/errors.ts'
import { connect } from '../harness/runner/connect.ts'
import { FileMigrationProvider } from '../harness/runner/discover.ts'
import { Migrator } from '../harness/runner/migrator.ts'
import type { Requirements } from '../harness/manifest/manifest.ts'

export const REPO = path.resolve(import.meta.dirname, '..')
export const MIGRATIONS_DIR = path.join(REPO, 'migrations')
export const SCHEMA = 'factory_telemetry'

export interface Sizes {
  connectIterations: number
  freshDbIterations: number
  migrateIterations: number
  /** Full `pnpm verify` runs of the gate benchmark (two or more: a single timing can never confirm a regression; none in quick runs). */
  verifyIterations: number
  singleRowInserts: number
  /** Rows per measured iteration of each bulk ingest path. */
  ingestRows: number
  ingestIterations: number
  /** Rows per statement of the multi-row paths (bounded by 65,535 bind parameters). */
  ingestBatchRows: number
  queryIterations: number
  queryWarmup: number
  /** Dataset days: 7 × scale plus this many, so that some chunks are older than the compression policy's interval. */
  extraDays: number
  /** Fixed dataset days instead (quick runs). */
  datasetDays?: number
  /** Chunks older than this are compressed before the dashboard queries (the migrations' policy: 7 days). */
  compressAfter: string
  /** Dataset sampling rate (metric_hist samples per second per metric). */
  hz: number
}

export function sizesFor(quick: boolean): Sizes {
  return quick
    ? { connectIterations: 10, freshDbIterations: 2, migrateIterations: 1, verifyIterations: 0, singleRowInserts: 30, ingestRows: 2000, ingestIterations: 2, ingestBatchRows: 1000, queryIterations: 8, queryWarmup: 1, extraDays: 0, datasetDays: 3, compressAfter: '1 day', hz: 0.005 }
    : { connectIterations: 30, freshDbIterations: 4, migrateIterations: 3, verifyIterations: 2, singleRowInserts: 200, ingestRows: 10_000, ingestIterations: 6, ingestBatchRows: 2000, queryIterations: 30, queryWarmup: 3, extraDays: 2, compressAfter: '7 days', hz: 0.05 }
}

export interface BenchContext {
  engine: StartedEngine
  scale: number
  seed: number
  quick: boolean
  sizes: Sizes
  log: (line: string) => void
}

let requirements: Promise<Requirements | undefined> | undefined

async function manifestRequirements(): Promise<Requirements | undefined> {
  requirements ??= readFile(path.join(MIGRATIONS_DIR, 'manifest.json'), 'utf8')
    .then((t) => (JSON.parse(t) as { requirements?: Requirements }).requirements)
    .catch(() => undefined)
  return requirements
}

/** Applies migrations 001…009 to an empty database through the production runner; returns the time of `up()` in ms. */
export async function migrate(client: pg.ClientBase): Promise<number> {
  const migrator = new Migrator({
    client,
    provider: new FileMigrationProvider(MIGRATIONS_DIR),
    logSchema: SCHEMA,
    requirements: await manifestRequirements(),
    lockWaitMs: 0,
  })
  const t0 = performance.now()
  const result = await migrator.up()
  const ms = performance.now() - t0
  if (result.error) throw result.error
  const failed = result.results.find((r) => r.status === 'failed')
  if (failed) throw new HarnessError('MIGRATION_FAILED', `migration ${failed.name} failed: ${failed.error?.message ?? 'unknown error'}`)
  return ms
}

/** A fresh, migrated database and a connection to it. */
export async function migratedDatabase(ctx: BenchContext, label: string) {
  const db = await ctx.engine.createDatabase(label)
  try {
    const client = await connect(db.url, { applicationName: `pgverify-bench ${label}` })
    try {
      const migrateMs = await migrate(client)
      return {
        db,
        client,
        migrateMs,
        async close() {
          await client.end().catch(() => {})
          await db.drop().catch(() => {})
        },
      }
    } catch (e) {
      await client.end().catch(() => {})
      throw e
    }
  } catch (e) {
    await db.drop().catch(() => {})
    throw e
  }
}

/** The reason a benchmark cannot run on this engine, or undefined. Decided by capability flags, never by name. */
export function needsTimescale(engine: StartedEngine): string | undefined {
  if (!engine.capabilities.timescaledb) return `needs TimescaleDB, which ${engine.name} does not have (${engine.describe()}): the nine migrations create hypertables`
  return undefined
}

export function needsCompression(engine: StartedEngine): string | undefined {
  return needsTimescale(engine) ?? (engine.capabilities.timescaledbCompression ? undefined : `needs TimescaleDB's compression (TSL license); this engine has license ${engine.versions.timescaledbLicense}`)
}
