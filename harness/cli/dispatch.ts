/**
 * The one dispatcher, shared by the development CLI (index.ts) and the production runner
 * (runner-entry.ts): find the verb (suggesting the one meant when misspelt), parse its arguments
 * strictly (parse.ts), help, `--version`, read the configuration once, run the verb, and turn
 * any error into its exit code (exit-codes.ts) with the message printed.
 */
import { loadConfig } from '../config/index.ts'
import { HarnessError } from '../errors.ts'
import { EXIT } from './exit-codes.ts'
import { reportError } from './output.ts'
import { didYouMean, parseVerbArgs } from './parse.ts'
import { version } from './version.ts'
import type { Verb } from './verb.ts'

export interface Program {
  /** The program's name, for `--version`. */
  name: string
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
  if (name === undefined) return print(program.help, EXIT.USAGE)
  if (name === 'help' || name === '--help' || name === '-h') return print(program.help)
  if (name === '--version' || name === '-V' || name === 'version') return print(`${program.name} ${version()}`)
  const asJson = rest.includes('--json')
  try {
    const verbs = Object.keys(program.verbs)
    const load = Object.hasOwn(program.verbs, name) ? program.verbs[name] : undefined
    if (!load) {
      const what = name.startsWith('-') ? `unknown option ${name}${didYouMean(name, ['--help', '--version'])}` : `unknown ${program.noun} "${name}"${didYouMean(name, verbs, (s) => `"${s}"`)}`
      throw new HarnessError('USAGE', what, { hint: `${program.noun[0]!.toUpperCase()}${program.noun.slice(1)}s: ${verbs.join(', ')}. See \`${program.name} --help\`.` })
    }
    const verb = await load()
    const args = parseVerbArgs(rest, verb.options, program.helpHint(name))
    if (args.help) return print(program.verbHelp ? program.verbHelp(verb.help) : verb.help)
    const config = await loadConfig({ defaults: program.defaults })
    return await verb.run(args, { config })
  } catch (e) {
    return reportError(e, asJson)
  }
}
