/**
 * Entry point for every command: parse once, run the verb, set the exit code.
 * Each verb is a module exporting `verb: Verb`; modules are imported lazily so `pnpm migrate`
 * does not load the benchmark, backup or WASM code it does not need.
 */
import { minimist } from 'zx'
import { HarnessError } from '../errors.ts'
import { EXIT } from './exit-codes.ts'
import { info, reportError } from './output.ts'

export interface Verb {
  help: string
  /** Option names (without dashes) taking a value, and flags. Anything else is refused. */
  options: { string?: string[]; boolean?: string[] }
  run(argv: Record<string, unknown> & { _: string[] }): Promise<number>
}

const VERBS: Record<string, () => Promise<{ verb: Verb }>> = {
  migrate: () => import('./migrate.ts'),
  verify: () => import('./verify.ts'),
  db: () => import('./db.ts'),
  bench: () => import('./bench.ts'),
  backup: () => import('./backup.ts'),
  restore: () => import('./restore.ts'),
  execute: () => import('./execute.ts'),
}

const HELP = `Usage: pnpm <verb> [options]   (or: node --import tsx harness/cli/index.ts <verb> …)

  verify    replay and validate the migrations on a disposable engine (the CI gate)
  migrate   the production migration runner (status, up, down, validate, plan)
  db        start a disposable engine and print its DATABASE_URL
  bench     benchmarks against the seeds' thresholds
  backup    back up a database (and verify or prune backups)
  restore   restore a verified backup
  execute   the orchestrated production migration with automatic rollback

Run \`pnpm <verb> --help\` for a verb's options.`

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') return help(HELP, name === undefined ? EXIT.USAGE : EXIT.OK)
  const load = VERBS[name]
  if (!load) {
    info(`unknown verb "${name}"`)
    return help(HELP, EXIT.USAGE)
  }
  const asJson = rest.includes('--json')
  try {
    const { verb } = await load()
    const args = minimist(rest, {
      string: verb.options.string ?? [],
      boolean: [...(verb.options.boolean ?? []), 'help'],
      alias: { h: 'help' },
    })
    if (args.help) return help(verb.help)
    const known = new Set(['_', 'help', 'h', ...(verb.options.string ?? []), ...(verb.options.boolean ?? [])])
    const unknown = Object.keys(args).filter((k) => !known.has(k))
    if (unknown.length) {
      throw new HarnessError('USAGE', `unknown option${unknown.length > 1 ? 's' : ''}: ${unknown.map((u) => (u.length > 1 ? `--${u}` : `-${u}`)).join(', ')}`, {
        hint: `See \`pnpm ${name} --help\` for its options.`,
      })
    }
    return await verb.run(args)
  } catch (e) {
    return reportError(e, asJson)
  }
}

function help(text: string, code: number = EXIT.OK): number {
  process.stdout.write(text + '\n')
  return code
}

process.exitCode = await main(process.argv.slice(2))
