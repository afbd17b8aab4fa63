/**
 * The house rules of harness/ (README, "The architecture at a glance"), checked on the source so
 * they stay true: imports only go down the rooms, no import circles (type-only ones included),
 * no file over 400 lines, product code never imports test fixtures. Static: no database needed.
 */
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'

/** Each top-level entry of harness/ and its room; a room may import its own and lower rooms. */
const ROOMS: Record<string, number> = {
  cli: 7,
  verify: 6, execute: 6, reports: 6, measure: 6, rehearse: 6,
  backup: 5, data: 5, lint: 5, diagnose: 5,
  runner: 4, engines: 4,
  validation: 3,
  catalog: 2, manifest: 2, sql: 2,
  steps: 1,
  util: 0, config: 0, 'errors.ts': 0, 'sqlstate.ts': 0,
}
/** The bundler sits beside the house: it imports the CLI to bundle it. */
const OUTSIDE = new Set(['build'])
/** Top-level bench/ holds the benchmark definitions the bench verb runs: it is a job (room 6). */
const BENCH_ROOM = 6
const MAX_LINES = 400

const ROOT = path.resolve(import.meta.dirname, '..')

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name)
    return e.isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : []
  })
}

/** Relative specifiers of static imports, re-exports and dynamic imports (type-only included). */
function importsOf(file: string): string[] {
  const src = readFileSync(file, 'utf8')
  const out: string[] = []
  for (const m of src.matchAll(/^\s*(?:import|export)\b[^;'"]*?\bfrom\s+['"](\.{1,2}\/[^'"]+)['"]|\bimport\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)|^\s*import\s+['"](\.{1,2}\/[^'"]+)['"]/gm)) {
    out.push(path.resolve(path.dirname(file), (m[1] ?? m[2] ?? m[3])!))
  }
  return out
}

const rel = (f: string) => path.relative(ROOT, f)
const roomOf = (f: string): { name: string; level: number | undefined } => {
  const [top, name] = rel(f).split(path.sep)
  if (top === 'harness') return { name: name!, level: ROOMS[name!] }
  if (top === 'bench') return { name: 'bench/', level: BENCH_ROOM }
  return { name: `${top}/`, level: undefined }
}

const files = sources(path.join(ROOT, 'harness'))
const graph = new Map(files.map((f) => [f, importsOf(f)]))

describe('the house of harness/', () => {
  it('every top-level entry of harness/ has a room', () => {
    const tops = [...new Set(files.map((f) => rel(f).split(path.sep)[1]!))]
    expect(tops.filter((t) => ROOMS[t] === undefined && !OUTSIDE.has(t))).toEqual([])
  })

  it('imports only go down (or stay in the room)', () => {
    const upward: string[] = []
    for (const [file, deps] of graph) {
      const from = roomOf(file)
      if (OUTSIDE.has(from.name)) continue
      for (const dep of deps) {
        const to = roomOf(dep)
        if (to.name === from.name) continue
        if (to.level === undefined || to.level > from.level!) upward.push(`${rel(file)} (room ${from.level}) imports ${rel(dep)} (${to.level === undefined ? 'outside the house' : `room ${to.level}`})`)
      }
    }
    expect(upward).toEqual([])
  })

  it('no import circles, between folders or files', () => {
    const edges = new Map<string, Set<string>>()
    for (const [file, deps] of graph) {
      const a = roomOf(file).name
      for (const dep of deps) {
        const b = roomOf(dep).name
        if (a !== b) (edges.get(a) ?? edges.set(a, new Set()).get(a)!).add(b)
      }
    }
    const circles = (nodes: Iterable<string>, next: (n: string) => Iterable<string>, show: (n: string) => string): string[] => {
      const found: string[] = []
      const done = new Set<string>()
      const stack: string[] = []
      const visit = (n: string) => {
        const at = stack.indexOf(n)
        if (at >= 0) return void found.push([...stack.slice(at), n].map(show).join(' → '))
        if (done.has(n)) return
        stack.push(n)
        for (const m of next(n)) visit(m)
        stack.pop()
        done.add(n)
      }
      for (const n of nodes) visit(n)
      return found
    }
    expect(circles(edges.keys(), (n) => edges.get(n) ?? [], (n) => n)).toEqual([])
    expect(circles(graph.keys(), (n) => graph.get(n) ?? [], rel)).toEqual([])
  })

  it(`no file is over ${MAX_LINES} lines`, () => {
    const long = files.map((f) => [rel(f), readFileSync(f, 'utf8').split('\n').length - 1] as const).filter(([, n]) => n > MAX_LINES)
    expect(long).toEqual([])
  })

  it('product code never imports test fixtures or suites', () => {
    const bad = [...graph].flatMap(([file, deps]) => deps.filter((d) => /^(fixtures|suites)\//.test(rel(d))).map((d) => `${rel(file)} imports ${rel(d)}`))
    expect(bad).toEqual([])
  })
})
