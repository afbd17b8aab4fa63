import { defineConfig } from 'vitest/config'
import SummaryReporter from './suites/support/summary-reporter.ts'

export default defineConfig({
  test: {
    include: ['suites/**/*.test.ts'],
    // Real engines: WASM boots take seconds, native clusters start processes.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // A loaded CI host was once seen taking over 10 s (the default) to let a connection to a
    // container's port through; the suites test what happens once connected, so they allow 30 s.
    // Inherited by the CLI processes they start. The timeout itself: suites/runner-errors.test.ts.
    env: { PGCONNECT_TIMEOUT: '30' },
    // Each file owns its engines; forks give a clean process to prove teardown in.
    pool: 'forks',
    maxWorkers: 2,
    // The summary line comes last: it is the closing line CI reads.
    reporters: ['default', new SummaryReporter()],
  },
})
