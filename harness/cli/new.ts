/**
 * `pgverify new NAME`: starts the next migration, NNN_name.sql and NNN_name.down.sql, from a
 * template our own lint accepts (SET LOCAL lock_timeout first, so DDL on a busy table fails fast
 * instead of queueing every query behind it). Writes nothing but the two files; refuses to
 * overwrite one.
 */
import { mkdir, readdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { HarnessError } from '../errors.ts'
import { FILE_RE } from '../runner/discover.ts'
import { EXIT } from './exit-codes.ts'
import { dim, json, out } from './output.ts'
import { flag, type Args, type Verb, type VerbContext } from './verb.ts'

export const NEW_HELP = `Usage: pgverify new NAME [--dir DIR]

Creates the next migration in DIR (default: pgverify.config.json "migrations", else migrations):
NNN_NAME.sql and NNN_NAME.down.sql, numbered after the highest number there (001 in an empty or
new directory), from a template that passes \`pgverify lint\`:

  SET LOCAL lock_timeout = '5s';      a DDL statement waiting for a lock fails after 5 s instead
                                      of blocking every query on the table behind it

NAME: lower-case letters, digits and underscores (e.g. add_widget).

Options:
  --dir DIR    the migrations directory
  --json       print the created files as JSON

Exit codes: 0 created · 2 usage (no NAME, a bad NAME, a file that exists)`

const header = (file: string, what: string) => `-- ${file}: ${what}
--
-- Runs in one transaction with its migration_log row (the runner's): it commits fully or not at
-- all. A statement PostgreSQL refuses in a transaction (CREATE INDEX CONCURRENTLY, …) needs
-- "--! no-transaction" as the first line, and SET lock_timeout without LOCAL.

-- Fail fast instead of queueing every query on a busy table behind this migration's locks.
SET LOCAL lock_timeout = '5s';
`

export function templates(version: string, name: string): { up: string; down: string } {
  const base = `${version}_${name}`
  return {
    up: `${header(`${base}.sql`, 'TODO say what this migration changes, and why')}
-- TODO the migration's statements, e.g.:
-- CREATE TABLE IF NOT EXISTS app.widget (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name TEXT NOT NULL);
`,
    down: `${header(`${base}.down.sql`, `reverses ${base}.sql (pgverify migrate down --to ${Number(version) - 1})`)}
-- TODO undo the statements of ${base}.sql, in reverse order, e.g.:
-- DROP TABLE IF EXISTS app.widget;
`,
  }
}

/** The next number after the highest in `dir`, as wide as the widest there (at least three digits). */
async function nextVersion(dir: string): Promise<string> {
  const entries = await readdir(dir).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return [] as string[]
    throw new HarnessError('MIGRATIONS_DIR_NOT_FOUND', `migrations directory ${dir} cannot be read: ${e.code ?? e.message}`, { hint: 'Check --dir.' })
  })
  const numbers = entries.map((f) => FILE_RE.exec(f)?.[1]).filter((n): n is string => n !== undefined)
  const width = Math.max(3, ...numbers.map((n) => n.length))
  const next = Math.max(0, ...numbers.map(Number)) + 1
  return String(next).padStart(width, '0')
}

export async function create(argv: Args, { config }: VerbContext): Promise<number> {
  const name = argv._[0]
  if (!name) throw new HarnessError('USAGE', 'missing the migration NAME', { hint: 'e.g. pgverify new add_widget' })
  if (!/^[a-z0-9][a-z0-9_]*$/.test(name)) {
    const fixed = name.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '')
    throw new HarnessError('USAGE', `"${name}" is not a migration name: lower-case letters, digits and underscores`, { hint: fixed ? `e.g. pgverify new ${fixed}` : 'e.g. pgverify new add_widget' })
  }
  const dir = path.resolve(flag(argv, 'dir') ?? config.dir)
  const version = await nextVersion(dir)
  const t = templates(version, name)
  const files = { up: path.join(dir, `${version}_${name}.sql`), down: path.join(dir, `${version}_${name}.down.sql`) }
  await mkdir(dir, { recursive: true })
  for (const [file, text] of [[files.up, t.up], [files.down, t.down]] as const) {
    // 'wx': never overwrite (two runs at once, or a file the numbering did not see).
    await writeFile(file, text, { flag: 'wx' }).catch((e: NodeJS.ErrnoException) => {
      throw new HarnessError('USAGE', e.code === 'EEXIST' ? `${file} exists already` : `${file} cannot be written: ${e.code ?? e.message}`, { hint: 'Nothing was overwritten; pick another name or remove the file.' })
    })
  }
  if (argv.json) json({ ok: true, version: Number(version), files })
  else {
    out(`created ${path.relative(process.cwd(), files.up)}`)
    out(`created ${path.relative(process.cwd(), files.down)}`)
    out(dim(`then: pgverify lint ${path.relative(process.cwd(), dir) || '.'} · pgverify verify`))
  }
  return EXIT.OK
}

export const verb: Verb = { help: NEW_HELP, options: { string: ['dir'], boolean: ['json'], positionals: 1 }, run: create }
