/** What job runs did, as report lines and totals. */
import type { JobRun } from './measure.ts'
import { describeConfig, jobLabel, registeredLabel } from './registered.ts'
import { formatJobError } from './run.ts'

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`

/** What a run did, in one line per fact. */
export function formatRun(run: JobRun): string[] {
  const j = run.job
  const head = `job ${j.id} ${jobLabel(j)} [${registeredLabel(j)}]: ${describeConfig(j)}`
  const ms = `${Math.round(run.durationMs)} ms`
  if (!run.ok) {
    const e = run.error!
    return [`FAIL ${head}`, `  CALL run_job(${j.id}) failed after ${ms}: ${formatJobError(e)}`]
  }
  const lines = [`${run.violations.length ? 'FAIL' : 'ok  '} ${head}`]
  const own = run.effects.find((e) => e.table === j.hypertable)
  const cut = run.cutoff ? `, cutoff ${run.cutoff.from}` : ''
  if (j.kind === 'retention' && own) {
    lines.push(
      `  deleted ${plural(own.rowsBefore - own.rowsAfter, 'row')} in ${plural(own.chunksDropped, 'chunk')} of ${own.table}${cut}; kept ${plural(own.rowsAfter, 'row')} in ${plural(own.chunksAfter, 'chunk')} (${ms})`,
    )
  } else if (j.kind === 'compression' && own) {
    lines.push(
      `  compressed ${plural(own.chunksCompressed, 'chunk')} of ${own.table}${cut} (${own.compressedAfter} of ${own.chunksAfter} now compressed); rows ${own.contentChanged ? `CHANGED ${own.rowsBefore} → ${own.rowsAfter}` : `and content unchanged (${own.rowsAfter})`} (${ms})`,
    )
  } else {
    const changed = run.effects.filter((e) => e.contentChanged || e.chunksDropped || e.chunksCompressed)
    if (!changed.length && !run.otherChanges.length) lines.push(`  ran in ${ms}; no table changed`)
    else lines.push(`  ran in ${ms}`)
    for (const e of changed) lines.push(`  ${e.table}: ${e.rowsBefore} → ${e.rowsAfter} rows, ${e.chunksDropped} chunks dropped, ${e.chunksCompressed} compressed`)
    for (const l of run.otherChanges) lines.push(`  ${l}`)
  }
  for (const e of run.effects.filter((x) => x.table !== j.hypertable && j.kind !== 'custom')) lines.push(`  also ${e.table}: ${e.rowsBefore} → ${e.rowsAfter} rows, ${e.chunksDropped} chunks dropped, ${e.chunksCompressed} compressed`)
  for (const v of run.violations) lines.push(`  CONTRADICTS ITS CONFIG: ${v}`)
  return lines
}

/** Totals per kind, for a summary line. */
export function totals(runs: JobRun[]): { retention: { rows: number; chunks: number; tables: number }; compression: { chunks: number; tables: number }; failed: number; contradicting: number } {
  const t = { retention: { rows: 0, chunks: 0, tables: 0 }, compression: { chunks: 0, tables: 0 }, failed: 0, contradicting: 0 }
  for (const r of runs) {
    if (!r.ok) t.failed++
    if (r.violations.length) t.contradicting++
    const own = r.effects.find((e) => e.table === r.job.hypertable)
    if (!r.ok || !own) continue
    if (r.job.kind === 'retention') {
      t.retention.rows += own.rowsBefore - own.rowsAfter
      t.retention.chunks += own.chunksDropped
      if (own.chunksDropped) t.retention.tables++
    } else if (r.job.kind === 'compression') {
      t.compression.chunks += own.chunksCompressed
      if (own.chunksCompressed) t.compression.tables++
    }
  }
  return t
}
