/**
 * What ships is what was verified: `pnpm build:runner` emits one bundled file plus the
 * migrations; the emitted file (not the sources) is copied to an empty directory with no
 * node_modules anywhere above it and run with plain `node` against the URL of a disposable
 * database on every engine present (support/engines.ts).
 */
import { spawn } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { StartedEngine } from '../harness/engines/types.ts'
import { copyDir, PLAIN, ROOT } from './support/dirs.ts'
import { availableEngines, needsLocalDumpTools, useEngine } from './support/engines.ts'

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

function run(file: string, args: string[], options: { cwd: string; env?: Record<string, string | undefined>; timeoutMs?: number }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: options.cwd,
      // Nothing of the dev setup leaks in: no NODE_PATH, no NODE_OPTIONS (tsx), no DATABASE_URL unless given.
      env: { PATH: process.env.PATH, HOME: os.tmpdir(), NO_COLOR: '1', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 300_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

const temp: string[] = []
afterAll(() => {
  for (const d of temp) rmSync(d, { recursive: true, force: true })
})

const cases = await availableEngines()

let artifactDir: string
let bundle: string

beforeAll(async () => {
  const b = await run('pnpm', ['-s', 'build:runner'], { cwd: ROOT, env: { HOME: process.env.HOME } })
  expect(b.stderr).toBe('')
  expect(b.code).toBe(0)
  expect(b.stdout).toMatch(/built dist\/runner\/pgverify-runner\.mjs/)
  artifactDir = mkdtempSync(path.join(os.tmpdir(), 'pgverify-artifact-'))
  temp.push(artifactDir)
  cpSync(path.join(ROOT, 'dist/runner'), artifactDir, { recursive: true })
  bundle = path.join(artifactDir, 'pgverify-runner.mjs')
}, 300_000)

describe('the emitted production runner', () => {
  it('is one file plus the migrations and their manifest, with no engine code inside', () => {
    expect(readdirSync(artifactDir).sort()).toEqual(['README.txt', 'migrations', 'pgverify-runner.mjs'])
    const migrations = readdirSync(path.join(artifactDir, 'migrations'))
    expect(migrations).toEqual(expect.arrayContaining(['manifest.json', '001_init_telemetry.sql', '009_database_optimization.sql', '009_database_optimization.down.sql']))
    // Nothing to resolve at run time: no node_modules in the directory or any directory above it.
    for (let d = artifactDir; ; d = path.dirname(d)) {
      expect(existsSync(path.join(d, 'node_modules')), d).toBe(false)
      if (path.dirname(d) === d) break
    }
    const text = readFileSync(bundle, 'utf8')
    // esbuild marks every bundled module with its path: pg and the CLI's picocolors and
    // fastest-levenshtein are in, PGlite and testcontainers are not.
    expect(text).toMatch(/^\/\/ node_modules\/.*\/pg\/lib\/client\.js$/m)
    expect(text).toMatch(/^\/\/ node_modules\/.*picocolors/m)
    expect(text).toMatch(/^\/\/ node_modules\/.*fastest-levenshtein/m)
    expect(text).not.toMatch(/^\/\/ .*(pglite|testcontainers|engines\/embedded\.ts|engines\/container\.ts)/m)
    expect(text).not.toMatch(/from ['"](pg|zx|picocolors|fastest-levenshtein|@electric-sql\/[^'"]+|testcontainers)['"]/)
  })

  it('answers --help and refuses --engine: the runner works on DATABASE_URL only', async () => {
    const h = await run('node', [bundle, '--help'], { cwd: artifactDir })
    expect(h.code).toBe(0)
    for (const w of ['migrate', 'validate', 'backup', 'restore', 'execute']) expect(h.stdout).toContain(w)
    // No package.json travels with the one file: the build wrote the version in.
    const v = await run('node', [bundle, '--version'], { cwd: artifactDir })
    expect(v.stdout.trim()).toBe(`pgverify-runner ${JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version}`)
    const missing = await run('node', [bundle, 'migrate', 'down', '--to', '--yes'], { cwd: artifactDir })
    expect(missing.code).toBe(2)
    expect(missing.stderr).toMatch(/--to needs a value/)
    const e = await run('node', [bundle, 'migrate', 'status', '--engine', 'embedded'], { cwd: artifactDir })
    expect(e.code).toBe(8)
    expect(e.stderr).toMatch(/\[ENGINE_UNAVAILABLE\] engine "embedded": the production runner works against DATABASE_URL only/)
    const n = await run('node', [bundle, 'migrate', 'status'], { cwd: artifactDir })
    expect(n.code).toBe(2)
    expect(n.stderr).toMatch(/DATABASE_URL is not set/)
  })

  describe.each(cases)('against a database on the $name engine', (c) => {
    const started = useEngine(c)
    let engine: StartedEngine
    beforeAll(() => {
      engine = started()
    })

    it('migrate up, status and validate work from an empty directory, with the bundled migrations (MS5.0)', async () => {
      const db = await engine.createDatabase('artifact')
      const env = { DATABASE_URL: db.url }
      const empty = mkdtempSync(path.join(os.tmpdir(), 'pgverify-cwd-'))
      temp.push(empty)
      const up = await run('node', [bundle, 'migrate', 'up'], { cwd: empty, env })
      expect(up.stderr).not.toMatch(/error/i)
      expect(up.code).toBe(0)
      expect(up.stdout).toMatch(/applied 9 migrations: version 0 → 9/)
      const st = await run('node', [bundle, 'migrate', 'status', '--json'], { cwd: empty, env })
      expect(st.code).toBe(0)
      const status = JSON.parse(st.stdout)
      expect(status.current).toBe(9)
      expect(status.migrations.map((m: { state: string }) => m.state)).toEqual(Array(9).fill('applied'))
      const v = await run('node', [bundle, 'validate'], { cwd: empty, env })
      expect(v.code).toBe(0)
      expect(v.stdout).toMatch(/hypertable:factory_telemetry\.metric_hist/)
      expect(v.stdout).not.toMatch(/FAIL/)
      const again = await run('node', [bundle, 'migrate', 'up'], { cwd: empty, env })
      expect(again.stdout).toMatch(/nothing to do: database at version 9/)
      await db.drop()
    }, 300_000)

    it('the bundled backup, backup verify, restore and execute --dry-run run with plain node (plain set)', async (ctx) => {
      await needsLocalDumpTools(ctx, engine, "the runner's backup/restore/execute with pg_dump")
      const db = await engine.createDatabase('artifact')
      const env = { DATABASE_URL: db.url, PG_BIN: undefined }
      const cwd = mkdtempSync(path.join(os.tmpdir(), 'pgverify-cwd-'))
      temp.push(cwd)
      const dir = copyDir(PLAIN)
      const up = await run('node', [bundle, 'migrate', 'up', '--dir', dir], { cwd, env })
      expect(up.code).toBe(0)
      const b = await run('node', [bundle, 'backup', '--dir', dir, '--backup-root', 'bk'], { cwd, env })
      expect(b.stderr).not.toMatch(/error/i)
      expect(b.code).toBe(0)
      const [name] = readdirSync(path.join(cwd, 'bk'))
      const v = await run('node', [bundle, 'backup', 'verify', path.join('bk', name!)], { cwd, env })
      expect(v.code).toBe(0)
      const r = await run('node', [bundle, 'restore', path.join('bk', name!), '--yes'], { cwd, env })
      expect(r.code).toBe(0)
      expect(r.stdout).toMatch(/^0 differences$/m)
      const x = await run('node', [bundle, 'execute', '--dry-run', '--dir', dir, '--backup-root', 'bk', '--log-dir', 'logs'], { cwd, env })
      expect(x.code).toBe(0)
      expect(x.stdout).toMatch(/UNCHANGED: nothing to apply|UNCHANGED \(dry run\)/)
      expect(readdirSync(path.join(cwd, 'logs')).some((f) => /^phase3-execution-report-\d{8}-\d{6}\.txt$/.test(f))).toBe(true)
      await db.drop()
    }, 300_000)
  })
})
