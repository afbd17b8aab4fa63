/**
 * Reads a migrations directory and reports everything that is wrong with it before a database is
 * touched, all at once: bad names, gaps, duplicates, down files without an up file, unreadable /
 * empty / non-UTF-8 files, unknown or misplaced directives, transaction control inside files,
 * statements that cannot run in a transaction in a file that did not declare `--! no-transaction`
 * (errors: the runner refuses the directory), and syntax errors (warnings: the server will
 * refuse the statement when it runs).
 *
 * `discover()` returns `{ migrations, diagnostics }` and never throws for a file problem; the
 * migrator's provider (`FileMigrationProvider.getMigrations`) refuses on the first error
 * diagnostic with the same code and message as ever, and lint turns the diagnostics into findings.
 */
import { lstat, readdir, readFile, realpath, stat } from 'node:fs/promises'
import { sep } from 'node:path'
import { notADirectory } from '../util/files.ts'
import { join, resolve } from 'node:path'
import { HarnessError } from '../errors.ts'
import { sha256 } from '../util/checksum.ts'
import { readDirectives, statementDiagnostics, statementFacts, type StatementFacts } from '../sql/checks.ts'
import type { Diagnostic, Migration, MigrationProvider, MigrationScript } from '../sql/migration.ts'
import { loadParser, splitSql } from '../sql/split.ts'

export type { Diagnostic } from '../sql/migration.ts'

export const FILE_RE = /^(\d{3,})_([A-Za-z0-9][A-Za-z0-9_-]*?)(\.down)?\.sql$/

/** One file the directory holds as a migration (up or down), read or not. */
export interface DiscoveredFile {
  file: string
  kind: 'up' | 'down'
  version: number
  /** Undefined when the file could not be read (unreadable, not UTF-8) or holds no statement. */
  script?: MigrationScript
}

export interface Discovery {
  dir: string
  /**
   * One per number, in order: the first up file of that number with its down file. Files with
   * error diagnostics are included when they could be read (lint and the diagnostic replay use
   * them); the runner never sees them (getMigrations refuses first).
   */
  migrations: Migration[]
  /** Every migration file in reading order (version, up before down), duplicates included. */
  files: DiscoveredFile[]
  diagnostics: Diagnostic[]
}

const errnoOf = (e: unknown) => (e as NodeJS.ErrnoException).code ?? (e as Error).message

/** Reads and checks one file's bytes; `script` is undefined when there is nothing to run. */
export function parseScript(path: string, file: string, bytes: Buffer): { script?: MigrationScript; diagnostics: Diagnostic[] } {
  let sql: string
  try {
    sql = new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    const bad = firstInvalidUtf8(bytes)
    return { diagnostics: [{ code: 'MIGRATION_NOT_UTF8', severity: 'error', file, message: `${file}: not valid UTF-8 (first bad byte at offset ${bad})`, hint: 'Save the file as UTF-8 (e.g. `iconv -f LATIN1 -t UTF-8`).', details: { file, offset: bad } }] }
  }
  if (sql.charCodeAt(0) === 0xfeff) sql = sql.slice(1)
  const facts = new Map<number, StatementFacts>()
  const split = splitSql(sql, {
    visit: (s, tree) => {
      const f = statementFacts(s, tree)
      if (f.transactionControl || f.nonTransactional) facts.set(s.index, f)
    },
  })
  const { statements } = split
  if (statements.length === 0) {
    return { diagnostics: [{ code: 'MIGRATION_EMPTY', severity: 'error', file, message: `${file}: contains no SQL statement`, hint: 'Delete the file, or put the migration in it. An intentionally empty step needs at least `SELECT 1;`.', details: { file } }] }
  }
  const { noTransaction, diagnostics } = readDirectives(file, sql, statements[0]!.start)
  for (const [index, f] of facts) diagnostics.push(...statementDiagnostics(file, statements[index]!, f, noTransaction))
  for (const e of split.syntaxErrors) {
    diagnostics.push({
      code: 'MIGRATION_SYNTAX', severity: 'warning', file, line: e.line, column: e.column,
      message: `${file}:${e.line}:${e.column}: syntax error: ${e.message}`,
      hint: 'PostgreSQL refuses this statement when it runs (SQLSTATE 42601): fix it at the position shown.',
      details: { file, line: e.line, column: e.column, statement: e.statement + 1 },
    })
  }
  const script: MigrationScript = { path, file, sql, checksum: sha256(bytes), statements, noTransaction, syntaxErrors: split.syntaxErrors, unterminated: split.unterminated }
  return { script, diagnostics }
}

