/**
 * Replays a (possibly very large) SQL script over a `pg` connection: the plain-SQL dumps of the
 * WASM pg_dump and the data-only backups. The script is sent in batches of whole statements
 * (a lean scanner finds top-level semicolons: strings, quoted identifiers, dollar quotes and
 * comments are respected), each batch under a savepoint. When a batch fails, its statements are
 * replayed one by one to name the failing statement exactly: file, line, SQLSTATE, message.
 *
 * The caller owns the transaction: this never commits, so a failed restore leaves nothing.
 */
import { createReadStream } from 'node:fs'
import { StringDecoder } from 'node:string_decoder'
import type pg from 'pg'
import { HarnessError } from '../errors.ts'
import { skipTrivia } from '../sql/scan.ts'
import { restoreSessionSettings, sessionSettings } from '../runner/session-settings.ts'

export interface Batch {
  /** Offset of the batch's first character in the script. */
  start: number
  /** 1-based line of `start`. */
  line: number
  text: string
}

const isIdent = (c: number) => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c >= 128

/**
 * Offsets just after each top-level `;` (and the script's end). psql meta-commands at the start
 * of a line (`\restrict`, `\unrestrict` written by newer pg_dumps) are blanked out.
 */
export function statementEnds(sql: string): { ends: number[]; metaLines: { offset: number; text: string }[] } {
  const ends: number[] = []
  const metaLines: { offset: number; text: string }[] = []
  const n = sql.length
  let i = 0
  let lineStart = true
  while (i < n) {
    const c = sql.charCodeAt(i)
    if (lineStart && c === 92 /* \ */) {
      const eol = sql.indexOf('\n', i)
      const end = eol < 0 ? n : eol
      metaLines.push({ offset: i, text: sql.slice(i, end) })
      i = end
      continue
    }
    lineStart = c === 10
    if (c === 39 /* ' */) {
      const escapes = i > 0 && (sql[i - 1] === 'E' || sql[i - 1] === 'e') && (i < 2 || !isIdent(sql.charCodeAt(i - 2)))
      i++
      while (i < n) {
        const d = sql.charCodeAt(i)
        if (escapes && d === 92) i += 2
        else if (d === 39) {
          if (sql.charCodeAt(i + 1) === 39) i += 2
          else break
        } else i++
      }
      i++
    } else if (c === 34 /* " */) {
      i++
      while (i < n) {
        if (sql.charCodeAt(i) === 34) {
          if (sql.charCodeAt(i + 1) === 34) i += 2
          else break
        } else i++
      }
      i++
    } else if (c === 45 && sql.charCodeAt(i + 1) === 45) {
      const eol = sql.indexOf('\n', i)
      i = eol < 0 ? n : eol
    } else if (c === 47 && sql.charCodeAt(i + 1) === 42) {
      let depth = 1
      i += 2
      while (i < n && depth > 0) {
        if (sql.charCodeAt(i) === 47 && sql.charCodeAt(i + 1) === 42) (depth++, (i += 2))
        else if (sql.charCodeAt(i) === 42 && sql.charCodeAt(i + 1) === 47) (depth--, (i += 2))
        else i++
      }
    } else if (c === 36 /* $ */ && (i === 0 || !isIdent(sql.charCodeAt(i - 1)))) {
      let j = i + 1
      while (j < n && isIdent(sql.charCodeAt(j)) && !(sql.charCodeAt(j) >= 48 && sql.charCodeAt(j) <= 57 && j === i + 1)) j++
      if (sql.charCodeAt(j) === 36) {
        const tag = sql.slice(i, j + 1)
        const close = sql.indexOf(tag, j + 1)
        i = close < 0 ? n : close + tag.length
      } else i++
    } else if (c === 59 /* ; */) {
      i++
      ends.push(i)
    } else i++
  }
  if (ends.length === 0 || ends[ends.length - 1]! < n) ends.push(n)
  return { ends, metaLines }
}

