/**
 * Headless Chromium for tests that must see a page as a browser renders it: `--dump-dom`
 * gives the DOM after parsing and scripts, `--screenshot` a PNG to look at. Each run gets a
 * fresh profile directory (removed afterwards), no network features, and a hard timeout that
 * ends the browser's whole process group.
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable']

/** The Chromium binary: $CHROMIUM_PATH, else the usual install locations; undefined when none. */
export function chromiumPath(): string | undefined {
  const fromEnv = process.env.CHROMIUM_PATH
  if (fromEnv) return existsSync(fromEnv) ? fromEnv : undefined
  return CANDIDATES.find((p) => existsSync(p))
}

const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--no-default-browser-check',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-extensions',
  '--disable-dev-shm-usage',
  '--mute-audio',
]

export interface RunOptions {
  timeoutMs?: number
}

/** Runs Chromium once on `url` with `args`, returns its stdout; throws with stderr on failure or timeout. */
async function run(args: string[], url: string | undefined, { timeoutMs = 60_000 }: RunOptions = {}): Promise<string> {
  const bin = chromiumPath()
  if (!bin) throw new Error('chromium is not installed (apt-get install -y chromium, or set CHROMIUM_PATH)')
  const profile = mkdtempSync(path.join(os.tmpdir(), 'pgverify-chromium-'))
  try {
    return await new Promise<string>((resolve, reject) => {
      // Own process group, so a timeout ends the browser and every helper process it started.
      const child = spawn(bin, [...FLAGS, `--user-data-dir=${profile}`, ...args, ...(url ? [url] : [])], { stdio: ['ignore', 'pipe', 'pipe'], detached: true })
      const stdout: Buffer[] = []
      const stderr: Buffer[] = []
      child.stdout.on('data', (b: Buffer) => stdout.push(b))
      child.stderr.on('data', (b: Buffer) => stderr.push(b))
      const timer = setTimeout(() => {
        try {
          if (child.pid) process.kill(-child.pid, 'SIGKILL')
        } catch {
          /* already gone */
        }
        reject(new Error(`chromium timed out after ${timeoutMs} ms\n${Buffer.concat(stderr).toString().slice(-2000)}`))
      }, timeoutMs)
      child.on('error', (e) => {
        clearTimeout(timer)
        reject(e)
      })
      child.on('close', (code, signal) => {
        clearTimeout(timer)
        if (code === 0) resolve(Buffer.concat(stdout).toString('utf8'))
        else reject(new Error(`chromium exited with ${code ?? signal}\n${Buffer.concat(stderr).toString().slice(-2000)}`))
      })
    })
  } finally {
    rmSync(profile, { recursive: true, force: true })
  }
}

/** The DOM of `htmlFile` as Chromium serialises it after loading (and running any scripts). */
export function renderToText(htmlFile: string, options?: RunOptions): Promise<string> {
  return run(['--dump-dom'], pathToFileURL(path.resolve(htmlFile)).href, options)
}

/** Saves a PNG of `htmlFile` at the given window size (full height: make it tall enough). */
export async function screenshot(htmlFile: string, png: string, size = { width: 1280, height: 2000 }, options?: RunOptions): Promise<void> {
  await run([`--screenshot=${path.resolve(png)}`, `--window-size=${size.width},${size.height}`, '--hide-scrollbars'], pathToFileURL(path.resolve(htmlFile)).href, options)
}

/** The version line Chromium prints, e.g. "Chromium 138.0.7204.92 built on Debian …". */
export async function chromiumVersion(): Promise<string> {
  return (await run(['--version'], undefined, { timeoutMs: 20_000 })).trim()
}

/** Visible text of a dumped DOM: tags removed, entities for &, <, >, quotes decoded, whitespace collapsed. */
export function domText(dom: string): string {
  return dom
    .replace(/<(script|style)\b[^>]*>[\s\S]*?<\/\1>/gi, ' ')
    .replace(/<[^>]*>/g, ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&nbsp;/g, ' ')
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ')
    .trim()
}

export interface TableLayout {
  /** The table's caption, or the heading before it. */
  name: string
  width: number
  right: number
  columns: { header: string; width: number }[]
  /** Cells (header or data) whose content is wider than the cell: cut off or spilling over. */
  overflowing: string[]
}

/**
 * How Chromium lays out every table of `htmlFile` in a window `width` pixels wide (every
 * <details> opened first, so folded tables count too). The page is copied with a measuring
 * script appended; the page itself is not changed.
 */
