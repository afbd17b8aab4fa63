/**
 * The command line of one verb, parsed by Node's own `util.parseArgs` in strict mode: an unknown
 * option, an option that needs a value given none (`--to --yes`, `--to` last, `--to=`), a value
 * given to a flag (`--yes=1`) and an argument too many are usage errors before anything runs.
 *
 * Why parseArgs: it ships with Node (nothing to install, also inside the one-file production
 * runner), its strict mode refuses exactly the cases above, and it leaves help texts and the
 * dispatcher as they are. What it does not do, saying which option was meant, is done here over
 * its own tokens, with the edit distance of `fastest-levenshtein`.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { distance } from 'fastest-levenshtein'
import { HarnessError } from '../errors.ts'
import type { Args, OptionSpec } from './verb.ts'

/** The choice closest to `word`, when it is close enough to be what was meant. */
export function suggest(word: string, choices: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = Infinity
  for (const c of choices) {
    const d = distance(word, c)
    if (d < bestDistance) [best, bestDistance] = [c, d]
  }
  // About one edit in three letters (a swap of two letters is two edits); a prefix ("--dry" for
  // "--dry-run") also counts.
  const tolerance = Math.max(1, Math.floor(word.length / 3))
  if (best !== undefined && bestDistance <= tolerance) return best
  return choices.find((c) => word.length >= 2 && c.startsWith(word))
}

export const didYouMean = (word: string, choices: readonly string[], show: (s: string) => string = (s) => s): string => {
  const s = suggest(word, choices)
  return s ? ` (did you mean ${show(s)}?)` : ''
}

const dashed = (name: string) => (name.length === 1 ? `-${name}` : `--${name}`)

/**
 * Parses `argv` (the arguments after the verb) against `spec`: options by name without dashes,
 * positionals in `_`. `-h`/`--help` is always known. Throws a USAGE HarnessError that names the
 * argument, what is wrong and what was probably meant; `hint` says where the options are listed.
 */
export function parseVerbArgs(argv: string[], spec: OptionSpec, hint: string): Args {
  const strings = spec.string ?? []
  const options: NonNullable<ParseArgsConfig['options']> = { help: { type: 'boolean', short: 'h' } }
  for (const name of strings) options[name] = { type: 'string' }
  for (const name of spec.boolean ?? []) options[name] = { type: 'boolean' }
  let parsed: ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true; strict: true }>>
  try {
    parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: true })
  } catch (e) {
    throw explain(argv, options, hint, e)
  }
  const args: Args = { _: parsed.positionals }
  for (const [name, value] of Object.entries(parsed.values)) {
    // `--to=` gives an empty value: as dangerous as none (Number('') is 0).
    if (typeof value === 'string' && value.trim() === '') throw new HarnessError('USAGE', `${dashed(name)} needs a value, got an empty one`, { hint })
    args[name] = value
  }
  const max = spec.positionals ?? 0
  if (args._.length > max) {
    const extra = args._.slice(max)
    throw new HarnessError('USAGE', `unexpected argument${extra.length > 1 ? 's' : ''}: ${extra.map((a) => JSON.stringify(a)).join(' ')}`, { hint })
  }
  return args
}

/** Turns parseArgs' refusal into our message, found again over the lenient parse's tokens. */
function explain(argv: string[], options: NonNullable<ParseArgsConfig['options']>, hint: string, cause: unknown): HarnessError {
  const known = Object.keys(options).map(dashed)
  const { tokens } = parseArgs({ args: argv, options, strict: false, allowPositionals: true, tokens: true })
  for (const t of tokens) {
    if (t.kind !== 'option') continue
    const spec = options[t.name]
    if (!spec) return new HarnessError('USAGE', `unknown option ${t.rawName}${didYouMean(t.rawName, known)}`, { hint })
    if (spec.type === 'string' && (t.value === undefined || (!t.inlineValue && t.value.startsWith('-')))) {
      const next = t.value === undefined ? 'nothing follows it' : `the next argument, ${t.value}, is an option`
      return new HarnessError('USAGE', `${t.rawName} needs a value (${next})`, { hint: `Give it one: ${t.rawName} VALUE (or ${t.rawName}=VALUE). ${hint}` })
    }
    if (spec.type === 'boolean' && t.value !== undefined) return new HarnessError('USAGE', `${t.rawName} takes no value, got "${t.value}"`, { hint })
  }
  // Not one of the cases above: parseArgs' own words, still a usage error.
  return new HarnessError('USAGE', (cause as Error).message.split('\n')[0]!, { hint })
}
