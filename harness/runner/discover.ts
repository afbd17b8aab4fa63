/**
 * Reads a migrations directory and refuses anything ambiguous before a database is touched:
 * bad names, gaps, duplicates, unreadable/empty/non-UTF-8 files, down files without an up
 * file, unknown directives, transaction control inside files, and statements that cannot run
 * in a transaction in a file that did not declare `--! no-transaction`.
 */
import { readdir, readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { HarnessError } from '../errors.ts'
import { sha256 } from '../util/checksum.ts'
import type { Migration, MigrationProvider, MigrationScript } from '../sql/migration.ts'
import { lineColumnAt, splitStatements, type Statement } from '../sql/split.ts'

const FILE_RE = /^(\d{3,})_([A-Za-z0-9][A-Za-z0-9_-]*?)(\.down)?\.sql$/
const KNOWN_DIRECTIVES = new Set(['no-transaction'])

/** Statements PostgreSQL or TimescaleDB refuse inside a transaction block. */
const NON_TRANSACTIONAL: Array<{ re: RegExp; what: string }> = [
  { re: /\b(CREATE\s+(UNIQUE\s+)?INDEX|DROP\s+INDEX|REINDEX\b[\s\S]*?)\s+CONCURRENTLY\b/i, what: 'CONCURRENTLY' },
  { re: /\btimescaledb\.transaction_per_chunk\b/i, what: 'timescaledb.transaction_per_chunk' },
  { re: /\brefresh_continuous_aggregate\s*\(/i, what: 'refresh_continuous_aggregate()' },
  { re: /\breorder_chunk\s*\(/i, what: 'reorder_chunk()' },
  { re: /^\s*VACUUM\b/i, what: 'VACUUM' },
  { re: /^\s*(CREATE|DROP)\s+DATABASE\b/i, what: 'CREATE/DROP DATABASE' },
  { re: /^\s*ALTER\s+SYSTEM\b/i, what: 'ALTER SYSTEM' },
  { re: /\btimescaledb\.continuous\b(?![\s\S]*\bWITH\s+NO\s+DATA\b)/i, what: 'a continuous aggregate created WITH DATA' },
]
const TRANSACTION_CONTROL = /^\s*(BEGIN|COMMIT|ROLLBACK|START\s+TRANSACTION|END|ABORT|SAVEPOINT|RELEASE|PREPARE\s+TRANSACTION)\b/i

export function parseScript(path: string, file: string, bytes: Buffer): MigrationScript {
  let sql: string
  try {
    sql = new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    const bad = firstInvalidUtf8(bytes)
    throw new HarnessError('MIGRATION_NOT_UTF8', `${file}: not valid UTF-8 (first bad byte at offset ${bad})`, {
      hint: 'Save the file as UTF-8 (e.g. `iconv -f LATIN1 -t UTF-8`).',
      details: { file, offset: bad },
    })
  }
  if (sql.charCodeAt(0) === 0xfeff) sql = sql.slice(1)
  const statements = splitStatements(sql)
  if (statements.length === 0) {
    throw new HarnessError('MIGRATION_EMPTY', `${file}: contains no SQL statement`, {
      hint: 'Delete the file, or put the migration in it. An intentionally empty step needs at least `SELECT 1;`.',
      details: { file },
    })
  }
  const noTransaction = readDirectives(file, sql, statements[0]!)
  for (const s of statements) {
    const at = `${file}:${s.line}:${s.column}`
    if (TRANSACTION_CONTROL.test(s.code)) {
      throw new HarnessError('MIGRATION_TRANSACTION_CONTROL', `${at}: transaction control in a migration file: ${firstLine(s.text)}`, {
        hint: 'Remove it: the runner opens and commits one transaction per migration. For statements that cannot run in a transaction, put `--! no-transaction` at the top of the file.',
        details: { file, line: s.line, column: s.column },
      })
    }
    if (!noTransaction) {
      const hit = NON_TRANSACTIONAL.find((n) => n.re.test(s.code))
      if (hit) {
        throw new HarnessError('MIGRATION_NEEDS_NO_TRANSACTION', `${at}: ${hit.what} cannot run inside a transaction block, and the file does not declare \`--! no-transaction\``, {
          hint: 'Move the statement into a migration of its own that starts with the line `--! no-transaction` (see README: non-transactional migrations), or drop CONCURRENTLY.',
          details: { file, line: s.line, column: s.column, statement: s.text },
        })
      }
    }
  }
  return { path, file, sql, checksum: sha256(bytes), statements, noTransaction }
}

/** `--! name` lines before the first statement; anything else that looks like one is an error. */
function readDirectives(file: string, sql: string, first: Statement): boolean {
  let noTransaction = false
  const re = /^--!\s*(\S*)(.*)$/gm
  for (let m = re.exec(sql); m; m = re.exec(sql)) {
    const { line } = lineColumnAt(sql, m.index)
    const name = m[1]!
    if (m.index > first.start) {
      throw new HarnessError('MIGRATION_DIRECTIVE', `${file}:${line}: directive \`--! ${name}\` after the first statement`, {
        hint: 'Directives go at the top of the file, before any SQL.',
        details: { file, line },
      })
    }
    if (!KNOWN_DIRECTIVES.has(name) || m[2]!.trim() !== '') {
      throw new HarnessError('MIGRATION_DIRECTIVE', `${file}:${line}: unknown directive \`--! ${(name + m[2]).trim()}\``, {
        hint: `Known directives: ${[...KNOWN_DIRECTIVES].map((d) => `--! ${d}`).join(', ')}. A plain comment starts with \`-- \`.`,
        details: { file, line },
      })
    }
    noTransaction = true
  }
  return noTransaction
}

function firstInvalidUtf8(bytes: Buffer): number {
  for (let i = 0; i < bytes.length; i++) {
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, i + 1))
    } catch {
      // A truncated multi-byte sequence at the end is not yet an error: look a little further.
      try {
        new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, Math.min(bytes.length, i + 4)))
      } catch {
        return i
      }
    }
  }
  return bytes.length
}

