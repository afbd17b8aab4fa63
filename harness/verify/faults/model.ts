/**
 * The fault model: the error a hook throws right after a chosen statement, where that is, and
 * what a stage found when a fault point does not leave the database as it was.
 */
import type { MigratorHooks } from '../../runner/migrator.ts'
import type { Migration } from '../../sql/migration.ts'
import type { TableDigest } from '../../validation/data-digest.ts'
import type { DataState, SchemaState } from '../stage.ts'
import type { SchemaSnapshot } from '../../validation/fingerprint/index.ts'

/** The error the hook throws; its message is what migration_log must show. */
export class InjectedFault extends Error {
  constructor(readonly migration: string, readonly statement: number, readonly of: number) {
    super(`fault injected by pgverify after statement ${statement} of ${of}`)
    this.name = 'InjectedFault'
  }
}

export interface FaultStats {
  /** Boundaries where a failure was injected and everything checked. */
  points: number
  /** Boundaries that could not be exercised (non-transactional migration without a down file). */
  notExercised: number
  migrations: number
  seededRows: number
  /** --changed: released migrations applied as the base, without injection. */
  replayedOnly: number
}

export class Problem extends Error {
  constructor(readonly summary: string, readonly details: string[]) {
    super(summary)
  }
}

/** The state a migration's fault points start from: what every one of them must leave behind. */
export interface Start {
  schemaBefore: SchemaSnapshot
  /** The fingerprint and the catalog's mark at the start: an unchanged catalog needs no new fingerprint. */
  state: SchemaState
  /** The digests and the rows' mark at the start (stage.ts dataState): unchanged rows need no new digest. */
  data?: DataState
  dataBefore: Map<string, TableDigest>
  exclude: string[]
}

/** Hooks that make the runner fail right after statement `index` (0-based) of `m`. */
export const failingAfter = (m: Migration, index: number): MigratorHooks => ({
  afterStatement: (mm, script, st) => {
    if (mm.name === m.name && st.index === index) throw new InjectedFault(m.name, index + 1, script.statements.length)
  },
})

/** file:line:column and the statement's first line, for messages. */
export const where = (m: Migration, i: number) => {
  const st = m.up.statements[i]!
  return `${m.up.file}:${st.line}:${st.column} (statement ${i + 1} of ${m.up.statements.length}: ${st.text.split('\n')[0]!.slice(0, 80)})`
}
