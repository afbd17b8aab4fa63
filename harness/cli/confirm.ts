/**
 * Destructive commands against a real database (`migrate down`, an in-place `restore`,
 * `execute`) say what they are about to do, then go on only with --yes or a "yes" typed at a
 * terminal. Without a terminal (CI, a script) and without --yes they refuse, and nothing changed.
 */
import { createInterface } from 'node:readline/promises'
import { HarnessError } from '../errors.ts'
import { bold, info, yellow } from './output.ts'

export interface Confirmation {
  /** One line per thing that will happen, most destructive first. */
  what: string[]
  /** The database, redacted. */
  where: string
  /** --yes was given. */
  yes: boolean
  /** How to see it without changing anything (`--dry-run`), or to rehearse it. */
  safer: string
}

export async function confirmDestructive(c: Confirmation): Promise<void> {
  info(bold(yellow(`about to change ${c.where}:`)))
  for (const line of c.what) info(`  ${line}`)
  if (c.yes) return
  const refused = (why: string) =>
    new HarnessError('USAGE', `${why}: nothing was changed`, { hint: `Take a backup first, then confirm with --yes. ${c.safer}` })
  if (!process.stdin.isTTY || !process.stderr.isTTY) throw refused('not confirmed (no --yes, and no terminal to ask on)')
  const rl = createInterface({ input: process.stdin, output: process.stderr })
  try {
    const answer = await rl.question('Type "yes" to go on: ')
    if (answer.trim().toLowerCase() !== 'yes') throw refused('not confirmed')
  } finally {
    rl.close()
  }
}
