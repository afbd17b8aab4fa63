/**
 * What makes a migration file unacceptable to the runner, decided per statement from the parse
 * tree: transaction control, and statements PostgreSQL or TimescaleDB refuse inside a transaction
 * block in a file that did not declare `--! no-transaction`. A statement the parser refuses is
 * checked by the old patterns over its blanked text (the fallback). Also the `--! …` directives.
 */
import type { Diagnostic } from './migration.ts'
import { lineIndex } from './lines.ts'
import { nodeOf, type Node } from './parser.ts'
import type { Statement } from './split.ts'

export const KNOWN_DIRECTIVES = new Set(['no-transaction'])

/** Patterns for statements without a parse tree, in the order the tree checks report. */
const NON_TRANSACTIONAL_FALLBACK: Array<{ re: RegExp; what: string }> = [
  { re: /\b(CREATE\s+(UNIQUE\s+)?INDEX|DROP\s+INDEX|REINDEX\b[\s\S]*?)\s+CONCURRENTLY\b/i, what: 'CONCURRENTLY' },
  { re: /\btimescaledb\.transaction_per_chunk\b/i, what: 'timescaledb.transaction_per_chunk' },
  { re: /\brefresh_continuous_aggregate\s*\(/i, what: 'refresh_continuous_aggregate()' },
  { re: /\breorder_chunk\s*\(/i, what: 'reorder_chunk()' },
  { re: /^\s*VACUUM\b/i, what: 'VACUUM' },
  { re: /^\s*(CREATE|DROP)\s+DATABASE\b/i, what: 'CREATE/DROP DATABASE' },
  { re: /^\s*ALTER\s+SYSTEM\b/i, what: 'ALTER SYSTEM' },
  { re: /\btimescaledb\.continuous\b(?![\s\S]*\bWITH\s+NO\s+DATA\b)/i, what: 'a continuous aggregate created WITH DATA' },
]
const TRANSACTION_CONTROL_FALLBACK = /^\s*(BEGIN|COMMIT|ROLLBACK|START\s+TRANSACTION|END|ABORT|SAVEPOINT|RELEASE|PREPARE\s+TRANSACTION)\b/i

export interface StatementFacts {
  transactionControl: boolean
  /** What cannot run inside a transaction block, if anything. */
  nonTransactional?: string
}

const defNames = (list: Node[] | undefined) => (list ?? []).map((d) => nodeOf(d)?.[1] as Node).filter(Boolean).map((d) => `${d.defnamespace ? `${d.defnamespace}.` : ''}${d.defname}`)

/** Every FuncCall name (last part, lower case) in a tree. */
export function functionNames(tree: Node, out = new Set<string>()): Set<string> {
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) for (const x of v) walk(x)
    else if (v && typeof v === 'object') {
      const o = v as Node
      const fc = (o.FuncCall ?? o.CallStmt?.funccall) as Node | undefined
      if (fc) {
        const parts = (fc.funcname as Node[] | undefined) ?? []
        const last = parts[parts.length - 1]?.String?.sval
        if (typeof last === 'string') out.add(last.toLowerCase())
      }
      for (const k in o) walk(o[k])
    }
  }
  walk(tree)
  return out
}

