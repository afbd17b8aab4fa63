/**
 * The lint allow-list: `<migrations dir>/lint-allow.json`, findings accepted on purpose, each with
 * its reason.
 *
 *   { "allow": [ { "file": "009_database_optimization.sql", "rule": "index-not-concurrent",
 *                  "line": 12, "reason": "…" } ] }
 *
 * Without `line` an entry covers every finding of that rule in that file. An entry that matches
 * no finding is reported (`unused-allow`), so stale entries do not pile up.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { HarnessError } from '../errors.ts'
import { RULE_BY_ID, RULES, type LintFinding } from './rules.ts'
import { readOptionalFile } from '../util/files.ts'

export const ALLOW_FILE = 'lint-allow.json'

export interface AllowEntry {
  file: string
  rule: string
  reason: string
  /** Only the finding on this line (1-based); without it, every finding of the rule in the file. */
  line?: number
  /** Only findings whose statement contains this text (e.g. the index name): survives edits that move lines. */
  match?: string
  /** Where the entry is written (set by loadAllowList), for `unused-allow` findings. */
  source?: { file: string; line: number }
}

const ENTRY_KEYS = new Set(['file', 'rule', 'reason', 'line', 'match'])
const ROOT_KEYS = new Set(['allow', 'description', '$comment'])

/** Reads the allow-list pgverify.config.json names ("lint.allowFile"): it must exist. */
export async function readAllowFile(file: string): Promise<AllowEntry[]> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (e) {
    throw new HarnessError('USAGE', `lint allow-list ${file} (pgverify.config.json "lint.allowFile") cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, {
      hint: 'Fix the path in pgverify.config.json, or remove "lint.allowFile" to use <migrations>/lint-allow.json.',
    })
  }
  return parseAllowList(text, file)
}

/** Reads `<dir>/lint-allow.json`; no file means an empty allow-list. */
export async function loadAllowList(dir: string): Promise<AllowEntry[]> {
  const path = join(dir, ALLOW_FILE)
  const text = await readOptionalFile(path)
  return text === undefined ? [] : parseAllowList(text, path)
}

export function parseAllowList(text: string, path: string): AllowEntry[] {
  const invalid = (what: string, entry?: number) =>
    new HarnessError('MANIFEST_INVALID', `${path}${entry === undefined ? '' : `: entry ${entry + 1} (line ${entryLines(text)[entry] ?? '?'})`}: ${what}`, {
      hint: `Each entry is { "file": "NNN_name.sql", "rule": "<rule id>", "reason": "why this is accepted", "line": 12 or "match": "idx_name" (optional) }. Rules: ${RULES.filter((r) => r.id !== 'unused-allow').map((r) => r.id).join(', ')}.`,
      details: { file: path, entry: entry === undefined ? undefined : entry + 1 },
    })
  let root: unknown
  try {
    root = JSON.parse(text)
  } catch (e) {
    throw invalid(`not valid JSON: ${(e as Error).message}`)
  }
  if (typeof root !== 'object' || root === null || Array.isArray(root) || !Array.isArray((root as { allow?: unknown }).allow)) {
    throw invalid('expected an object with an "allow" array')
  }
  const extra = Object.keys(root).filter((k) => !ROOT_KEYS.has(k))
  if (extra.length) throw invalid(`unknown key${extra.length > 1 ? 's' : ''} ${extra.map((k) => `"${k}"`).join(', ')} (known: allow, description, $comment)`)
  const lines = entryLines(text)
  return ((root as { allow: unknown[] }).allow).map((raw, i): AllowEntry => {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw invalid('not an object', i)
    const e = raw as Record<string, unknown>
    const unknown = Object.keys(e).filter((k) => !ENTRY_KEYS.has(k))
    if (unknown.length) throw invalid(`unknown key${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')}`, i)
    if (typeof e.file !== 'string' || e.file.trim() === '') throw invalid('"file" must be a migration file name', i)
    if (typeof e.rule !== 'string' || !RULE_BY_ID.has(e.rule) || e.rule === 'unused-allow') throw invalid(`"rule" must be a rule id, got ${JSON.stringify(e.rule)}`, i)
    if (typeof e.reason !== 'string' || e.reason.trim() === '') throw invalid(`missing "reason" for ${e.file} ${e.rule}: say why the finding is accepted`, i)
    if (e.line !== undefined && !(typeof e.line === 'number' && Number.isInteger(e.line) && e.line > 0)) throw invalid('"line" must be a positive integer', i)
    if (e.match !== undefined && !(typeof e.match === 'string' && e.match.trim() !== '')) throw invalid('"match" must be a non-empty string', i)
    return { file: e.file, rule: e.rule, reason: e.reason.trim(), line: e.line as number | undefined, match: e.match as string | undefined, source: { file: path, line: lines[i] ?? 1 } }
  })
}

