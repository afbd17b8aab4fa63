/**
 * What the files and the migration log say together: every migration classified (applied,
 * pending, drifted, …), and the refusals when they disagree. Read-only.
 */
import type pg from 'pg'
import { HarnessError } from '../../errors.ts'
import type { Migration, MigrationProvider } from '../../sql/migration.ts'
import { LOG_STATUSES, type LogRow, type MigrationLog } from '../log-table.ts'
import type { Direction, MigrationState, MigrationStatusEntry } from './results.ts'

export interface State {
  migrations: Migration[]
  rows: Map<string, LogRow>
  logExists: boolean
  entries: MigrationStatusEntry[]
  current: number
}

export const isApplied = (e: MigrationStatusEntry) => e.state === 'applied' || e.state === 'drifted' || e.state === 'unverified'

const isoOrNull = (d: Date | null | undefined) => (d ? new Date(d).toISOString() : null)

/** Reads files and log, and classifies every migration. */
export async function readState(client: pg.ClientBase, log: MigrationLog, provider: MigrationProvider): Promise<State> {
  const migrations = await provider.getMigrations()
  const read = await log.read(client)
  const logExists = read !== undefined
  const list = read ?? []
  const rows = new Map(list.map((r) => [r.migration_name, r]))
  const entries: MigrationStatusEntry[] = migrations.map((m) => {
    const row = rows.get(m.name)
    const base = {
      version: m.version,
      name: m.name,
      file: m.up.file,
      checksum: m.up.checksum,
      noTransaction: m.up.noTransaction,
      hasDown: m.down !== undefined,
      appliedChecksum: row?.checksum,
      appliedAt: isoOrNull(row?.applied_at),
      appliedBy: row?.applied_by,
      executionTimeMs: row?.execution_time_ms,
      errorMessage: row?.error_message,
    }
    let state: MigrationState = 'pending'
    if (row?.status === 'completed') state = row.checksum == null ? 'unverified' : row.checksum === m.up.checksum ? 'applied' : 'drifted'
    else if (row?.status === 'failed') state = 'failed'
    else if (row?.status === 'running') state = 'partial'
    return { ...base, state }
  })
  const known = new Set(migrations.map((m) => m.name))
  for (const row of list) {
    if (row.status === 'completed' && !known.has(row.migration_name)) {
      entries.push({
        version: Number(/^(\d+)/.exec(row.migration_name)?.[1] ?? 0),
        name: row.migration_name,
        file: row.migration_file,
        state: 'missing-file',
        appliedChecksum: row.checksum,
        appliedAt: isoOrNull(row.applied_at),
        appliedBy: row.applied_by,
        executionTimeMs: row.execution_time_ms,
        noTransaction: false,
        hasDown: false,
      })
    }
  }
  let current = 0
  for (const e of entries) if (isApplied(e) && e.version > current) current = e.version
  return { migrations, rows, logExists, entries, current }
}

/** A row with a status the runner never writes cannot be classified: refused, never shown as pending. */
export function checkStatuses(state: State, log: MigrationLog): void {
  for (const row of state.rows.values()) {
    if (!LOG_STATUSES.includes(row.status)) {
      throw new HarnessError('MIGRATION_LOG_CORRUPT', `${log.schema}.${log.table}: row "${row.migration_name}" has unknown status "${row.status}"`, {
        hint: `Valid statuses are ${LOG_STATUSES.join(', ')}. Fix the row by hand (it was edited outside the runner).`,
        details: { migration: row.migration_name, status: row.status },
      })
    }
  }
}

/** Refuses a log that does not match the files (missing files, holes, unknown statuses); returns the drifted. */
export function checkConsistency(state: State, log: MigrationLog, source: string): MigrationStatusEntry[] {
  const missing = state.entries.filter((e) => e.state === 'missing-file')
  if (missing.length > 0) {
    throw new HarnessError('MIGRATION_MISSING_FILE', `applied migration${missing.length > 1 ? 's' : ''} without a file in ${source}: ${missing.map((m) => m.file).join(', ')}`, {
      hint: 'Restore the deleted file(s) from version control: applied migrations must stay in the directory, unchanged.',
      details: { missing: missing.map((m) => m.name) },
    })
  }
  checkStatuses(state, log)
  const applied = state.entries.filter(isApplied)
  for (const e of applied) {
    const hole = state.entries.find((p) => p.version < e.version && !isApplied(p))
    if (hole) {
      throw new HarnessError('MIGRATION_LOG_CORRUPT', `${log.schema}.${log.table}: ${e.name} is recorded as applied but ${hole.name} is not (${hole.state})`, {
        hint: 'The log was edited by hand or migrations were renumbered after being applied. Compare the log with the files and repair the log; nothing was changed.',
        details: { applied: e.name, hole: hole.name },
      })
    }
  }
  return applied.filter((e) => e.state === 'drifted' || e.state === 'unverified')
}

