/**
 * Where a command runs: DATABASE_URL (the production case), or a disposable database on an
 * engine chosen by --engine / VERIFY_ENGINE. The choice is printed with its reason.
 */
import { chooseEngine } from './select.ts'
import type { DatabaseHandle, StartedEngine } from './types.ts'
import { installSignalHandlers, registerCleanup } from './cleanup.ts'
import { HarnessError } from '../errors.ts'
import { redactUrl } from '../util/redact.ts'
import { info } from '../cli/output.ts'

export interface Target {
  url: string
  /** Set when the harness started a disposable engine for this command. */
  engine?: StartedEngine
  /** The disposable database made on that engine (absent for DATABASE_URL and the url engine). */
  db?: DatabaseHandle
  /** True when the database will be thrown away afterwards (destructive commands need no --yes). */
  disposable: boolean
  describe: string
  close(): Promise<void>
}

export async function startEngine(requested?: string): Promise<StartedEngine> {
  installSignalHandlers()
  const choice = await chooseEngine(requested)
  info(`engine: ${choice.provider.name} (${choice.reason})`)
  const engine = await choice.provider.start({ log: info })
  // Native and container engines register their own teardown; this covers every engine alike.
  const unregister = registerCleanup(`${engine.name} engine`, () => engine.stop())
  const stop = engine.stop.bind(engine)
  return Object.assign(engine, {
    stop: async () => {
      unregister()
      await stop()
    },
  })
}

/** The one place that decides where a command works: DATABASE_URL, or a disposable database. */
export async function openTarget(options: { engine?: string; label?: string }): Promise<Target> {
  const url = process.env.DATABASE_URL
  if (!options.engine && url) {
    return { url, disposable: false, describe: redactUrl(url), close: async () => {} }
  }
  if (!options.engine && !process.env.VERIFY_ENGINE) {
    throw new HarnessError('USAGE', 'no database to work on: DATABASE_URL is not set and no --engine was given', {
      hint: 'Set DATABASE_URL (for a throw-away server: run `pnpm db` in another terminal and export the line it prints), or pass --engine embedded|native|container for a rehearsal on a disposable database.',
    })
  }
  const engine = await startEngine(options.engine)
  try {
    if (!engine.capabilities.disposable) {
      return { url: engine.url, engine, disposable: false, describe: engine.describe(), close: () => engine.stop() }
    }
    const db = await engine.createDatabase(options.label ?? 'migrate')
    info(`database: ${db.name} on ${engine.describe()} (disposable: dropped when the command ends)`)
    return {
      url: db.url,
      engine,
      db,
      disposable: true,
      describe: `${db.name} on ${engine.describe()}`,
      close: async () => {
        await db.drop().catch(() => {})
        await engine.stop()
      },
    }
  } catch (e) {
    await engine.stop().catch(() => {})
    throw e
  }
}
