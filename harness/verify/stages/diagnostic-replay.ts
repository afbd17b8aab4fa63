/**
 * The diagnostic replay stage: every statement of every migration the directory holds, on a
 * database of its own, listing each failure (harness/diagnose/replay.ts). It runs even when the
 * files stage refused some files (it reads the directory itself) and whatever the replay stage
 * found, and it never decides the verdict: its verdict is `passed` once it has run, and the
 * failures are its details. The replay stage (the runner's semantics) says where the set fails.
 */
import type pg from 'pg'
import type { StartedEngine } from '../../engines/types.ts'
import { diagnosticReplay, formatFailure } from '../../diagnose/replay.ts'
import type { Manifest } from '../../manifest/manifest.ts'
import { connect } from '../../runner/connect.ts'
import { discover } from '../../runner/discover.ts'
import { inferRequirements } from '../../runner/requirements.ts'
import type { StageFn, StageResult } from '../stage.ts'

export const DIAGNOSTIC_TITLE = 'Diagnostic replay: every statement run under a savepoint, every failure listed (the verdict is the replay stage\'s)'

export async function runDiagnosticReplay(engine: StartedEngine, dir: string, manifest: Manifest | undefined, progress: (line: string) => void = () => {}, logSchema?: string): Promise<Omit<StageResult, 'id' | 'title' | 'durationMs'>> {
  const found = await discover(dir)
  if (found.migrations.length === 0) return { verdict: 'skipped', summary: 'skipped: no migration file could be read', details: [] }
  const requirements = manifest?.requirements ?? inferRequirements(found.migrations)
  const extensions = Object.keys(requirements.extensions ?? {}).filter((e) => e !== 'timescaledb' || engine.capabilities.timescaledb)
  const db = await engine.createDatabase('diagnostic')
  let client: pg.Client | undefined
  try {
    client = await connect(db.url, { applicationName: 'pgverify diagnostic-replay' })
    const r = await diagnosticReplay(client, found.migrations, {
      extensions,
      schemas: [logSchema ?? manifest?.schema].filter((s): s is string => !!s),
      noNonTransactionalIndexBuilds: !engine.capabilities.nonTransactionalIndexBuilds,
      onFile: (f) => progress(`  diagnostic replay: ${f}`),
    })
    const own = r.failures.filter((f) => !f.followsFrom)
    const files = new Set(r.failures.map((f) => f.file))
    const refused = found.diagnostics.filter((d) => d.severity === 'error')
    const summary = r.failures.length === 0
      ? `every statement ran: ${r.statements} statements of ${r.files} files`
      : `${r.failures.length} of ${r.statements} statements failed in ${files.size} file${files.size > 1 ? 's' : ''}: ${own.length} on their own, ${r.failures.length - own.length} following from an earlier failure (diagnostic only: the replay stage decides the verdict)`
    const details = [
      ...(refused.length ? [`run although the files stage refuses the directory (${refused.length} file problem${refused.length > 1 ? 's' : ''}: see lint and files); the runner would run none of it`] : []),
      ...r.failures.flatMap(formatFailure),
      ...r.notRun.map((n) => `${n.file}:${n.line}:${n.column}: not run: ${n.reason}: ${n.text}`),
    ]
    return { verdict: 'passed', summary, details }
  } finally {
    await client?.end().catch(() => {})
    await db.drop().catch(() => {})
  }
}

/**
 * When the replay stage applied every file of the directory (none refused, none failed), every
 * statement ran, in order, on a fresh database: a second replay could list no failure, and the
 * stage says so from the replay's result instead of running one. The pipeline starts this stage
 * after replay (`after`), so the result is there to read.
 */
export const diagnosticReplayStage: StageFn = async (ctx) => {
  const replay = await ctx.stageResult?.('replay')
  if (replay?.verdict === 'passed') {
    const found = await discover(ctx.dir)
    const all = found.diagnostics.every((d) => d.severity !== 'error') && found.migrations.length === ctx.migrations.length
    const statements = ctx.migrations.reduce((n, m) => n + m.up.statements.length, 0)
    if (all) return { verdict: 'passed', summary: `every statement ran: ${statements} statements of ${ctx.migrations.length} files, applied by the replay stage (a diagnostic replay runs when one fails)`, details: [] }
  }
  return runDiagnosticReplay(ctx.engine, ctx.dir, ctx.manifest, ctx.progress, ctx.logSchema)
}
