/**
 * Writes the three reports of a verify run: verify.json (everything), junit.xml (CI),
 * index.html (people). Every string of the report goes through redact() before rendering, so
 * a secret is masked even where JSON, XML or HTML escaping would change its spelling (the
 * renderers add only fixed text). The rendered files are not redacted again: redact()'s URL
 * rule would run on into the markup after a URL (`…/db</span>`) and break it. Each file is
 * written under a temporary name and renamed, so a reader never sees half a report.
 */
import { mkdir } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { redact } from '../util/redact.ts'
import type { VerifyReport } from '../verify/pipeline.ts'
import { renderHtml } from './html.ts'
import { renderJunit } from './junit.ts'
import { writeAtomic } from '../util/write-atomic.ts'

export interface WrittenReports {
  json: string
  junit: string
  html: string
}

/** A deep copy of `value` with every string passed through redact(). */
export function redactDeep<T>(value: T): T {
  if (typeof value === 'string') return redact(value) as T
  if (Array.isArray(value)) return value.map(redactDeep) as T
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactDeep(v)])) as T
  }
  return value
}


export async function writeReports(report: VerifyReport, dir: string): Promise<WrittenReports> {
  const out = resolve(dir)
  await mkdir(out, { recursive: true })
  const safe = redactDeep(report)
  const paths: WrittenReports = { json: join(out, 'verify.json'), junit: join(out, 'junit.xml'), html: join(out, 'index.html') }
  const texts: [string, string][] = [
    [paths.json, JSON.stringify(safe, null, 2) + '\n'],
    [paths.junit, renderJunit(safe)],
    // Last: the page people open appears once the files it links to are there.
    [paths.html, renderHtml(safe)],
  ]
  for (const [file, text] of texts) await writeAtomic(file, text)
  return paths
}
