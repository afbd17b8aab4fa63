/**
 * pgverify as a library: the same modules the command line uses, nothing re-implemented.
 *
 *   import { Migrator, FileMigrationProvider, startEngine, verify, lint } from 'pgverify'
 *
 *   const result = await lint('migrations')                       // no database
 *   const engine = await startEngine({ log: console.error })      // a disposable PostgreSQL + TimescaleDB
 *   const report = await verify(engine, { dir: 'migrations' })    // the stages of `pgverify verify`
 *   await engine.stop()
 *
 * The package ships TypeScript source: run it with tsx (a dependency of pgverify), vitest, or any
 * loader that strips types.
 */
export { Migrator } from './harness/runner/migrator.ts'
export type { MigratorOptions, RunResult, StatusResult, PlanResult, MigrationResult, MigratorEvent } from './harness/runner/migrator.ts'
export { FileMigrationProvider, discover } from './harness/runner/discover.ts'
export { connect } from './harness/runner/connect.ts'
export { startEngine, openTarget, type Target, type StartEngineOptions } from './harness/engines/target.ts'
export type { StartedEngine, EngineCapabilities } from './harness/engines/types.ts'
export { runVerify as verify, STAGES } from './harness/verify/pipeline.ts'
export type { VerifyOptions, VerifyReport, StageResult } from './harness/verify/pipeline.ts'
export { lintDirectory as lint, lintMigrations, RULES, formatLintResult, type LintResult, type LintFinding } from './harness/lint/lint.ts'
export { toSarif } from './harness/lint/sarif.ts'
export { loadConfig, type Config } from './harness/config/index.ts'
export { HarnessError, type ErrorCode } from './harness/errors.ts'