/** 1-based line of each element of the root "allow" array (a small JSON scan: strings, nesting). */
function entryLines(text: string): number[] {
  const out: number[] = []
  const stack: string[] = []
  let line = 1
  let lastKey = ''
  let allowDepth = -1
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (c === '\n') line++
    else if (c === '"') {
      let k = i + 1
      while (k < text.length && text[k] !== '"') k += text[k] === '\\' ? 2 : 1
      const s = text.slice(i + 1, k)
      if (allowDepth > 0 && stack.length === allowDepth) out.push(line) // a string element (invalid, but located)
      let j = k + 1
      while (j < text.length && /\s/.test(text[j]!)) j++
      if (text[j] === ':' && stack.length === 1) lastKey = s
      i = k
    } else if (c === '[' || c === '{') {
      if (stack.length === allowDepth) out.push(line)
      stack.push(c)
      if (c === '[' && stack.length === 2 && lastKey === 'allow') allowDepth = 2
    } else if (c === ']' || c === '}') {
      stack.pop()
      if (stack.length < allowDepth) allowDepth = -1
    } else if (allowDepth > 0 && stack.length === allowDepth && !/[\s,]/.test(c)) {
      // a scalar element (invalid, but it still has a position)
      out.push(line)
      while (i + 1 < text.length && !/[\s,\]]/.test(text[i + 1]!)) i++
    }
  }
  return out
}

/**
 * Marks findings covered by an entry (`allowed`) and appends an `unused-allow` warning for every
 * entry that covered nothing. A line-specific entry wins over a file-wide one.
 */
export function applyAllowList(findings: LintFinding[], allow: AllowEntry[]): LintFinding[] {
  const used = new Set<AllowEntry>()
  for (const f of findings) {
    const candidates = allow.filter((a) => a.file === f.file && a.rule === f.rule && (a.line === undefined || a.line === f.line) && (a.match === undefined || f.statement.includes(a.match)))
    const entry = candidates.find((a) => a.line !== undefined || a.match !== undefined) ?? candidates[0]
    if (entry) {
      f.allowed = { reason: entry.reason }
      used.add(entry)
    }
  }
  const unused = allow.filter((a) => !used.has(a)).map((a): LintFinding => {
    const rule = RULE_BY_ID.get('unused-allow')!
    return {
      rule: rule.id, severity: rule.severity,
      file: a.source ? a.source.file.split(/[\\/]/).pop()! : ALLOW_FILE,
      line: a.source?.line ?? 1, column: 1,
      message: `allow entry for ${a.file} ${a.rule}${a.line === undefined ? '' : ` line ${a.line}`}${a.match === undefined ? '' : ` matching "${a.match}"`} matches no finding`,
      fix: rule.fix,
      statement: JSON.stringify({ file: a.file, rule: a.rule, ...(a.line === undefined ? {} : { line: a.line }) }),
    }
  })
  return [...findings, ...unused]
}
