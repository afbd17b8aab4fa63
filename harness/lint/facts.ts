/**
 * What one statement does, read from its PostgreSQL parse tree: the facts the rules look at.
 * Offsets (`at`) are UTF-16 offsets in the statement text; keywords the tree has no location for
 * (CONCURRENTLY, DROP, TYPE…) are placed with the statement's tokens.
 */
import type { Statement } from '../sql/split.ts'
import { calls, constValue, Locations, refFromParts, refOf, strings, typeName, type Call, type Node, type TableRef } from './ast.ts'
import { findTop, findWord, isIdent, isOp, isWord, lex, splitTop, type Tok } from './tokens.ts'

export interface UniqueDef { table: TableRef; columns: string[]; at: number; what: string }

export type AlterAction =
  | { kind: 'add-column'; at: number; column: string; ifNotExists: boolean; notNull: boolean; hasDefault: boolean }
  | { kind: 'add-constraint'; at: number; name?: string; contype: string; what: string; notValid: boolean }
  | { kind: 'drop-constraint'; at: number; name: string; ifExists: boolean }
  | { kind: 'alter-type'; at: number; column: string }
  | { kind: 'drop-column'; at: number; column: string }
  | { kind: 'other'; at: number }

export interface ViewColumn { name: string; at: number }

export interface Facts {
  type: string
  node: Node
  toks: Tok[]
  loc: Locations
  create?: { kind: string; at: number; orReplace: boolean; ifNotExists: boolean; unique: boolean; unnamed: boolean; name?: TableRef }
  createdTable?: TableRef
  index?: { at: number; unique: boolean; concurrently?: number; name?: string; table: TableRef; transactionPerChunk: boolean; params: Node[]; where?: Node }
  trigger?: { table: TableRef }
  alter?: { table: TableRef; actions: AlterAction[] }
  renamed?: { from: TableRef; to: TableRef }
  drop?: { kind: string; at: number; names: TableRef[]; concurrently?: number; onTable?: TableRef; functions: string[] }
  uniques: UniqueDef[]
  calls: Call[]
  set?: { name: string; local: boolean; reset: boolean; value?: string; values: string[] }
  concurrently?: number
  view?: { name: TableRef; columns: ViewColumn[]; complete: boolean; orReplace: boolean; materialized: boolean; at: number }
  func?: { key: string; display: string; returns?: string; returnsAt: number; orReplace: boolean; volatility: string }
  extension?: string
}

const CREATE_MODIFIERS = new Set(['OR', 'REPLACE', 'GLOBAL', 'LOCAL', 'TEMP', 'TEMPORARY', 'UNLOGGED', 'UNIQUE', 'MATERIALIZED', 'CONSTRAINT', 'RECURSIVE', 'TRUSTED', 'PROCEDURAL', 'DEFAULT'])
const CREATE_KIND: Record<string, string> = {
  CreateStmt: 'TABLE', IndexStmt: 'INDEX', CreateSchemaStmt: 'SCHEMA', CreateSeqStmt: 'SEQUENCE', CreateExtensionStmt: 'EXTENSION', ViewStmt: 'VIEW',
  CreateTrigStmt: 'TRIGGER', CreateEnumStmt: 'TYPE', CompositeTypeStmt: 'TYPE', CreateRangeStmt: 'TYPE', CreateDomainStmt: 'DOMAIN',
}

const qualify = (parts: string[], searchPath: string | undefined) => (parts.length >= 2 ? parts.slice(-2).join('.') : `${searchPath ?? '?'}.${parts[0]}`).toLowerCase()

/** The name PostgreSQL gives an output column without AS (FigureColname, the common cases). */
function columnName(val: Node | undefined): string | undefined {
  const [type, f] = val ? [Object.keys(val)[0]!, Object.values(val)[0] as Node] : ['', {}]
  if (type === 'ColumnRef') {
    const last = (f.fields as Node[])[f.fields.length - 1]
    return last?.A_Star ? undefined : last?.String?.sval
  }
  if (type === 'FuncCall') return strings(f.funcname).pop()
  if (type === 'TypeCast') return columnName(f.arg) ?? strings(f.typeName?.names).pop()
  if (type === 'CaseExpr') return 'case'
  if (type === 'CoalesceExpr') return 'coalesce'
  if (type === 'MinMaxExpr') return f.op === 'IS_GREATEST' ? 'greatest' : 'least'
  if (type === 'SQLValueFunction') return String(f.op ?? '').replace(/^SVFOP_/, '').toLowerCase().replace(/_n$/, '')
  return '?column?'
}

