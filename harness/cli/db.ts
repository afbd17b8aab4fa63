/**
 * `pnpm db`: a disposable engine kept up until interrupted. Prints exactly one line on stdout,
 * `DATABASE_URL=postgres://…`, so `eval "$(pnpm -s db)"`-style scripts and people can use it.
 */
import { HarnessError } from '../errors.ts'
import { startEngine } from '../engines/target.ts'
import { info } from './output.ts'
import type { Verb } from './index.ts'

export const DB_HELP = `Usage: pnpm db [--engine embedded|native|container]

Starts a disposable PostgreSQL + TimescaleDB (embedded by default), prints one line
DATABASE_URL=postgres://… on stdout and keeps it up until Ctrl-C / SIGTERM, then removes
everything it made. Point psql or \`pnpm migrate\` at it:

  pnpm db                      # terminal 1
  export DATABASE_URL=…        # terminal 2, the printed line
  pnpm migrate up && pnpm migrate status

The embedded engine serves one client connection at a time: close psql before running the runner.`

export async function db(argv: Record<string, unknown>): Promise<number> {
  const requested = argv.engine === undefined ? 'embedded' : String(argv.engine)
  if (requested === 'url') throw new HarnessError('USAGE', '`pnpm db` starts a disposable server; `url` is an existing one', { hint: 'Use --engine embedded, native or container.' })
  const engine = await startEngine(requested)
  // Printed raw on purpose: this line is the product of the command (a disposable server's URL).
  process.stdout.write(`DATABASE_URL=${engine.url}\n`)
  info(`${engine.describe()} — up until Ctrl-C`)
  // The signal handlers installed by startEngine stop the engine and exit 130/143.
  await new Promise(() => {})
  return 0
}

export const verb: Verb = { help: DB_HELP, options: { string: ['engine'] }, run: db }
