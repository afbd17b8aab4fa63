/**
 * `rehearse-allow.json` next to the migrations: rehearsal findings accepted on purpose, each with
 * the figure that was measured and why it stands (the rehearsal's lint-allow.json). A finding it
 * covers is reported as allowed, with the reason, never hidden; the migration's verdict counts
 * only the findings no entry covers.
 *
 * An entry names the statement that *caused* the finding (where the lock the workload waited for
 * was taken, else the statement during which it happened) by file and line, and optionally a text
 * the statement must contain (a line that now holds another statement no longer matches). It can
 * cap the blocked time it accepts (`upToMs`): a finding that waited longer is not covered, so an
 * allowance written for 400 ms does not cover a regression to 4 s. Workload errors and a
 * migration that failed to apply are never covered.
 *
 * Findings depend on timing (a statement that blocks for 250 ms in one run may stay under the
 * limit in the next), so an entry that matched nothing in a run is listed as "not seen", not an
 * error.
 */
import { join } from 'node:path'
import { HarnessError } from '../errors.ts'
import { readOptionalFile } from '../util/files.ts'
import type { StatementFigures } from './figures.ts'
import type { Finding } from './verdict.ts'
import type { Allowance } from './types.ts'

export const REHEARSE_ALLOW_FILE = 'rehearse-allow.json'

export interface RehearseAllowEntry {
  file: string
  line: number
  /** Text the statement at file:line must contain (e.g. an index name). */
  match?: string
  /** The longest blocked time this entry accepts; above it the finding stands. */
  upToMs?: number
  /** What was measured when the entry was written: engine, data, load, figures. */
  measured: string
  reason: string
}

export async function loadRehearseAllow(dir: string): Promise<{ path: string; entries: RehearseAllowEntry[] }> {
  const path = join(dir, REHEARSE_ALLOW_FILE)
  const text = await readOptionalFile(path)
  return { path, entries: text === undefined ? [] : parseRehearseAllow(text, path) }
}

export function parseRehearseAllow(text: string, path: string): RehearseAllowEntry[] {
  const bad = (what: string, i?: number) => new HarnessError('MANIFEST_INVALID', `${path}${i === undefined ? '' : `: entry ${i + 1}`}: ${what}`, { hint: 'Each entry of "allow" needs file, line, measured and reason; match (text) and upToMs (a number) are optional.' })
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (e) {
    throw bad(`not JSON: ${(e as Error).message}`)
  }
  const allow = (parsed as { allow?: unknown })?.allow
  if (!Array.isArray(allow)) throw bad('"allow" must be an array')
  return allow.map((e: Record<string, unknown>, i) => {
    if (typeof e?.file !== 'string' || !e.file) throw bad('"file" must be a file name', i)
    if (!Number.isInteger(e.line) || (e.line as number) < 1) throw bad('"line" must be a line number', i)
    for (const k of ['measured', 'reason']) if (typeof e[k] !== 'string' || !(e[k] as string).trim()) throw bad(`"${k}" must say something`, i)
    if (e.match !== undefined && typeof e.match !== 'string') throw bad('"match" must be text', i)
    if (e.upToMs !== undefined && !(typeof e.upToMs === 'number' && e.upToMs > 0)) throw bad('"upToMs" must be a positive number', i)
    const known = ['file', 'line', 'match', 'upToMs', 'measured', 'reason']
    const unknown = Object.keys(e).find((k) => !known.includes(k))
    if (unknown) throw bad(`unknown key "${unknown}"`, i)
    return e as unknown as RehearseAllowEntry
  })
}

/** Where a finding was caused: the statement that took the lock waited for, else the one it happened during. */
export const causeOf = (f: Finding): string => f.lock?.takenAt ?? f.during

const lineOf = (where: string, file: string): number | undefined => {
  const m = where.startsWith(`${file}:`) ? /^:(\d+):/.exec(where.slice(file.length)) : null
  return m ? Number(m[1]) : undefined
}

/**
 * Marks the findings an entry covers (`allowed`), and returns the entries that matched in this
 * file. `statements` are the migration's figures (the workload errors during each); `source`
 * gives the whole text of the file's statement at a line (a DO block's body included).
 */
export function applyRehearseAllow(findings: Finding[], statements: StatementFigures[], entries: RehearseAllowEntry[], source: (line: number) => string | undefined): { findings: Finding[]; used: Set<RehearseAllowEntry> } {
  const used = new Set<RehearseAllowEntry>()
  const out = findings.map((f) => {
    const during = statements.find((s) => s.where === f.during)
    if (!during || during.workload.errors > 0) return f
    const cause = causeOf(f)
    const entry = entries.find((e) => {
      if (lineOf(cause, e.file) !== e.line) return false
      if (e.match && !source(e.line)?.includes(e.match)) return false
      return e.upToMs === undefined || f.blockedMs <= e.upToMs
    })
    if (!entry) return f
    used.add(entry)
    const allowed: Allowance = { file: entry.file, line: entry.line, reason: entry.reason, measured: entry.measured, ...(entry.upToMs !== undefined ? { upToMs: entry.upToMs } : {}) }
    return { ...f, allowed }
  })
  return { findings: out, used }
}
