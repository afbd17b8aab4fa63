/**
 * What the lint knows about the set while it reads the up files in order: which tables are (or
 * become) hypertables, which tables, indexes, views and functions earlier statements created, and
 * which extensions exist. Down files are linted against it but never change it.
 */
import { parse, type Node } from '../sql/parser.ts'
import type { Position } from '../sql/lines.ts'
import type { Statement, SyntaxError } from '../sql/split.ts'
import { calls, constValue, refFromString, sameTable, strings, type TableRef } from './ast.ts'
import { analyze, searchPathOf } from './facts.ts'

export interface LintInput {
  file: string
  sql: string
  statements: Statement[]
  noTransaction: boolean
  kind: 'up' | 'down'
  syntaxErrors?: SyntaxError[]
  unterminated?: Position & { offset: number }
}

export interface Hypertable {
  table: TableRef
  /** The time column first, then any further partitioning columns. */
  columns: string[]
  file: string
}

/** The statement's parse tree, or undefined when the parser refuses it. */
export function treeOf(s: Statement): Node | undefined {
  const r = parse(s.text)
  return r.ok ? r.statements[0]?.stmt : undefined
}

/** First column argument of create_hypertable / add_dimension: 'col', by_range('col'), by_hash('col', n). */
function columnArg(n: Node | undefined): string | undefined {
  const v = constValue(n)
  if (typeof v === 'string') return v
  const fc = n?.FuncCall
  if (fc && /^by_(range|hash)$/.test(strings(fc.funcname).pop() ?? '')) {
    const inner = constValue((fc.args as Node[] | undefined)?.[0])
    return typeof inner === 'string' ? inner : undefined
  }
  return undefined
}

/** Every table that is or becomes a hypertable in the up files, with its partitioning columns. */
export function collectHypertables(inputs: LintInput[]): Hypertable[] {
  const out: Hypertable[] = []
  for (const input of inputs) {
    if (input.kind !== 'up') continue
    let searchPath: string | undefined
    for (const s of input.statements) {
      if (!/create_hypertable|add_dimension|search_path/i.test(s.code)) continue
      const tree = treeOf(s)
      if (!tree) continue
      const f = analyze(s, tree, searchPath)
      searchPath = searchPathOf(f, searchPath)
      for (const c of calls(tree)) {
        if (c.name !== 'create_hypertable' && c.name !== 'add_dimension') continue
        const relArg = constValue(c.named.get('relation') ?? c.named.get('hypertable') ?? c.positional[0])
        const rel = typeof relArg === 'string' ? refFromString(relArg, searchPath) : undefined
        if (!rel) continue
        const cols = [
          columnArg(c.named.get('time_column_name') ?? c.named.get('column_name') ?? c.named.get('dimension') ?? c.positional[1]),
          c.name === 'create_hypertable' ? columnArg(c.named.get('partitioning_column') ?? c.positional[2]) : undefined,
        ].filter((x): x is string => x !== undefined)
        const known = out.find((h) => sameTable(h.table, rel))
        if (known) known.columns.push(...cols.filter((x) => !known.columns.includes(x)))
        else if (c.name === 'create_hypertable') out.push({ table: rel, columns: cols, file: input.file })
      }
    }
  }
  return out
}

export interface ViewDef { columns: string[]; complete: boolean; file: string }
export interface FunctionDef { returns?: string; volatility: string; file: string }

export class SetKnowledge {
  /** Tables created by the up files linted so far, and by which file. */
  readonly tables: Array<{ table: TableRef; file: string }> = []
  /** Index name (schema.name) → file that created it. */
  readonly indexes = new Map<string, string>()
  /** View name (schema.name) → its columns. */
  readonly views = new Map<string, ViewDef>()
  /** Function key `schema.name(argtypes)` → return type and volatility. */
  readonly functions = new Map<string, FunctionDef>()
  readonly extensions: Set<string>

  constructor(readonly hypertables: Hypertable[], extensions: Iterable<string>) {
    this.extensions = new Set(['plpgsql', 'timescaledb', ...extensions])
  }

  createdIn(t: TableRef): string | undefined {
    return this.tables.find((x) => sameTable(x.table, t))?.file
  }

  hypertable(t: TableRef): Hypertable | undefined {
    return this.hypertables.find((h) => sameTable(h.table, t))
  }

  functionNamed(name: string): FunctionDef | undefined {
    for (const [k, v] of this.functions) if (k.slice(0, k.indexOf('(')).split('.').pop() === name) return v
    return undefined
  }
}