/** Batches of whole statements of at most about `maxChars` characters (one statement may exceed it). */
export function batches(sql: string, maxChars = 4_000_000): Batch[] & { statements?: number } {
  const { ends, metaLines } = statementEnds(sql)
  let text = sql
  if (metaLines.length) {
    // Blank the meta-command lines (same length, so offsets and lines stay true).
    const chars = [...metaLines].reverse()
    for (const m of chars) text = text.slice(0, m.offset) + ' '.repeat(m.text.length) + text.slice(m.offset + m.text.length)
  }
  const out: Batch[] & { statements?: number } = []
  out.statements = ends.length
  let start = 0
  let line = 1
  let counted = 0
  for (let k = 0; k < ends.length; k++) {
    const end = ends[k]!
    const last = k === ends.length - 1
    if (end - start >= maxChars || last) {
      const chunk = text.slice(start, end)
      if (chunk.trim()) {
        for (let p = counted; p < start; p++) if (text.charCodeAt(p) === 10) line++
        counted = start
        out.push({ start, line, text: chunk })
      }
      start = end
    }
  }
  return out
}

export function unsupportedMeta(sql: string): string[] {
  return statementEnds(sql)
    .metaLines.map((m) => m.text)
    .filter((t) => !/^\\(restrict|unrestrict)\b/.test(t))
}

const lineAt = (text: string, offset: number, firstLine: number) => {
  let line = firstLine
  for (let p = 0; p < offset && p < text.length; p++) if (text.charCodeAt(p) === 10) line++
  return line
}

interface PgError {
  code?: string
  message: string
  position?: string
  detail?: string
  hint?: string
  where?: string
}

/** A script with psql meta-commands (`\connect`, …) is not one of ours: psql must run it. */
function refuseMeta(sql: string, label: string): void {
  const bad = unsupportedMeta(sql)
  if (bad.length) {
    throw new HarnessError('RESTORE_FAILED', `${label}: contains psql meta-commands this restore cannot run: ${bad.slice(0, 3).join(', ')}`, {
      hint: 'Restore this file with psql (it is not a dump written by this tool).',
    })
  }
}

/** One batch under a savepoint, so a failure is located (at `at`, lines of the whole file) in a transaction that can still say where. */
async function runBatch(client: pg.ClientBase, b: Batch, at: Batch, label: string): Promise<void> {
  await client.query('SAVEPOINT pgverify_script')
  try {
    await client.query(b.text)
    await client.query('RELEASE SAVEPOINT pgverify_script')
  } catch (e) {
    await client.query('ROLLBACK TO SAVEPOINT pgverify_script')
    throw await locate(client, at, e as PgError, label)
  }
}

/**
 * Runs `sql` inside the caller's transaction. Throws RESTORE_FAILED naming `label`:line, the
 * SQLSTATE and the statement's first line; the transaction is then aborted (roll it back).
 */
export async function runScript(client: pg.ClientBase, sql: string, label: string, options: { maxChars?: number; onProgress?: (done: number, total: number) => void } = {}): Promise<{ statements: number; batches: number }> {
  refuseMeta(sql, label)
  const list = batches(sql, options.maxChars)
  const statements = list.statements ?? 0
  for (const [i, b] of list.entries()) {
    await runBatch(client, b, b, label)
    options.onProgress?.(i + 1, list.length)
  }
  return { statements, batches: list.length }
}

/**
 * `runScript` over a file of any size, read as a stream: memory holds one chunk plus the statement
 * it cuts, never the file (a JavaScript string caps at about 512 MiB, and a data-only backup of a
 * few million rows is larger). Each chunk's whole statements go out as batches; the cut statement
 * is carried into the next chunk. Lines in errors count from the start of the file.
 */
