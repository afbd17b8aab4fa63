/** The data property's shared vocabulary: what it is given, what it returns, what a failure holds. */
import type pg from 'pg'
import type { Catalog } from '../../catalog/tables.ts'
import type { Manifest } from '../../manifest/manifest.ts'
import type { Migrator } from '../../runner/migrator.ts'
import type { Migration } from '../../sql/migration.ts'
import type { JobsByVersion, RegisteredJob } from '../../validation/jobs/index.ts'
import type { Dataset } from '../dataset.ts'
import type { Violation } from './preservation.ts'

/** Datasets per version (chains) when --runs is not given: sized for `pnpm verify` on the embedded engine. */
export const DEFAULT_RUNS = 3
/** Time spent shrinking one failure before the smallest example so far is reported. */
export const SHRINK_BUDGET_MS = 90_000

/** Everything the property needs from its caller (the verify stage wires it from its context). */
export interface PropertyContext {
  client: pg.ClientBase
  /** The runner on `client`, with the migrations, log table and requirements of the run. */
  migrator: Migrator
  migrations: Migration[]
  schemas: string[]
  dir: string
  manifest?: Manifest
  /** The jobs at each version, recorded by replay (attributes the jobs). */
  jobsAt: JobsByVersion
  /** The tables at each version (the migration log left out), when replay read them: then the stage does not walk the versions to read them itself. */
  catalogs?: ReadonlyMap<number, Catalog>
  /** As given; a fresh seed and DEFAULT_RUNS when not. */
  seed?: number
  runs?: number
  reportsDir?: string
  /** The server runs background workers: every registered job is unscheduled after migrating. */
  backgroundWorkers: boolean
  progress: (line: string) => void
  /** `verify --changed`: the migrations whose steps are checked (the data is still generated at, and carried through, every version); absent: all. */
  focus?: Set<string>
  /** `verify --shard`: of the `total` chains (0-based), the ones this run makes; absent: all. */
  chains?: (total: number) => number[]
  /** `verify --changed`: which registered jobs run at the latest version (the others were proven when released); absent: all. */
  jobs?: (job: RegisteredJob) => boolean
  /** Put the database back as replay left it (every migration applied, none of the generated rows) at the end; default true. A database dropped afterwards skips it (N downs and N ups). */
  leaveAsFound?: boolean
}

/** The verdict, as a verify stage reports it. */
export interface PropertyResult {
  verdict: 'passed' | 'failed' | 'skipped'
  summary: string
  details: string[]
  error?: { code: string; message: string }
  /** The work done, counted (datasets, rows, migrations by direction). */
  counts?: Record<string, number>
  /** Where the time went, by part. */
  breakdown?: { label: string; ms: number }[]
}

export const passed = (summary: string, details: string[] = []): PropertyResult => ({ verdict: 'passed', summary, details })
export const failed = (summary: string, details: string[] = [], error?: PropertyResult['error']): PropertyResult => ({ verdict: 'failed', summary, details, error })

export class PropertyFailed extends Error {
  constructor(readonly violations: Violation[]) {
    super(violations.map((v) => v.message).join('; '))
  }
}

export interface Failure {
  /** The version the failing step started from (the step k → k+1, or the jobs at N after the last step from k). */
  k: number
  /** Every version's rows of the failing chain together. */
  dataset: Dataset
  /** The failing chain: the dataset added at each version up to k. */
  chain: { k: number; dataset: Dataset }[]
  violations: Violation[]
}

export interface KStats {
  k: number
  label: string
  datasets: number
  rows: number
  tables: number
  rejected: number
  droppedByCheck: number
  droppedDuplicate: number
  droppedNoParent: number
  repaired: number
  ms: number
}

export const versionLabel = (ms: Migration[], k: number) => (k === 0 ? 'bootstrap only' : (ms.find((m) => m.version === k)?.name ?? `version ${k}`))
