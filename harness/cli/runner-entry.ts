/**
 * Entry point of the emitted production runner (`pnpm build:runner` → dist/runner/pgverify-runner.mjs).
 *
 * Production servers carry no dev toolchain: this entry exposes only what runs against
 * DATABASE_URL — migrate, validate, backup, restore, execute — built from the very verb modules
 * the suites test. The engine selector (embedded WASM engine, containers) is replaced by a stub
 * at build time (harness/build/runner.ts), so `--engine` says it is not available here.
 *
 * The migrations directory defaults to `migrations/` next to the bundle (copied there by the
 * build), so `node pgverify-runner.mjs migrate status` works from any directory.
 */
import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { minimist } from 'zx'
import { HarnessError } from '../errors.ts'
import { verb as backup } from './backup.ts'
import { verb as execute } from './execute.ts'
import { EXIT } from './exit-codes.ts'
import type { Verb } from './index.ts'
import { verb as migrate } from './migrate.ts'
import { info, reportError } from './output.ts'
import { verb as restore } from './restore.ts'

/** `validate` is `migrate validate`, offered at the top level as seed 003's runner does. */
const validate: Verb = {
  help: migrate.help.replace('Usage: pnpm migrate <command> [options]', 'Usage: pgverify-runner validate [options]   (same as: migrate validate)'),
  options: migrate.options,
  run: (argv) => migrate.run({ ...argv, _: ['validate', ...argv._] }),
}

const VERBS: Record<string, Verb> = { migrate, validate, backup, restore, execute }

const HELP = `Usage: node pgverify-runner.mjs <command> [options]      (against DATABASE_URL)

  migrate   status | up | down | validate | plan     the migration runner
  validate  checksums, log consistency, the manifest's expected objects (read-only)
  backup    back up the database; backup verify DIR; backup prune
  restore   restore a verified backup (in place: --yes)
  execute   the orchestrated migration: checks, backup, up, validation, automatic rollback

The migrations and their manifest are read from the migrations/ directory next to this file
unless --dir is given. Run \`<command> --help\` for its options.`

function bundledMigrations(): string | undefined {
  const here = path.dirname(fileURLToPath(import.meta.url))
  const dir = path.join(here, 'migrations')
  return existsSync(dir) ? dir : undefined
}

export async function runnerMain(argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    process.stdout.write(HELP + '\n')
    return name === undefined ? EXIT.USAGE : EXIT.OK
  }
  const verb = VERBS[name]
  if (!verb) {
    info(`unknown command "${name}"`)
    process.stdout.write(HELP + '\n')
    return EXIT.USAGE
  }
  const asJson = rest.includes('--json')
  try {
    const args = minimist(rest, { string: verb.options.string ?? [], boolean: [...(verb.options.boolean ?? []), 'help'], alias: { h: 'help' } })
    if (args.help) {
      process.stdout.write(verb.help.replaceAll('pnpm ', 'node pgverify-runner.mjs ') + '\n')
      return EXIT.OK
    }
    const known = new Set(['_', 'help', 'h', ...(verb.options.string ?? []), ...(verb.options.boolean ?? [])])
    const unknown = Object.keys(args).filter((k) => !known.has(k))
    if (unknown.length) throw new HarnessError('USAGE', `unknown option${unknown.length > 1 ? 's' : ''}: ${unknown.map((u) => (u.length > 1 ? `--${u}` : `-${u}`)).join(', ')}`, { hint: `See \`${name} --help\`.` })
    if (args.dir === undefined && (verb.options.string ?? []).includes('dir')) {
      const dir = bundledMigrations()
      if (dir) args.dir = dir
    }
    return await verb.run(args)
  } catch (e) {
    return reportError(e, asJson)
  }
}

process.exitCode = await runnerMain(process.argv.slice(2))