function selectColumns(query: Node | undefined, aliases: string[], loc: Locations): { columns: ViewColumn[]; complete: boolean } {
  let sel = query?.SelectStmt as Node | undefined
  while (sel && sel.op && sel.op !== 'SETOP_NONE') sel = sel.larg
  const targets = ((sel?.targetList as Node[] | undefined) ?? []).map((t) => t.ResTarget as Node)
  let complete = !!sel && !sel.valuesLists
  const columns: ViewColumn[] = []
  targets.forEach((t, i) => {
    const star = t.val?.ColumnRef && (t.val.ColumnRef.fields as Node[]).some((x) => x.A_Star)
    if (star) { complete = false; return }
    const name = aliases[i] ?? t.name ?? columnName(t.val)
    if (name !== undefined) columns.push({ name, at: loc.at(t.location) ?? 0 })
  })
  return { columns, complete }
}

/** Table name tokens after ALTER TABLE [IF EXISTS] [ONLY]: the index of the first action token. */
function afterAlterName(toks: Tok[]): number {
  let i = 2
  if (isWord(toks[i], 'IF') && isWord(toks[i + 1], 'EXISTS')) i += 2
  if (isWord(toks[i], 'ONLY')) i++
  if (isIdent(toks[i])) i++
  while (isOp(toks[i], '.') && isIdent(toks[i + 1])) i += 2
  if (isOp(toks[i], '*')) i++
  return i
}

function alterAction(cmd: Node, toks: Tok[], range: [number, number] | undefined, table: TableRef, facts: Facts): AlterAction {
  const at = range ? toks[range[0]]!.start : 0
  const def = cmd.def as Node | undefined
  switch (cmd.subtype) {
    case 'AT_AddColumn': {
      const col = def?.ColumnDef as Node
      const cons = ((col?.constraints as Node[] | undefined) ?? []).map((c) => c.Constraint as Node)
      for (const c of cons) {
        if (c.contype === 'CONSTR_PRIMARY' || c.contype === 'CONSTR_UNIQUE') facts.uniques.push({ table, columns: [col.colname], at: facts.loc.at(c.location) ?? at, what: `${c.contype === 'CONSTR_PRIMARY' ? 'PRIMARY KEY' : 'UNIQUE'} on column ${col.colname}` })
      }
      return {
        kind: 'add-column', at, column: col?.colname ?? '', ifNotExists: !!cmd.missing_ok,
        notNull: cons.some((c) => c.contype === 'CONSTR_NOTNULL' || c.contype === 'CONSTR_PRIMARY'),
        hasDefault: cons.some((c) => c.contype === 'CONSTR_DEFAULT' || c.contype === 'CONSTR_IDENTITY' || c.contype === 'CONSTR_GENERATED'),
      }
    }
    case 'AT_AddConstraint': {
      const c = def?.Constraint as Node
      const what = String(c?.contype ?? '').replace(/^CONSTR_/, '').replace('PRIMARY', 'PRIMARY KEY').replace('FOREIGN', 'FOREIGN KEY')
      if ((c?.contype === 'CONSTR_PRIMARY' || c?.contype === 'CONSTR_UNIQUE') && c.keys && !c.indexname) {
        facts.uniques.push({ table, columns: strings(c.keys), at: facts.loc.at(c.location) ?? at, what: `${c.contype === 'CONSTR_PRIMARY' ? 'PRIMARY KEY' : 'UNIQUE constraint'}${c.conname ? ` ${c.conname}` : ''}` })
      }
      return { kind: 'add-constraint', at, name: c?.conname, contype: c?.contype ?? '', what, notValid: !!c?.skip_validation }
    }
    case 'AT_DropConstraint':
      return { kind: 'drop-constraint', at, name: cmd.name ?? '', ifExists: !!cmd.missing_ok }
    case 'AT_AlterColumnType': {
      const typeTok = range ? toks.slice(range[0], range[1]).find((t) => isWord(t, 'TYPE')) : undefined
      return { kind: 'alter-type', at: typeTok?.start ?? at, column: cmd.name ?? '' }
    }
    case 'AT_DropColumn':
      return { kind: 'drop-column', at, column: cmd.name ?? '' }
    default:
      return { kind: 'other', at }
  }
}

