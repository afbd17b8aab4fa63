/**
 * What a statement would have created (so a later error about that object follows from its
 * failure), and which objects an error message says are missing. Read from the parse tree.
 */
import { parse, type Node } from '../sql/parser.ts'
import { statementFacts } from '../sql/checks.ts'
import type { Statement } from '../sql/split.ts'

export interface Created {
  kind: 'relation' | 'column' | 'function' | 'schema' | 'type' | 'hypertable' | 'extension'
  /** Lower-case, unqualified (a column: `table.column`). */
  name: string
}

const strs = (list: Node[] | undefined) => (list ?? []).map((n) => n?.String?.sval as string | undefined).filter((s): s is string => !!s)
const last = (parts: string[]) => (parts[parts.length - 1] ?? '').toLowerCase()

export function treeOf(s: Statement): Node | undefined {
  const r = parse(s.text)
  return r.ok ? r.statements[0]?.stmt : undefined
}

/** The objects the statement creates when it succeeds. */
export function createdBy(tree: Node | undefined, code = ''): Created[] {
  if (!tree) {
    // A statement the parser refuses (a syntax error): what it names after CREATE … (the fallback).
    const m = /^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:UNLOGGED\s+|MATERIALIZED\s+|UNIQUE\s+)?(TABLE|VIEW|INDEX|FUNCTION|SEQUENCE)\s+(?:IF\s+NOT\s+EXISTS\s+)?([\w$."]+)/i.exec(code)
    if (!m) return []
    return [{ kind: m[1]!.toUpperCase() === 'FUNCTION' ? 'function' : 'relation', name: last(m[2]!.replace(/"/g, '').split('.')) }]
  }
  const type = Object.keys(tree)[0] ?? ''
  const n = tree[type] as Node
  const out: Created[] = []
  const rel = (rv: Node | undefined) => rv?.relname && out.push({ kind: 'relation', name: String(rv.relname).toLowerCase() })
  switch (type) {
    case 'CreateStmt': rel(n.relation); break
    case 'CreateTableAsStmt': rel(n.into?.rel); break
    case 'ViewStmt': rel(n.view); break
    case 'CreateSeqStmt': rel(n.sequence); break
    case 'IndexStmt': if (n.idxname) out.push({ kind: 'relation', name: String(n.idxname).toLowerCase() }); break
    case 'CreateFunctionStmt': out.push({ kind: 'function', name: last(strs(n.funcname)) }); break
    case 'CreateSchemaStmt': out.push({ kind: 'schema', name: String(n.schemaname).toLowerCase() }); break
    case 'CreateExtensionStmt': out.push({ kind: 'extension', name: String(n.extname).toLowerCase() }); break
    case 'CreateEnumStmt': case 'CreateRangeStmt': out.push({ kind: 'type', name: last(strs(n.typeName)) }); break
    case 'CreateDomainStmt': out.push({ kind: 'type', name: last(strs(n.domainname)) }); break
    case 'CompositeTypeStmt': if (n.typevar?.relname) out.push({ kind: 'type', name: String(n.typevar.relname).toLowerCase() }); break
    case 'AlterTableStmt':
      for (const c of (n.cmds as Node[] | undefined) ?? []) {
        const cmd = c.AlterTableCmd as Node
        if (cmd?.subtype === 'AT_AddColumn' && cmd.def?.ColumnDef?.colname) out.push({ kind: 'column', name: `${String(n.relation?.relname).toLowerCase()}.${String(cmd.def.ColumnDef.colname).toLowerCase()}` })
      }
      break
    case 'RenameStmt': if (n.newname) out.push({ kind: n.renameType === 'OBJECT_COLUMN' ? 'column' : 'relation', name: n.renameType === 'OBJECT_COLUMN' ? `${String(n.relation?.relname).toLowerCase()}.${String(n.newname).toLowerCase()}` : String(n.newname).toLowerCase() }); break
  }
  // create_hypertable('s.t', …): later policies and chunk-level statements need it.
  const text = JSON.stringify(n)
  if (text.includes('"create_hypertable"')) {
    const m = /"create_hypertable"\}\}\],"args":\[\{"A_Const":\{"sval":\{"sval":"([^"]+)"/.exec(text)
    if (m) out.push({ kind: 'hypertable', name: last(m[1]!.split('.')) })
  }
  return out
}

const unq = (s: string) => last(s.replace(/"/g, '').split('.'))

/** The objects an error message says are missing (or not what they should be). */
export function missingIn(message: string): Created[] {
  const out: Created[] = []
  let m: RegExpExecArray | null
  if ((m = /relation "([^"]+)" does not exist/.exec(message))) out.push({ kind: 'relation', name: unq(m[1]!) })
  if ((m = /(?:index|view|sequence|table) "([^"]+)" does not exist/.exec(message))) out.push({ kind: 'relation', name: unq(m[1]!) })
  if ((m = /column "([^"]+)" of relation "([^"]+)" does not exist/.exec(message))) out.push({ kind: 'column', name: `${unq(m[2]!)}.${m[1]!.toLowerCase()}` }, { kind: 'relation', name: unq(m[2]!) })
  else if ((m = /column (?:[a-z_]+\.)?"?([^"\s]+)"? does not exist/.exec(message))) out.push({ kind: 'column', name: `*.${unq(m[1]!)}` })
  if ((m = /function ([^\s(]+)\(/.exec(message)) && /does not exist/.test(message)) out.push({ kind: 'function', name: unq(m[1]!) })
  if ((m = /schema "([^"]+)" does not exist/.exec(message))) out.push({ kind: 'schema', name: m[1]!.toLowerCase() })
  if ((m = /type "([^"]+)" does not exist/.exec(message))) out.push({ kind: 'type', name: unq(m[1]!) })
  if ((m = /(?:table|relation|hypertable) "([^"]+)" is not a hypertable/.exec(message))) out.push({ kind: 'hypertable', name: unq(m[1]!) })
  return out
}

export function matches(missing: Created, created: Created): boolean {
  if (missing.kind === 'column' && created.kind === 'column') return missing.name.startsWith('*.') ? created.name.endsWith(missing.name.slice(1)) : missing.name === created.name
  if (missing.kind === 'relation' && created.kind === 'hypertable') return false
  return missing.kind === created.kind && missing.name === created.name
}

/** Statements the diagnostic replay does not send: transaction control belongs to the runner. */
export const isTransactionControl = (s: Statement, tree: Node | undefined) => statementFacts(s, tree).transactionControl
