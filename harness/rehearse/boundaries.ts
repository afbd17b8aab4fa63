/**
 * The migration's statements as the runner ran them, from its own hooks: `beforeStatement`
 * marks a start, `afterStatement` an end, and right then (the migration's session is idle
 * between two statements) one poll of the sampler says which locks it holds: those it did not
 * hold before the statement were taken by it. That names the statement that took a lock even
 * when the lock is then held for seconds by the statements after it, up to COMMIT.
 */
import { relative } from 'node:path'
import type { MigratorHooks } from '../runner/migrator/results.ts'
import type { Sampler } from './sampler.ts'
import type { LockHeld, Span } from './types.ts'

const key = (l: LockHeld) => `${l.mode} ${l.relation}`

export class Boundaries {
  readonly spans: Span[] = []
  #open?: Omit<Span, 'endMs' | 'acquired' | 'heldAfter'>
  #heldBefore: LockHeld[] = []

  constructor(private readonly sampler: Sampler) {}

  hooks(): MigratorHooks {
    return {
      beforeStatement: (_m, script, st) => {
        const first = st.text.split('\n')[0]!.trim()
        this.#open = { file: script.file, line: st.line, column: st.column, text: first.length > 90 ? `${first.slice(0, 87)}…` : first, head: st.code.slice(0, 400), ...(st.node ? { node: st.node } : {}), startMs: performance.now() }
      },
      afterStatement: async () => {
        const endMs = performance.now()
        const open = this.#open!
        const s = await this.sampler.poll()
        this.sampler.samples.push(s)
        const before = new Set(this.#heldBefore.map(key))
        this.spans.push({ ...open, endMs, acquired: s.held.filter((l) => !before.has(key(l))), heldAfter: s.held })
        this.#heldBefore = s.held
        this.#open = undefined
      },
    }
  }

  /** A statement that started and never ended (it failed): closed at `endMs`. */
  close(endMs: number): void {
    if (this.#open) this.spans.push({ ...this.#open, endMs, acquired: [], heldAfter: this.#heldBefore })
    this.#open = undefined
  }
}

export const where = (s: Pick<Span, 'file' | 'line' | 'column'>, dir?: string): string => `${dir ? relative(dir, s.file) || s.file : s.file}:${s.line}:${s.column}`