const firstLine = (s: string) => s.split('\n')[0]!.slice(0, 120)

export class FileMigrationProvider implements MigrationProvider {
  readonly source: string
  constructor(dir: string) {
    this.source = resolve(dir)
  }

  async getMigrations(): Promise<Migration[]> {
    const dir = this.source
    let entries: string[]
    try {
      entries = await readdir(dir)
    } catch (e) {
      throw new HarnessError('MIGRATIONS_DIR_NOT_FOUND', `migrations directory ${dir} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, {
        hint: 'Pass the directory with --dir, or run from the project root (default: migrations/).',
        details: { dir },
      })
    }
    const ups = new Map<number, { name: string; file: string }>()
    const downs = new Map<number, { name: string; file: string }>()
    for (const file of entries.sort()) {
      if (!file.endsWith('.sql')) continue
      const m = FILE_RE.exec(file)
      if (!m) {
        throw new HarnessError('MIGRATION_BAD_NAME', `${join(dir, file)}: not a migration file name`, {
          hint: 'Name migrations NNN_description.sql (at least three digits, e.g. 010_add_shift_table.sql) and their reversals NNN_description.down.sql.',
          details: { file },
        })
      }
      const version = Number(m[1])
      const name = `${m[1]}_${m[2]}`
      const target = m[3] ? downs : ups
      const clash = target.get(version)
      if (clash) {
        throw new HarnessError('MIGRATION_DUPLICATE', `${dir}: two ${m[3] ? 'down ' : ''}migrations with number ${m[1]}: ${clash.file} and ${file}`, {
          hint: 'Renumber one of them so every number is used once.',
          details: { files: [clash.file, file], version },
        })
      }
      target.set(version, { name, file })
    }
    for (const [version, d] of downs) {
      const up = ups.get(version)
      if (!up || up.name !== d.name) {
        throw new HarnessError('MIGRATION_ORPHAN_DOWN', `${join(dir, d.file)}: down file without a matching up file ${d.name}.sql`, {
          hint: 'Rename it to match its up migration, or delete it.',
          details: { file: d.file },
        })
      }
    }
    const versions = [...ups.keys()].sort((a, b) => a - b)
    versions.forEach((v, i) => {
      if (v !== i + 1) {
        const expected = String(i + 1).padStart(3, '0')
        throw new HarnessError('MIGRATION_GAP', `${dir}: migration ${expected} is missing (found ${ups.get(v)!.file} after ${i === 0 ? 'nothing' : ups.get(versions[i - 1]!)!.file})`, {
          hint: 'Numbers must run 001, 002, … without gaps: add the missing migration or renumber.',
          details: { missing: i + 1, found: ups.get(v)!.file },
        })
      }
    })
    const read = async (file: string) => {
      const path = join(dir, file)
      try {
        return parseScript(path, file, await readFile(path))
      } catch (e) {
        if (e instanceof HarnessError) throw e
        throw new HarnessError('MIGRATION_UNREADABLE', `${path}: cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, {
          hint: 'Check the file permissions (the runner needs read access).',
          details: { file },
        })
      }
    }
    const migrations: Migration[] = []
    for (const version of versions) {
      const u = ups.get(version)!
      const d = downs.get(version)
      migrations.push({ version, name: u.name, up: await read(u.file), down: d ? await read(d.file) : undefined })
    }
    return migrations
  }
}
