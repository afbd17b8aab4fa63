/**
 * Which engines the suites run on here: embedded always; native and container where they can
 * start. Suites loop over `availableEngines()` with `describe.each` and never branch on an
 * engine's name: a test that needs a capability skips an engine without it, and says why.
 *
 * SUITE_ENGINES (comma-separated, default "embedded,native,container") narrows the set, e.g.
 * SUITE_ENGINES=embedded proves the suites pass, with every skip explained, on a machine
 * that has nothing but Node.
 */
import pg from 'pg'
import { afterAll, beforeAll, describe, it, type TestContext } from 'vitest'
import { containerEngine } from '../../harness/engines/container.ts'
import { embeddedEngine, startEmbedded } from '../../harness/engines/embedded.ts'
import { nativeEngine, startNative } from '../../harness/engines/native.ts'
import { locatePostgres } from '../../harness/engines/pg-bin.ts'
import type { EngineCapabilities, EngineName, EngineProvider, EngineStartOptions, StartedEngine } from '../../harness/engines/types.ts'
import { skipWith } from './skip.ts'

export { skipWith }

export interface EngineCase {
  name: EngineName
  provider: EngineProvider
  available: boolean
  reason: string
}

const PROVIDERS: EngineProvider[] = [embeddedEngine, nativeEngine, containerEngine]
const ALL = PROVIDERS.map((p) => p.name)

/** The engines SUITE_ENGINES selects (all three by default). */
export function suiteEngines(): string[] {
  const raw = process.env.SUITE_ENGINES?.trim()
  return raw ? raw.split(',').map((s) => s.trim()).filter(Boolean) : ALL
}

// Each engine is probed once per test file; the reason it is left out is printed that once.
const probes = new Map<string, Promise<EngineCase>>()

function probeOnce(provider: EngineProvider): Promise<EngineCase> {
  let p = probes.get(provider.name)
  if (!p) {
    p = (async () => {
      const selected = suiteEngines()
      const probe = selected.includes(provider.name) ? await provider.probe() : { ok: false, reason: `${provider.name}: left out by SUITE_ENGINES=${selected.join(',')}` }
      if (!probe.ok) console.warn(`[suites] ${provider.name} engine not exercised: ${probe.reason}`)
      return { name: provider.name, provider, available: probe.ok, reason: probe.reason }
    })()
    probes.set(provider.name, p)
  }
  return p
}

/** Every engine named (by default all three), available or not, in a fixed order. */
export async function engineCases(names: string[] = ALL): Promise<EngineCase[]> {
  return Promise.all(PROVIDERS.filter((p) => names.includes(p.name)).map(probeOnce))
}

/** The engines that can run here (SUITE_ENGINES narrows them), for `describe.each(…)('$name engine', …)`. */
export async function availableEngines(names: string[] = ALL): Promise<EngineCase[]> {
  return (await engineCases(names)).filter((c) => c.available)
}

/**
 * The cases among `cases` that a suite runs on `engines`. Each other case gets one skipped test,
 * in a describe named `title(name)`, printing `why(name)`: a case left out says so and starts no
 * engine (work whose code path is the same on another engine, kept out to hold CI time).
 */
export function onlyOn(cases: EngineCase[], engines: EngineName[], title: (name: string) => string, why: (name: string) => string): EngineCase[] {
  for (const c of cases.filter((x) => !engines.includes(x.name))) {
    describe(title(c.name), () => {
      it(`runs on ${engines.join(' and ')} only`, (ctx) => skipWith(ctx, why(c.name)))
    })
  }
  return cases.filter((x) => engines.includes(x.name))
}

/**
 * Inside a describe: starts the case's engine before its tests and stops it after them.
 * Returns a getter, valid inside the tests and hooks.
 */
