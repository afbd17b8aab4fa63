/**
 * Headless Chromium for tests that must see a page as a browser renders it: `--dump-dom`
 * gives the DOM after parsing and scripts, `--screenshot` a PNG to look at. Each run gets a
 * fresh profile directory (removed afterwards), no network features, and a hard timeout that
 * ends the browser's whole process group.
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
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
