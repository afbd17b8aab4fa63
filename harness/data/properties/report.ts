/** The verdict of a data-property run, and the replayable SQL file of a failure. */
import { toSql } from '../dataset.ts'
import { describeChange, type Declared } from './declared.ts'
import { failed, passed, SHRINK_BUDGET_MS, versionLabel, type Failure, type KStats, type PropertyContext, type PropertyResult } from './model.ts'

/** What a run gathered, for its verdict. */
export interface Tally {
  ctx: Pick<PropertyContext, 'migrations' | 'runs' | 'focus'>
  seed: number
  runs: number
  N: number
  started: number
  stats: KStats[]
  declared: Declared[]
  preconditions: Set<string>
  generatorNotes: Set<string>
  rejections: Map<string, number>
  jobsRan: Map<string, number>
  retentionRemoved: Map<string, number>
  jobErrors: Map<string, { count: number; from: Set<number> }>
  timing: { migrate: number; insert: number; check: number; jobs: number }
  /** Tables compared again after a step (touched by it), and tables carried without reading (untouched). */
  compared: { again: number; carried: number }
  /** sha256 (hex) of every dataset's SQL. */
  digest: string
  resetError?: string
  failure?: Failure & { runs: number; shrinks: number; shrinkStopped: boolean; file: string }
  tooManySkips?: string
  starts: number[]
}

/** The summary and details of a run, with its counts and the time by part. */
export function verdict(t: Tally): PropertyResult {
  const counts = {
    datasets: t.stats.reduce((s, x) => s + x.datasets, 0),
    rows: t.stats.reduce((s, x) => s + x.rows, 0),
    rejectedDatasets: t.stats.reduce((s, x) => s + x.rejected, 0),
    startingVersions: t.stats.length,
    tablesCompared: t.compared.again,
    tablesCarried: t.compared.carried,
  }
  const breakdown = [
    ...t.stats.map((s) => ({ label: `from ${s.k} (${s.label})`, ms: Math.round(s.ms) })),
    { label: 'migrating down and up', ms: Math.round(t.timing.migrate) },
    { label: 'generating and inserting', ms: Math.round(t.timing.insert) },
    { label: 'reading and checking', ms: Math.round(t.timing.check) },
    { label: 'running the jobs and checking after them', ms: Math.round(t.timing.jobs) },
  ]
  return { ...describe(t), counts, breakdown }
}