export function useEngine(c: EngineCase, options: EngineStartOptions = {}): () => StartedEngine {
  let engine: StartedEngine | undefined
  beforeAll(async () => {
    engine = await c.provider.start({ log: () => {}, ...options })
  }, 300_000)
  afterAll(async () => {
    await engine?.stop()
  }, 60_000)
  return () => {
    if (!engine) throw new Error(`test bug: the ${c.name} engine is used before its beforeAll ran (or it failed to start)`)
    return engine
  }
}

// ---- capabilities ---------------------------------------------------------------------------

type Flag = Exclude<keyof EngineCapabilities, 'dumpTool'>
const LACKING: Record<Flag, string> = {
  concurrentConnections: 'serves one client connection at a time (no concurrent sessions, locks or lock waits)',
  timescaledb: 'has no TimescaleDB',
  timescaledbCompression: 'has no TimescaleDB TSL features (compression, policies)',
  backgroundWorkers: 'runs no background workers',
  nonTransactionalIndexBuilds: 'cannot build an index outside a transaction (CREATE INDEX CONCURRENTLY fails there)',
  physicalSnapshot: 'has no physical copy of a database (data directory)',
  disposable: 'is not disposable',
  parallelDatabases: 'runs its databases one at a time',
}

/** Why `engine` cannot serve `what` for want of `flag`, or undefined when it can. */
export function lacking(engine: StartedEngine, flag: Flag | 'pg_dump', what: string): string | undefined {
  if (flag === 'pg_dump') {
    const tool = engine.capabilities.dumpTool
    return tool === 'pg_dump' ? undefined : `${what} not exercised on ${engine.name}: ${engine.describe()} dumps with ${tool === 'none' ? 'no dump tool' : 'the WASM pg_dump (plain SQL)'}, not pg_dump/pg_restore`
  }
  return engine.capabilities[flag] ? undefined : `${what} not exercised on ${engine.name}: ${engine.describe()} ${LACKING[flag]}`
}

/** Skips the running test, with the reason printed, when the engine lacks the capability. */
export function needs(ctx: TestContext, engine: StartedEngine, flag: Flag | 'pg_dump', what: string): void {
  const reason = lacking(engine, flag, what)
  if (reason) skipWith(ctx, reason)
}

const timeoutProbes = new WeakMap<StartedEngine, Promise<string | undefined>>()

/**
 * Whether statement_timeout fires on this engine, measured (no capability flag says so): a
 * single-process WASM server has no timer signal, so a timeout there never cancels anything.
 * Returns the reason it does not, or undefined. Probed once per engine, on a database of its own.
 */
export function timeoutsDoNotFire(engine: StartedEngine): Promise<string | undefined> {
  let p = timeoutProbes.get(engine)
  if (!p) {
    p = (async () => {
      const db = await engine.createDatabase('timeout_probe')
      const client = new pg.Client({ connectionString: db.url })
      try {
        await client.connect()
        await client.query(`SET statement_timeout = '100ms'`)
        const t0 = Date.now()
        const fired = await client.query('SELECT pg_sleep(1)').then(
          () => false,
          (e: { code?: string }) => e.code === '57014',
        )
        return fired ? undefined : `statement_timeout does not fire there (a 100 ms timeout let pg_sleep(1) run its ${Date.now() - t0} ms)`
      } finally {
        await client.end().catch(() => {})
        await db.drop()
      }
    })()
    timeoutProbes.set(engine, p)
  }
  return p
}

/** Skips the running test, with the reason printed, when timeouts do not fire on the engine. */
export async function needsTimeouts(ctx: TestContext, engine: StartedEngine, what: string): Promise<void> {
  const why = await timeoutsDoNotFire(engine)
  if (why) skipWith(ctx, `${what} not exercised on ${engine.name}: ${engine.describe()}: ${why}`)
}

// ---- PostgreSQL without TimescaleDB, made on purpose -----------------------------------------

export interface WithoutTimescale {
  /** What was made, for titles: "native PostgreSQL 15.18 with TimescaleDB installed but not preloaded". */
  label: string
  start(): Promise<StartedEngine>
  /** What the runner must say before changing anything (exit 5 for both). */
  code: 'TIMESCALEDB_MISSING' | 'TIMESCALEDB_NOT_PRELOADED'
  message: RegExp
  /** The fix the message carries ("what to do: …"). */
  fix: RegExp
}