/** Whether `--accept-drift` names this migration (by name, version or its three-digit prefix), or is 'all'. */
export function driftAccepted(acceptDrift: string[] | 'all' | undefined, entry: MigrationStatusEntry): boolean {
  const a = acceptDrift
  return a === 'all' || (Array.isArray(a) && (a.includes(entry.name) || a.includes(String(entry.version)) || a.includes(entry.name.slice(0, 3))))
}

/** Drift is refused unless each drifted migration was accepted explicitly. */
export function refuseDrift(drifted: MigrationStatusEntry[], accepted: (d: MigrationStatusEntry) => boolean): void {
  const refused = drifted.filter((d) => !accepted(d))
  if (refused.length === 0) return
  const lines = refused.map((d) =>
    d.state === 'unverified'
      ? `${d.file}: applied without a recorded checksum (file has ${d.checksum})`
      : `${d.file}: applied with checksum ${d.appliedChecksum}, file now has ${d.checksum}`,
  )
  throw new HarnessError('MIGRATION_DRIFT', `applied migration file${refused.length > 1 ? 's have' : ' has'} changed since it ran ("drift"); nothing was changed:\n  ${lines.join('\n  ')}`, {
    hint: 'Restore the applied file(s) and put the change in a new migration. If the edit is deliberate (e.g. a comment), re-run `up` with --accept-drift ' + refused.map((d) => d.name).join(',') + ' to record the new checksum in the log.',
    details: { drifted: refused.map((d) => ({ file: d.file, recorded: d.appliedChecksum, actual: d.checksum })) },
  })
}

/** `--to`: a known version (0 … last); without it, the last. */
export function checkTarget(migrations: Migration[], to: number | undefined): number {
  const last = migrations.length === 0 ? 0 : migrations[migrations.length - 1]!.version
  if (to === undefined) return last
  if (!Number.isInteger(to) || to < 0 || to > last) {
    throw new HarnessError('MIGRATION_TARGET_UNKNOWN', `--to ${to}: no such migration (known: 0 … ${last})`, {
      hint: `Use a number between 0 and ${last}; \`pnpm migrate status\` lists them.`,
      details: { to, last },
    })
  }
  return to
}

/** `up` to a version below the current one would revert: that is `down`'s job. */
export function refuseUpBelow(target: number, current: number): void {
  if (target < current) {
    throw new HarnessError('MIGRATION_TARGET_UNKNOWN', `--to ${target} is below the current version ${current}; \`up\` never reverts`, { hint: `Use \`pnpm migrate down --to ${target}\`.` })
  }
}

/** The migrations a run goes through, in the order it runs them: up ascending to target, down descending to just above it. */
export function stepsFor(direction: Direction, state: State, target: number): Migration[] {
  return direction === 'up'
    ? state.migrations.filter((m) => m.version <= target && m.version > state.current)
    : state.migrations.filter((m) => m.version > target && m.version <= state.current).reverse()
}

/** `down` needs a down file for every migration it reverts, checked before anything runs. */
export function refuseMissingDown(todo: Migration[], target: number): void {
  const noDown = todo.filter((m) => !m.down)
  if (noDown.length > 0) {
    throw new HarnessError('MIGRATION_NO_DOWN', `cannot revert to ${target}: no down file for ${noDown.map((m) => m.name).join(', ')}; nothing was changed`, {
      hint: `Write ${noDown.map((m) => `${m.name}.down.sql`).join(', ')}, or restore from a backup instead.`,
      details: { missing: noDown.map((m) => m.name) },
    })
  }
}

/** What the database was at before `m` ran up, for messages: the previous migration, or the bootstrap. */
export function versionBefore(state: State, m: Migration, first: boolean): string {
  return first && state.current === 0 ? 'bootstrap (version 0)' : (state.migrations[m.version - 2]?.name ?? 'version 0')
}
