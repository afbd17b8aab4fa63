/**
 * What a verify stage is: a step (steps/step.ts) whose body is a function over the context that
 * returns a verdict with evidence. Stages live in stages/; pipeline.ts orders and runs them:
 * first the stages that read the files (lint, files), then those on a disposable database.
 */
import os from 'node:os'
import type pg from 'pg'
import type { StartedEngine } from '../engines/types.ts'
import type { LocatedError } from '../runner/locate.ts'
import type { Migration } from '../sql/migration.ts'
import { Migrator, type MigratorEvent, type MigratorHooks, type RunResult } from '../runner/migrator.ts'
import { asServerTrouble } from '../sqlstate.ts'
import { diffSnapshots, snapshot, type JobSnapshot, type SchemaSnapshot, type Snapshots } from '../validation/fingerprint/index.ts'
import type { Manifest } from '../manifest/manifest.ts'
import type { Catalog } from '../catalog/tables.ts'
import type { LintResult } from '../lint/lint.ts'
import type { StepOutcome, StepResult } from '../steps/step.ts'
import { dataDigests, diffDigests, type TableDigest } from '../validation/data-digest.ts'
import { quoteQualified } from '../util/sql.ts'
import { Meter } from './meter.ts'
import type { ReleasedBase } from './base.ts'
import type { VerifyScope } from './scope.ts'
import type { MergeRecord, ShardPlan, ShardRecord, ShardSpec } from './shard.ts'
import { catalogMark, catalogUnchanged, dataMark, rowsUnchanged, type CatalogMark } from '../catalog/marks.ts'

export type { Verdict } from '../steps/step.ts'
export { failed, passed } from '../steps/step.ts'

/** A stage's result: a step result whose error points into a migration file. */
export type StageResult = StepResult<LocatedError>

export interface VerifyOptions {
  dir: string
  logSchema?: string
  logTable?: string
  onProgress?: (line: string) => void
  /** Seed for generated data (printed; reproduces a run). */
  seed?: number
  /** How many generated datasets per property (defaults sized for the verify budget). */
  runs?: number
  /** Where stages write artefacts (replayable SQL of a failing property). */
  reportsDir?: string
  /** Stage ids not to run; each is reported as skipped with that reason, never as passed. */
  skip?: string[]
  /** The lint allow-list to use instead of `<dir>/lint-allow.json` (pgverify.config.json "lint.allowFile"). */
  lintAllowFile?: string
  /** `--changed`: released migrations (or, with `since`, those unchanged since that git ref) are only replayed (scope.ts). */
  changed?: { since?: string }
  /** `--shard I/N`: this run does the I-th of N parts of the expensive work (shard.ts). */
  shard?: ShardSpec
  /** The load stage's scale (stages/load.ts LOAD_DEFAULTS): MS5.0 hours of telemetry, other schemas rows per table. */
  load?: { hours?: number; rows?: number; baselineMs?: number }
  /** The seeds' limits as the config sets them (thresholds.dashboard, thresholds.insert), for the load stage. */
  thresholds?: { dashboard?: number; insert?: number }
}

export interface VerifyContext {
  engine: StartedEngine
  dir: string
  manifest?: Manifest
  migrations: Migration[]
  schemas: string[]
  logSchema: string
  logTable?: string
  /** Fingerprint after each version 0..N, recorded during replay (under --changed only where recordsFingerprint says). */
  fingerprints: Snapshots
  /** The TimescaleDB jobs at each version 0..N, recorded during replay at every version (job attribution reads them). */
  jobsAt: Map<number, JobSnapshot[]>
  /** The tables at each version 0..N (the migration log left out), read by replay when data properties will want them. */
  catalogs?: Map<number, Catalog>
  progress: (line: string) => void
  options: VerifyOptions
  /** The running stage's meter (the pipeline gives every stage a fresh one): counts and time by part. */
  meter?: Meter
  /** Another stage's result once it has ended (undefined when it is not part of the run); a stage may wait only for stages listed before it. */
  stageResult?: (id: string) => Promise<StageResult | undefined>
  /** The stage's client is on a database of its own, dropped when the stage ends: nothing on it needs to be left as found. */
  throwaway?: boolean
  /** How many heavy stages (Stage.heavy) this run starts side by side; see coresToSpare. */
  heavyStages?: number
  /** With --changed: the migrations proven at full depth (the others are only replayed); absent: all. */
  focus?: Set<string>
  /** With --changed, on an engine that copies databases: replay's database at the released base, for the stages that start there (base.ts). */
  base?: ReleasedBase
  /** With --shard: which units of the split stages this run owns (shard.ts); absent: all. */
  shard?: ShardPlan
}

/** Whether `m` gets full depth in this run (every migration, unless --changed narrowed them). */
export const inFocus = (ctx: VerifyContext, m: { name: string }): boolean => !ctx.focus || ctx.focus.has(m.name)

/**
 * Whether replay records the whole fingerprint at `version`, or only its jobs (ctx.jobsAt, which
 * job attribution reads). A full run records it at every version. Under --changed the stages
 * compare only with the versions around a new or changed migration (the one before it and its
 * own: fault injection, down/up) and with the last (second-up, down/up, shards); a fingerprint
 * elsewhere would cost ~65–100 ms each on embedded (eight of them when a pull request adds one
 * migration to nine), on the path every other stage waits for.
 */