/** The facts of one statement: from its tree, or (no tree: a syntax error) from its blanked text. */
export function statementFacts(s: Statement, tree: Node | undefined): StatementFacts {
  if (!tree) {
    return { transactionControl: TRANSACTION_CONTROL_FALLBACK.test(s.code), nonTransactional: NON_TRANSACTIONAL_FALLBACK.find((n) => n.re.test(s.code))?.what }
  }
  const [type, f] = nodeOf(tree) ?? ['', {}]
  const found: string[] = []
  if ((type === 'IndexStmt' || type === 'DropStmt') && f.concurrent) found.push('CONCURRENTLY')
  if (type === 'ReindexStmt' && defNames(f.params).includes('concurrently')) found.push('CONCURRENTLY')
  if (type === 'IndexStmt' && defNames(f.options).includes('timescaledb.transaction_per_chunk')) found.push('timescaledb.transaction_per_chunk')
  if (/refresh_continuous_aggregate|reorder_chunk/i.test(s.code)) {
    const names = functionNames(tree)
    if (names.has('refresh_continuous_aggregate')) found.push('refresh_continuous_aggregate()')
    if (names.has('reorder_chunk')) found.push('reorder_chunk()')
  }
  if (type === 'VacuumStmt' && f.is_vacuumcmd) found.push('VACUUM')
  if (type === 'CreatedbStmt' || type === 'DropdbStmt') found.push('CREATE/DROP DATABASE')
  if (type === 'AlterSystemStmt') found.push('ALTER SYSTEM')
  if (type === 'CreateTableAsStmt' && defNames(f.into?.options).some((n) => n === 'timescaledb.continuous' || n === 'tsdb.continuous') && !f.into?.skipData) found.push('a continuous aggregate created WITH DATA')
  return { transactionControl: type === 'TransactionStmt', nonTransactional: found[0] }
}

const firstLine = (s: string) => s.split('\n')[0]!.slice(0, 120)

/** Diagnostics for one statement of `file`, given its facts and whether the file declared `--! no-transaction`. */
export function statementDiagnostics(file: string, s: Statement, facts: StatementFacts, noTransaction: boolean): Diagnostic[] {
  const at = `${file}:${s.line}:${s.column}`
  const out: Diagnostic[] = []
  if (facts.transactionControl) {
    out.push({
      code: 'MIGRATION_TRANSACTION_CONTROL', severity: 'error', file, line: s.line, column: s.column,
      message: `${at}: transaction control in a migration file: ${firstLine(s.text)}`,
      hint: 'Remove it: the runner opens and commits one transaction per migration. For statements that cannot run in a transaction, put `--! no-transaction` at the top of the file.',
      details: { file, line: s.line, column: s.column },
    })
  }
  if (!noTransaction && facts.nonTransactional) {
    out.push({
      code: 'MIGRATION_NEEDS_NO_TRANSACTION', severity: 'error', file, line: s.line, column: s.column,
      message: `${at}: ${facts.nonTransactional} cannot run inside a transaction block, and the file does not declare \`--! no-transaction\``,
      hint: 'Move the statement into a migration of its own that starts with the line `--! no-transaction` (see README: non-transactional migrations), or drop CONCURRENTLY.',
      details: { file, line: s.line, column: s.column, statement: s.text, what: facts.nonTransactional },
    })
  }
  return out
}

/** `--! name` lines before the first statement; anything else that looks like one is a diagnostic. */
export function readDirectives(file: string, sql: string, firstStart: number): { noTransaction: boolean; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = []
  let noTransaction = false
  const lines = lineIndex(sql)
  const re = /^--!\s*(\S*)(.*)$/gm
  for (let m = re.exec(sql); m; m = re.exec(sql)) {
    const { line } = lines.at(m.index)
    const name = m[1]!
    if (m.index > firstStart) {
      diagnostics.push({
        code: 'MIGRATION_DIRECTIVE', severity: 'error', file, line, column: 1,
        message: `${file}:${line}: directive \`--! ${name}\` after the first statement`,
        hint: 'Directives go at the top of the file, before any SQL.',
        details: { file, line, text: m[0] },
      })
    } else if (!KNOWN_DIRECTIVES.has(name) || m[2]!.trim() !== '') {
      diagnostics.push({
        code: 'MIGRATION_DIRECTIVE', severity: 'error', file, line, column: 1,
        message: `${file}:${line}: unknown directive \`--! ${(name + m[2]).trim()}\``,
        hint: `Known directives: ${[...KNOWN_DIRECTIVES].map((d) => `--! ${d}`).join(', ')}. A plain comment starts with \`-- \`.`,
        details: { file, line, text: m[0] },
      })
    } else noTransaction = true
  }
  return { noTransaction, diagnostics }
}
