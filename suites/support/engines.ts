/**
 * Which engines the suites run on here: embedded always; native and container where they can
 * start. A suite that needs a capability skips an engine without it, and says why.
 */
import { containerEngine } from '../../harness/engines/container.ts'
import { embeddedEngine } from '../../harness/engines/embedded.ts'
import { nativeEngine } from '../../harness/engines/native.ts'
import type { EngineProvider, StartedEngine } from '../../harness/engines/types.ts'

export interface EngineCase {
  name: string
  provider: EngineProvider
  available: boolean
  reason: string
}

export async function engineCases(names: string[] = (process.env.SUITE_ENGINES ?? 'embedded,native,container').split(',')): Promise<EngineCase[]> {
  const all = [embeddedEngine, nativeEngine, containerEngine].filter((p) => names.includes(p.name))
  const cases: EngineCase[] = []
  for (const provider of all) {
    const probe = await provider.probe()
    if (!probe.ok) console.warn(`[suites] ${provider.name} engine not exercised: ${probe.reason}`)
    cases.push({ name: provider.name, provider, available: probe.ok, reason: probe.reason })
  }
  return cases
}

/** Prints the reason once and returns true when the engine lacks TimescaleDB. */
export function lacksTimescale(engine: StartedEngine, what: string): boolean {
  if (engine.capabilities.timescaledb) return false
  console.warn(`[suites] ${what} not exercised on ${engine.name}: ${engine.describe()} has no TimescaleDB`)
  return true
}