export function recordsFingerprint(ctx: VerifyContext, version: number): boolean {
  if (!ctx.focus) return true
  const ms = ctx.migrations
  if (version === (ms[ms.length - 1]?.version ?? 0)) return true
  const i = ms.findIndex((m) => m.version === version)
  const own = i >= 0 && inFocus(ctx, ms[i]!)
  const next = ms[i + 1]
  return own || (next !== undefined && inFocus(ctx, next))
}

/**
 * Whether a stage may split its own work over more databases at once: only when the machine has
 * more cores than the heavy stages this run starts side by side. On two cores a full run's four
 * heavy stages already fill the machine, and a split adds work (the second database has to be
 * brought to its starting point): measured, fault injection in two lanes made the full run no
 * faster on embedded and ~1–2 s slower on native and container, while alone it was 8.1 → 5.7 s.
 */
export const coresToSpare = (ctx: VerifyContext): boolean => os.availableParallelism() > (ctx.heavyStages ?? 1)

/** The work that defines "full depth", summed from the stages' counts: equal before and after a speed-up. */
export interface VerifyDepth {
  faultPoints: number
  propertyDatasets: number
  propertyRows: number
  roundTripRestores: number
  roundTripRows: number
  roundTripCompressedChunks: number
  roundTripBoundaryRows: number
  downUpSteps: number
  idempotentFiles: number
}

export interface VerifyReport {
  engine: {
    name: string
    description: string
    postgres: string
    timescaledb: string
    license: string
    /** What a proof on this engine cannot show compared with a production server (engines/differences.ts). */
    differences?: string[]
  }
  dir: string
  startedAt: string
  durationMs: number
  ok: boolean
  stages: StageResult[]
  /** Every lint finding, allowed or not (the lint stage's verdict counts only non-allowed errors). */
  lint?: LintResult
  /** The depth of the proof (fault points, datasets, restores …), from the stages' counts. */
  depth?: VerifyDepth
  /** Structural work of the whole run, summed over the stages (migrations applied, snapshots …). */
  work?: Record<string, number>
  /** With --changed: what was proven at full depth and what was only replayed. */
  scope?: VerifyScope
  /** With --shard: which shard, the units it ran, and what the shards must agree on (shard.ts). */
  shard?: ShardRecord
  /** Made by `pgverify report merge` from the shards' reports (merge.ts). */
  merged?: MergeRecord
}

export type StageOutcome = StepOutcome<LocatedError>

export type StageFn = (ctx: VerifyContext, client: pg.Client) => Promise<StageOutcome>

export interface Stage {
  id: string
  title: string
  /** Stages that must have passed for this one to mean anything. */
  needs: string[]
  /**
   * Stages this one reads the result of, whatever their verdict: it starts once they have ended
   * (its clock too, so its duration is its own work, not the wait).
   */
  after?: string[]
  run: StageFn
  /**
   * Whether the stage may run alongside others on an engine whose databases work in parallel
   * (`capabilities.concurrentConnections` or `parallelDatabases`): `own`, it works only on
   * databases it creates and ignores the shared client; `fresh`, it works on the client it is
   * given, which the pipeline connects to a fresh database of its own (nothing migrated, the
   * extensions of the runner's bootstrap made already; the stage must then also work on the
   * shared database at the top, which it gets when nothing runs alongside). Absent: in order, on
   * the shared database.
   */
  alongside?: 'own' | 'fresh'

  /**
   * With `alongside`: the stage reads nothing its needs produce, so it starts with them instead of
   * after them (they still decide whether its verdict counts: when one fails, its result is
   * dropped and it reports skipped). For a stage on the critical path that would otherwise idle
   * while replay runs.
   */
  early?: boolean
  /** Runs with nothing beside it: it starts once every stage before it has ended (it measures latency). */
  alone?: boolean
  /** Keeps a core busy for seconds (on the two-core machines the gate runs on, these alone fill the machine). */
  heavy?: boolean
}

/** What the stages before the database share: the directory, and what they found in it. */
export interface FilesContext {
  dir: string
  options: VerifyOptions
  progress: (line: string) => void
  /** Set by the lint stage: every finding, allowed or not. */
  lint?: LintResult
  /** Set by the files stage once manifest.json reads (also when the files are then refused). */
  manifest?: Manifest
  /** Set by the files stage once the directory is accepted. */
  accepted?: { manifest?: Manifest; migrations: Migration[] }
}

/** A stage over the files alone, run before any database exists (lint, files). */
export interface FilesStage {
  id: string
  title: string
  run: (ctx: FilesContext) => Promise<StageOutcome>
}

/**
 * A server that ran short of disk, memory or connections, or went away, under a migration is no
 * finding about the files: verify's migrators raise it, and the stage ends with that error
 * (SERVER_RESOURCES makes verify exit 5) instead of reporting "not idempotent" or "differs after
 * down/up".
 */
