/**
 * Entry point for every command: the verbs of the development tool, run by the one dispatcher
 * (dispatch.ts). Each verb is a module exporting `verb: Verb`; modules are imported lazily so
 * `pnpm migrate` does not load the benchmark, backup or WASM code it does not need.
 */
import { dispatch, type Program } from './dispatch.ts'
import type { Verb } from './verb.ts'

const lazy = (load: () => Promise<{ verb: Verb }>) => async () => (await load()).verb

export const PROGRAM: Program = {
  help: `Usage: pnpm <verb> [options]   (or: node --import tsx harness/cli/index.ts <verb> …)

  verify    replay and validate the migrations on a disposable engine (the CI gate)
  migrate   the production migration runner (status, up, down, validate, plan)
  db        start a disposable engine and print its DATABASE_URL
  bench     benchmarks against the seeds' thresholds
  backup    back up a database (and verify or prune backups)
  restore   restore a verified backup
  execute   the orchestrated production migration with automatic rollback
  rehearse  apply each migration under a production-like workload: locks, blocked work, latency

Run \`pnpm <verb> --help\` for a verb's options.`,
  verbs: {
    migrate: lazy(() => import('./migrate.ts')),
    verify: lazy(() => import('./verify.ts')),
    db: lazy(() => import('./db.ts')),
    bench: lazy(() => import('./bench.ts')),
    backup: lazy(() => import('./backup.ts')),
    restore: lazy(() => import('./restore.ts')),
    execute: lazy(() => import('./execute.ts')),
    rehearse: lazy(() => import('./rehearse.ts')),
  },
  noun: 'verb',
  helpHint: (name) => `See \`pnpm ${name} --help\` for its options.`,
}

process.exitCode = await dispatch(PROGRAM, process.argv.slice(2))
