/** not-idempotent: statements that fail or duplicate something when the file runs again. */
import { objectKey, showRef } from '../ast.ts'
import type { StatementContext } from './context.ts'

export const constraintKey = (table: { schema?: string; name: string }, name: string) => `${table.name}|${name}`.toLowerCase()

export function idempotencyRules(c: StatementContext): void {
  const f = c.f
  const cr = f?.create
  if (f && cr) {
    const kind = cr.kind
    const label = `CREATE ${kind}${cr.name ? ` ${showRef(cr.name)}` : ''}`
    if (['TABLE', 'INDEX', 'SCHEMA', 'SEQUENCE', 'EXTENSION', 'MATERIALIZED VIEW'].includes(kind)) {
      if (kind === 'INDEX' && cr.unnamed) c.report('not-idempotent', cr.at, 'CREATE INDEX without a name creates another, duplicate index on every run', 'Name the index and use CREATE INDEX IF NOT EXISTS <name>.')
      else if (!cr.ifNotExists) c.report('not-idempotent', cr.at, `${kind === 'INDEX' && f.index?.name ? `CREATE INDEX ${f.index.name}` : label} without IF NOT EXISTS fails when the migration is run again`, `Write CREATE ${cr.unique ? 'UNIQUE ' : ''}${kind}${kind === 'INDEX' && f.index?.concurrently !== undefined ? ' CONCURRENTLY' : ''} IF NOT EXISTS.`)
    } else if (['VIEW', 'FUNCTION', 'PROCEDURE', 'TRIGGER'].includes(kind)) {
      if (!cr.orReplace) c.report('not-idempotent', cr.at, `${label} without OR REPLACE fails when the migration is run again`, `Write CREATE OR REPLACE ${kind}.`)
    } else if (kind === 'TYPE' || kind === 'DOMAIN') {
      c.report('not-idempotent', cr.at, `${label} has no IF NOT EXISTS and fails when the migration is run again`, `Create it from a DO block that checks pg_type first (IF NOT EXISTS (SELECT 1 FROM pg_type WHERE …) THEN CREATE ${kind} …).`)
    }
  }
  if (!f?.alter) return
  const { table } = f.alter
  for (const act of f.alter.actions) {
    if (act.kind === 'add-column' && !act.ifNotExists) {
      c.report('not-idempotent', act.at, `ADD COLUMN ${act.column} without IF NOT EXISTS fails when the migration is run again`, 'Write ADD COLUMN IF NOT EXISTS.')
    } else if (act.kind === 'drop-constraint') {
      c.file.droppedConstraints.add(constraintKey(table, act.name))
    } else if (act.kind === 'add-constraint') {
      // Dropped (IF EXISTS) earlier in the same file: a re-run drops it again first.
      if (act.name && c.file.droppedConstraints.has(constraintKey(table, act.name))) continue
      c.report('not-idempotent', act.at,
        act.name ? `ADD CONSTRAINT (${act.what}) has no IF NOT EXISTS and fails when the migration is run again` : `ADD ${act.what} without a constraint name: a re-run fails or adds a duplicate constraint`,
        `Add it from a DO block that checks pg_constraint first (IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = '${objectKey(table)}'::regclass AND conname = …) THEN ALTER TABLE … ADD CONSTRAINT …), or drop it IF EXISTS just before.`)
    }
  }
}