export async function runScriptFile(client: pg.ClientBase, file: string, label: string, options: { chunkBytes?: number } = {}): Promise<{ statements: number; batches: number }> {
  const decoder = new StringDecoder('utf8')
  let carry = ''
  let line = 1
  let statements = 0
  let sent = 0
  const run = async (text: string, final: boolean) => {
    // Without the end of the file, the text after the last top-level `;` is a statement still being
    // read. The scan gets one space more, so the end it adds for unfinished text is never taken for a
    // `;` (a chunk can end on a `;` inside a comment or string).
    const ends = final ? [] : statementEnds(text + ' ').ends
    const cut = final ? text.length : ends.filter((e) => e <= text.length && text.charCodeAt(e - 1) === 59).pop() ?? 0
    const whole = text.slice(0, cut)
    carry = text.slice(cut)
    if (!whole.trim()) {
      line += countLines(whole)
      return
    }
    refuseMeta(whole, label)
    const list = batches(whole)
    // Statements with a token in them (a trailing comment is not one).
    let prev = 0
    for (const e of statementEnds(whole).ends) {
      if (skipTrivia(whole, prev, e) < e) statements++
      prev = e
    }
    for (const b of list) {
      await runBatch(client, b, { ...b, line: b.line + line - 1 }, label)
      sent++
    }
    line += countLines(whole)
  }
  for await (const chunk of createReadStream(file, { highWaterMark: options.chunkBytes ?? 4 * 1024 * 1024 })) await run(carry + decoder.write(chunk as Buffer), false)
  await run(carry + decoder.end(), true)
  return { statements, batches: sent }
}

const countLines = (text: string) => {
  let n = 0
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++
  return n
}

/** Replays a failed batch statement by statement (still inside the rolled-back savepoint's transaction) to name the failing one. */
async function locate(client: pg.ClientBase, b: Batch, first: PgError, label: string): Promise<HarnessError> {
  let err = first
  let at = 0
  let found = false
  const { ends } = statementEnds(b.text)
  if (first.position) {
    at = Number(first.position) - 1
    found = true
  } else {
    let prev = 0
    for (const end of ends) {
      const stmt = b.text.slice(prev, end)
      if (stmt.trim()) {
        try {
          await client.query(stmt)
        } catch (e) {
          err = e as PgError
          // The statement starts after the comments that follow the previous `;` (they belong to its line).
          at = (err.position ? prev + (stmt.length - stmt.trimStart().length) + Number(err.position) - 1 : skipTrivia(b.text, prev, end))
          found = true
          break
        }
      }
      prev = end
    }
  }
  const line = lineAt(b.text, at, b.line)
  const stmtStart = Math.max(0, b.text.lastIndexOf(';', at - 1) + 1)
  const snippet = b.text.slice(stmtStart, stmtStart + 400).trim().split('\n').find((l) => l.trim() && !l.trim().startsWith('--'))?.slice(0, 160) ?? ''
  return new HarnessError('RESTORE_FAILED', `${label}:${line}: ${err.code ? `[SQLSTATE ${err.code}] ` : ''}${err.message}${err.detail ? `\n  detail: ${err.detail}` : ''}${snippet ? `\n  statement: ${snippet}` : ''}${found ? '' : ' (statement not isolated)'}`, {
    hint: err.code === '23505'
      ? 'A row the backup brings already exists here: restore into an empty database, or let the restore replace the schemas (in-place restore drops them first).'
      : err.code === '42P07' || err.code === '42710'
        ? 'An object the backup creates already exists here: restore into an empty database, or in place (which drops the backed-up schemas first).'
        : 'Nothing of this restore was kept (it ran in one transaction). Fix the cause above and run the restore again.',
    details: { file: label, line, sqlstate: err.code },
  })
}

/** The session's user-settable settings, to put back after a script that SETs things (a dump does). */
export { restoreSessionSettings, sessionSettings }

/**
 * `body` in one transaction: committed when it returns, rolled back when it throws (the database
 * is then as it was), and the session's settings put back either way, since a dump's own SET
 * commands (search_path, …) would otherwise outlive the restore on this connection.
 */
export async function inOneTransaction<T>(client: pg.ClientBase, body: () => Promise<T>): Promise<T> {
  const settings = await sessionSettings(client)
  await client.query('BEGIN')
  try {
    const result = await body()
    await client.query('COMMIT')
    return result
  } catch (e) {
    await client.query('ROLLBACK').catch(() => {})
    throw e
  } finally {
    await restoreSessionSettings(client, settings)
  }
}
