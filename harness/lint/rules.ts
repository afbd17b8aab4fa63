/**
 * Static lint rules for migration files: no database, only the text.
 *
 * Every check works on the splitter's `code` (comments, string literals and dollar-quoted bodies
 * blanked), tokenised here, so a keyword in a comment, a string or a function body never
 * triggers a rule. String values that matter (create_hypertable's table and column, a
 * search_path) are read back from `text` at the same offsets.
 *
 * What "existing table" means: any table the statement touches that was not created earlier in
 * the same file. It was created by an earlier migration (the message names it) or exists outside
 * the migrations; either way it may hold rows and be in use while the migration runs.
 *
 * Not seen (by design of a text lint): SQL run by EXECUTE inside DO blocks or functions, tables
 * created or made hypertables there, and anything decided by data.
 */
import { lineColumnAt, splitStatements, type Statement } from '../sql/split.ts'

export type Severity = 'error' | 'warning'

export interface LintFinding {
  rule: string
  severity: Severity
  file: string
  line: number
  column: number
  message: string
  fix: string
  /** First line of the statement. */
  statement: string
  allowed?: { reason: string }
}

export interface Rule {
  /** Stable kebab-case id: used in allow-lists, reports and tests. */
  id: string
  severity: Severity
  /** `up`: up files only. `all`: down files too (they are expected to drop things, but must still run). */
  scope: 'up' | 'all'
  description: string
  fix: string
}

const HYPERTABLE_INDEX_FIX =
  'hypertables do not support CONCURRENTLY; build it in a maintenance window or WITH (timescaledb.transaction_per_chunk) in a --! no-transaction file'

export const RULES: readonly Rule[] = [
  { id: 'parse', severity: 'error', scope: 'all', description: 'The file cannot be read as a migration (name, encoding, directive, unterminated string, comment or dollar-quote).', fix: 'Fix the file so the runner can split it; the message says where.' },
  { id: 'transaction-control', severity: 'error', scope: 'all', description: 'BEGIN/COMMIT/ROLLBACK/SAVEPOINT… at top level: the runner owns the transaction.', fix: 'Remove it; for statements that cannot run in a transaction, start the file with --! no-transaction.' },
  { id: 'concurrently-in-transaction', severity: 'error', scope: 'all', description: 'CONCURRENTLY in a file that runs in a transaction (no --! no-transaction directive): PostgreSQL refuses it.', fix: 'Move the statement into a migration of its own whose first line is --! no-transaction, or drop CONCURRENTLY.' },
  { id: 'needs-no-transaction', severity: 'error', scope: 'all', description: 'A statement PostgreSQL/TimescaleDB refuse inside a transaction block (transaction_per_chunk, refresh_continuous_aggregate, VACUUM, …) in a transactional file.', fix: 'Move the statement into a migration of its own whose first line is --! no-transaction.' },
  { id: 'plpgsql-outside-block', severity: 'error', scope: 'all', description: 'RAISE or PERFORM as a top-level statement: PL/pgSQL only, a syntax error in plain SQL.', fix: 'Put it inside a DO $$ BEGIN … END $$ block (or use SELECT instead of PERFORM).' },
  { id: 'hypertable-unique-without-time', severity: 'error', scope: 'up', description: 'PRIMARY KEY / UNIQUE constraint or unique index on a hypertable without its partitioning column(s): TimescaleDB refuses it.', fix: 'Add the time (and any space-partitioning) column to the key, or drop the uniqueness.' },
  { id: 'add-column-not-null-no-default', severity: 'error', scope: 'up', description: 'ADD COLUMN … NOT NULL without DEFAULT on an existing table: fails as soon as the table has a row.', fix: 'Add the column nullable, backfill it, then SET NOT NULL; or give it a DEFAULT.' },
  { id: 'index-not-concurrent', severity: 'warning', scope: 'up', description: 'CREATE INDEX without CONCURRENTLY on an existing table: blocks writes to it for the whole build.', fix: 'Use CREATE INDEX CONCURRENTLY IF NOT EXISTS in a migration of its own starting with --! no-transaction (for a hypertable: ' + HYPERTABLE_INDEX_FIX + ').' },
  { id: 'hypertable-no-if-not-exists', severity: 'warning', scope: 'up', description: 'create_hypertable() without if_not_exists => TRUE: a re-run fails.', fix: 'Add if_not_exists => TRUE (and migrate_data => TRUE if the table may already hold rows).' },
  { id: 'alter-column-type', severity: 'warning', scope: 'up', description: 'ALTER COLUMN … TYPE on an existing table: usually rewrites the table under ACCESS EXCLUSIVE.', fix: 'Add a new column, backfill in batches and switch over; or run it in a maintenance window.' },
  { id: 'drop-table', severity: 'warning', scope: 'up', description: 'DROP TABLE in an up migration: its data is gone.', fix: 'Make sure the data is no longer needed or copied elsewhere first; allow-list the finding with the reason.' },
  { id: 'drop-column', severity: 'warning', scope: 'up', description: 'DROP COLUMN in an up migration: its data is gone.', fix: 'Make sure the data is no longer needed or copied elsewhere first; allow-list the finding with the reason.' },
  { id: 'missing-lock-timeout', severity: 'warning', scope: 'up', description: 'DDL on an existing table without an earlier SET lock_timeout in the file: waiting for the lock queues every other query behind it.', fix: "Put SET LOCAL lock_timeout = '10s'; before the first such statement (plain SET in a --! no-transaction file)." },
  { id: 'not-idempotent', severity: 'warning', scope: 'up', description: 'A statement that fails or duplicates something when the file is run again (no IF NOT EXISTS / OR REPLACE / guard).', fix: 'Use IF NOT EXISTS / OR REPLACE / if_not_exists => TRUE, or guard the statement in a DO block that checks the catalog.' },
  { id: 'unused-allow', severity: 'warning', scope: 'all', description: 'An allow-list entry that matches no finding (stale).', fix: 'Remove the entry from lint-allow.json, or correct its file, rule or line.' },
]

