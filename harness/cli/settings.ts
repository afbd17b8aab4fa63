/**
 * From the command's configuration (flags over config/) to what engines/target.ts receives:
 * the engine settings, which engine was asked for and by whom, and where log lines go.
 */
import type { Config } from '../config/index.ts'
import { openTarget, startEngine, type EngineRequest, type Target } from '../engines/target.ts'
import type { EngineSettings, StartedEngine } from '../engines/types.ts'
import { info } from './output.ts'
import { flag, type Args } from './verb.ts'

export function engineSettings(config: Config): EngineSettings {
  return {
    ...(config.databaseUrl ? { databaseUrl: config.databaseUrl } : {}),
    ...(config.containerImage ? { containerImage: { image: config.containerImage.value, source: config.containerImage.source } } : {}),
    ...(config.pgBin ? { pgBin: config.pgBin } : {}),
    clusterEnv: { clusterDir: config.env.clusterDir, tmpDir: config.env.tmpDir },
  }
}

/** The configured engine (VERIFY_ENGINE, else the config file's), when --engine is not given. */
export const configuredEngine = (config: Config): EngineRequest | undefined => (config.engine ? { name: config.engine.value, source: config.engine.source } : undefined)

/** --engine, else the configured engine, else undefined (automatic choice). */
export function engineRequest(argv: Args, config: Config): EngineRequest | undefined {
  const name = flag(argv, 'engine')
  return name ? { name, source: '--engine' } : configuredEngine(config)
}

/** The database this command works on: --engine, else DATABASE_URL, else the configured engine. */
export function openCommandTarget(engine: string | undefined, config: Config, label: string): Promise<Target> {
  return openTarget({ engine: engine || undefined, databaseUrl: config.databaseUrl, fallbackEngine: configuredEngine(config), label, settings: engineSettings(config), log: info })
}

/** A disposable engine for this command (verify, db), chosen by --engine, the configuration or automatically; `threadAhead`: see EngineStartOptions. */
export function startCommandEngine(request: EngineRequest | undefined, config: Config, options: { threadAhead?: boolean } = {}): Promise<StartedEngine> {
  return startEngine({ request, settings: engineSettings(config), log: info, threadAhead: options.threadAhead })
}
