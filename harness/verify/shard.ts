/**
 * `verify --shard I/N`: which part of the expensive work this run does, so that N runs on N CI
 * machines together do one full run's work, each unit exactly once. The split is a pure function
 * of the migrations and the settings (never of timing or of what another shard found), so every
 * shard computes the same plan on its own.
 *
 *   - split stages give out their units round-robin by position: unit u of a stage belongs to
 *     shard (u mod N) + 1 — fault points (every statement boundary of every migration in order),
 *     property chains, down/up steps, idempotent files. Neighbouring units cost about the same,
 *     so round-robin balances better than contiguous ranges (one migration's many points are
 *     spread over every shard);
 *   - whole stages (jobs, backup round trip, load) are not cut without changing what they prove
 *     (the jobs run in id order on one database; the round trip restores one backup; the load stage is one rehearsal, and the costliest stage to repeat): each goes
 *     to one shard, the i-th of them to shard (i mod N) + 1;
 *   - base stages (lint, files, replay, diagnostic replay, post-validation, second up) are cheap
 *     and establish the state the others start from: every shard runs them.
 *
 * Stages consult the plan through `owned()`; the plan records what it handed out, which ends up
 * in verify.json (`shard.units`) for `pgverify report merge` to check that the shards cover every
 * unit exactly once.
 */
import { createHash } from 'node:crypto'
import { HarnessError } from '../errors.ts'
import type { Migration } from '../sql/migration.ts'

export interface ShardSpec {
  /** 1-based. */
  index: number
  count: number
}

/** Stages whose units are dealt out over the shards. */
export const SPLIT_STAGES = ['idempotency', 'down-up', 'fault-injection', 'data-properties'] as const
/** Stages run whole by one shard each. */
export const WHOLE_STAGES = ['jobs', 'backup-round-trip', 'load'] as const

export type SplitStage = (typeof SPLIT_STAGES)[number]

/** What a split stage's units are called in summaries. */
export const UNIT_NOUN: Record<SplitStage, string> = { idempotency: 'files', 'down-up': 'steps', 'fault-injection': 'fault points', 'data-properties': 'chains' }

/**
 * Counts that do not grow with the units: every shard does that work in full (the rows seeded
 * before each migration, the versions data is generated at), so a merge takes them once.
 */
export const PER_SHARD_COUNTS: Record<string, string[]> = {
  'fault-injection': ['seededRows'],
  'data-properties': ['startingVersions'],
}

/** Parses `I/N`; a usage error (exit 2) names what is wrong, before any engine starts. */
export function parseShard(text: string): ShardSpec {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text)
  const hint = 'Give --shard I/N with 1 ≤ I ≤ N, e.g. --shard 1/4 … --shard 4/4 on four machines, then `pgverify report merge` their reports.'
  if (!m) throw new HarnessError('USAGE', `--shard ${text}: not of the form I/N`, { hint })
  const index = Number(m[1])
  const count = Number(m[2])
  if (count < 1) throw new HarnessError('USAGE', `--shard ${text}: N must be at least 1`, { hint })
  if (index < 1 || index > count) throw new HarnessError('USAGE', `--shard ${text}: I must be between 1 and ${count}`, { hint })
  return { index, count }
}

export const shardLabel = (s: ShardSpec) => `${s.index}/${s.count}`

/** What one shard was given: per stage, how many units there are in all and which are this shard's. */
export interface ShardUnits {
  total: number
  units: string[]
}

/** The shard part of verify.json: enough for a merge to refuse shards that are not one run. */
export interface ShardRecord {
  index: number
  count: number
  /** Schema fingerprint (sha256) after replaying every migration: the state every shard's work starts from. */
  baseFingerprint?: string
  /** Every migration with the checksums of its files: the set the shards must agree on. */
  migrations: string[]
  /** Settings that decide the units and the generated data; equal in every shard. */
  settings: { seed?: number; runs?: number; skip: string[]; changed?: string }
  /** Split and whole stages: what this shard was given. */
  units: Record<string, ShardUnits>
}

/** verify.json of `pgverify report merge`: the shards it was made from. */
export interface MergeRecord {
  count: number
  baseFingerprint?: string
  shards: { index: number; dir: string; durationMs: number; ok: boolean; startedAt: string }[]
}

export class ShardPlan {
  readonly units: Record<string, ShardUnits> = {}

  constructor(readonly spec: ShardSpec) {}

  /**
   * Of `all` (every unit of `stage`, in the order every shard sees them), the ones this shard
   * runs; recorded for the report. Calling it twice for a stage replaces the record.
   */
  owned<T>(stage: SplitStage, all: T[], label: (u: T) => string): T[] {
    const mine = all.filter((_, u) => u % this.spec.count === this.spec.index - 1)
    this.units[stage] = { total: all.length, units: mine.map(label) }
    return mine
  }

  /** Whether this shard runs the whole stage `id` (every shard runs the others). */
  runsWhole(id: string): boolean {
    const i = (WHOLE_STAGES as readonly string[]).indexOf(id)
    if (i < 0) return true
    const mine = i % this.spec.count === this.spec.index - 1
    this.units[id] = { total: 1, units: mine ? [id] : [] }
    return mine
  }

  /** Which shard runs the whole stage `id`. */
  wholeOwner(id: string): number {
    return ((WHOLE_STAGES as readonly string[]).indexOf(id) % this.spec.count) + 1
  }

  /** " (shard 1/2: 87 of 174 fault points)", for a stage's summary. */
  note(stage: SplitStage): string {
    const u = this.units[stage]
    return u ? ` (shard ${shardLabel(this.spec)}: ${u.units.length} of ${u.total} ${UNIT_NOUN[stage]})` : ''
  }
}

/** The migration set as the shards compare it: name, up and down checksums. */
export const migrationSet = (migrations: Migration[]): string[] => migrations.map((m) => `${m.name} ${m.up.checksum.slice(0, 16)} ${m.down?.checksum.slice(0, 16) ?? '-'}`)

/**
 * The seed of generated data when --shard is given without --seed: every shard must generate
 * the same data (or the union is not one run), so it is derived from the migrations, the same
 * on every machine, instead of drawn at random.
 */
export function shardSeed(migrations: Migration[]): number {
  const h = createHash('sha256').update(migrationSet(migrations).join('\n')).digest()
  return h.readUInt32BE(0) >>> 1
}