export type RuleId = (typeof RULES)[number]['id']
export const RULE_BY_ID: ReadonlyMap<string, Rule> = new Map(RULES.map((r) => [r.id, r]))

// ---------------------------------------------------------------------------------------------
// Tokens

export interface Tok {
  kind: 'word' | 'qident' | 'string' | 'dollar' | 'number' | 'op'
  /** Offsets in the statement (`code` and `text` have the same length). */
  start: number
  end: number
  /** Upper-cased for words, the raw characters otherwise. */
  up: string
  /** Identifier value: lower-cased word, or the unescaped contents of "…". */
  value: string
}

const isIdentStart = (c: string | undefined) => c !== undefined && /[A-Za-z_\u0080-\uffff]/.test(c)
const isIdentChar = (c: string | undefined) => c !== undefined && /[A-Za-z0-9_$\u0080-\uffff]/.test(c)
const TWO_CHAR_OPS = new Set(['=>', ':=', '::', '<>', '>=', '<=', '!=', '||'])

export function lex(code: string): Tok[] {
  const toks: Tok[] = []
  const push = (kind: Tok['kind'], start: number, end: number, value = code.slice(start, end)) =>
    toks.push({ kind, start, end, up: kind === 'word' ? code.slice(start, end).toUpperCase() : code.slice(start, end), value })
  let i = 0
  while (i < code.length) {
    const c = code[i]!
    if (/\s/.test(c)) { i++; continue }
    if (c === '"') {
      let k = i + 1
      while (k < code.length) {
        if (code[k] === '"') { if (code[k + 1] === '"') { k += 2; continue } break }
        k++
      }
      push('qident', i, Math.min(k + 1, code.length), code.slice(i + 1, k).replace(/""/g, '"'))
      i = k + 1
      continue
    }
    if (c === "'") {
      // The splitter blanked the contents, '' escapes included: the next quote closes it.
      const k = code.indexOf("'", i + 1)
      const end = k < 0 ? code.length : k + 1
      push('string', i, end, '')
      i = end
      continue
    }
    if (c === '$' && !isIdentChar(code[i - 1])) {
      const m = /^\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/.exec(code.slice(i, i + 64))
      if (m) {
        const close = code.indexOf(m[0], i + m[0].length)
        const end = close < 0 ? code.length : close + m[0].length
        push('dollar', i, end, '')
        i = end
        continue
      }
    }
    if (isIdentStart(c)) {
      let k = i + 1
      while (k < code.length && isIdentChar(code[k])) k++
      // E'…', B'…', X'…', N'…': one string token.
      if (code[k] === "'" && /^[EBXNebxn]$/.test(code.slice(i, k))) {
        const close = code.indexOf("'", k + 1)
        const end = close < 0 ? code.length : close + 1
        push('string', i, end, '')
        i = end
        continue
      }
      push('word', i, k, code.slice(i, k).toLowerCase())
      i = k
      continue
    }
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(code[i + 1] ?? ''))) {
      const m = /^(?:[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?|[0-9]+\.)/.exec(code.slice(i, i + 64))!
      push('number', i, i + m[0].length)
      i += m[0].length
      continue
    }
    const two = code.slice(i, i + 2)
    if (TWO_CHAR_OPS.has(two)) { push('op', i, i + 2); i += 2; continue }
    push('op', i, i + 1)
    i++
  }
  return toks
}

const isWord = (t: Tok | undefined, ...words: string[]) => t !== undefined && t.kind === 'word' && (words.length === 0 || words.includes(t.up))
const isOp = (t: Tok | undefined, op: string) => t !== undefined && t.kind === 'op' && t.up === op
const isIdent = (t: Tok | undefined) => t !== undefined && (t.kind === 'word' || t.kind === 'qident')

/** Index of the `)` matching the `(` at `open` (or the end). */
function closing(toks: Tok[], open: number): number {
  let depth = 0
  for (let k = open; k < toks.length; k++) {
    if (isOp(toks[k], '(') || isOp(toks[k], '[')) depth++
    else if (isOp(toks[k], ')') || isOp(toks[k], ']')) { depth--; if (depth === 0) return k }
  }
  return toks.length
}

/** Top-level comma-separated ranges [from, to) inside toks[from, to). */
function splitTop(toks: Tok[], from: number, to: number): Array<[number, number]> {
  const out: Array<[number, number]> = []
  let depth = 0
  let start = from
  for (let k = from; k < to; k++) {
    const t = toks[k]!
    if (isOp(t, '(') || isOp(t, '[')) depth++
    else if (isOp(t, ')') || isOp(t, ']')) depth--
    else if (depth === 0 && isOp(t, ',')) { out.push([start, k]); start = k + 1 }
  }
  if (start < to) out.push([start, to])
  return out
}

/** Does the word sequence occur at depth 0 in toks[from, to)? Returns its first token's index. */
function findTop(toks: Tok[], from: number, to: number, ...words: string[]): number {
  let depth = 0
  for (let k = from; k < to; k++) {
    const t = toks[k]!
    if (isOp(t, '(') || isOp(t, '[')) depth++
    else if (isOp(t, ')') || isOp(t, ']')) depth--
    else if (depth === 0 && words.every((w, j) => isWord(toks[k + j], w) && k + j < to)) return k
  }
  return -1
}

// ---------------------------------------------------------------------------------------------
// Names

export interface TableRef {
  /** Undefined when written unqualified and no search_path was set: matches that name in any schema. */
  schema?: string
  name: string
}

export const showRef = (r: TableRef) => (r.schema ? `${r.schema}.${r.name}` : r.name)
export const sameTable = (a: TableRef, b: TableRef) => a.name === b.name && (a.schema === undefined || b.schema === undefined || a.schema === b.schema)

/** Reads `a`, `a.b` or `a.b.c` (last two parts kept) at toks[i]; returns the ref and the index after it. */
function readName(toks: Tok[], i: number): { parts: string[]; next: number } | undefined {
  if (!isIdent(toks[i])) return undefined
  const parts = [toks[i]!.value]
  let k = i + 1
  while (isOp(toks[k], '.') && isIdent(toks[k + 1])) { parts.push(toks[k + 1]!.value); k += 2 }
  return { parts, next: k }
}