/** The facts of one parsed statement; `searchPath` qualifies unqualified names. */
export function analyze(stmt: Statement, tree: Node, searchPath: string | undefined): Facts {
  const type = Object.keys(tree)[0] ?? ''
  const n = (tree[type] ?? {}) as Node
  const toks = lex(stmt.code)
  const loc = new Locations(stmt.text)
  const facts: Facts = { type, node: n, toks, loc, uniques: [], calls: calls(tree) }
  const ref = (rv: Node | undefined) => refOf(rv, searchPath)

  if (isWord(toks[0], 'CREATE')) {
    let i = 1
    while (isWord(toks[i]) && CREATE_MODIFIERS.has(toks[i]!.up)) i++
    const at = toks[i]?.start ?? 0
    let kind = CREATE_KIND[type]
    if (type === 'CreateTableAsStmt') kind = n.objtype === 'OBJECT_MATVIEW' ? 'MATERIALIZED VIEW' : 'TABLE'
    if (type === 'CreateFunctionStmt') kind = n.is_procedure ? 'PROCEDURE' : 'FUNCTION'
    if (type === 'DefineStmt' && n.kind === 'OBJECT_TYPE') kind = 'TYPE'
    if (kind) {
      const name = type === 'CreateTableAsStmt' ? ref(n.into?.rel) : ref(n.relation ?? n.view ?? n.sequence)
      facts.create = { kind, at, orReplace: !!n.replace, ifNotExists: !!n.if_not_exists, unique: !!n.unique, unnamed: type === 'IndexStmt' && !n.idxname, name }
    }
  }

  if (type === 'CreateStmt' || (type === 'CreateTableAsStmt' && n.objtype === 'OBJECT_TABLE')) {
    const table = ref(n.relation ?? n.into?.rel)
    if (table) {
      facts.createdTable = table
      for (const el of (n.tableElts as Node[] | undefined) ?? []) {
        if (el.ColumnDef) {
          for (const c of ((el.ColumnDef.constraints as Node[] | undefined) ?? []).map((x) => x.Constraint as Node)) {
            if (c.contype === 'CONSTR_PRIMARY' || c.contype === 'CONSTR_UNIQUE') facts.uniques.push({ table, columns: [el.ColumnDef.colname], at: loc.at(c.location) ?? 0, what: `${c.contype === 'CONSTR_PRIMARY' ? 'PRIMARY KEY' : 'UNIQUE'} on column ${el.ColumnDef.colname}` })
          }
        } else if (el.Constraint && (el.Constraint.contype === 'CONSTR_PRIMARY' || el.Constraint.contype === 'CONSTR_UNIQUE') && el.Constraint.keys) {
          facts.uniques.push({ table, columns: strings(el.Constraint.keys), at: loc.at(el.Constraint.location) ?? 0, what: el.Constraint.contype === 'CONSTR_PRIMARY' ? 'PRIMARY KEY' : 'UNIQUE constraint' })
        }
      }
    }
  } else if (type === 'IndexStmt') {
    const table = ref(n.relation)!
    const concurrently = n.concurrent ? findWord(toks, 'CONCURRENTLY')?.start : undefined
    const options = ((n.options as Node[] | undefined) ?? []).map((o) => o.DefElem as Node)
    const params = ((n.indexParams as Node[] | undefined) ?? []).map((p) => p.IndexElem as Node)
    facts.index = { at: facts.create?.at ?? 0, unique: !!n.unique, concurrently, name: n.idxname, table, transactionPerChunk: options.some((o) => o.defname === 'transaction_per_chunk'), params, where: n.whereClause }
    facts.concurrently = concurrently
    if (n.unique) facts.uniques.push({ table, columns: params.filter((p) => p.name).map((p) => p.name as string), at: toks[1]?.start ?? 0, what: `unique index${n.idxname ? ` ${n.idxname}` : ''}` })
  } else if (type === 'CreateTrigStmt') {
    const table = ref(n.relation)
    if (table) facts.trigger = { table }
  } else if ((type === 'AlterTableStmt' && n.objtype === 'OBJECT_TABLE') || (type === 'RenameStmt' && isWord(toks[0], 'ALTER') && isWord(toks[1], 'TABLE'))) {
    const table = ref(n.relation)!
    const cmds = ((n.cmds as Node[] | undefined) ?? []).map((c) => c.AlterTableCmd as Node)
    const ranges = splitTop(toks, afterAlterName(toks), toks.length)
    facts.alter = { table, actions: cmds.map((c, k) => alterAction(c, toks, ranges.length === cmds.length ? ranges[k] : undefined, table, facts)) }
    if (type === 'RenameStmt' && n.renameType === 'OBJECT_TABLE') facts.renamed = { from: table, to: { schema: table.schema, name: n.newname } }
  } else if (type === 'DropStmt') {
    const kind = String(n.removeType ?? '').replace(/^OBJECT_/, '')
    const objects = (n.objects as Node[] | undefined) ?? []
    const lists = objects.map((o) => strings(o.List?.items ?? (o.String ? [o] : [])))
    const names = ['TRIGGER', 'RULE', 'POLICY'].includes(kind) ? [] : lists.map((p) => refFromParts(p, searchPath)).filter((r): r is TableRef => !!r)
    const onTable = ['TRIGGER', 'RULE', 'POLICY'].includes(kind) && lists[0] ? refFromParts(lists[0].slice(0, -1), searchPath) : undefined
    const functions = kind === 'FUNCTION' || kind === 'PROCEDURE'
      ? objects.map((o) => o.ObjectWithArgs as Node).filter(Boolean).map((o) => `${qualify(strings(o.objname), searchPath)}(${o.args_unspecified ? '*' : ((o.objargs as Node[] | undefined) ?? []).map((a) => typeName(a.TypeName)).join(',')})`)
      : []
    const concurrently = n.concurrent ? findWord(toks, 'CONCURRENTLY')?.start : undefined
    facts.drop = { kind, at: toks[0]?.start ?? 0, names, concurrently, onTable, functions }
    facts.concurrently = concurrently
  } else if (type === 'ReindexStmt') {
    facts.concurrently = ((n.params as Node[] | undefined) ?? []).some((p) => p.DefElem?.defname === 'concurrently') ? findWord(toks, 'CONCURRENTLY')?.start : undefined
  } else if (type === 'VariableSetStmt') {
    const values = ((n.args as Node[] | undefined) ?? []).map((a) => constValue(a)).map((v) => (v === undefined || v === null ? '' : String(v)))
    const reset = n.kind === 'VAR_RESET' || n.kind === 'VAR_SET_DEFAULT' || n.kind === 'VAR_RESET_ALL'
    facts.set = { name: String(n.name ?? ''), local: !!n.is_local, reset, value: reset ? undefined : values[0], values: reset ? [] : values }
  } else if (type === 'ViewStmt' || (type === 'CreateTableAsStmt' && n.objtype === 'OBJECT_MATVIEW')) {
    const name = ref(type === 'ViewStmt' ? n.view : n.into?.rel)
    const aliases = strings(type === 'ViewStmt' ? n.aliases : n.into?.colNames)
    if (name) facts.view = { name, ...selectColumns(n.query, aliases, loc), orReplace: !!n.replace, materialized: type !== 'ViewStmt', at: facts.create?.at ?? 0 }
  } else if (type === 'CreateFunctionStmt') {
    const params = ((n.parameters as Node[] | undefined) ?? []).map((p) => p.FunctionParameter as Node)
    const ins = params.filter((p) => ['FUNC_PARAM_DEFAULT', 'FUNC_PARAM_IN', 'FUNC_PARAM_INOUT', 'FUNC_PARAM_VARIADIC'].includes(p.mode))
    const outs = params.filter((p) => ['FUNC_PARAM_OUT', 'FUNC_PARAM_INOUT', 'FUNC_PARAM_TABLE'].includes(p.mode))
    const table = params.some((p) => p.mode === 'FUNC_PARAM_TABLE')
    const key = `${qualify(strings(n.funcname), searchPath)}(${ins.map((p) => typeName(p.argType)).join(',')})`
    const base = n.returnType ? typeName(n.returnType) : undefined
    const returns = n.is_procedure ? undefined : table ? `TABLE (${outs.map((p) => `${p.name} ${typeName(p.argType)}`).join(', ')})` : outs.length ? `${base ?? 'record'} OUT (${outs.map((p) => `${p.name} ${typeName(p.argType)}`).join(', ')})` : base
    const volatility = ((n.options as Node[] | undefined) ?? []).map((o) => o.DefElem as Node).find((o) => o.defname === 'volatility')?.arg?.String?.sval ?? 'volatile'
    facts.func = { key, display: key, returns, returnsAt: loc.at(n.returnType?.location) ?? facts.create?.at ?? 0, orReplace: !!n.replace, volatility }
  } else if (type === 'CreateExtensionStmt') {
    facts.extension = String(n.extname)
  }
  return facts
}

/** SET search_path's first real schema, or the current one. */
export function searchPathOf(facts: Facts | undefined, current: string | undefined): string | undefined {
  if (!facts?.set || facts.set.name !== 'search_path') return current
  if (facts.set.reset) return undefined
  return facts.set.values.find((v) => v !== '$user' && v !== 'pg_catalog') ?? current
}

export { findTop }
