/**
 * Checks that cost nothing, made before any engine starts or database is opened: a mistake in
 * the command line is reported in milliseconds, not after a 4–7 s engine boot.
 */
import { readdir, stat } from 'node:fs/promises'
import { HarnessError } from '../errors.ts'
import { notADirectory } from '../util/files.ts'

/** The migrations directory exists (exit 3), is a directory (usage, exit 2) and has at least one .sql file (exit 3). */
export async function checkMigrationsDir(dir: string): Promise<void> {
  const hint = 'Pass the directory with --dir (or "migrations" in pgverify.config.json), or run from the project root (default: migrations/).'
  const s = await stat(dir).catch((e: NodeJS.ErrnoException) => {
    throw new HarnessError('MIGRATIONS_DIR_NOT_FOUND', `migrations directory ${dir} cannot be read: ${e.code === 'ENOENT' ? 'it does not exist' : e.code ?? e.message}`, { hint, details: { dir } })
  })
  // Something is there, but not a directory: the command line is wrong, not the files (usage, exit 2).
  if (!s.isDirectory()) throw notADirectory(dir)
  const sql = (await readdir(dir)).filter((f) => f.endsWith('.sql'))
  if (sql.length === 0) {
    throw new HarnessError('MIGRATIONS_DIR_NOT_FOUND', `migrations directory ${dir} has no migration files (NNN_name.sql)`, {
      hint: `Check --dir, or start one with \`pgverify new NAME --dir ${dir}\`.`,
      details: { dir },
    })
  }
}

/** A whole number ≥ 0 given as a flag's value; digits only (Number('') is 0). */
export function wholeNumber(name: string, v: unknown, example = '3'): number | undefined {
  if (v === undefined) return undefined
  if (typeof v !== 'string' || !/^\d+$/.test(v.trim())) throw new HarnessError('USAGE', `--${name} needs a whole number, got "${String(v)}"`, { hint: `e.g. --${name} ${example}` })
  return Number(v)
}