const toRef = (parts: string[], searchPath: string | undefined): TableRef =>
  parts.length >= 2 ? { schema: parts[parts.length - 2]!, name: parts[parts.length - 1]! } : { schema: searchPath, name: parts[0]! }

/** A string literal's value as PostgreSQL reads it (standard strings). */
function stringValue(text: string, t: Tok): string {
  const q = text.indexOf("'", t.start)
  return text.slice(q + 1, t.end - 1).replace(/''/g, "'")
}

/** 'schema.table' / '"Odd"."Name"' inside a regclass string. */
function refFromString(s: string, searchPath: string | undefined): TableRef | undefined {
  const r = readName(lex(s), 0)
  return r ? toRef(r.parts, searchPath) : undefined
}

// ---------------------------------------------------------------------------------------------
// What one statement does (the facts the rules look at)

export interface UniqueDef {
  table: TableRef
  columns: string[]
  tok: Tok
  what: string
}

export type AlterAction =
  | { kind: 'add-column'; tok: Tok; column: string; ifNotExists: boolean; notNull: boolean; hasDefault: boolean }
  | { kind: 'add-constraint'; tok: Tok; named: boolean; what: string }
  | { kind: 'alter-type'; tok: Tok; column: string }
  | { kind: 'drop-column'; tok: Tok; column: string }
  | { kind: 'rename-table'; tok: Tok; to: string }
  | { kind: 'other'; tok: Tok }

export interface Call {
  name: string
  tok: Tok
  positional: Array<[number, number]>
  named: Map<string, [number, number]>
}

export interface Facts {
  toks: Tok[]
  first?: Tok
  create?: { kind: string; kindTok: Tok; orReplace: boolean; ifNotExists: boolean; materialized: boolean; unique: boolean; unnamed: boolean; name?: TableRef; continuous: boolean; withNoData: boolean }
  createdTable?: TableRef
  index?: { tok: Tok; unique: boolean; concurrently?: Tok; name?: string; table: TableRef; transactionPerChunk: boolean }
  trigger?: { table: TableRef }
  alter?: { table: TableRef; tok: Tok; actions: AlterAction[] }
  /** `onTable`: DROP TRIGGER/RULE/POLICY … ON table. */
  drop?: { kind: string; tok: Tok; names: TableRef[]; concurrently?: Tok; onTable?: TableRef }
  uniques: UniqueDef[]
  calls: Call[]
  set?: { name: string; local: boolean; reset: boolean; value?: string; values: string[] }
  concurrently?: Tok
}

const CREATE_MODIFIERS = new Set(['OR', 'REPLACE', 'GLOBAL', 'LOCAL', 'TEMP', 'TEMPORARY', 'UNLOGGED', 'UNIQUE', 'MATERIALIZED', 'CONSTRAINT', 'RECURSIVE', 'TRUSTED', 'PROCEDURAL', 'DEFAULT'])
const INTERESTING_CALLS = new Set([
  'create_hypertable', 'add_dimension', 'set_config',
  'add_compression_policy', 'add_retention_policy', 'add_reorder_policy', 'add_continuous_aggregate_policy', 'add_columnstore_policy',
  'refresh_continuous_aggregate', 'reorder_chunk',
])

