/** What a restore is asked to do and what it returns (restore.ts and restore-volume.ts). */
import type { Target } from '../engines/target.ts'
import type { Comparison } from './compare.ts'
import type { BackupManifest } from './manifest.ts'

export type RestoreKind = 'full' | 'schema' | 'data' | 'volume'
export type RestoreMode = 'fresh' | 'in-place'

export interface RestoreOptions {
  kind?: RestoreKind
  mode: RestoreMode
  onLog?: (line: string) => void
  /**
   * In place: how long the restore waits for a table lock (ms; 0 forever). Default 60 s. Dropping
   * the covered schemas needs every table's lock, and an application still reading would make
   * the restore wait while everything queued behind it waits too.
   */
  lockTimeoutMs?: number
}

export interface RestoreResult {
  dir: string
  kind: RestoreKind
  mode: RestoreMode
  manifest: BackupManifest
  /** Where the data now is (for `volume`: a new database on the engine; the caller drops it). */
  target: Target & { drop?: () => Promise<void> }
  durationMs: number
  /** Where the time went: checking the backup, loading it, capturing and comparing the result. */
  timings: { verifyMs: number; loadMs: number; compareMs: number }
  /** Schemas dropped and re-created (in-place). */
  replaced: string[]
  /** User schemas not covered by the backup: untouched. */
  leftAlone: string[]
  notes: string[]
  comparison: Comparison
}
