/**
 * Where a verify run's time and work go, per stage: counters of the structural work (migrations
 * applied and reverted, statements they ran, schema snapshots and data digests taken) and a
 * breakdown of the stage's time by part (per migration, per starting version, per restore kind).
 * Counts are what a before/after comparison can trust on a loaded machine; milliseconds are
 * there to see where the time goes. The pipeline gives each stage a fresh meter and copies it
 * into the stage's result (verify.json), so the run's report carries the whole picture.
 */
import type { StepPart } from '../steps/step.ts'

export class Meter {
  readonly counts: Record<string, number> = {}
  readonly parts: StepPart[] = []

  count(name: string, n = 1): void {
    this.counts[name] = (this.counts[name] ?? 0) + n
  }

  /** Adds `ms` to the part `label` (created on first use, kept in first-use order). */
  part(label: string, ms: number): void {
    const p = this.parts.find((x) => x.label === label)
    if (p) p.ms += ms
    else this.parts.push({ label, ms })
  }

  /** Times `body` into the part `label` and the counter `name`Ms. */
  async time<T>(label: string, body: () => Promise<T>): Promise<T> {
    const t0 = performance.now()
    try {
      return await body()
    } finally {
      this.part(label, performance.now() - t0)
    }
  }

  /** The parts rounded to whole milliseconds, for the report. */
  breakdown(): StepPart[] {
    return this.parts.map((p) => ({ label: p.label, ms: Math.round(p.ms) }))
  }
}
