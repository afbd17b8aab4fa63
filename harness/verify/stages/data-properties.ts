/**
 * Property-based data through every upgrade step: the stage wires the property model of
 * harness/data/properties/ (datasets through versions, declared data changes, job effects,
 * shrinking and the replayable SQL) to the verify context.
 */
import { runDataProperties } from '../../data/properties/run.ts'
import { jobInScope } from '../scope.ts'
import { inFocus, migratorFor, type StageFn } from '../stage.ts'

export const dataProperties: StageFn = async (ctx, client) => {
  const shard = ctx.shard
  const r = await runDataProperties({
    client,
    migrator: migratorFor(ctx, client),
    migrations: ctx.migrations,
    schemas: ctx.schemas,
    dir: ctx.dir,
    manifest: ctx.manifest,
    jobsAt: ctx.jobsAt,
    catalogs: ctx.catalogs,
    seed: ctx.options.seed,
    runs: ctx.options.runs,
    reportsDir: ctx.options.reportsDir,
    backgroundWorkers: ctx.engine.capabilities.backgroundWorkers,
    progress: ctx.progress,
    focus: ctx.focus,
    leaveAsFound: !ctx.throwaway,
    // --shard: every chain is a unit; this run makes its own.
    // --changed: at the latest version, only the jobs a new or changed migration registers or touches.
    jobs: ctx.focus ? (j) => jobInScope(j, ctx.migrations.filter((m) => inFocus(ctx, m))) : undefined,
    chains: shard ? (total) => shard.owned('data-properties', [...Array(total).keys()], (c) => `chain ${c + 1}`) : undefined,
  })
  const details = ctx.focus ? [...r.details, '--changed: at the latest version only the jobs a new or changed migration registers, or that act on a hypertable it names, run (custom jobs always); the policies of released migrations on other tables were proven when released'] : r.details
  return { ...r, details, summary: r.summary + (shard?.note('data-properties') ?? '') }
}
