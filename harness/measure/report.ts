/**
 * Writes reports/bench.json and reports/bench.html, and appends a run to a history file (one
 * JSON object per line). Every string passes through redact() before it is rendered; files are
 * written under a temporary name and renamed, so a reader never sees half a report.
 */
import { appendFile, mkdir, readFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { HarnessError } from '../errors.ts'
import { redact } from '../util/redact.ts'
import { BENCH_SCHEMA, toHistoryEntry, type BenchRun, type HistoryEntry } from './figures.ts'
import { renderBenchHtml } from './html.ts'
import { writeAtomic } from '../util/write-atomic.ts'
export { writeAtomic }

/** A deep copy of `value` with every string passed through redact(). */
export function redactDeep<T>(value: T): T {
  if (typeof value === 'string') return redact(value) as T
  if (Array.isArray(value)) return value.map(redactDeep) as T
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactDeep(v)])) as T
  }
  return value
}


/** Reads a history file; unreadable lines are skipped (a truncated last line must not lose the rest). */
export async function readHistory(file: string): Promise<HistoryEntry[]> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw e
  }
  const out: HistoryEntry[] = []
  for (const line of text.split('\n')) {
    if (!line.trim()) continue
    try {
      const entry = JSON.parse(line) as HistoryEntry
      if (entry && Array.isArray(entry.figures)) out.push(entry)
    } catch {
      /* a damaged line: skip it */
    }
  }
  return out
}

/** Appends the run to the history file and returns the whole history, oldest first. */
export async function appendHistory(file: string, run: BenchRun): Promise<HistoryEntry[]> {
  await mkdir(dirname(resolve(file)), { recursive: true })
  const entry = redactDeep(toHistoryEntry(run))
  await appendFile(file, JSON.stringify(entry) + '\n', 'utf8')
  return readHistory(file)
}

/** Reads a baseline: a bench.json of an earlier run. */
export async function readBaseline(file: string): Promise<BenchRun> {
  let parsed: unknown
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'))
  } catch (e) {
    throw new HarnessError('USAGE', `--compare ${file}: cannot read the baseline: ${(e as Error).message}`, {
      hint: 'Pass a reports/bench.json written by an earlier `pnpm bench`.',
    })
  }
  const run = parsed as BenchRun
  if (!run || run.schema !== BENCH_SCHEMA || !Array.isArray(run.engines)) {
    throw new HarnessError('USAGE', `--compare ${file}: not a benchmark report (schema ${String((parsed as { schema?: unknown })?.schema)}, expected ${BENCH_SCHEMA})`, {
      hint: 'Pass a reports/bench.json written by an earlier `pnpm bench`.',
    })
  }
  return run
}

export interface WrittenBenchReports {
  json: string
  html: string
}

export async function writeBenchReports(run: BenchRun, dir: string, history: HistoryEntry[] = []): Promise<WrittenBenchReports> {
  const out = resolve(dir)
  const safe = redactDeep(run)
  const paths = { json: join(out, 'bench.json'), html: join(out, 'bench.html') }
  await writeAtomic(paths.json, JSON.stringify(safe, null, 2) + '\n')
  await writeAtomic(paths.html, renderBenchHtml(safe, redactDeep(history)))
  return paths
}
