/** Rules about locks held on existing tables, and data that a statement deletes. */
import { showRef } from '../ast.ts'
import { HYPERTABLE_INDEX_FIX } from '../rules.ts'
import type { StatementContext } from './context.ts'

export function lockingRules(c: StatementContext): void {
  const f = c.f
  if (!f) return
  const { file } = c
  // lock_timeout bookkeeping (SET LOCAL does nothing outside a transaction block)
  if (f.set?.name === 'lock_timeout') {
    const off = f.set.reset || f.set.value === '0' || f.set.value === undefined || f.set.value === ''
    file.lockTimeout = !off && !(f.set.local && c.input.noTransaction)
    if (!off && f.set.local && c.input.noTransaction) file.lockTimeoutLocalOnly = true
  }
  for (const call of f.calls) {
    if (call.name !== 'set_config') continue
    const name = call.positional[0]?.A_Const?.sval?.sval
    const value = call.positional[1]?.A_Const?.sval?.sval
    if (name === 'lock_timeout' && typeof value === 'string') file.lockTimeout = value !== '0' && value !== ''
  }

  if (f.index) {
    const ix = f.index
    if (!c.isHere(ix.table)) {
      const h = c.k.hypertable(ix.table)
      // CREATE INDEX IF NOT EXISTS of an index an earlier migration created builds nothing.
      const built = ix.name && f.create?.ifNotExists ? c.k.indexes.get(`${ix.table.schema ?? '?'}.${ix.name}`.toLowerCase()) : undefined
      if (ix.concurrently === undefined && !(h && ix.transactionPerChunk) && !built) {
        c.report('index-not-concurrent', ix.at,
          h
            ? `CREATE ${ix.unique ? 'UNIQUE ' : ''}INDEX${ix.name ? ` ${ix.name}` : ''} on hypertable ${showRef(ix.table)} (${c.origin(ix.table)}) blocks inserts into it until the index is built on every chunk`
            : `CREATE ${ix.unique ? 'UNIQUE ' : ''}INDEX${ix.name ? ` ${ix.name}` : ''} without CONCURRENTLY on existing table ${showRef(ix.table)} (${c.origin(ix.table)}) blocks writes to it for the whole build`,
          h ? HYPERTABLE_INDEX_FIX : 'Use CREATE INDEX CONCURRENTLY IF NOT EXISTS in a migration of its own starting with --! no-transaction (a failed build leaves an INVALID index: drop it before retrying).')
      }
      c.needsLock(0, `CREATE INDEX on ${showRef(ix.table)}`)
    }
  }
  if (f.trigger && !c.isHere(f.trigger.table)) c.needsLock(0, `CREATE TRIGGER on ${showRef(f.trigger.table)}`)

  if (f.alter) {
    const { table } = f.alter
    const existing = !c.isHere(table)
    if (existing) c.needsLock(0, `ALTER TABLE ${showRef(table)}`)
    for (const act of f.alter.actions) {
      if (!existing) continue
      if (act.kind === 'add-column' && act.notNull && !act.hasDefault) {
        c.report('add-column-not-null-no-default', act.at, `ADD COLUMN ${act.column} … NOT NULL without DEFAULT on existing table ${showRef(table)} (${c.origin(table)}) fails as soon as the table has a row`)
      } else if (act.kind === 'add-constraint' && (act.contype === 'CONSTR_FOREIGN' || act.contype === 'CONSTR_CHECK') && !act.notValid) {
        const name = act.name ?? '<name>'
        c.report('constraint-not-valid', act.at,
          `ADD ${act.name ? `CONSTRAINT ${act.name} ` : ''}${act.what} on existing table ${showRef(table)} (${c.origin(table)}) without NOT VALID checks every row while holding a lock that blocks writes to the table`,
          `Two steps: ALTER TABLE ${showRef(table)} ADD CONSTRAINT ${name} … NOT VALID; then, in a later statement or migration, ALTER TABLE ${showRef(table)} VALIDATE CONSTRAINT ${name}; (it scans without blocking writes). Fix or quarantine the rows that break it first.`)
      } else if (act.kind === 'alter-type') {
        c.report('alter-column-type', act.at, `ALTER COLUMN ${act.column} TYPE on existing table ${showRef(table)} (${c.origin(table)}) usually rewrites the table and its indexes under ACCESS EXCLUSIVE`)
      } else if (act.kind === 'drop-column') {
        c.report('drop-column', act.at, `DROP COLUMN ${act.column} on ${showRef(table)} (${c.origin(table)}) deletes that column's data`)
      }
    }
  }

  if (f.drop) {
    const d = f.drop
    if (d.kind === 'TABLE') {
      for (const t of d.names) {
        if (c.isHere(t)) continue
        c.report('drop-table', d.at, `DROP TABLE ${showRef(t)} (${c.origin(t)}) deletes its data${c.k.hypertable(t) ? ' (a hypertable: all its chunks)' : ''}`)
        c.needsLock(d.at, `DROP TABLE ${showRef(t)}`)
      }
    } else if (d.kind === 'INDEX' && d.names.some((n) => !file.indexesHere.has(n.name))) {
      c.needsLock(d.at, `DROP INDEX ${d.names.map(showRef).join(', ')}`)
    } else if (d.onTable && !c.isHere(d.onTable)) {
      c.needsLock(d.at, `DROP ${d.kind} on ${showRef(d.onTable)}`)
    }
  }
}

/** missing-lock-timeout, decided at the end of the file. */
export function lockTimeoutAtEnd(c: Pick<StatementContext, 'file' | 'input'>, report: (stmt: import('../../sql/split.ts').Statement, at: number, message: string, fix?: string) => void): void {
  const { unguarded, lockTimeoutLocalOnly } = c.file
  if (!unguarded.length) return
  const u = unguarded[0]!
  report(u.stmt, u.at,
    `${u.what}${unguarded.length > 1 ? ` (and ${unguarded.length - 1} more DDL statement${unguarded.length > 2 ? 's' : ''} on existing tables)` : ''} without an earlier SET lock_timeout in this file: a long lock wait queues all other queries on the table behind it${lockTimeoutLocalOnly ? ' (SET LOCAL has no effect in a --! no-transaction file: each statement is its own transaction)' : ''}`,
    c.input.noTransaction ? "Put SET lock_timeout = '10s'; at the top of the file (SET LOCAL has no effect in a --! no-transaction file)." : undefined)
}