/** The summary and details of a run: the failure first, with its replay file, or what passed. */
function describe(t: Tally): PropertyResult {
  const { seed, runs, N, started, stats, declared, preconditions, generatorNotes, rejections, jobsRan, retentionRemoved, jobErrors, timing, failure, tooManySkips, starts } = t
  const totalDatasets = stats.reduce((s, x) => s + x.datasets, 0)
  const totalRows = stats.reduce((s, x) => s + x.rows, 0)
  const seconds = ((Date.now() - started) / 1000).toFixed(1)
  const lines: string[] = [
    `seed ${seed} (reproduce: pnpm verify --seed ${seed}${t.ctx.runs !== undefined ? ` --runs ${runs}` : ''}); ${runs} chain(s): each adds a dataset at every version and carries every row through every later step, checked after each`,
    ...stats.map(
      (s) =>
        `from ${s.k} (${s.label}): ${s.datasets} dataset(s), ${s.rows} row(s) over ${s.tables} table(s)` +
        (s.rejected ? `, ${s.rejected} refused by the engine` : '') +
        (s.droppedByCheck ? `, ${s.droppedByCheck} candidate row(s) dropped by CHECKs evaluated by query` : '') +
        (s.droppedDuplicate ? `, ${s.droppedDuplicate} duplicate key(s) dropped` : '') +
        (s.droppedNoParent ? `, ${s.droppedNoParent} without a parent dropped` : '') +
        (s.repaired ? `, ${s.repaired} two-column comparison(s) repaired` : '') +
        `, ${(s.ms / 1000).toFixed(1)} s`,
    ),
    ...declared.filter((d) => d.change.kind !== 'requires').map((d) => `declared data change: ${describeChange(d)}`),
    ...[...preconditions].map((p) => `declared precondition (generated data satisfies it): ${p}`),
    ...[...generatorNotes].map((n) => `generator: ${n}`),
    ...[...rejections].slice(0, 5).map(([m, n]) => `refused by the engine ${n}×: ${m}`),
    ...(jobsRan.size ? [`registered jobs run after every migrated dataset (CALL run_job, id order), then the rows checked again: ${[...jobsRan.keys()].join('; ')}`] : []),
    ...[...retentionRemoved].map(([l, n]) => `declared by a retention policy: ${n} generated row(s) removed by the ${l} (time value older than now() - drop_after)`),
    ...[...jobErrors].map(([m, x]) => `JOB ERROR on generated data (${x.count} run(s), datasets from version ${[...x.from].join(', ')}; no row lost or changed by it): ${m}`),
    `time: migrating down and up ${(timing.migrate / 1000).toFixed(1)} s, generating and inserting ${(timing.insert / 1000).toFixed(1)} s, reading and checking ${(timing.check / 1000).toFixed(1)} s${jobsRan.size ? `, running the jobs and checking after them ${(timing.jobs / 1000).toFixed(1)} s` : ''}`,
    `after a step, ${t.compared.again} table(s) were read and compared again (the step wrote them, changed their shape or declared a change) and ${t.compared.carried} carried as they were (untouched by the step: same rows, same shape)`,
    `datasets sha256 ${t.digest.slice(0, 16)} (equal for equal --seed and --runs)`,
  ]
  if (t.resetError) lines.push(`could not reset the database to version ${N} afterwards: ${t.resetError}`)

  if (failure) {
    const v = failure.violations[0]!
    const rows = failure.dataset.inserts.reduce((s, i) => s + i.rows.length, 0)
    return failed(
      `data property failed from version ${failure.k} (${versionLabel(t.ctx.migrations, failure.k)}): ${v.message} — seed ${seed}, shrunk to ${rows} row(s) in ${failure.shrinks} step(s); replay ${failure.file}`,
      [
        ...failure.violations.map((x) => `FAIL ${x.check}${x.table ? ` ${x.table}${x.column ? `.${x.column}` : ''}` : ''}: ${x.message}`),
        `shrunk dataset (${rows} row(s)): ${failure.dataset.inserts.map((i) => `${i.table.name} ${i.rows.length}`).join(', ') || 'no rows'}${failure.shrinkStopped ? ` (shrinking stopped after ${SHRINK_BUDGET_MS / 1000} s)` : ''}`,
        `replay: ${failure.file}`,
        ...(failure.k < starts[starts.length - 1]! ? [`not run in the failing chain: the steps from versions ${starts.filter((x) => x > failure!.k).join(', ')} (a chain stops at its first failing step)`] : []),
        ...lines,
      ],
      { code: 'VALIDATION_FAILED', message: v.message },
    )
  }
  if (tooManySkips) return failed(`seed ${seed}: the generated data could not be inserted ${tooManySkips}`, lines, { code: 'VALIDATION_FAILED', message: tooManySkips })
  return passed(
    `seed ${seed}: ${totalDatasets} datasets (${totalRows} rows) from every version 0…${N - 1} migrated to ${N}: rows and values kept, no NOT NULL/CHECK/UNIQUE/FK violation, hypertable rows in chunks (${seconds} s)` +
      // Data that breaks a declared precondition is not generated: say so where people look first.
      (t.ctx.focus ? `; --changed: only the steps into ${[...t.ctx.focus].join(', ') || 'nothing'} checked (released steps applied, not checked)` : '') +
      (preconditions.size ? `; assumes ${preconditions.size} declared precondition${preconditions.size > 1 ? 's' : ''} (see details)` : '') +
      (jobsRan.size ? `; then the ${jobsRan.size === 1 ? 'registered job' : `${jobsRan.size} registered jobs`} ran (CALL run_job): ${retentionSummary(retentionRemoved)}` : '') +
      (jobErrors.size ? `; ${[...jobErrors.values()].reduce((n, x) => n + x.count, 0)} job run(s) FAILED on generated data without losing rows (${[...new Set([...jobErrors.keys()].map((key) => key.slice(0, key.indexOf(' [')) ))].join(', ')}: see details)` : ''),
    lines,
  )
}

