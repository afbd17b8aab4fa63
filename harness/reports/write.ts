/**
 * Writes the reports of every job, the one way: each string of the report goes through
 * redact() before rendering (redactDeep), so a secret is masked even where JSON, XML or HTML
 * escaping would change its spelling (the renderers add only fixed text). Rendered markup is
 * not redacted again: redact()'s URL rule would run on into the markup after a URL
 * (`…/db</span>`) and break it. Each file is written under a temporary name and renamed, so a
 * reader never sees half a report; the page people open is written last, once the files it
 * links to are there.
 *
 *   verify    verify.json, junit.xml, index.html
 *   bench     bench.json, bench-junit.xml, bench.html
 *   rehearse  rehearse.json, rehearse.html (the timeline per migration)
 *   plan      plan-estimate.json (plan --rehearse)
 *
 * execute writes its own text report and JSON (execute/report.ts), as seed 000 names them.
 */
import { join, resolve } from 'node:path'
import type { BenchRun, HistoryEntry } from '../measure/figures.ts'
import { redactDeep } from '../util/redact.ts'
import { writeAtomic } from '../util/write-atomic.ts'
import type { VerifyReport } from '../verify/stage.ts'
import type { RehearsalReport } from '../rehearse/report.ts'
import type { PlanEstimate } from '../rehearse/estimate.ts'
import { renderBenchHtml } from './bench-html.ts'
import { renderBenchJunit } from './bench-junit.ts'
import { renderJson } from './text.ts'
import { renderHtml } from './verify-html.ts'
import { renderRehearseHtml } from './rehearse-html.ts'
import { renderJunit } from './verify-junit.ts'

export { redactDeep } from '../util/redact.ts'

/** Writes the files in order, each atomically. */
export async function writeReportFiles(files: [path: string, text: string][]): Promise<void> {
  for (const [file, text] of files) await writeAtomic(file, text)
}

export interface WrittenReports {
  json: string
  junit: string
  html: string
}

export async function writeReports(report: VerifyReport, dir: string): Promise<WrittenReports> {
  const out = resolve(dir)
  const safe = redactDeep(report)
  const paths: WrittenReports = { json: join(out, 'verify.json'), junit: join(out, 'junit.xml'), html: join(out, 'index.html') }
  await writeReportFiles([
    [paths.json, renderJson(safe)],
    [paths.junit, renderJunit(safe)],
    [paths.html, renderHtml(safe)],
  ])
  return paths
}

export interface WrittenBenchReports {
  json: string
  junit: string
  html: string
}

export async function writeBenchReports(run: BenchRun, dir: string, history: HistoryEntry[] = []): Promise<WrittenBenchReports> {
  const out = resolve(dir)
  const safe = redactDeep(run)
  const paths = { json: join(out, 'bench.json'), junit: join(out, 'bench-junit.xml'), html: join(out, 'bench.html') }
  await writeReportFiles([
    [paths.json, renderJson(safe)],
    [paths.junit, renderBenchJunit(safe)],
    [paths.html, renderBenchHtml(safe, redactDeep(history))],
  ])
  return paths
}

export async function writeRehearsalReport(report: RehearsalReport, dir: string): Promise<string> {
  const path = join(resolve(dir), 'rehearse.json')
  const safe = redactDeep(report)
  await writeReportFiles([
    [path, renderJson(safe)],
    [join(resolve(dir), 'rehearse.html'), renderRehearseHtml(safe)],
  ])
  return path
}

/** `pgverify plan --rehearse`: plan-estimate.json (the estimate per statement at production size). */
export async function writePlanEstimate(estimate: PlanEstimate, dir: string): Promise<string> {
  const path = join(resolve(dir), 'plan-estimate.json')
  await writeReportFiles([[path, renderJson(redactDeep(estimate))]])
  return path
}