/** Parses the facts of one statement; `searchPath` qualifies unqualified names. */
export function analyze(stmt: Statement, searchPath: string | undefined): Facts {
  const toks = lex(stmt.code)
  const facts: Facts = { toks, first: toks[0], uniques: [], calls: [] }
  const ref = (parts: string[]) => toRef(parts, searchPath)
  const t0 = toks[0]

  for (let k = 0; k < toks.length; k++) {
    const t = toks[k]!
    if (isWord(t) && INTERESTING_CALLS.has(t.value) && isOp(toks[k + 1], '(')) {
      const close = closing(toks, k + 1)
      const call: Call = { name: t.value, tok: t, positional: [], named: new Map() }
      for (const [a, b] of splitTop(toks, k + 2, close)) {
        if (isIdent(toks[a]) && (isOp(toks[a + 1], '=>') || isOp(toks[a + 1], ':='))) call.named.set(toks[a]!.value, [a + 2, b])
        else call.positional.push([a, b])
      }
      facts.calls.push(call)
    }
  }

  if (isWord(t0, 'CREATE')) {
    let i = 1
    const mods = new Set<string>()
    while (isWord(toks[i]) && CREATE_MODIFIERS.has(toks[i]!.up)) mods.add(toks[i++]!.up)
    const kindTok = toks[i]
    if (!kindTok) return facts
    i++
    const create: NonNullable<Facts['create']> = {
      kind: kindTok.up, kindTok, orReplace: mods.has('REPLACE'), ifNotExists: false, materialized: mods.has('MATERIALIZED'), unique: mods.has('UNIQUE'), unnamed: false,
      continuous: toks.some((x, k) => x.value === 'continuous' && isOp(toks[k - 1], '.') && toks[k - 2]?.value === 'timescaledb'),
      withNoData: findTop(toks, i, toks.length, 'WITH', 'NO', 'DATA') >= 0,
    }
    facts.create = create
    let concurrently: Tok | undefined
    if (create.kind === 'INDEX' && isWord(toks[i], 'CONCURRENTLY')) concurrently = toks[i++]
    if (isWord(toks[i], 'IF') && isWord(toks[i + 1], 'NOT') && isWord(toks[i + 2], 'EXISTS')) { create.ifNotExists = true; i += 3 }

    if (create.kind === 'TABLE') {
      const n = readName(toks, i)
      if (!n) return facts
      const table = ref(n.parts)
      create.name = table
      facts.createdTable = table
      i = n.next
      if (isOp(toks[i], '(')) parseTableElements(toks, i, closing(toks, i), table, facts)
    } else if (create.kind === 'INDEX') {
      let name: string | undefined
      if (!isWord(toks[i], 'ON')) {
        const n = readName(toks, i)
        if (n) { name = n.parts[n.parts.length - 1]; i = n.next }
      } else create.unnamed = true
      if (!isWord(toks[i], 'ON')) return facts
      i++
      if (isWord(toks[i], 'ONLY')) i++
      const n = readName(toks, i)
      if (!n) return facts
      const table = ref(n.parts)
      i = n.next
      if (isWord(toks[i], 'USING')) i += 2
      const transactionPerChunk = toks.some((x, k) => x.value === 'transaction_per_chunk' && isOp(toks[k - 1], '.'))
      facts.index = { tok: kindTok, unique: create.unique, concurrently, name, table, transactionPerChunk }
      if (concurrently) facts.concurrently = concurrently
      if (create.unique && isOp(toks[i], '(')) {
        const close = closing(toks, i)
        // Only bare columns count: an expression over the time column is not the column.
        const columns = splitTop(toks, i + 1, close).filter(([a, b]) => isIdent(toks[a]) && !isOp(toks[a + 1], '(') && !isOp(toks[a + 1], '.') && (a + 1 === b || isWord(toks[a + 1]))).map(([a]) => toks[a]!.value)
        facts.uniques.push({ table, columns, tok: toks[1]!, what: `unique index${name ? ` ${name}` : ''}` })
      }
    } else if (create.kind === 'TRIGGER') {
      const on = findTop(toks, i, toks.length, 'ON')
      const n = on >= 0 ? readName(toks, on + 1) : undefined
      if (n) facts.trigger = { table: ref(n.parts) }
    } else {
      const n = readName(toks, i)
      if (n) create.name = ref(n.parts)
    }
    return facts
  }

  if (isWord(t0, 'ALTER') && isWord(toks[1], 'TABLE')) {
    let i = 2
    if (isWord(toks[i], 'IF') && isWord(toks[i + 1], 'EXISTS')) i += 2
    if (isWord(toks[i], 'ONLY')) i++
    const n = readName(toks, i)
    if (!n) return facts
    const table = ref(n.parts)
    i = n.next
    if (isOp(toks[i], '*')) i++
    const actions: AlterAction[] = []
    for (const [a, b] of splitTop(toks, i, toks.length)) actions.push(parseAlterAction(toks, a, b, table, facts))
    facts.alter = { table, tok: toks[1]!, actions }
    return facts
  }

  if (isWord(t0, 'DROP')) {
    let i = 1
    let kind = toks[i]?.up ?? ''
    if (kind === 'MATERIALIZED' || kind === 'FOREIGN') kind = `${kind} ${toks[++i]?.up ?? ''}`
    const kindTok = toks[i]
    if (!kindTok) return facts
    i++
    let concurrently: Tok | undefined
    if (isWord(toks[i], 'CONCURRENTLY')) concurrently = toks[i++]
    if (isWord(toks[i], 'IF') && isWord(toks[i + 1], 'EXISTS')) i += 2
    const names: TableRef[] = []
    for (const [a] of splitTop(toks, i, toks.length)) {
      const nn = readName(toks, a)
      if (nn) names.push(ref(nn.parts))
    }
    const on = findTop(toks, i, toks.length, 'ON')
    const onName = on >= 0 && ['TRIGGER', 'RULE', 'POLICY'].includes(kind) ? readName(toks, on + 1) : undefined
    facts.drop = { kind, tok: t0!, names, concurrently, onTable: onName ? ref(onName.parts) : undefined }
    if (concurrently) facts.concurrently = concurrently
    return facts
  }

  if (isWord(t0, 'REINDEX')) {
    const c = toks.find((x) => isWord(x, 'CONCURRENTLY'))
    if (c) facts.concurrently = c
    return facts
  }

  if (isWord(t0, 'SET', 'RESET')) {
    let i = 1
    const local = isWord(toks[i], 'LOCAL')
    if (isWord(toks[i], 'LOCAL', 'SESSION')) i++
    const n = readName(toks, i)
    if (!n) return facts
    i = n.next
    const name = n.parts.join('.')
    if (t0!.up === 'RESET') { facts.set = { name, local: false, reset: true, values: [] }; return facts }
    if (isWord(toks[i], 'TO') || isOp(toks[i], '=')) i++
    const values: string[] = []
    for (const [a] of splitTop(toks, i, toks.length)) {
      const v = toks[a]!
      values.push(v.kind === 'string' ? stringValue(stmt.text, v) : v.kind === 'word' || v.kind === 'qident' ? v.value : v.up)
    }
    if (isWord(toks[i], 'DEFAULT')) facts.set = { name, local, reset: true, values: [] }
    else facts.set = { name, local, reset: false, value: values[0], values }
    return facts
  }
  return facts
}

function parseColumnList(toks: Tok[], open: number): string[] {
  const close = closing(toks, open)
  return splitTop(toks, open + 1, close).filter(([a]) => isIdent(toks[a])).map(([a]) => toks[a]!.value)
}

/** The `( … )` after PRIMARY KEY / UNIQUE [NULLS [NOT] DISTINCT], from toks[i] on. */
function keyColumns(toks: Tok[], i: number, to: number): string[] | undefined {
  for (let k = i; k < to; k++) if (isOp(toks[k], '(')) return parseColumnList(toks, k)
  return undefined
}

function parseTableElements(toks: Tok[], open: number, close: number, table: TableRef, facts: Facts): void {
  for (const [a0, b] of splitTop(toks, open + 1, close)) {
    let a = a0
    const start = toks[a]!
    if (isWord(toks[a], 'CONSTRAINT')) a += 2
    if (isWord(toks[a], 'PRIMARY') && isWord(toks[a + 1], 'KEY')) {
      const cols = keyColumns(toks, a + 2, b)
      if (cols) facts.uniques.push({ table, columns: cols, tok: start, what: 'PRIMARY KEY' })
    } else if (isWord(toks[a], 'UNIQUE')) {
      const cols = keyColumns(toks, a + 1, b)
      if (cols) facts.uniques.push({ table, columns: cols, tok: start, what: 'UNIQUE constraint' })
    } else if (isWord(toks[a], 'CHECK', 'FOREIGN', 'EXCLUDE', 'LIKE')) {
      continue
    } else if (a === a0 && isIdent(toks[a])) {
      columnConstraints(toks, a + 1, b, table, toks[a]!.value, facts)
    }
  }
}

