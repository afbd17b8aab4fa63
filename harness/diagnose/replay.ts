/**
 * The diagnostic replay: applies every migration it can, in order, on an empty database, and
 * keeps going. Each statement of a transactional file runs under a savepoint: a failure is
 * recorded (file:line:column, SQLSTATE, message, hint) and rolled back to its savepoint, and the
 * replay goes on with the next statement; what succeeded is committed at the end of the file, so
 * later files find it. A `--! no-transaction` file runs statement by statement in autocommit, as
 * the runner runs it. A statement that fails because an earlier failed statement did not create
 * what it needs is marked as following from it, not counted as a defect of its own.
 *
 * It never decides a verdict: the runner's real semantics (file by file, one transaction each)
 * do. This lists every problem at once.
 */
import type pg from 'pg'
import { locateError, type LocatedError } from '../runner/locate.ts'
import { restoreSessionSettings, sessionSettings } from '../runner/session-settings.ts'
import { quoteIdent } from '../util/sql.ts'
import type { Migration } from '../sql/migration.ts'
import { createdBy, isTransactionControl, matches, missingIn, treeOf, type Created } from './objects.ts'

export interface StatementFailure extends LocatedError {
  /** file:line:column of the failure this one follows from (an object it would have created). */
  followsFrom?: string
  /** The engine cannot run this statement at all (a non-transactional index build here). */
  engineLimit?: boolean
}

export interface DiagnosticReplay {
  files: number
  statements: number
  /** Statements that ran and succeeded. */
  succeeded: number
  failures: StatementFailure[]
  /** Not sent: transaction control inside a file (the files stage refuses it). */
  notRun: Array<{ file: string; line: number; column: number; text: string; reason: string }>
}

export interface ReplayOptions {
  /** Extensions to create first, as the runner's bootstrap does. */
  extensions: string[]
  /** Schemas to create first (the migration log's schema, which the runner's bootstrap creates). */
  schemas: string[]
  /** The engine cannot build indexes outside a transaction (CONCURRENTLY, transaction_per_chunk). */
  noNonTransactionalIndexBuilds?: boolean
  onFile?: (file: string) => void
}

const firstLine = (s: string) => s.split('\n')[0]!.slice(0, 160)
const NON_TX_INDEX = /\bCONCURRENTLY\b|timescaledb\.transaction_per_chunk/i

export async function diagnosticReplay(client: pg.ClientBase, migrations: Migration[], options: ReplayOptions): Promise<DiagnosticReplay> {
  const result: DiagnosticReplay = { files: 0, statements: 0, succeeded: 0, failures: [], notRun: [] }
  for (const e of options.extensions) await client.query(`CREATE EXTENSION IF NOT EXISTS ${quoteIdent(e)} CASCADE`).catch(() => {})
  for (const s of options.schemas) await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(s)}`).catch(() => {})
  /** What each failed statement would have created, with where it failed. */
  const lost: Array<{ created: Created; at: string }> = []

  for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
    const script = m.up
    options.onFile?.(script.file)
    result.files++
    const tx = !script.noTransaction
    const settings = await sessionSettings(client)
    if (tx) await client.query('BEGIN')
    for (const stmt of script.statements) {
      const tree = treeOf(stmt)
      if (isTransactionControl(stmt, tree)) {
        result.notRun.push({ file: script.file, line: stmt.line, column: stmt.column, text: firstLine(stmt.text), reason: 'transaction control: the runner owns the transaction (the files stage refuses the file)' })
        continue
      }
      result.statements++
      if (tx) await client.query('SAVEPOINT pgverify_diagnostic')
      try {
        await client.query(stmt.text)
        if (tx) await client.query('RELEASE SAVEPOINT pgverify_diagnostic')
        result.succeeded++
      } catch (e) {
        if (tx) await client.query('ROLLBACK TO SAVEPOINT pgverify_diagnostic')
        const located: StatementFailure = locateError(script, stmt, e as Error & { code?: string })
        const at = `${located.file}:${located.line}:${located.column}`
        const cause = missingIn(located.message).map((miss) => lost.find((l) => matches(miss, l.created))).find(Boolean)
        if (cause) located.followsFrom = cause.at
        if (options.noNonTransactionalIndexBuilds && script.noTransaction && NON_TX_INDEX.test(stmt.code)) located.engineLimit = true
        result.failures.push(located)
        for (const c of createdBy(tree, stmt.code)) lost.push({ created: c, at })
      }
    }
    if (tx) await client.query('COMMIT').catch(async () => client.query('ROLLBACK').catch(() => {}))
    // Settings a file changed (search_path, timeouts) must not leak into the next one (as the runner does).
    await restoreSessionSettings(client, settings).catch(() => {})
  }
  return result
}

/** One failure as lines for a report: where, SQLSTATE, message, hint; or what it follows from. */
export function formatFailure(f: StatementFailure): string[] {
  const head = `${f.file}:${f.line}:${f.column}: ERROR${f.sqlstate ? ` ${f.sqlstate}` : ''}: ${f.message}`
  if (f.followsFrom) return [`${head}  (follows from ${f.followsFrom})`]
  const lines = [head, `    > ${firstLine(f.text)}`]
  if (f.engineLimit) lines.push('    engine limit: this engine cannot build an index outside a transaction; verify on a server engine')
  if (f.detail) lines.push(`    detail: ${f.detail}`)
  if (f.hint) lines.push(`    hint: ${f.hint}`)
  return lines
}
