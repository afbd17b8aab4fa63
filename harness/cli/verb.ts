/**
 * What a command-line verb is (one module per verb exports `verb: Verb`), apart from the
 * dispatcher that runs it, so verbs and the dispatcher do not import each other.
 */
import type { Config } from '../config/index.ts'

/** Parsed arguments: flags by name (without dashes), positional arguments in `_`. */
export type Args = Record<string, unknown> & { _: string[] }

export interface VerbContext {
  /** The environment and pgverify.config.json, read once for this command; flags are applied by the verb. */
  config: Config
}

/** What a verb accepts; anything else is a usage error (parse.ts). */
export interface OptionSpec {
  /** Options that take a value (`--to N`), by name without dashes. */
  string?: string[]
  /** Flags (`--yes`). */
  boolean?: string[]
  /** How many positional arguments the verb takes at most (subcommand, directory, …); default 0. */
  positionals?: number
}

export interface Verb {
  help: string
  options: OptionSpec
  run(argv: Args, context: VerbContext): Promise<number>
}

/** A string flag's value, or undefined when it was not given. */
export const flag = (argv: Args, name: string): string | undefined => (argv[name] === undefined ? undefined : String(argv[name]))