/** PRIMARY KEY / UNIQUE written on a column definition. */
function columnConstraints(toks: Tok[], from: number, to: number, table: TableRef, column: string, facts: Facts): void {
  const pk = findTop(toks, from, to, 'PRIMARY', 'KEY')
  if (pk >= 0) facts.uniques.push({ table, columns: [column], tok: toks[pk]!, what: `PRIMARY KEY on column ${column}` })
  const uq = findTop(toks, from, to, 'UNIQUE')
  if (uq >= 0) facts.uniques.push({ table, columns: [column], tok: toks[uq]!, what: `UNIQUE on column ${column}` })
}

function parseAlterAction(toks: Tok[], a: number, b: number, table: TableRef, facts: Facts): AlterAction {
  const tok = toks[a]!
  if (isWord(tok, 'ADD')) {
    let i = a + 1
    if (isWord(toks[i], 'CONSTRAINT')) {
      const k = i + 2
      if (isWord(toks[k], 'PRIMARY') || isWord(toks[k], 'UNIQUE')) {
        const cols = keyColumns(toks, k, b)
        if (cols && !findUsingIndex(toks, k, b)) facts.uniques.push({ table, columns: cols, tok: toks[k]!, what: `${isWord(toks[k], 'PRIMARY') ? 'PRIMARY KEY' : 'UNIQUE constraint'} ${toks[i + 1]?.value ?? ''}`.trim() })
      }
      return { kind: 'add-constraint', tok, named: true, what: toks[k]?.up ?? 'CONSTRAINT' }
    }
    if (isWord(toks[i], 'PRIMARY', 'UNIQUE', 'CHECK', 'FOREIGN', 'EXCLUDE')) {
      if (isWord(toks[i], 'PRIMARY', 'UNIQUE')) {
        const cols = keyColumns(toks, i, b)
        if (cols && !findUsingIndex(toks, i, b)) facts.uniques.push({ table, columns: cols, tok: toks[i]!, what: isWord(toks[i], 'PRIMARY') ? 'PRIMARY KEY' : 'UNIQUE constraint' })
      }
      return { kind: 'add-constraint', tok, named: false, what: toks[i]!.up }
    }
    if (isWord(toks[i], 'COLUMN')) i++
    let ifNotExists = false
    if (isWord(toks[i], 'IF') && isWord(toks[i + 1], 'NOT') && isWord(toks[i + 2], 'EXISTS')) { ifNotExists = true; i += 3 }
    const column = toks[i]?.value ?? ''
    columnConstraints(toks, i + 1, b, table, column, facts)
    return {
      kind: 'add-column', tok, column, ifNotExists,
      notNull: findTop(toks, i + 1, b, 'NOT', 'NULL') >= 0 || findTop(toks, i + 1, b, 'PRIMARY', 'KEY') >= 0,
      hasDefault: findTop(toks, i + 1, b, 'DEFAULT') >= 0 || findTop(toks, i + 1, b, 'GENERATED') >= 0,
    }
  }
  if (isWord(tok, 'ALTER')) {
    let i = a + 1
    if (isWord(toks[i], 'COLUMN')) i++
    const column = toks[i]?.value ?? ''
    i++
    if (isWord(toks[i], 'SET') && isWord(toks[i + 1], 'DATA') && isWord(toks[i + 2], 'TYPE')) return { kind: 'alter-type', tok: toks[i + 2]!, column }
    if (isWord(toks[i], 'TYPE')) return { kind: 'alter-type', tok: toks[i]!, column }
    return { kind: 'other', tok }
  }
  if (isWord(tok, 'DROP') && !isWord(toks[a + 1], 'CONSTRAINT')) {
    let i = a + 1
    if (isWord(toks[i], 'COLUMN')) i++
    if (isWord(toks[i], 'IF') && isWord(toks[i + 1], 'EXISTS')) i += 2
    return { kind: 'drop-column', tok, column: toks[i]?.value ?? '' }
  }
  if (isWord(tok, 'RENAME') && isWord(toks[a + 1], 'TO') && isIdent(toks[a + 2])) return { kind: 'rename-table', tok, to: toks[a + 2]!.value }
  return { kind: 'other', tok }
}

const findUsingIndex = (toks: Tok[], from: number, to: number) => findTop(toks, from, to, 'USING', 'INDEX') >= 0

// ---------------------------------------------------------------------------------------------
// Cross-file knowledge

export interface LintInput {
  file: string
  sql: string
  statements: Statement[]
  noTransaction: boolean
  kind: 'up' | 'down'
}

export interface Hypertable {
  table: TableRef
  /** The time column first, then any further partitioning columns. */
  columns: string[]
  file: string
}

/** SET search_path's first real schema, or undefined (RESET / not set). */
function searchPathOf(facts: Facts, current: string | undefined): string | undefined {
  if (!facts.set || facts.set.name !== 'search_path') return current
  if (facts.set.reset) return undefined
  return facts.set.values.find((v) => v !== '$user' && v !== 'pg_catalog') ?? current
}

/** First column argument of create_hypertable / add_dimension: 'col', by_range('col'), by_hash('col', n). */
function columnArg(text: string, toks: Tok[], range: [number, number] | undefined): string | undefined {
  if (!range) return undefined
  const [a] = range
  if (toks[a]?.kind === 'string') return stringValue(text, toks[a]!)
  if (isWord(toks[a]) && /^by_(range|hash)$/.test(toks[a]!.value) && isOp(toks[a + 1], '(') && toks[a + 2]?.kind === 'string') return stringValue(text, toks[a + 2]!)
  return undefined
}

