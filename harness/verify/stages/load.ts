/**
 * The `load` stage: the rehearsal under load (harness/rehearse/, `pgverify rehearse`) at a small
 * scale that keeps verify quick. One database walks up the versions (rehearse.ts, `walk`): before
 * each migration k the tables that exist at k-1 and hold no data yet get a little generated data
 * (MS5.0: 2 hours of telemetry, ~8,600 metric_hist rows; other schemas: 5,000 rows per table),
 * carried forward after that; the seeds' workload runs beside it, migration k is applied by the
 * real runner and measured per statement; the stage fails on a finding that rehearse-allow.json
 * does not cover.
 *
 * Why this small, and why a walk: the stage is a gate on every pull request, and what it must
 * catch there is a statement that blocks the workload at all (a lock held while the rest of the
 * transaction runs blocks for that long at any size). Per migration it costs a catalog query, the
 * new tables' rows, a 100 ms baseline (enough for "the server cannot carry the workload at all",
 * judged on the median when it has few samples), the migration and 50 ms after it: no copy, no
 * reload, nothing that grows with the migrations before. How long a build or a rewrite blocks
 * grows with the data: that is `pgverify rehearse` at a typical day (`--days`), each migration
 * on a fresh copy, or `--load-hours` here.
 *
 * The single-session embedded engine cannot run a workload beside the migration: skipped, saying so.
 * With --changed only the new or changed migrations are rehearsed.
 */
import { describeFinding } from '../../rehearse/verdict.ts'
import { rehearse } from '../../rehearse/rehearse.ts'
import type { Finding } from '../../rehearse/verdict.ts'
import type { MigrationRehearsal } from '../../rehearse/report.ts'
import { inFocus, type StageFn, type VerifyContext } from '../stage.ts'
import type { LocatedError } from '../../runner/locate.ts'

/**
 * MS5.0: hours of telemetry at version k-1; other schemas: rows per table; the workload before each
 * migration (the first: 400 ms, half of it without the sampler, for the sampler's cost) and after its commit.
 */
export const LOAD_DEFAULTS = { hours: 2, rows: 5_000, baselineMs: 100, tailMs: 50 }

const ms = (v: number | null) => (v === null ? '–' : `${v < 10 ? v.toFixed(1) : Math.round(v).toLocaleString('en-US')} ms`)

function line(m: MigrationRehearsal): string {
  const allowed = m.findings.filter((f) => f.allowed).length
  const worst = (k: 'dashboardP95Ms' | 'insertP95Ms') => Math.max(0, ...m.statements.map((s) => s.workload[k] ?? 0))
  const blocked = Math.max(0, ...m.statements.map((s) => s.longestWaitMs))
  return (
    `${m.verdict === 'failed' ? 'FAIL' : 'PASS'} ${m.file}: ${m.statements.length} statements in ${ms(m.migration.durationMs)}; worst dashboard p95 ${ms(worst('dashboardP95Ms'))}, insert p95 ${ms(worst('insertP95Ms'))} ` +
    `(baseline ${ms(m.baseline.dashboardP95Ms)} / ${ms(m.baseline.insertP95Ms)}), longest wait ${ms(blocked)}${allowed ? `; ${allowed} allowed finding(s)` : ''}`
  )
}

function located(ctx: VerifyContext, f: Finding): LocatedError | undefined {
  const where = /^(.+):(\d+):(\d+)$/.exec(f.lock?.takenAt ?? f.during)
  if (!where) return undefined
  const [, file, l, c] = where
  const m = ctx.migrations.find((x) => x.up.file === file)
  const idx = m?.up.statements.findIndex((s) => s.line === Number(l)) ?? -1
  const st = idx >= 0 ? m!.up.statements[idx] : undefined
  const text = st ? st.text.split('\n').slice(0, 3).join('\n') : ''
  return { file: file!, line: Number(l), column: Number(c), statement: idx + 1, message: describeFinding(f), hint: f.fix, text, snippet: text ? text.split('\n').map((x, i) => `  ${String(Number(l) + i).padStart(4)} | ${x}`) : [] }
}

