/**
 * Which engine runs: the one asked for by name (`--engine NAME`, else VERIFY_ENGINE, else the
 * config file's `engine`: the caller says which, in `request.source`), else the most
 * production-like one that can start here: the container engine where a Docker API answers,
 * else the native engine when the local PostgreSQL has TimescaleDB, else the embedded one. The
 * choice and its reason are always printed.
 */
import { HarnessError } from '../errors.ts'
import { containerEngine } from './container.ts'
import { dockerRuntime } from './docker.ts'
import { embeddedEngine } from './embedded.ts'
import { nativeEngine } from './native.ts'
import { locatePostgres } from './pg-bin.ts'
import type { EngineName, EngineProvider, EngineSettings } from './types.ts'
import { urlEngine } from './url.ts'

export const ENGINES: Record<EngineName, EngineProvider> = {
  embedded: embeddedEngine,
  native: nativeEngine,
  container: containerEngine,
  url: urlEngine,
}

export const ENGINE_NAMES = Object.keys(ENGINES) as EngineName[]

export interface EngineChoice {
  provider: EngineProvider
  reason: string
}

/** An engine asked for by name, and who asked: `--engine`, `VERIFY_ENGINE`, the config file. */
export interface EngineRequest {
  name: string
  source: string
}

export async function chooseEngine(request?: EngineRequest, settings: EngineSettings = {}): Promise<EngineChoice> {
  if (request) {
    const { name, source } = request
    if (!(name in ENGINES)) {
      throw new HarnessError('USAGE', `${source} ${name}: unknown engine`, { hint: `Choose one of: ${ENGINE_NAMES.join(', ')}.` })
    }
    const provider = ENGINES[name as EngineName]
    const probe = await provider.probe(settings)
    if (!probe.ok) {
      throw new HarnessError('ENGINE_UNAVAILABLE', `engine ${name} (${source}) is not available here: ${probe.reason}`, {
        hint: `Choose another engine (${ENGINE_NAMES.join(', ')}), or fix what the reason says.`,
      })
    }
    return { provider, reason: `chosen by ${source} (${probe.reason})` }
  }
  const docker = await dockerRuntime()
  if (docker.ok) return { provider: containerEngine, reason: `auto: ${docker.reason}` }
  const native = await nativeWithTimescale(settings)
  if (native.ok) return { provider: nativeEngine, reason: `auto: ${docker.reason}; ${native.reason}` }
  return { provider: embeddedEngine, reason: `auto: ${docker.reason}; ${native.reason}; using the embedded engine` }
}

async function nativeWithTimescale(settings: EngineSettings): Promise<{ ok: boolean; reason: string }> {
  const probe = await nativeEngine.probe(settings)
  if (!probe.ok) return probe
  const install = await locatePostgres(settings.pgBin)
  return install.hasTimescale
    ? { ok: true, reason: `the local PostgreSQL ${install.version} (${install.binDir}) has TimescaleDB` }
    : { ok: false, reason: `the local PostgreSQL ${install.version} (${install.binDir}) has no TimescaleDB` }
}
