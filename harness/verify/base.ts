/**
 * The released base under --changed, "replayed once": replay's database as it stood after the
 * last released migration before the first new or changed one, kept as a physical copy. Fault
 * injection and the round trip's data-only restore start their databases from that copy instead
 * of replaying the released migrations again themselves. On embedded a copy boots in ~0.25 s
 * (~0.4 s of CPU); the bootstrap (CREATE EXTENSION timescaledb in WASM) and nine migrations took
 * ~0.5 s (~0.75 s of CPU) per database.
 *
 * Only where the engine copies a database physically (capabilities.physicalSnapshot). On a server
 * a copy is CREATE DATABASE … TEMPLATE, which needs a database no session is connected to, and
 * replay's is in use: there the stages replay the base themselves, as before.
 *
 * The copy is taken between two of replay's migrations, while its session is idle, after a
 * CHECKPOINT (the engine's dumpDataDir): the same rows, log and sequence positions as replay's.
 */
import type { DatabaseHandle, StartedEngine } from '../engines/types.ts'
import type { Migration } from '../sql/migration.ts'

/** What the plan reads of the run (the verify context's fields of these names). */
interface Run {
  engine: StartedEngine
  migrations: Migration[]
  focus?: Set<string>
  progress: (line: string) => void
}

export class ReleasedBase {
  #settle!: (copy: Uint8Array | undefined) => void
  readonly #copy = new Promise<Uint8Array | undefined>((resolve) => (this.#settle = resolve))

  private constructor(
    /** The version the copy holds: the last released migration before the first proven one. */
    readonly version: number,
    private readonly shared: DatabaseHandle,
    private readonly progress: (line: string) => void,
  ) {}

  /** The base this run keeps, if any: --changed with released migrations before the first new or changed one, on an engine that copies databases. */
  static plan(run: Run, shared: DatabaseHandle): ReleasedBase | undefined {
    const focus = run.focus
    if (!focus || !run.engine.capabilities.physicalSnapshot || !shared.physical) return undefined
    const first = run.migrations.findIndex((m) => focus.has(m.name))
    return first > 0 ? new ReleasedBase(run.migrations[first - 1]!.version, shared, run.progress) : undefined
  }

  /** Replay reached `version` on the shared database, its session idle: at the base's version the copy is taken. */
  async reached(version: number): Promise<void> {
    if (version !== this.version) return
    const t0 = performance.now()
    try {
      const copy = await this.shared.physical!.dumpDataDir()
      this.progress(`  released base kept: replay's database at version ${version} copied (${(copy.byteLength / 2 ** 20).toFixed(0)} MiB in ${Math.round(performance.now() - t0)} ms); fault injection and the data-only restore start from it`)
      this.#settle(copy)
    } catch (e) {
      this.progress(`  released base not kept (${(e as Error).message}): fault injection and the data-only restore replay the released migrations themselves`)
      this.#settle(undefined)
    }
  }

  /** Replay has ended (whatever its verdict): a base it never reached is not coming. */
  settle(): void {
    this.#settle(undefined)
  }

  /**
   * A database at the base: a copy of it, or, when there is none (replay did not reach it, the
   * copy failed), an empty database, from which the caller's migrator applies everything.
   */
  async start(engine: StartedEngine, label: string): Promise<DatabaseHandle> {
    const copy = await this.#copy
    return copy ? engine.createDatabase(label, { from: copy }) : engine.createDatabase(label)
  }
}
