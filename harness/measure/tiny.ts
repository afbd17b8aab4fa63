/**
 * One tinybench task, run for an exact number of iterations, returning its latency samples.
 *
 * tinybench decides whether a task is asynchronous by *calling* it once unless it is an
 * `async` function; the wrapper below is always `async`, so a task with side effects (an
 * INSERT) is never run an extra, unmeasured time.
 */
import { Bench } from 'tinybench'

export interface MeasureOptions {
  /** Measured iterations (exact). */
  iterations: number
  /** Unmeasured iterations first (default 0). */
  warmup?: number
  /** Runs before each iteration, outside the measurement. */
  beforeEach?: () => Promise<void> | void
}

/**
 * Runs `fn` `iterations` times and returns the latency of each run in ms. When `fn` returns a
 * number, that number (ms, measured by the caller with performance.now()) replaces the
 * measured duration, for tasks that must time only a part of their work.
 */
export async function measure(name: string, fn: () => Promise<number | void>, options: MeasureOptions): Promise<number[]> {
  const warmup = options.warmup ?? 0
  const bench = new Bench({
    name,
    time: 0,
    iterations: Math.max(1, options.iterations),
    warmup: warmup > 0,
    warmupIterations: warmup,
    warmupTime: 0,
    throws: true,
  })
  bench.add(
    name,
    async () => {
      const d = await fn()
      return typeof d === 'number' ? { overriddenDuration: d } : undefined
    },
    options.beforeEach ? { beforeEach: async () => void (await options.beforeEach!()) } : {},
  )
  await bench.run()
  const result = bench.tasks[0]?.result
  if (!result) throw new Error(`benchmark ${name} produced no result`)
  if (result.error) throw result.error
  return [...result.latency.samples]
}