export async function measureTables(htmlFile: string, width: number, options?: RunOptions): Promise<{ viewport: number; tables: TableLayout[] }> {
  const probe = `<script>(function () {
  document.querySelectorAll('details').forEach(function (d) { d.open = true })
  var tables = [].map.call(document.querySelectorAll('table'), function (t, i) {
    var r = t.getBoundingClientRect()
    var before = t.closest('section, div') && t.closest('section, div').querySelector('h2, h3')
    var name = (t.caption && t.caption.textContent) || (before && before.textContent) || 'table ' + (i + 1)
    var cells = [].slice.call(t.querySelectorAll('th, td'))
    return {
      name: name.trim().slice(0, 80), width: Math.round(r.width), right: Math.round(r.right),
      columns: [].map.call(t.querySelectorAll('thead th'), function (th) { return { header: th.textContent.trim(), width: Math.round(th.getBoundingClientRect().width) } }),
      overflowing: cells.filter(function (c) { return c.scrollWidth > c.clientWidth + 1 }).map(function (c) { return c.textContent.trim().slice(0, 60) })
    }
  })
  var pre = document.createElement('pre')
  pre.id = 'pgverify-layout'
  pre.textContent = JSON.stringify({ viewport: document.documentElement.clientWidth, tables: tables })
  document.body.appendChild(pre)
})()</script>`
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pgverify-layout-'))
  try {
    const copy = path.join(dir, path.basename(htmlFile))
    const html = readFileSync(htmlFile, 'utf8')
    writeFileSync(copy, html.includes('</body>') ? html.replace(/<\/body>(?![\s\S]*<\/body>)/, `${probe}</body>`) : html + probe)
    const dom = await run([`--window-size=${width},900`, '--hide-scrollbars', '--dump-dom'], pathToFileURL(copy).href, options)
    const json = /<pre id="pgverify-layout">([\s\S]*?)<\/pre>/.exec(dom)?.[1]
    if (!json) throw new Error(`no layout measured for ${htmlFile}`)
    return JSON.parse(json.replaceAll('&quot;', '"').replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&amp;', '&'))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** What is broken in a measured layout: a table wider than the window, a cell cut off, a column squeezed under `minColumn` px. */
export function layoutProblems(layout: { viewport: number; tables: TableLayout[] }, minColumn = 24): string[] {
  return layout.tables.flatMap((t) => [
    ...(t.right > layout.viewport ? [`${t.name}: ${t.width} px wide, ends at ${t.right} px in a ${layout.viewport} px window`] : []),
    ...t.overflowing.map((c) => `${t.name}: cell "${c}" is wider than its column`),
    ...t.columns.filter((c) => c.width < minColumn).map((c) => `${t.name}: column "${c.header}" is ${c.width} px wide`),
  ])
}

export interface TimelineLayout {
  label: string
  width: number
  right: number
  height: number
  /** Marks as drawn: statement spans, lock bars, wait bars, workload operations. */
  spans: number
  spanWheres: string[]
  held: number
  waits: number
  ops: number
  /** Spans Chromium laid out with no width (not visible). */
  invisibleSpans: number
}

/**
 * How Chromium lays out every timeline (svg.timeline) of `htmlFile` in a window `width` pixels
 * wide: its box, and how many of each mark it drew (rehearse-timeline.ts's classes). Measured
 * the way measureTables is: a copy of the page with a probe appended.
 */
export async function measureTimelines(htmlFile: string, width: number, options?: RunOptions): Promise<{ viewport: number; timelines: TimelineLayout[] }> {
  const probe = `<script>(function () {
  var out = [].map.call(document.querySelectorAll('svg.timeline'), function (s) {
    var r = s.getBoundingClientRect()
    var spans = [].slice.call(s.querySelectorAll('rect.stmt'))
    return {
      label: s.getAttribute('aria-label'), width: Math.round(r.width), right: Math.round(r.right), height: Math.round(r.height),
      spans: spans.length, spanWheres: spans.map(function (x) { return x.getAttribute('data-where') }),
      invisibleSpans: spans.filter(function (x) { return x.getBoundingClientRect().width <= 0 }).length,
      held: s.querySelectorAll('rect.held').length, waits: s.querySelectorAll('rect.wait').length, ops: s.querySelectorAll('.op').length
    }
  })
  var pre = document.createElement('pre')
  pre.id = 'pgverify-timelines'
  pre.textContent = JSON.stringify({ viewport: document.documentElement.clientWidth, timelines: out })
  document.body.appendChild(pre)
})()</script>`
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pgverify-timeline-'))
  try {
    const copy = path.join(dir, path.basename(htmlFile))
    const html = readFileSync(htmlFile, 'utf8')
    writeFileSync(copy, html.replace(/<\/body>(?![\s\S]*<\/body>)/, `${probe}</body>`))
    const dom = await run([`--window-size=${width},900`, '--hide-scrollbars', '--dump-dom'], pathToFileURL(copy).href, options)
    const json = /<pre id="pgverify-timelines">([\s\S]*?)<\/pre>/.exec(dom)?.[1]
    if (!json) throw new Error(`no timeline measured for ${htmlFile}`)
    return JSON.parse(json.replaceAll('&quot;', '"').replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&amp;', '&'))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