/** Every table that is or becomes a hypertable in the up files, with its partitioning columns. */
export function collectHypertables(inputs: LintInput[]): Hypertable[] {
  const out: Hypertable[] = []
  for (const input of inputs) {
    if (input.kind !== 'up') continue
    let searchPath: string | undefined
    for (const s of input.statements) {
      const f = analyze(s, searchPath)
      searchPath = searchPathOf(f, searchPath)
      for (const c of f.calls) {
        if (c.name !== 'create_hypertable' && c.name !== 'add_dimension') continue
        const relRange = c.named.get('relation') ?? c.named.get('hypertable') ?? c.positional[0]
        const rel = relRange && f.toks[relRange[0]]?.kind === 'string' ? refFromString(stringValue(s.text, f.toks[relRange[0]]!), searchPath) : undefined
        if (!rel) continue
        const cols = [
          columnArg(s.text, f.toks, c.named.get('time_column_name') ?? c.named.get('column_name') ?? c.named.get('dimension') ?? c.positional[1]),
          c.name === 'create_hypertable' ? columnArg(s.text, f.toks, c.named.get('partitioning_column') ?? c.positional[2]) : undefined,
        ].filter((x): x is string => x !== undefined)
        const known = out.find((h) => sameTable(h.table, rel))
        if (known) known.columns.push(...cols.filter((x) => !known.columns.includes(x)))
        else if (c.name === 'create_hypertable') out.push({ table: rel, columns: cols, file: input.file })
      }
    }
  }
  return out
}

export interface FileOutcome {
  created: TableRef[]
  dropped: TableRef[]
  renamed: Array<{ from: TableRef; to: TableRef }>
}

export interface Knowledge {
  hypertables: Hypertable[]
  /** The earlier up file that created this table, if any. */
  createdIn(table: TableRef): string | undefined
}

// ---------------------------------------------------------------------------------------------
// The checks

const firstLine = (s: string) => {
  const l = s.split('\n')[0]!.trimEnd()
  return l.length > 200 ? `${l.slice(0, 199)}…` : l
}

const SENTINEL = 'SELECT lint_sentinel_7f3a'

/**
 * A string, quoted identifier, dollar-quote or block comment left open swallows the rest of the
 * file. Detected by appending a sentinel statement: if it does not come back as a statement of
 * its own, something before it is open; the offset points at what opened it.
 */
function unterminated(sql: string): { offset: number } | undefined {
  const probe = sql + '\n;\n' + SENTINEL
  const all = splitStatements(probe)
  const last = all[all.length - 1]
  if (!last || last.start === probe.length - SENTINEL.length) return undefined
  const { code, text } = last
  if (code.includes(SENTINEL)) {
    // The splitter does not blank "…" identifiers: an open one leaves the sentinel in `code`.
    let open = -1
    for (let k = 0; k < code.length; k++) if (code[k] === '"') open = open < 0 ? k : -1
    return { offset: last.start + Math.max(open, 0) }
  }
  let q = code.length - 1
  while (q >= 0 && /\s/.test(code[q]!)) q--
  let next = q + 1
  while (next < text.length && /\s/.test(text[next]!)) next++
  if (text.startsWith('/*', next)) return { offset: last.start + next }
  if (q >= 0 && code[q] === '$') {
    let k = q - 1
    while (k > 0 && code[k] !== '$') k--
    return { offset: last.start + k }
  }
  return { offset: last.start + Math.max(q, 0) }
}

const TRANSACTION_CONTROL = new Set(['BEGIN', 'COMMIT', 'ROLLBACK', 'END', 'ABORT', 'SAVEPOINT', 'RELEASE'])

