/** A skip always says why: the reason goes to the test's note and to stderr. */
import type { TestContext } from 'vitest'

/** Skips the running test with its reason, printed. */
export function skipWith(ctx: TestContext, reason: string): never {
  console.warn(`[suites] ${reason}`)
  return ctx.skip(reason)
}