/** "493 generated rows removed as declared by retention policies (009_x: metric_hist 110, …), nothing else lost or changed" */
function retentionSummary(removed: Map<string, number>): string {
  const total = [...removed.values()].reduce((a, b) => a + b, 0)
  if (!total) return 'no row removed, nothing lost or changed'
  // Labels are "retention policy on s.t (migration, drop_after …)": grouped by migration, tables short.
  const byMigration = new Map<string, string[]>()
  for (const [l, n] of [...removed].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const m = /on (\S+) \(([^,]+), (.+)\)$/.exec(l)
    const key = m ? m[2]! : l
    const list = byMigration.get(key) ?? byMigration.set(key, []).get(key)!
    list.push(`${m ? m[1]!.split('.').pop() : l} ${n}`)
  }
  const parts = [...byMigration].map(([m, xs]) => `${m}: ${xs.join(', ')}`)
  return `${total} generated row${total === 1 ? '' : 's'} removed as declared by retention policies (${parts.join('; ')}), nothing else lost or changed`
}

export function replayFile(ctx: Pick<PropertyContext, 'migrations' | 'dir'>, f: Failure & { seed: number; runs: number; shrinks: number; shrinkStopped: boolean }): string {
  const N = ctx.migrations[ctx.migrations.length - 1]!.version
  const rowsOf = (d: Failure['dataset']) => d.inserts.reduce((s, i) => s + (i.stored?.length ?? i.rows.length), 0)
  // The versions where the shrunk chain added rows; the first is where a replay starts.
  const sections = f.chain.filter((c) => rowsOf(c.dataset) > 0)
  const start = sections[0]?.k ?? f.k
  const rows = sections.reduce((s, c) => s + rowsOf(c.dataset), 0)
  const afterJobs = f.violations.some((v) => v.afterJobs)
  const next = ctx.migrations.find((m) => m.version > f.k)?.version ?? N
  const out = [
    `-- pgverify data-properties: a chain of datasets that breaks a property, shrunk by fast-check.`,
    `-- migrations: ${ctx.dir} (${ctx.migrations.length} migrations, last ${ctx.migrations[ctx.migrations.length - 1]!.name})`,
    `-- seed ${f.seed}: found after ${f.runs} chain(s), shrunk in ${f.shrinks} step(s) to ${rows} row(s)${f.shrinkStopped ? ' (shrink budget reached)' : ''}`,
    `-- starting version: ${start} (${versionLabel(ctx.migrations, start)})`,
    `-- failing ${afterJobs ? `after the registered jobs ran at version ${N}` : `step: ${f.k} → ${next} (${versionLabel(ctx.migrations, next)})`}`,
    `--`,
    `-- Replay:`,
    `--   1. a fresh database at version ${start}:   pnpm migrate up --to ${start}`,
    `--   2. this file's INSERTs, section by section (everything above "the failing check"; the values as they`,
    `--      were stored, defaults filled in); before each later section, pnpm migrate up --to its version`,
    `--   3. the remaining migrations:            pnpm migrate up --to ${afterJobs ? N : next}`,
    ...(afterJobs ? [`--   3b. the registered jobs, in id order:  SELECT format('CALL run_job(%s);', job_id) FROM timescaledb_information.jobs WHERE job_id >= 1000 ORDER BY job_id;  (run what it prints)`] : []),
    `--   4. the query under "the failing check" shows the violation`,
    `-- Reproduce the whole run: pnpm verify --seed ${f.seed}`,
    ``,
    `SET standard_conforming_strings = on;`,
  ]
  if (!sections.length) out.push('-- (no rows: the property fails on an empty database)')
  for (const c of sections) {
    if (c.k !== start) out.push(``, `-- ---- at version ${c.k} (${versionLabel(ctx.migrations, c.k)}): first run  pnpm migrate up --to ${c.k}  ----`)
    out.push(`BEGIN;`, toSql(c.dataset, { stored: true }), `COMMIT;`)
  }
  out.push(``, `-- ---- the failing check (after migrating to version ${afterJobs ? N : next}) ----`)
  for (const v of f.violations) {
    out.push(`-- ${v.check}${v.table ? ` on ${v.table}${v.column ? `.${v.column}` : ''}` : ''}: ${v.message.replace(/\n/g, '\n-- ')}`)
    if (v.query) out.push(`${v.query};`)
    else if (v.check === 'migration-failed') out.push(`-- (run \`pnpm migrate up\`: it fails as above on this data)`)
  }
  return out.join('\n') + '\n'
}
