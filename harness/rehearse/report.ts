/** What `pgverify rehearse` returns and writes to reports/rehearse.json. */
import type { StatementFigures, WorkloadFigures } from './figures.ts'
import type { Finding, Limits } from './verdict.ts'
import type { SamplerOverhead } from './types.ts'
import type { Timeline } from './timeline.ts'

export interface MigrationRehearsal {
  version: number
  file: string
  verdict: 'passed' | 'failed' | 'skipped'
  /** Why it was skipped, or how the migration itself ended when it failed to apply. */
  reason?: string
  /** What the database at version k-1 holds from the loader; `added`: the tables loaded just before this migration (in a walk the others were loaded at an earlier version and carried forward). */
  loaded: { rows: Record<string, number>; notLoaded: { table: string; reason: string }[]; added?: string[]; durationMs: number }
  workload: { operations: string[]; unusable: { op: string; reason: string }[]; sessions: number }
  baseline: WorkloadFigures
  /** The migration as the runner reported it. */
  migration: { status: string; durationMs: number; error?: string }
  statements: StatementFigures[]
  findings: Finding[]
  sampler: SamplerOverhead
  /** What the report's timeline draws (timeline.ts). */
  timeline?: Timeline
}

export interface RehearsalReport {
  ok: boolean
  engine: string
  dir: string
  seed: number
  /** The data each rehearsal starts from, in words. */
  data: string
  limits: Limits
  migrations: MigrationRehearsal[]
  /** Set when the engine cannot rehearse (single session): nothing was run. */
  skipped?: string
  /** rehearse-allow.json: where it was read, how many entries, and those that covered nothing in this run (timing varies: not an error). */
  allow?: { file: string; entries: number; notSeen: { file: string; line: number; reason: string }[] }
  startedAt: string
  durationMs: number
}
