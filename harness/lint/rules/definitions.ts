/**
 * Rules about definitions PostgreSQL checks when the statement runs: index expressions, view
 * columns, function return types, and objects that belong to an extension.
 */
import { objectKey, showRef, strings, walk, type Node } from '../ast.ts'
import { EXTENSION_FUNCTIONS, EXTENSION_OPCLASSES, EXTENSION_QUALIFIED, EXTENSION_RELATIONS, EXTENSION_TYPES, NOT_IMMUTABLE } from '../extensions.ts'
import type { StatementContext } from './context.ts'

const SQL_VALUE_FUNCTIONS: Record<string, string> = {
  SVFOP_CURRENT_DATE: 'CURRENT_DATE', SVFOP_CURRENT_TIME: 'CURRENT_TIME', SVFOP_CURRENT_TIME_N: 'CURRENT_TIME', SVFOP_CURRENT_TIMESTAMP: 'CURRENT_TIMESTAMP', SVFOP_CURRENT_TIMESTAMP_N: 'CURRENT_TIMESTAMP',
  SVFOP_LOCALTIME: 'LOCALTIME', SVFOP_LOCALTIME_N: 'LOCALTIME', SVFOP_LOCALTIMESTAMP: 'LOCALTIMESTAMP', SVFOP_LOCALTIMESTAMP_N: 'LOCALTIMESTAMP',
  SVFOP_CURRENT_ROLE: 'CURRENT_ROLE', SVFOP_CURRENT_USER: 'CURRENT_USER', SVFOP_USER: 'USER', SVFOP_SESSION_USER: 'SESSION_USER', SVFOP_CURRENT_CATALOG: 'CURRENT_CATALOG', SVFOP_CURRENT_SCHEMA: 'CURRENT_SCHEMA',
}

function volatileInIndex(c: StatementContext): void {
  const ix = c.f?.index
  if (!ix) return
  const check = (expr: Node | undefined, where: string) => {
    walk(expr, (type, n) => {
      if (type === 'SQLValueFunction') {
        const name = SQL_VALUE_FUNCTIONS[String(n.op)] ?? 'a SQL value function'
        c.report('index-volatile-function', c.f!.loc.at(n.location), `${name} is STABLE, not IMMUTABLE: PostgreSQL refuses it in an index ${where} ("functions in index ${where} must be marked IMMUTABLE", 42P17)`)
      } else if (type === 'FuncCall') {
        const parts = strings(n.funcname)
        const name = (parts[parts.length - 1] ?? '').toLowerCase()
        const own = c.k.functionNamed(name)
        const volatility = own ? (own.volatility === 'immutable' ? undefined : `${own.volatility.toUpperCase()} (defined in ${own.file})`) : NOT_IMMUTABLE[name]
        if (volatility) c.report('index-volatile-function', c.f!.loc.at(n.location), `${name}() is ${volatility}, not IMMUTABLE: PostgreSQL refuses it in an index ${where} ("functions in index ${where} must be marked IMMUTABLE", 42P17)`)
      }
    })
  }
  for (const p of ix.params) check(p.expr, 'expression')
  check(ix.where, 'predicate')
}

function viewColumns(c: StatementContext): void {
  const v = c.f?.view
  if (!v) return
  const seen = new Set<string>()
  for (const col of v.columns) {
    if (seen.has(col.name)) c.report('view-duplicate-column', col.at, `${v.materialized ? 'materialized view' : 'view'} ${showRef(v.name)} has the column name "${col.name}" more than once: PostgreSQL refuses it (42701 column "${col.name}" specified more than once)`, `Name the columns apart with AS (e.g. AS ${col.name}_2).`)
    seen.add(col.name)
  }
  if (v.materialized || !v.complete) return
  const before = c.k.views.get(objectKey(v.name))
  if (!before?.complete) return
  for (const [i, old] of before.columns.entries()) {
    const now = v.columns[i]
    if (now?.name === old) continue
    const change = now === undefined ? `drops column "${old}"` : v.columns.some((x) => x.name === old) ? `moves column "${old}" (position ${i + 1} is now "${now.name}")` : `replaces column "${old}" with "${now.name}" at position ${i + 1}`
    c.report('view-column-change', now?.at ?? v.at,
      `CREATE OR REPLACE VIEW ${showRef(v.name)} ${change}; the view was defined in ${before.file} with (${before.columns.join(', ')}): PostgreSQL refuses it (42P16: only new columns at the end are allowed)`)
    return
  }
}

function functionReturn(c: StatementContext): void {
  const fn = c.f?.func
  if (!fn || fn.returns === undefined) return
  const before = c.k.functions.get(fn.key)
  if (before?.returns === undefined || before.returns === fn.returns) return
  c.report('function-return-type-change', fn.returnsAt,
    `CREATE OR REPLACE FUNCTION ${fn.display} returns ${fn.returns}; it was defined in ${before.file} returning ${before.returns}: PostgreSQL refuses it (42P13 cannot change return type of existing function)`,
    `DROP FUNCTION IF EXISTS ${fn.display}; before creating it again (in the same migration, so callers never see it missing), or give the new function another name.`)
}

function extensionObjects(c: StatementContext): void {
  if (!c.tree || !c.f) return
  const f = c.f
  const need = (ext: string | undefined, what: string, location: number | undefined) => {
    if (!ext || c.k.extensions.has(ext)) return
    c.report('extension-missing', f.loc.at(location), `${what} belongs to the extension ${ext}, which no earlier migration creates and the manifest does not require: the statement fails with "does not exist"`,
      `CREATE EXTENSION IF NOT EXISTS ${ext.includes('-') ? `"${ext}"` : ext}; in an earlier migration, or list ${ext} under requirements.extensions in manifest.json.`)
  }
  walk(c.tree, (type, n) => {
    if (type === 'RangeVar' && !c.k.createdIn({ schema: n.schemaname, name: n.relname })) need(EXTENSION_RELATIONS[String(n.relname).toLowerCase()], `${n.schemaname ? `${n.schemaname}.` : ''}${n.relname}`, n.location)
    else if (type === 'FuncCall') {
      const parts = strings(n.funcname).map((p) => p.toLowerCase())
      const name = parts[parts.length - 1] ?? ''
      if (c.k.functionNamed(name)) return
      const ext = EXTENSION_QUALIFIED[parts.slice(-2).join('.')] ?? EXTENSION_FUNCTIONS[name] ?? (/^st_[a-z0-9_]+$/.test(name) ? 'postgis' : undefined)
      need(ext, `${parts.join('.')}()`, n.location)
    } else if (type === 'TypeName') {
      const name = (strings(n.names).pop() ?? '').toLowerCase()
      need(EXTENSION_TYPES[name], `type ${name}`, n.location)
    } else if (type === 'IndexElem') {
      const opclass = (strings(n.opclass).pop() ?? '').toLowerCase()
      need(EXTENSION_OPCLASSES[opclass], `operator class ${opclass}`, undefined)
    }
  })
}

export function definitionRules(c: StatementContext): void {
  volatileInIndex(c)
  viewColumns(c)
  functionReturn(c)
  extensionObjects(c)
}