const MISSING_MESSAGE = (major: string) => new RegExp(`extension "timescaledb" is not available on this server \\(PostgreSQL ${major}\\.\\d+.*\\); nothing was changed`)
const MISSING_FIX = /The migrations call create_hypertable\(\) and would fail\. Run on a PostgreSQL with TimescaleDB: the container image timescale\/timescaledb:\d+\.\d+\.\d+-pg15 .*shared_preload_libraries = 'timescaledb'/

/**
 * The two ways a PostgreSQL lacks a usable TimescaleDB, each created explicitly so the tests
 * hold whether or not this machine has TimescaleDB installed:
 *  - the embedded engine booted without the extension bundle: `timescaledb` is not available;
 *  - a native cluster started without the preload: installed but unusable (where the install has
 *    no TimescaleDB at all, that cluster is the "not available" case instead).
 * Engines that cannot start here (or that SUITE_ENGINES leaves out) are left out, with the reason.
 */
export async function withoutTimescale(): Promise<WithoutTimescale[]> {
  const out: WithoutTimescale[] = []
  const [embedded, native] = await engineCases(['embedded', 'native'])
  if (embedded!.available) {
    out.push({
      label: 'embedded engine without the TimescaleDB bundle (extension not available)',
      start: () => startEmbedded({ timescale: false, log: () => {} }),
      code: 'TIMESCALEDB_MISSING',
      message: MISSING_MESSAGE('17'),
      fix: MISSING_FIX,
    })
  }
  if (native!.available) {
    const install = await locatePostgres()
    const start = () => startNative({ timescale: false, log: () => {} })
    out.push(
      install.hasTimescale
        ? {
            label: `native PostgreSQL ${install.version} with TimescaleDB installed but not preloaded`,
            start,
            code: 'TIMESCALEDB_NOT_PRELOADED',
            message: /TimescaleDB is installed but not preloaded: extension "timescaledb" must be preloaded; nothing was changed/,
            fix: /Add shared_preload_libraries = 'timescaledb' to postgresql\.conf and restart the server/,
          }
        : { label: `native PostgreSQL ${install.version} without TimescaleDB installed`, start, code: 'TIMESCALEDB_MISSING', message: MISSING_MESSAGE(install.version.split('.')[0]!), fix: MISSING_FIX },
    )
  }
  return out
}

// ---- the local client tools a DATABASE_URL backup uses ---------------------------------------

/**
 * Skips the running test, with the reason printed, unless what runs against DATABASE_URL (the
 * production path: `pnpm backup`/`restore`/`execute`, the bundled runner) can dump this engine's
 * server: pg_dump/pg_restore (not the embedded WASM dump) of the server's major, installed here.
 */
export async function needsLocalDumpTools(ctx: TestContext, engine: StartedEngine, what: string): Promise<void> {
  needs(ctx, engine, 'pg_dump', what)
  const { locateClientTools } = await import('../../harness/engines/client-tools.ts')
  const missing = await locateClientTools(engine.versions.postgres).then(
    () => undefined,
    (e: Error) => e.message,
  )
  if (missing) skipWith(ctx, `${what} not exercised on ${engine.name}: DATABASE_URL backups use the local client tools, and ${missing}`)
}

/**
 * Depth on some engines, breadth on the others: a slow case whose logic does not depend on the
 * engine runs in full where `on` says, and is skipped elsewhere with the reason printed, so one
 * CI run stays within its time budget without any engine losing the case silently.
 */
export function depthOn(ctx: TestContext, engine: StartedEngine, on: string[], what: string): void {
  if (!on.includes(engine.name)) skipWith(ctx, `${what} runs in full on ${on.join(' and ')} only (the same code path; kept out of the ${engine.name} run to hold CI under 20 minutes)`)
}