class VerifyMigrator extends Migrator {
  override async up(options: { to?: number } = {}): Promise<RunResult> {
    return raiseServerTrouble(await super.up(options))
  }
  override async down(options: { to: number }): Promise<RunResult> {
    return raiseServerTrouble(await super.down(options))
  }
}

function raiseServerTrouble(r: RunResult): RunResult {
  if (r.error && asServerTrouble(r.error)) throw r.error
  return r
}

export function migratorFor(ctx: VerifyContext, client: pg.ClientBase, extra: { onEvent?: (e: MigratorEvent) => void; hooks?: MigratorHooks } = {}): Migrator {
  const meter = ctx.meter
  const onEvent = meter
    ? (e: MigratorEvent) => {
        if (e.type === 'done') {
          const m = ctx.migrations.find((x) => x.name === e.migration)
          meter.count(e.direction === 'up' ? 'migrationsApplied' : 'migrationsReverted')
          meter.count('migrationStatements', (e.direction === 'up' ? m?.up : m?.down)?.statements.length ?? 0)
          meter.count('migrationMs', e.durationMs)
        } else if (e.type === 'failed') meter.count('migrationsFailed')
        extra.onEvent?.(e)
      }
    : extra.onEvent
  return new VerifyMigrator({
    client,
    provider: { source: ctx.dir, getMigrations: async () => ctx.migrations },
    logSchema: ctx.logSchema,
    logTable: ctx.logTable,
    requirements: ctx.manifest?.requirements,
    lockWaitMs: 0,
    ...extra,
    onEvent,
  })
}

/** A schema snapshot of the verified schemas, counted and timed on the stage's meter. */
export async function take(client: pg.ClientBase, ctx: VerifyContext): Promise<SchemaSnapshot> {
  const t0 = performance.now()
  const s = await snapshot(client, ctx.schemas)
  ctx.meter?.count('snapshots')
  ctx.meter?.count('snapshotMs', performance.now() - t0)
  return s
}

/** A schema state to compare with later: its fingerprint, and the catalog's mark (catalog/marks.ts) at that moment. */
export interface SchemaState {
  snapshot: SchemaSnapshot
  mark: CatalogMark
}

export async function schemaState(client: pg.ClientBase, ctx: VerifyContext, snapshot?: SchemaSnapshot): Promise<SchemaState> {
  const s = snapshot ?? (await take(client, ctx))
  return { snapshot: s, mark: await catalogMark(client) }
}

/**
 * The differences between `state` and the schema now. When no committed write touched the
 * catalog since the state's mark there are none, and no fingerprint is taken (two catalog
 * queries instead of a dozen); otherwise the fingerprint is taken and compared, and when it is
 * still equal the state's mark is renewed (the catalog was rewritten to the same schema).
 */
export async function schemaDiff(client: pg.ClientBase, ctx: VerifyContext, state: SchemaState): Promise<string[]> {
  if (await catalogUnchanged(client, state.mark)) {
    ctx.meter?.count('snapshotsAvoided')
    return []
  }
  const d = diffLines(state.snapshot, await take(client, ctx))
  if (d.length === 0) state.mark = await catalogMark(client)
  return d
}

/** A data state to compare with later: every table's digest, and the mark of their rows (catalog/marks.ts) at that moment. */
export interface DataState {
  digests: Map<string, TableDigest>
  mark: CatalogMark
  exclude: string[]
}

export async function dataState(client: pg.ClientBase, ctx: VerifyContext, exclude: string[], taken?: Map<string, TableDigest>): Promise<DataState> {
  const d = taken ?? (await digests(client, ctx, exclude))
  return { digests: d, mark: await dataMark(client, [...d.keys()].map(quoteQualified)), exclude }
}

/**
 * The differences between `state` and the rows now, as schemaDiff does for the schema: when no
 * committed write touched the tables since the state's mark (no row version written, none
 * deleted) there are none, proven by one query instead of hashing every table again; otherwise
 * the digests are taken and compared, and when they are still equal the mark is renewed.
 */
export async function dataDiff(client: pg.ClientBase, ctx: VerifyContext, state: DataState): Promise<string[]> {
  if (await rowsUnchanged(client, state.mark)) {
    ctx.meter?.count('dataDigestsAvoided')
    return []
  }
  const d = diffDigests(state.digests, await digests(client, ctx, state.exclude))
  if (d.length === 0) state.mark = await dataMark(client, [...state.digests.keys()].map(quoteQualified))
  return d
}

/** The data digest of every table of the verified schemas (`exclude`d ones left out), counted and timed. */
export async function digests(client: pg.ClientBase, ctx: VerifyContext, exclude: string[] = []): Promise<Map<string, TableDigest>> {
  const t0 = performance.now()
  const d = await dataDigests(client, ctx.schemas, exclude)
  ctx.meter?.count('dataDigests')
  ctx.meter?.count('dataDigestMs', performance.now() - t0)
  return d
}

export function diffLines(a: SchemaSnapshot, b: SchemaSnapshot, limit = 40): string[] {
  const d = diffSnapshots(a, b)
  return d.length > limit ? [...d.slice(0, limit), `… ${d.length - limit} more differences`] : d
}

