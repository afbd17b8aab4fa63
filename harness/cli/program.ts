/**
 * The development tool's verbs (`pgverify …`, `pnpm <verb> …`). Each verb is a module exporting
 * `verb: Verb`, imported lazily so `pgverify migrate` does not load the benchmark, backup or WASM
 * code it does not need. index.ts runs it; suites hand it to dispatch() directly.
 */
import type { Program } from './dispatch.ts'
import type { Verb } from './verb.ts'

const lazy = (load: () => Promise<{ verb: Verb }>) => async () => (await load()).verb

export const PROGRAM: Program = {
  name: 'pgverify',
  help: `Usage: pgverify <verb> [options]   (in this repository also: pnpm <verb> …)

  verify    replay and validate the migrations on a disposable engine (the CI gate)
  lint      the static lint alone, no database (human, --json, --format sarif|github)
  new       start the next migration: NNN_name.sql and NNN_name.down.sql
  migrate   the production migration runner (status, up, down, validate, plan, release)
  db        start a disposable engine and print its DATABASE_URL
  bench     benchmarks against the seeds' thresholds
  backup    back up a database (and verify or prune backups)
  restore   restore a verified backup
  execute   the orchestrated production migration with automatic rollback
  rehearse  apply each migration under a production-like workload: locks, blocked work, latency
  report    report merge DIR…: verify's shard reports (--shard I/N) as one run's verdict
  plan      what \`up\` would do; with --rehearse: duration, locks and risk at production size

  --version, -V   print the version
  --help, -h      this help

Run \`pgverify <verb> --help\` for a verb's options and exit codes.`,
  verbs: {
    migrate: lazy(() => import('./migrate.ts')),
    verify: lazy(() => import('./verify.ts')),
    lint: lazy(() => import('./lint.ts')),
    new: lazy(() => import('./new.ts')),
    db: lazy(() => import('./db.ts')),
    bench: lazy(() => import('./bench.ts')),
    backup: lazy(() => import('./backup.ts')),
    restore: lazy(() => import('./restore.ts')),
    execute: lazy(() => import('./execute.ts')),
    rehearse: lazy(() => import('./rehearse.ts')),
    report: lazy(() => import('./report.ts')),
    plan: lazy(() => import('./plan.ts')),
  },
  noun: 'verb',
  helpHint: (name) => `See \`pgverify ${name} --help\` for its options.`,
}
