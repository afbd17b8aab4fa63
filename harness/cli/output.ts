/**
 * Everything the CLI prints goes through here: results to stdout (`out`, `json`), progress and
 * diagnostics to stderr (`info`, `progress`), every line through redact(), so a password in
 * DATABASE_URL can never be printed.
 *
 * Colour is decided per stream (colorFor): a terminal gets it, a file or pipe does not, so
 * `pgverify migrate status > f` at a terminal writes no escape codes into f while the progress on
 * the terminal stays coloured. NO_COLOR turns it off everywhere, FORCE_COLOR on everywhere (and
 * wins, as in Node itself). The colour functions (picocolors) always mark; each stream's writer
 * strips the marks when its stream gets no colour.
 */
import { stripVTControlCharacters } from 'node:util'
import pc from 'picocolors'
import { readEnvironment, type Environment } from '../config/environment.ts'
import { interruptedBy } from '../engines/cleanup.ts'
import { HarnessError } from '../errors.ts'
import { serverTrouble } from '../sqlstate.ts'
import { toJson } from '../util/json.ts'
import { redact } from '../util/redact.ts'
import { exitCodeFor, EXIT } from './exit-codes.ts'

/** Whether `stream` gets colour: FORCE_COLOR, else not with NO_COLOR, else when it is a terminal. */
export function colorFor(stream: { isTTY?: boolean }, env: Pick<Environment, 'noColor' | 'forceColor'>): boolean {
  if (env.forceColor) return true
  if (env.noColor) return false
  return stream.isTTY === true
}

const env = readEnvironment()
const colorOut = colorFor(process.stdout, env)
const colorErr = colorFor(process.stderr, env)
const plain = (color: boolean, s: string) => (color ? s : stripVTControlCharacters(s))

export const out = (line = '') => process.stdout.write(plain(colorOut, redact(line)) + '\n')
export const info = (line = '') => process.stderr.write(plain(colorErr, redact(line)) + '\n')
/** Progress on stderr without a line end (the line is finished by a later `progress` or `info`). */
export const progress = (text: string) => process.stderr.write(plain(colorErr, redact(text)))

const c = pc.createColors(colorOut || colorErr)
export const red = c.red
export const green = c.green
export const yellow = c.yellow
export const dim = c.dim
export const bold = c.bold

export function json(value: unknown): void {
  process.stdout.write(redact(toJson(value)) + '\n')
}

/** Prints an error (human or JSON) and returns the exit code for it. */
export function reportError(e: unknown, asJson = false): number {
  const stop = interruptedBy()
  if (stop) {
    // Our own cleanup cut the work short: its error is not news, and the signal handler's last
    // line says what stopped the run.
    if (asJson) json({ ok: false, error: { code: 'INTERRUPTED', message: `stopped by ${stop.signal}` } })
    return stop.exitCode
  }
  // A server that went away or ran short under a query no step mapped: said as that, not as a bug.
  if (!(e instanceof HarnessError)) e = serverTrouble(e) ?? e
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
