/**
 * Everything the CLI prints goes through here: human text to stderr/stdout, JSON to stdout,
 * and every line through redact(), so a password in DATABASE_URL can never be printed.
 */
import { readEnvironment } from '../config/environment.ts'
import { HarnessError } from '../errors.ts'
import { redact } from '../util/redact.ts'
import { exitCodeFor, EXIT } from './exit-codes.ts'

export const out = (line = '') => process.stdout.write(redact(line) + '\n')
export const info = (line = '') => process.stderr.write(redact(line) + '\n')

const useColor = process.stderr.isTTY && !readEnvironment().noColor
const paint = (code: number) => (s: string) => (useColor ? `\x1b[${code}m${s}\x1b[0m` : s)
export const red = paint(31)
export const green = paint(32)
export const yellow = paint(33)
export const dim = paint(2)
export const bold = paint(1)

export function json(value: unknown): void {
  process.stdout.write(redact(JSON.stringify(value, null, 2)) + '\n')
}

/** Prints an error (human or JSON) and returns the exit code for it. */
export function reportError(e: unknown, asJson = false): number {
  if (e instanceof HarnessError) {
    if (asJson) json({ ok: false, error: e.toJSON() })
    else {
      info(`${red('error')} [${e.code}] ${e.message}`)
      if (e.hint) info(`${dim('what to do:')} ${e.hint}`)
    }
    return exitCodeFor(e.code)
  }
  const err = e as Error
  if (asJson) json({ ok: false, error: { code: 'INTERNAL', message: err?.message ?? String(e) } })
  else {
    info(`${red('internal error')} ${err?.stack ?? String(e)}`)
    info('This is a bug in the harness; please report it with the output above.')
  }
  return EXIT.INTERNAL
}
