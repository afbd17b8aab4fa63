/**
 * Lints one file: the parse problems first (an unterminated literal, the statements PostgreSQL's
 * parser refuses), then every statement through the rule families, carrying what the file does
 * to the set's knowledge (tables, indexes, views, functions, extensions) for the files after it.
 */
import { lineColumnAt } from '../sql/lines.ts'
import type { Statement } from '../sql/split.ts'
import { objectKey, sameTable, type TableRef } from './ast.ts'
import { analyze, searchPathOf, type Facts } from './facts.ts'
import { treeOf, type LintInput, type SetKnowledge } from './knowledge.ts'
import { RULE_BY_ID, type LintFinding, type RuleId } from './rules.ts'
import type { FileState, StatementContext } from './rules/context.ts'
import { definitionRules } from './rules/definitions.ts'
import { hypertableRules } from './rules/hypertable.ts'
import { idempotencyRules } from './rules/idempotency.ts'
import { lockingRules, lockTimeoutAtEnd } from './rules/locking.ts'
import { isPlpgsqlOnly, transactionRules } from './rules/transaction.ts'
import { lex } from './tokens.ts'

const firstLine = (s: string) => {
  const l = s.split('\n')[0]!.trimEnd()
  return l.length > 200 ? `${l.slice(0, 199)}…` : l
}

export function lintFile(input: LintInput, k: SetKnowledge, emit: (f: LintFinding) => void): void {
  const up = input.kind === 'up'
  const report = (ruleId: RuleId, stmt: Statement, at: number | undefined, message: string, fix?: string) => {
    const rule = RULE_BY_ID.get(ruleId)!
    if (rule.scope === 'up' && !up) return
    const { line, column } = lineColumnAt(input.sql, stmt.start + (at ?? 0))
    emit({ rule: rule.id, severity: rule.severity, file: input.file, line, column, message, fix: fix ?? rule.fix, statement: firstLine(stmt.text) })
  }

  const open = input.unterminated
  if (open) {
    emit({
      rule: 'parse', severity: 'error', file: input.file, line: open.line, column: open.column,
      message: 'unterminated string, quoted identifier, dollar-quoted body, block comment or BEGIN ATOMIC body: everything from here to the end of the file is one statement',
      fix: "Close it ('…', \"…\", $tag$…$tag$, /* … */).", statement: firstLine(input.sql.slice(open.offset)),
    })
  }
  for (const e of input.syntaxErrors ?? []) {
    const stmt = input.statements[e.statement]!
    if (open && stmt.start <= open.offset && open.offset <= stmt.start + stmt.text.length) continue
    if (isPlpgsqlOnly({ toks: lex(stmt.code.slice(0, 16)) })) continue
    report('syntax-error', stmt, e.offset - stmt.start, `${e.message} (PostgreSQL's parser: the server refuses the statement with SQLSTATE 42601)`)
  }

  const file: FileState = { createdHere: [], indexesHere: new Set(), droppedConstraints: new Set(), lockTimeout: false, lockTimeoutLocalOnly: false, unguarded: [] }
  const isHere = (t: TableRef) => file.createdHere.some((c) => sameTable(c, t))
  const origin = (t: TableRef) => {
    const f = k.createdIn(t)
    return f ? `created in ${f}` : 'not created by an earlier migration'
  }
  for (const stmt of input.statements) {
    const tree = treeOf(stmt)
    const f: Facts | undefined = tree ? analyze(stmt, tree, file.searchPath) : undefined
    const c: StatementContext = {
      input, up, stmt, tree, f, toks: f?.toks ?? lex(stmt.code), k, file,
      report: (rule, at, message, fix) => report(rule, stmt, at, message, fix),
      isHere, origin,
      needsLock: (at, what) => {
        if (!file.lockTimeout) file.unguarded.push({ stmt, at, what })
      },
    }
    file.searchPath = searchPathOf(f, file.searchPath)
    transactionRules(c)
    hypertableRules(c)
    idempotencyRules(c)
    definitionRules(c)
    if (f?.createdTable) file.createdHere.push(f.createdTable)
    lockingRules(c)
    if (f) learn(f, input, k, up, file)
  }
  lockTimeoutAtEnd({ file, input }, (stmt, at, message, fix) => report('missing-lock-timeout', stmt, at, message, fix))
}

/** What the statement adds to the set's knowledge (up files only; a down file changes nothing). */
function learn(f: Facts, input: LintInput, k: SetKnowledge, up: boolean, file: FileState): void {
  if (f.index?.name) file.indexesHere.add(f.index.name)
  if (f.extension) k.extensions.add(f.extension)
  if (!up) return
  if (f.createdTable && !k.createdIn(f.createdTable)) k.tables.push({ table: f.createdTable, file: input.file })
  if (f.renamed) for (const t of k.tables) if (sameTable(t.table, f.renamed.from)) t.table = f.renamed.to
  if (f.index?.name) k.indexes.set(`${f.index.table.schema ?? '?'}.${f.index.name}`.toLowerCase(), input.file)
  if (f.view && !f.view.materialized) {
    const key = objectKey(f.view.name)
    const before = k.views.get(key)
    const changed = before?.complete && f.view.complete && before.columns.some((c, i) => f.view!.columns[i]?.name !== c)
    if (!changed) k.views.set(key, { columns: f.view.columns.map((c) => c.name), complete: f.view.complete, file: input.file })
  }
  if (f.func) {
    const before = k.functions.get(f.func.key)
    if (before?.returns === undefined || before.returns === f.func.returns) k.functions.set(f.func.key, { returns: f.func.returns, volatility: f.func.volatility, file: input.file })
  }
  if (f.drop) {
    if (f.drop.kind === 'TABLE') {
      for (const d of f.drop.names) for (let i = k.tables.length - 1; i >= 0; i--) if (sameTable(k.tables[i]!.table, d)) k.tables.splice(i, 1)
    } else if (f.drop.kind === 'VIEW') {
      for (const d of f.drop.names) k.views.delete(objectKey(d))
    } else if (f.drop.kind === 'INDEX') {
      for (const d of f.drop.names) for (const key of [...k.indexes.keys()]) if (key.endsWith(`.${d.name}`.toLowerCase()) && (d.schema === undefined || key.startsWith(`${d.schema}.`.toLowerCase()))) k.indexes.delete(key)
    } else if (f.drop.kind === 'FUNCTION' || f.drop.kind === 'PROCEDURE') {
      for (const sig of f.drop.functions) {
        const bare = sig.endsWith('(*)') ? sig.slice(0, -3) : undefined
        for (const key of [...k.functions.keys()]) if (key === sig || (bare && key.startsWith(`${bare}(`))) k.functions.delete(key)
      }
    }
  }
}
