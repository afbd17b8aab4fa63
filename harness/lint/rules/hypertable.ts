/** Rules about TimescaleDB hypertables and policies. */
import { isTrue, showRef } from '../ast.ts'
import type { StatementContext } from './context.ts'

const POLICY = /^add_(compression|retention|reorder|continuous_aggregate|columnstore)_policy$/

export function hypertableRules(c: StatementContext): void {
  const f = c.f
  if (!f) return
  for (const call of f.calls) {
    // add_{compression,retention,reorder}_policy take if_not_exists as their third argument.
    const positional = /^add_(compression|retention|reorder)_policy$/.test(call.name) ? call.positional[2] : undefined
    const yes = isTrue(call.named.get('if_not_exists') ?? positional)
    const at = f.loc.at(call.location)
    if (call.name === 'create_hypertable' && !yes) c.report('hypertable-no-if-not-exists', at, 'create_hypertable() without if_not_exists => TRUE fails when the migration is run again')
    if (POLICY.test(call.name) && !yes) c.report('not-idempotent', at, `${call.name}() without if_not_exists => TRUE fails when the migration is run again (the policy already exists)`, `Add if_not_exists => TRUE to ${call.name}().`)
  }
  for (const u of f.uniques) {
    const h = c.k.hypertable(u.table)
    if (!h) continue
    const missing = h.columns.filter((col) => !u.columns.includes(col))
    if (missing.length) {
      c.report('hypertable-unique-without-time', u.at,
        `${u.what} (${u.columns.join(', ')}) on hypertable ${showRef(u.table)} does not include its partitioning column${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (create_hypertable in ${h.file}): TimescaleDB refuses it`,
        `Include ${missing.join(', ')} in the key, e.g. (${[...u.columns, ...missing].join(', ')}), or drop the uniqueness.`)
    }
  }
}
