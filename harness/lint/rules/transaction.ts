/** Rules about the transaction a statement runs in. */
import { statementFacts } from '../../sql/checks.ts'
import { HYPERTABLE_INDEX_FIX } from '../rules.ts'
import { showRef } from '../ast.ts'
import { isWord } from '../tokens.ts'
import type { StatementContext } from './context.ts'

const PLPGSQL_ONLY = ['RAISE', 'PERFORM']

export function isPlpgsqlOnly(c: Pick<StatementContext, 'toks'>): boolean {
  return isWord(c.toks[0], ...PLPGSQL_ONLY)
}

export function transactionRules(c: StatementContext): void {
  const { f, toks, input } = c
  const first = toks[0]
  if (!first) return
  // transaction-control
  const control = f ? f.type === 'TransactionStmt' : statementFacts(c.stmt, undefined).transactionControl
  if (control) c.report('transaction-control', first.start, `transaction control at top level (${first.up}): the runner opens and commits the migration's transaction`)
  // plpgsql-outside-block (a syntax error to the parser: decided on the first word)
  if (!f && isPlpgsqlOnly(c)) {
    c.report('plpgsql-outside-block', first.start, `${first.up} is PL/pgSQL and is not valid as a plain SQL statement`, first.up === 'PERFORM' ? 'Use SELECT, or put it inside a DO $$ BEGIN … END $$ block.' : undefined)
  }
  if (!f) {
    const what = statementFacts(c.stmt, undefined).nonTransactional
    if (what && !input.noTransaction) {
      c.report(what === 'CONCURRENTLY' ? 'concurrently-in-transaction' : 'needs-no-transaction', first.start, `${what} cannot run inside a transaction block, and the file does not declare --! no-transaction`)
    }
    return
  }
  // concurrently-in-transaction
  if (f.concurrently !== undefined && !input.noTransaction) {
    c.report('concurrently-in-transaction', f.concurrently, 'CONCURRENTLY cannot run inside a transaction block, and the file does not declare --! no-transaction')
  }
  // concurrently-on-hypertable
  if (f.index?.concurrently !== undefined) {
    const h = c.k.hypertable(f.index.table)
    if (h) {
      c.report('concurrently-on-hypertable', f.index.concurrently,
        `CREATE INDEX CONCURRENTLY${f.index.name ? ` ${f.index.name}` : ''} on hypertable ${showRef(f.index.table)} (create_hypertable in ${h.file}): TimescaleDB refuses it ("hypertables do not support concurrent index creation"), in a transaction or not`,
        `${HYPERTABLE_INDEX_FIX}.`)
    }
  }
  // needs-no-transaction
  if (!input.noTransaction) {
    const what: Array<[number | undefined, string]> = []
    if (f.index?.transactionPerChunk) what.push([toks.find((x) => x.value === 'transaction_per_chunk')?.start, 'CREATE INDEX … WITH (timescaledb.transaction_per_chunk)'])
    for (const call of f.calls) if (call.name === 'refresh_continuous_aggregate' || call.name === 'reorder_chunk') what.push([f.loc.at(call.location), `${call.name}()`])
    if (f.type === 'VacuumStmt' && f.node.is_vacuumcmd) what.push([first.start, 'VACUUM'])
    if (f.type === 'CreatedbStmt' || f.type === 'DropdbStmt') what.push([first.start, `${first.up} DATABASE`])
    if (f.type === 'AlterSystemStmt') what.push([first.start, 'ALTER SYSTEM'])
    if (f.view?.materialized && f.type === 'CreateTableAsStmt') {
      const options = ((f.node.into?.options as Array<Record<string, { defname?: string }>> | undefined) ?? []).map((o) => o.DefElem?.defname)
      if (options.includes('continuous') && !f.node.into?.skipData) what.push([f.create?.at, 'a continuous aggregate created WITH DATA'])
    }
    for (const [at, w] of what) c.report('needs-no-transaction', at, `${w} cannot run inside a transaction block, and the file does not declare --! no-transaction`)
  }
}
