/**
 * The one dispatcher, shared by the development CLI (index.ts) and the production runner
 * (runner-entry.ts): parse once, help, unknown options, read the configuration once, run the
 * verb, and turn any error into its exit code (exit-codes.ts) with the message printed.
 */
import { minimist } from 'zx'
import { loadConfig } from '../config/index.ts'
import { HarnessError } from '../errors.ts'
import { EXIT } from './exit-codes.ts'
import { info, reportError } from './output.ts'
import type { Verb } from './verb.ts'

export interface Program {
  /** The program's help, printed for `help`, `--help`, `-h` and no arguments. */
  help: string
  /** Verb modules by name, loaded when used (heavy modules stay unloaded). */
  verbs: Record<string, () => Promise<Verb>>
  /** What the program calls its verbs in messages: "verb" or "command". */
  noun: string
  /** How to refer to a verb's help in hints: `pnpm migrate --help`. */
  helpHint: (name: string) => string
  /** A verb's help as this program shows it (the runner names itself instead of `pnpm`). */
  verbHelp?: (text: string) => string
  /** Defaults of this program that differ from config's (the runner's bundled migrations). */
  defaults?: { dir?: string }
}

const print = (text: string, code: number = EXIT.OK): number => {
  process.stdout.write(text + '\n')
  return code
}

export async function dispatch(program: Program, argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') return print(program.help, name === undefined ? EXIT.USAGE : EXIT.OK)
  const load = Object.hasOwn(program.verbs, name) ? program.verbs[name] : undefined
  if (!load) {
    info(`unknown ${program.noun} "${name}"`)
    return print(program.help, EXIT.USAGE)
  }
  const asJson = rest.includes('--json')
  try {
    const verb = await load()
    const args = minimist(rest, {
      string: verb.options.string ?? [],
      boolean: [...(verb.options.boolean ?? []), 'help'],
      alias: { h: 'help' },
    })
    if (args.help) return print(program.verbHelp ? program.verbHelp(verb.help) : verb.help)
    const known = new Set(['_', 'help', 'h', ...(verb.options.string ?? []), ...(verb.options.boolean ?? [])])
    const unknown = Object.keys(args).filter((k) => !known.has(k))
    if (unknown.length) {
      throw new HarnessError('USAGE', `unknown option${unknown.length > 1 ? 's' : ''}: ${unknown.map((u) => (u.length > 1 ? `--${u}` : `-${u}`)).join(', ')}`, {
        hint: program.helpHint(name),
      })
    }
    const config = await loadConfig({ defaults: program.defaults })
    return await verb.run(args, { config })
  } catch (e) {
    return reportError(e, asJson)
  }
}