/** Why `file` may not be read as a migration of `rootReal`, or undefined when it may (a regular file, or a link to one inside). */
async function notInside(rootReal: string, file: string): Promise<string | undefined> {
  try {
    const l = await lstat(file)
    if (l.isSymbolicLink()) {
      const to = await realpath(file)
      if (!to.startsWith(rootReal + sep)) return `a symbolic link to ${to}, outside the migrations directory ${rootReal}: refused`
      if (!(await stat(to)).isFile()) return `a symbolic link to ${to}, which is not a regular file: refused`
      return undefined
    }
    // A directory is reported by the read (EISDIR); a FIFO, socket or device would block it.
    return l.isFile() || l.isDirectory() ? undefined : 'not a regular file (a FIFO, socket or device): refused'
  } catch {
    // A dangling link or a race: the read below reports it (ENOENT).
    return undefined
  }
}

/** Reads `dir` and reports every problem; throws only when the directory itself cannot be read. */
export async function discover(dir: string): Promise<Discovery> {
  const root = resolve(dir)
  let entries: string[]
  try {
    entries = await readdir(root)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOTDIR') throw notADirectory(root)
    throw new HarnessError('MIGRATIONS_DIR_NOT_FOUND', `migrations directory ${root} cannot be read: ${errnoOf(e)}`, {
      hint: 'Pass the directory with --dir, or run from the project root (default: migrations/).',
      details: { dir: root },
    })
  }
  await loadParser()
  const rootReal = await realpath(root)
  const diagnostics: Diagnostic[] = []
  const ups = new Map<number, Array<{ name: string; file: string }>>()
  const downs = new Map<number, Array<{ name: string; file: string }>>()
  for (const file of entries.sort()) {
    if (!file.endsWith('.sql')) continue
    const m = FILE_RE.exec(file)
    if (!m) {
      diagnostics.push({ code: 'MIGRATION_BAD_NAME', severity: 'error', file, message: `${join(root, file)}: not a migration file name`, hint: 'Name migrations NNN_description.sql (at least three digits, e.g. 010_add_shift_table.sql) and their reversals NNN_description.down.sql.', details: { file } })
      continue
    }
    const version = Number(m[1])
    const target = m[3] ? downs : ups
    const list = target.get(version) ?? []
    if (list.length) {
      diagnostics.push({ code: 'MIGRATION_DUPLICATE', severity: 'error', file, version, message: `${root}: two ${m[3] ? 'down ' : ''}migrations with number ${m[1]}: ${list[0]!.file} and ${file}`, hint: 'Renumber one of them so every number is used once.', details: { files: [list[0]!.file, file], version } })
    }
    list.push({ name: `${m[1]}_${m[2]}`, file })
    target.set(version, list)
  }
  for (const [version, list] of downs) {
    for (const d of list) {
      if (!ups.get(version)?.some((u) => u.name === d.name)) {
        diagnostics.push({ code: 'MIGRATION_ORPHAN_DOWN', severity: 'error', file: d.file, version, message: `${join(root, d.file)}: down file without a matching up file ${d.name}.sql`, hint: 'Rename it to match its up migration, or delete it.', details: { file: d.file } })
      }
    }
  }
  const versions = [...ups.keys()].sort((a, b) => a - b)
  versions.forEach((v, i) => {
    const expected = i === 0 ? 1 : versions[i - 1]! + 1
    if (v !== expected) {
      const found = ups.get(v)![0]!.file
      diagnostics.push({
        code: 'MIGRATION_GAP', severity: 'error', file: found, version: v,
        message: `${root}: migration ${String(expected).padStart(3, '0')} is missing (found ${found} after ${i === 0 ? 'nothing' : ups.get(versions[i - 1]!)![0]!.file})`,
        hint: 'Numbers must run 001, 002, … without gaps: add the missing migration or renumber.',
        details: { missing: expected, found },
      })
    }
  })

  const files: DiscoveredFile[] = []
  const read = async (file: string, kind: 'up' | 'down', version: number): Promise<MigrationScript | undefined> => {
    const path = join(root, file)
    // Only regular files inside the directory: a symlink out of it would run SQL nobody reviewed
    // there, and a FIFO or device would block the read.
    const refused = await notInside(rootReal, path)
    if (refused) {
      diagnostics.push({ code: 'MIGRATION_OUTSIDE_DIR', severity: 'error', file, message: `${path}: ${refused}`, hint: 'Copy the file into the migrations directory (reviewed with the others) instead of linking to it.', details: { file } })
      files.push({ file, kind, version })
      return undefined
    }
    let bytes: Buffer
    try {
      bytes = await readFile(path)
    } catch (e) {
      diagnostics.push({ code: 'MIGRATION_UNREADABLE', severity: 'error', file, message: `${path}: cannot be read: ${errnoOf(e)}`, hint: 'Check the file permissions (the runner needs read access).', details: { file } })
      files.push({ file, kind, version })
      return undefined
    }
    const r = parseScript(path, file, bytes)
    diagnostics.push(...r.diagnostics)
    files.push({ file, kind, version, script: r.script })
    return r.script
  }
  const migrations: Migration[] = []
  for (const version of versions) {
    for (const [i, u] of ups.get(version)!.entries()) {
      const up = await read(u.file, 'up', version)
      const d = downs.get(version)?.find((x) => x.name === u.name)
      const down = d ? await read(d.file, 'down', version) : undefined
      if (i === 0 && up) migrations.push({ version, name: u.name, up, down })
    }
  }
  return { dir: root, migrations, files, diagnostics }
}

