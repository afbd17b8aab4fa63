/**
 * Entry point of the emitted production runner (`pnpm build:runner` → dist/runner/pgverify-runner.mjs).
 *
 * Production servers carry no dev toolchain: this entry exposes only what runs against
 * DATABASE_URL — migrate, validate, backup, restore, execute — built from the very verb modules
 * the suites test, run by the same dispatcher as the development CLI. The engine selector
 * (embedded WASM engine, containers) is replaced by a stub at build time
 * (harness/build/runner.ts), so `--engine` says it is not available here.
 *
 * The migrations directory defaults to `migrations/` next to the bundle (copied there by the
 * build), so `node pgverify-runner.mjs migrate status` works from any directory; --dir and
 * pgverify.config.json's "migrations" still win.
 */
import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { verb as backup } from './backup.ts'
import { dispatch, type Program } from './dispatch.ts'
import { verb as execute } from './execute.ts'
import { verb as migrate } from './migrate.ts'
import { verb as restore } from './restore.ts'
import type { Verb } from './verb.ts'

/** `validate` is `migrate validate`, offered at the top level as seed 003's runner does. */
const validate: Verb = {
  help: migrate.help.replace('Usage: pnpm migrate <command> [options]', 'Usage: pgverify-runner validate [options]   (same as: migrate validate)'),
  options: { ...migrate.options, positionals: 0 },
  run: (argv, context) => migrate.run({ ...argv, _: ['validate', ...argv._] }, context),
}

function bundledMigrations(): string | undefined {
  const here = path.dirname(fileURLToPath(import.meta.url))
  const dir = path.join(here, 'migrations')
  return existsSync(dir) ? dir : undefined
}

const now = (verb: Verb) => async () => verb

export const RUNNER: Program = {
  name: 'pgverify-runner',
  help: `Usage: node pgverify-runner.mjs <command> [options]      (against DATABASE_URL)

  migrate   status | up | down | validate | plan     the migration runner
  validate  checksums, log consistency, the manifest's expected objects (read-only)
  backup    back up the database; backup verify DIR; backup prune
  restore   restore a verified backup (in place: --yes)
  execute   the orchestrated migration: checks, backup, up, validation, automatic rollback

The migrations and their manifest are read from the migrations/ directory next to this file
unless --dir is given. Run \`<command> --help\` for its options.`,
  verbs: { migrate: now(migrate), validate: now(validate), backup: now(backup), restore: now(restore), execute: now(execute) },
  noun: 'command',
  helpHint: (name) => `See \`${name} --help\`.`,
  verbHelp: (text) => text.replaceAll('pnpm ', 'node pgverify-runner.mjs '),
  defaults: { dir: bundledMigrations() },
}

process.exitCode = await dispatch(RUNNER, process.argv.slice(2))
