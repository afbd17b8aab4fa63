/**
 * `pnpm db`: a disposable engine kept up until interrupted. Prints exactly one line on stdout,
 * `DATABASE_URL=postgres://…`, so `eval "$(pnpm -s db)"`-style scripts and people can use it.
 */
import { HarnessError } from '../errors.ts'
import { info } from './output.ts'
import { startCommandEngine } from './settings.ts'
import { flag, type Args, type Verb, type VerbContext } from './verb.ts'

export const DB_HELP = `Usage: pnpm db [--engine embedded|native|container]

Starts a disposable PostgreSQL + TimescaleDB (embedded by default), prints one line
DATABASE_URL=postgres://… on stdout and keeps it up until Ctrl-C / SIGTERM, then removes
everything it made. Point psql or \`pnpm migrate\` at it:

  pnpm db                      # terminal 1
  export DATABASE_URL=…        # terminal 2, the printed line
  pnpm migrate up && pnpm migrate status

The embedded engine serves one client connection at a time: close psql before running the runner.

Exit codes: 2 usage · 8 engine unavailable or failed to start · 130/143 stopped by Ctrl-C/SIGTERM
(after removing everything it made)`

export async function db(argv: Args, { config }: VerbContext): Promise<number> {
  const requested = flag(argv, 'engine') ?? 'embedded'
  if (requested === 'url') throw new HarnessError('USAGE', '`pnpm db` starts a disposable server; `url` is an existing one', { hint: 'Use --engine embedded, native or container.' })
  const engine = await startCommandEngine(requested ? { name: requested, source: '--engine' } : undefined, config)
  // Printed raw on purpose: this line is the product of the command (a disposable server's URL).
  process.stdout.write(`DATABASE_URL=${engine.url}\n`)
  info(`${engine.describe()} — up until Ctrl-C`)
  // The signal handlers installed by startEngine stop the engine and exit 130/143.
  await new Promise(() => {})
  return 0
}

export const verb: Verb = { help: DB_HELP, options: { string: ['engine'] }, run: db }
