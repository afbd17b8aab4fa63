/**
 * Turns a server error raised by one statement of a migration into file:line:column, a
 * snippet with a caret, the SQLSTATE and a hint: what a person needs to fix the file.
 */
import type { MigrationScript } from '../sql/migration.ts'
import { sqlstateOf } from '../sqlstate.ts'
import { lineColumnAt, positionToOffset, type Statement } from '../sql/split.ts'
import type { Stall } from './watchdog.ts'

/** The fields of a pg DatabaseError we use; other errors (lost connection) have only a message. */
export interface ServerError {
  message: string
  code?: string
  position?: string
  detail?: string
  hint?: string
  where?: string
}

export interface LocatedError {
  file: string
  line: number
  column: number
  /** 1-based statement number in the file. */
  statement: number
  sqlstate?: string
  message: string
  detail?: string
  hint?: string
  /** PL/pgSQL context, when the error came from inside a function or DO block. */
  where?: string
  /** The statement, shortened to its first lines. */
  text: string
  /** Source lines around the error with a caret under the column. */
  snippet: string[]
  /** Set when the watchdog ended the statement: it waited on a lock, or the server stopped answering. */
  stall?: Stall
}

/** Hints for common SQLSTATEs when the server gives none. */
const HINTS: Record<string, string> = {
  '42601': 'Syntax error: check the statement around the caret.',
  '42P01': 'The relation does not exist: an earlier migration must create it (check the order and the schema name).',
  '42703': 'The column does not exist: check its name, or the migration that should add it.',
  '42883': 'No function with these argument types: is the extension installed, and are the arguments cast right?',
  '42P07': 'The relation already exists: use IF NOT EXISTS so the migration can run twice.',
  '42710': 'The object already exists: guard it (IF NOT EXISTS, or a DO block that checks the catalog).',
  '42701': 'The column already exists: use ADD COLUMN IF NOT EXISTS.',
  '23502': 'Existing rows violate NOT NULL: add a DEFAULT, or backfill before setting NOT NULL.',
  '23503': 'Existing rows violate the foreign key: fix or delete the orphans first.',
  '23505': 'Existing rows violate the unique constraint: deduplicate first.',
  '23514': 'Existing rows violate the CHECK constraint: fix the data first, or add it NOT VALID and validate later.',
  '25001': 'This statement cannot run inside a transaction: move it to a file that starts with `--! no-transaction`.',
  '0A000': 'Not supported here (e.g. a unique index on a hypertable without its time column, or a feature this server lacks).',
  '55P03': 'Lock not available: another session holds a conflicting lock. Retry when the table is quiet, or raise lock_timeout.',
  '57014': 'The statement was cancelled: statement_timeout ran out (or pg_cancel_backend). Make the statement cheaper or run it in a maintenance window, or give this migration more time with SET LOCAL statement_timeout at the top of the file.',
  '42501': 'Insufficient privilege: run as a role that owns the objects, or grant the privilege.',
  '40P01': 'Deadlock with another session: retry when the database is quiet.',
  P0001: 'Raised by the migration itself (RAISE EXCEPTION): read the message.',
}

export function locateError(script: MigrationScript, stmt: Statement, err: ServerError): LocatedError {
  const position = err.position ? Number(err.position) : 0
  const offset = stmt.start + (position > 0 ? positionToOffset(stmt.text, position) : guessOffset(stmt, err.message))
  const { line, column } = lineColumnAt(script.sql, offset)
  const lines = script.sql.split('\n')
  const snippet: string[] = []
  const from = Math.max(1, line - 2)
  const width = String(line + 1).length
  for (let n = from; n <= Math.min(lines.length, line + 1); n++) {
    snippet.push(`${n === line ? '>' : ' '} ${String(n).padStart(width)} | ${lines[n - 1]}`)
    if (n === line) snippet.push(`  ${' '.repeat(width)} | ${' '.repeat(Math.max(0, column - 1))}^`)
  }
  const textLines = stmt.text.split('\n')
  return {
    file: script.file,
    line,
    column,
    statement: stmt.index + 1,
    // A Node errno (ECONNRESET, EPIPE) is not a SQLSTATE: the message names it.
    sqlstate: sqlstateOf(err),
    message: err.message,
    detail: err.detail,
    hint: err.hint ?? (err.code ? HINTS[err.code] : undefined),
    where: err.where,
    text: textLines.length > 8 ? [...textLines.slice(0, 8), '  …'].join('\n') : stmt.text,
    snippet,
  }
}

/**
 * Some errors carry no position (e.g. a REFERENCES to a missing table inside CREATE TABLE).
 * The object they name in quotes is then looked up in the statement's code (comments and
 * strings blanked), so the caret still lands on the culprit rather than the statement start.
 */
function guessOffset(stmt: Statement, message: string): number {
  for (const m of message.matchAll(/"([^"]+)"/g)) {
    const name = m[1]!
    for (const candidate of [name, name.split('.').pop()!]) {
      const re = new RegExp(`(?<![\\w$])"?${candidate.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace('\\.', '"?\\."?')}"?(?![\\w$])`, 'i')
      const hit = re.exec(stmt.code)
      if (hit) return hit.index
    }
  }
  return 0
}

export function formatLocated(e: LocatedError): string {
  const head = `${e.file}:${e.line}:${e.column}: ERROR${e.sqlstate ? ` ${e.sqlstate}` : ''}: ${e.message}`
  const parts = [head, ...e.snippet]
  if (e.detail) parts.push(`  detail: ${e.detail}`)
  if (e.where) parts.push(`  where: ${e.where.split('\n').join(' / ')}`)
  if (e.hint) parts.push(`  hint: ${e.hint}`)
  return parts.join('\n')
}