/** The HarnessError the runner refuses a directory with: its first error diagnostic. */
export function refusal(diagnostics: Diagnostic[]): HarnessError | undefined {
  const d = diagnostics.find((x) => x.severity === 'error')
  if (!d || d.code === 'MIGRATION_SYNTAX') return undefined
  return new HarnessError(d.code, d.message, { hint: d.hint, details: d.details })
}

/** Offset of the first byte that is not part of a valid UTF-8 sequence (one pass). */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0
  while (i < bytes.length) {
    const b = bytes[i]!
    if (b < 0x80) { i++; continue }
    let n: number
    let lo = 0x80
    let hi = 0xbf
    if (b >= 0xc2 && b <= 0xdf) n = 1
    else if (b >= 0xe0 && b <= 0xef) { n = 2; if (b === 0xe0) lo = 0xa0; if (b === 0xed) hi = 0x9f }
    else if (b >= 0xf0 && b <= 0xf4) { n = 3; if (b === 0xf0) lo = 0x90; if (b === 0xf4) hi = 0x8f }
    else return i
    for (let k = 1; k <= n; k++) {
      const c = bytes[i + k]
      if (c === undefined || c < (k === 1 ? lo : 0x80) || c > (k === 1 ? hi : 0xbf)) return i
    }
    i += n + 1
  }
  return bytes.length
}

export class FileMigrationProvider implements MigrationProvider {
  readonly source: string
  constructor(dir: string) {
    this.source = resolve(dir)
  }

  /** The migrations, or the first error diagnostic as the HarnessError the runner refuses with. */
  async getMigrations(): Promise<Migration[]> {
    const d = await discover(this.source)
    const refused = refusal(d.diagnostics)
    if (refused) throw refused
    return d.migrations
  }
}