export const loadStage: StageFn = async (ctx) => {
  const e = ctx.engine
  if (!e.capabilities.concurrentConnections)
    return { verdict: 'skipped', summary: `${e.name} serves one client connection at a time: no workload can run beside a migration (pgverify rehearse needs native, container or url)`, details: [] }
  // The first migration runs on an empty database: no workload can exist beside it, nothing to measure.
  const only = ctx.migrations.filter((m) => inFocus(ctx, m) && m.version > 1).map((m) => m.version)
  const first = ctx.migrations.find((m) => m.version === 1 && inFocus(ctx, m))
  if (!only.length) return { verdict: 'skipped', summary: first ? `only ${first.up.file} to rehearse, and it starts from an empty database: no workload can run beside it` : 'no new or changed migration to rehearse (--changed)', details: [] }
  const o = { ...LOAD_DEFAULTS, ...ctx.options.load }
  const r = await rehearse(e, {
    dir: ctx.dir,
    seed: ctx.options.seed ?? 1,
    days: o.hours / 24,
    rows: o.rows,
    baselineMs: o.baselineMs,
    tailMs: o.tailMs,
    walk: true,
    only,
    logSchema: ctx.logSchema,
    ...(ctx.logTable ? { logTable: ctx.logTable } : {}),
    ...(ctx.options.thresholds ? { thresholds: ctx.options.thresholds } : {}),
    onProgress: (l) => ctx.progress(`  ${l.trim()}`),
  })
  const all = r.migrations.flatMap((m) => m.findings)
  const open = all.filter((f) => !f.allowed)
  const polls = r.migrations.reduce((k, m) => k + m.sampler.polls, 0)
  const gap = Math.max(0, ...r.migrations.map((m) => m.sampler.maxGapMs))
  const poll = r.migrations.length ? r.migrations.reduce((k, m) => k + m.sampler.pollMeanMs, 0) / r.migrations.length : 0
  // The walk measures the sampler's cost once, on its first baseline.
  const cost = r.migrations.find((m) => m.sampler.dashboardP95WithoutMs !== null)
  const details = [
    `data at version k-1: ${r.data}; limits: dashboard p95 ${r.limits.dashboardMs} ms, inserts ${r.limits.insertMs} ms`,
    ...(first ? [`${first.up.file}: not rehearsed, it starts from an empty database (no table for a workload at version 0)`] : []),
    ...r.migrations.flatMap((m) => [line(m), ...m.findings.map((f) => `  ${f.allowed ? `allowed (${f.allowed.file}:${f.allowed.line} in rehearse-allow.json: ${f.allowed.reason})` : 'finding'}: ${describeFinding(f)}`)]),
    `sampler: ${polls} polls every ${r.migrations[0]?.sampler.periodMs ?? 10} ms, ${poll.toFixed(1)} ms mean per poll, longest gap ${ms(gap)}${cost ? `; dashboard p95 without / with it ${ms(cost.sampler.dashboardP95WithoutMs)} / ${ms(cost.sampler.dashboardP95WithMs)} (the walk's first baseline, ${cost.file})` : ''}`,
    ...(r.allow?.notSeen ?? []).map((x) => `rehearse-allow.json ${x.file}:${x.line} covered no finding in this run (timing varies; the entry stays)`),
    'the timeline per migration: pgverify rehearse (reports/rehearse.html)',
  ]
  const counts = { migrationsRehearsed: r.migrations.length, rehearsalFindings: open.length, allowedFindings: all.length - open.length, samplerPolls: polls }
  const summary = `${r.migrations.length} migration(s) rehearsed under the seeds' workload (${r.data.startsWith('MS5.0') ? `${o.hours} h of data` : `${o.rows.toLocaleString('en-US')} rows per table`}): ${open.length} finding(s)${all.length - open.length ? `, ${all.length - open.length} allowed` : ''}`
  if (!open.length) return { verdict: 'passed', summary, details, counts }
  const at = located(ctx, open[0]!)
  return { verdict: 'failed', summary, details, counts, error: { code: 'REHEARSAL', message: describeFinding(open[0]!), ...(at ? { located: at } : {}) } }
}
