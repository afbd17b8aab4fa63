/**
 * Entry point for every command: parse once, run the verb, set the exit code.
 * Verbs are imported lazily so `pnpm migrate` does not load the benchmark or WASM code.
 */
import { minimist } from 'zx'
import { HarnessError } from '../errors.ts'
import { EXIT } from './exit-codes.ts'
import { info, reportError } from './output.ts'

const HELP = `Usage: pnpm <verb> [options]   (or: tsx harness/cli/index.ts <verb> …)

  migrate   the production migration runner (status, up, down, validate, plan)
  verify    replay and validate the migrations on a disposable engine
  db        start a disposable engine and print its DATABASE_URL

Run \`pnpm <verb> --help\` for a verb's options.`

export async function main(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv
  const args = minimist(rest, {
    string: ['dir', 'engine', 'to', 'log-schema', 'log-table', 'lock-wait', 'accept-drift', 'seed', 'runs', 'reports'],
    boolean: ['json', 'dry-run', 'yes', 'help'],
    alias: { h: 'help' },
  })
  const unknown = Object.keys(args).filter((k) => k !== '_' && !KNOWN.has(k))
  try {
    switch (verb) {
      case 'migrate': {
        const m = await import('./migrate.ts')
        if (args.help) return help(m.MIGRATE_HELP)
        rejectUnknown(unknown)
        return await m.migrate(m.parseMigrateArgs(args))
      }
      case 'verify': {
        const v = await import('./verify.ts')
        if (args.help) return help(v.VERIFY_HELP)
        rejectUnknown(unknown)
        return await v.verify(args)
      }
      case 'db': {
        const d = await import('./db.ts')
        if (args.help) return help(d.DB_HELP)
        rejectUnknown(unknown)
        return await d.db(args)
      }
      case undefined:
      case '--help':
      case '-h':
      case 'help':
        return help(HELP, verb === undefined ? EXIT.USAGE : EXIT.OK)
      default:
        info(`unknown verb "${verb}"`)
        return help(HELP, EXIT.USAGE)
    }
  } catch (e) {
    return reportError(e, Boolean(args.json))
  }
}

const KNOWN = new Set(['_', 'dir', 'engine', 'to', 'log-schema', 'log-table', 'lock-wait', 'accept-drift', 'seed', 'runs', 'reports', 'json', 'dry-run', 'yes', 'help', 'h'])

function rejectUnknown(unknown: string[]) {
  if (unknown.length) {
    throw new HarnessError('USAGE', `unknown option${unknown.length > 1 ? 's' : ''}: ${unknown.map((u) => (u.length > 1 ? `--${u}` : `-${u}`)).join(', ')}`, {
      hint: 'See --help for the options of this command.',
    })
  }
}

function help(text: string, code: number = EXIT.OK): number {
  process.stdout.write(text + '\n')
  return code
}

const code = await main(process.argv.slice(2))
// Let pending stdout flush; engines were stopped by the verbs themselves.
process.exitCode = code
