/**
 * The benchmark's own files: the history (one JSON object per line, appended per run) and a
 * baseline to compare with. The reports themselves (bench.json, bench.html) are written by the
 * reports core (reports/write.ts).
 */
import { appendFile, mkdir, readFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { HarnessError } from '../errors.ts'
import { redactDeep } from '../util/redact.ts'
import { BENCH_SCHEMA, toHistoryEntry, type BenchRun, type HistoryEntry } from './figures.ts'

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