/** Lints one file; returns what it did to tables so the caller can carry it to the next files. */
export function lintFile(input: LintInput, knowledge: Knowledge, emit: (f: LintFinding) => void): FileOutcome {
  const outcome: FileOutcome = { created: [], dropped: [], renamed: [] }
  const up = input.kind === 'up'
  const at = (stmt: Statement, tok: Tok | undefined) => lineColumnAt(input.sql, stmt.start + (tok?.start ?? 0))
  const report = (ruleId: RuleId, stmt: Statement, tok: Tok | undefined, message: string, fix?: string) => {
    const rule = RULE_BY_ID.get(ruleId)!
    if (rule.scope === 'up' && !up) return
    const { line, column } = at(stmt, tok)
    emit({ rule: rule.id, severity: rule.severity, file: input.file, line, column, message, fix: fix ?? rule.fix, statement: firstLine(stmt.text) })
  }

  const open = unterminated(input.sql)
  if (open) {
    const { line, column } = lineColumnAt(input.sql, open.offset)
    emit({
      rule: 'parse', severity: 'error', file: input.file, line, column,
      message: 'unterminated string, quoted identifier, dollar-quoted body, block comment or BEGIN ATOMIC body: everything from here to the end of the file is one statement',
      fix: "Close it ('…', \"…\", $tag$…$tag$, /* … */).", statement: firstLine(input.sql.slice(open.offset)),
    })
  }

  const createdHere: TableRef[] = []
  const indexesHere = new Set<string>()
  const isHere = (t: TableRef) => createdHere.some((c) => sameTable(c, t))
  const hypertable = (t: TableRef) => knowledge.hypertables.find((h) => sameTable(h.table, t))
  const origin = (t: TableRef) => {
    const f = knowledge.createdIn(t)
    return f ? `created in ${f}` : 'not created by an earlier migration'
  }
  let searchPath: string | undefined
  let lockTimeout = false
  let lockTimeoutLocalOnly = false
  /** DDL on existing tables before any lock_timeout: reported once per file, at the first. */
  const unguarded: Array<{ stmt: Statement; tok: Tok; what: string }> = []
  const needsLock = (stmt: Statement, tok: Tok, what: string) => {
    if (!lockTimeout) unguarded.push({ stmt, tok, what })
  }

  for (const stmt of input.statements) {
    const f = analyze(stmt, searchPath)
    const first = f.first
    if (!first) continue
    searchPath = searchPathOf(f, searchPath)

    // transaction-control
    if (isWord(first) && (TRANSACTION_CONTROL.has(first.up) || (first.up === 'START' && isWord(f.toks[1], 'TRANSACTION')) || (first.up === 'PREPARE' && isWord(f.toks[1], 'TRANSACTION')))) {
      report('transaction-control', stmt, first, `transaction control at top level (${first.up}): the runner opens and commits the migration's transaction`)
    }
    // plpgsql-outside-block
    if (isWord(first, 'RAISE', 'PERFORM')) {
      report('plpgsql-outside-block', stmt, first, `${first.up} is PL/pgSQL and is not valid as a plain SQL statement`, first.up === 'PERFORM' ? 'Use SELECT, or put it inside a DO $$ BEGIN … END $$ block.' : undefined)
    }
    // concurrently-in-transaction
    if (f.concurrently && !input.noTransaction) {
      report('concurrently-in-transaction', stmt, f.concurrently, 'CONCURRENTLY cannot run inside a transaction block, and the file does not declare --! no-transaction')
    }
    // needs-no-transaction
    if (!input.noTransaction) {
      const what: Array<[Tok | undefined, string]> = []
      if (f.index?.transactionPerChunk) what.push([f.toks.find((x) => x.value === 'transaction_per_chunk'), 'CREATE INDEX … WITH (timescaledb.transaction_per_chunk)'])
      for (const c of f.calls) if (c.name === 'refresh_continuous_aggregate' || c.name === 'reorder_chunk') what.push([c.tok, `${c.name}()`])
      if (isWord(first, 'VACUUM')) what.push([first, 'VACUUM'])
      if (isWord(first, 'CREATE', 'DROP') && isWord(f.toks[1], 'DATABASE')) what.push([first, `${first.up} DATABASE`])
      if (isWord(first, 'ALTER') && isWord(f.toks[1], 'SYSTEM')) what.push([first, 'ALTER SYSTEM'])
      if (f.create?.materialized && f.create.continuous && !f.create.withNoData) what.push([f.create.kindTok, 'a continuous aggregate created WITH DATA'])
      for (const [tok, w] of what) report('needs-no-transaction', stmt, tok, `${w} cannot run inside a transaction block, and the file does not declare --! no-transaction`)
    }

    // lock_timeout bookkeeping (SET LOCAL does nothing outside a transaction block)
    if (f.set?.name === 'lock_timeout') {
      const off = f.set.reset || f.set.value === '0' || f.set.value === undefined
      const effective = !off && !(f.set.local && input.noTransaction)
      lockTimeout = effective
      if (!off && f.set.local && input.noTransaction) lockTimeoutLocalOnly = true
    }
    for (const c of f.calls) {
      if (c.name !== 'set_config') continue
      const [a] = c.positional[0] ?? []
      const v = c.positional[1]
      if (a !== undefined && f.toks[a]?.kind === 'string' && stringValue(stmt.text, f.toks[a]!) === 'lock_timeout' && v && f.toks[v[0]]?.kind === 'string') {
        const value = stringValue(stmt.text, f.toks[v[0]]!)
        lockTimeout = value !== '0' && value !== ''
      }
    }

    // create_hypertable / policies
    for (const c of f.calls) {
      const flag = c.named.get('if_not_exists')
      // add_{compression,retention,reorder}_policy take if_not_exists as their third argument.
      const positionalFlag = /^add_(compression|retention|reorder)_policy$/.test(c.name) ? c.positional[2] : undefined
      const range = flag ?? positionalFlag
      const yes = range !== undefined && isTrue(stmt.text, f.toks, range)
      if (c.name === 'create_hypertable' && !yes) {
        report('hypertable-no-if-not-exists', stmt, c.tok, 'create_hypertable() without if_not_exists => TRUE fails when the migration is run again')
      }
      if (/^add_(compression|retention|reorder|continuous_aggregate|columnstore)_policy$/.test(c.name) && !yes) {
        report('not-idempotent', stmt, c.tok, `${c.name}() without if_not_exists => TRUE fails when the migration is run again (the policy already exists)`, `Add if_not_exists => TRUE to ${c.name}().`)
      }
    }

    // hypertable-unique-without-time
    for (const u of f.uniques) {
      const h = hypertable(u.table)
      if (!h) continue
      const missing = h.columns.filter((c) => !u.columns.includes(c))
      if (missing.length) {
        report('hypertable-unique-without-time', stmt, u.tok,
          `${u.what} (${u.columns.join(', ')}) on hypertable ${showRef(u.table)} does not include its partitioning column${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (create_hypertable in ${h.file}): TimescaleDB refuses it`,
          `Include ${missing.join(', ')} in the key, e.g. (${[...u.columns, ...missing].join(', ')}), or drop the uniqueness.`)
      }
    }

    const cr = f.create
    if (cr) {
      const kind = cr.materialized ? 'MATERIALIZED VIEW' : cr.kind
      const label = `CREATE ${kind}${cr.name ? ` ${showRef(cr.name)}` : ''}`
      if (['TABLE', 'INDEX', 'SCHEMA', 'SEQUENCE', 'EXTENSION', 'MATERIALIZED VIEW'].includes(kind)) {
        if (kind === 'INDEX' && cr.unnamed) report('not-idempotent', stmt, cr.kindTok, 'CREATE INDEX without a name creates another, duplicate index on every run', 'Name the index and use CREATE INDEX IF NOT EXISTS <name>.')
        else if (!cr.ifNotExists) report('not-idempotent', stmt, cr.kindTok, `${kind === 'INDEX' && f.index?.name ? `CREATE INDEX ${f.index.name}` : label} without IF NOT EXISTS fails when the migration is run again`, `Write CREATE ${cr.unique ? 'UNIQUE ' : ''}${kind}${kind === 'INDEX' && f.index?.concurrently ? ' CONCURRENTLY' : ''} IF NOT EXISTS.`)
      } else if (['VIEW', 'FUNCTION', 'PROCEDURE', 'TRIGGER'].includes(kind)) {
        if (!cr.orReplace) report('not-idempotent', stmt, cr.kindTok, `${label} without OR REPLACE fails when the migration is run again`, `Write CREATE OR REPLACE ${kind}.`)
      } else if (kind === 'TYPE' || kind === 'DOMAIN') {
        report('not-idempotent', stmt, cr.kindTok, `${label} has no IF NOT EXISTS and fails when the migration is run again`, `Create it from a DO block that checks pg_type first (IF NOT EXISTS (SELECT 1 FROM pg_type WHERE …) THEN CREATE ${kind} …).`)
      }
    }

    if (f.createdTable) {
      createdHere.push(f.createdTable)
      outcome.created.push(f.createdTable)
    }

    // CREATE INDEX on an existing table
    if (f.index) {
      const ix = f.index
      if (ix.name) indexesHere.add(ix.name)
      if (!isHere(ix.table)) {
        const h = hypertable(ix.table)
        if (!ix.concurrently && !(h && ix.transactionPerChunk)) {
          report('index-not-concurrent', stmt, ix.tok,
            h
              ? `CREATE ${ix.unique ? 'UNIQUE ' : ''}INDEX${ix.name ? ` ${ix.name}` : ''} on hypertable ${showRef(ix.table)} (${origin(ix.table)}) blocks inserts into it until the index is built on every chunk`
              : `CREATE ${ix.unique ? 'UNIQUE ' : ''}INDEX${ix.name ? ` ${ix.name}` : ''} without CONCURRENTLY on existing table ${showRef(ix.table)} (${origin(ix.table)}) blocks writes to it for the whole build`,
            h ? HYPERTABLE_INDEX_FIX : 'Use CREATE INDEX CONCURRENTLY IF NOT EXISTS in a migration of its own starting with --! no-transaction (a failed build leaves an INVALID index: drop it before retrying).')
        }
        needsLock(stmt, f.toks[0]!, `CREATE INDEX on ${showRef(ix.table)}`)
      }
    }

    if (f.trigger && !isHere(f.trigger.table)) needsLock(stmt, f.toks[0]!, `CREATE TRIGGER on ${showRef(f.trigger.table)}`)

    if (f.alter) {
      const { table } = f.alter
      const existing = !isHere(table)
      if (existing) needsLock(stmt, f.toks[0]!, `ALTER TABLE ${showRef(table)}`)
      for (const act of f.alter.actions) {
        if (act.kind === 'add-column') {
          if (!act.ifNotExists) report('not-idempotent', stmt, act.tok, `ADD COLUMN ${act.column} without IF NOT EXISTS fails when the migration is run again`, 'Write ADD COLUMN IF NOT EXISTS.')
          if (existing && act.notNull && !act.hasDefault) {
            report('add-column-not-null-no-default', stmt, act.tok, `ADD COLUMN ${act.column} … NOT NULL without DEFAULT on existing table ${showRef(table)} (${origin(table)}) fails as soon as the table has a row`)
          }
        } else if (act.kind === 'add-constraint') {
          report('not-idempotent', stmt, act.tok,
            act.named ? `ADD CONSTRAINT (${act.what}) has no IF NOT EXISTS and fails when the migration is run again` : `ADD ${act.what} without a constraint name: a re-run fails or adds a duplicate constraint`,
            'Add it from a DO block that checks pg_constraint first (IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = … AND conname = …) THEN ALTER TABLE … ADD CONSTRAINT …).')
        } else if (act.kind === 'alter-type' && existing) {
          report('alter-column-type', stmt, act.tok, `ALTER COLUMN ${act.column} TYPE on existing table ${showRef(table)} (${origin(table)}) usually rewrites the table and its indexes under ACCESS EXCLUSIVE`)
        } else if (act.kind === 'drop-column' && existing) {
          report('drop-column', stmt, act.tok, `DROP COLUMN ${act.column} on ${showRef(table)} (${origin(table)}) deletes that column's data`)
        } else if (act.kind === 'rename-table') {
          outcome.renamed.push({ from: table, to: { schema: table.schema, name: act.to } })
        }
      }
    }

    if (f.drop) {
      const d = f.drop
      if (d.kind === 'TABLE') {
        for (const t of d.names) {
          if (isHere(t)) continue
          report('drop-table', stmt, d.tok, `DROP TABLE ${showRef(t)} (${origin(t)}) deletes its data${hypertable(t) ? ' (a hypertable: all its chunks)' : ''}`)
          needsLock(stmt, d.tok, `DROP TABLE ${showRef(t)}`)
        }
        outcome.dropped.push(...d.names)
      } else if (d.kind === 'INDEX' && d.names.some((n) => !indexesHere.has(n.name))) {
        needsLock(stmt, d.tok, `DROP INDEX ${d.names.map(showRef).join(', ')}`)
      } else if (d.onTable && !isHere(d.onTable)) {
        needsLock(stmt, d.tok, `DROP ${d.kind} on ${showRef(d.onTable)}`)
      }
    }
  }

  if (unguarded.length) {
    const u = unguarded[0]!
    report('missing-lock-timeout', u.stmt, u.tok,
      `${u.what}${unguarded.length > 1 ? ` (and ${unguarded.length - 1} more DDL statement${unguarded.length > 2 ? 's' : ''} on existing tables)` : ''} without an earlier SET lock_timeout in this file: a long lock wait queues all other queries on the table behind it${lockTimeoutLocalOnly ? ' (SET LOCAL has no effect in a --! no-transaction file: each statement is its own transaction)' : ''}`,
      input.noTransaction ? "Put SET lock_timeout = '10s'; at the top of the file (SET LOCAL has no effect in a --! no-transaction file)." : undefined)
  }
  return outcome
}

function isTrue(text: string, toks: Tok[], [a, b]: [number, number]): boolean {
  if (b - a !== 1) return false
  const t = toks[a]!
  if (t.kind === 'word') return t.up === 'TRUE' || t.up === 'ON' || t.up === 'YES'
  if (t.kind === 'string') return /^(t|true|on|yes|1)$/i.test(stringValue(text, t))
  return false
}
