/**
 * The command line as a user meets it: real processes, real exit codes, real output.
 * Databases are served by an engine started in this test process, on every engine present
 * (support/engines.ts); PostgreSQL without TimescaleDB is made on purpose.
 */
import { spawn } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import pg from 'pg'
import type { StartedEngine } from '../harness/engines/types.ts'
import { cli } from './support/cli.ts'
import { copyDir, edit, MIGRATIONS, PLAIN, ROOT } from './support/dirs.ts'
import { availableEngines, skipWith, useEngine, withoutTimescale } from './support/engines.ts'

const cases = await availableEngines()

describe('pnpm migrate: usage and errors before any database', () => {
  it('prints help with the commands and exit codes', async () => {
    const r = await cli(['migrate', '--help'])
    expect(r.code).toBe(0)
    for (const w of ['status', 'up', 'down', 'validate', 'plan', '--dry-run', '--json', 'Exit codes']) expect(r.stdout).toContain(w)
  })

  it.each([
    [['migrate'], 2, /missing command/],
    [['migrate', 'sideways'], 2, /unknown command "sideways"/],
    [['migrate', 'status', '--bogus'], 2, /unknown option --bogus/],
    [['migrate', 'down'], 2, /`down` needs --to N/],
    [['migrate', 'up', '--to', 'abc'], 2, /--to needs a whole number/],
    [['migrate', 'status'], 2, /DATABASE_URL is not set and no --engine was given/],
    [['migrate', 'status', '--engine', 'nosuch'], 2, /--engine nosuch: unknown engine/],
    [['migrate', 'status', '--dir', 'nope/missing'], 3, /migrations directory .*nope\/missing cannot be read/],
    [['nonsense'], 2, /unknown verb "nonsense"/],
  ])('%j exits %i', async (args, code, message) => {
    const r = await cli(args)
    expect(r.code).toBe(code)
    expect(r.stderr + r.stdout).toMatch(message)
  })

  it('never prints the password of DATABASE_URL, and names the failure', async () => {
    const url = 'postgres://ms5_user:Sup3r-s3cret-pw@127.0.0.1:1/factory_telemetry'
    const r = await cli(['migrate', 'status'], { DATABASE_URL: url })
    expect(r.code).toBe(6)
    expect(r.stderr).toMatch(/\[CONNECTION_FAILED\] cannot connect to postgres:\/\/ms5_user:\*\*\*@127\.0\.0\.1:1\/factory_telemetry/)
    expect(r.stderr + r.stdout).not.toContain('Sup3r-s3cret-pw')
    const j = await cli(['migrate', 'status', '--json'], { DATABASE_URL: url })
    expect(JSON.parse(j.stdout).error.code).toBe('CONNECTION_FAILED')
    expect(j.stdout + j.stderr).not.toContain('Sup3r-s3cret-pw')
  })
})

describe.each(cases)('pnpm migrate against a database on the $name engine', (c) => {
  const started = useEngine(c)
  let engine: StartedEngine
  beforeAll(() => {
    engine = started()
  })

  it('up, a second up, status --json, plan, validate; then drift is refused naming the file', async () => {
    const db = await engine.createDatabase('cli')
    const env = { DATABASE_URL: db.url }
    try {
      const plan = await cli(['migrate', 'plan'], env)
      expect(plan.code).toBe(0)
      expect(plan.stdout).toMatch(/plan: version 0 → 9, 9 steps/)

      const up = await cli(['migrate', 'up'], env)
      expect(up.code, up.stderr).toBe(0)
      expect(up.stdout).toMatch(/applied 9 migrations: version 0 → 9/)
      expect(up.stderr).toMatch(/\[9\/9\] 009_database_optimization … ok/)

      const again = await cli(['migrate', 'up'], env)
      expect(again.code).toBe(0)
      expect(again.stdout).toMatch(/nothing to do: database at version 9/)

      const st = await cli(['migrate', 'status', '--json'], env)
      expect(st.code).toBe(0)
      const status = JSON.parse(st.stdout)
      expect(status.current).toBe(9)
      expect(status.migrations).toHaveLength(9)
      for (const m of status.migrations) {
        expect(m.state).toBe('applied')
        expect(m.appliedChecksum).toMatch(/^[0-9a-f]{64}$/)
        expect(m.appliedChecksum).toBe(m.checksum)
      }

      const val = await cli(['migrate', 'validate'], env)
      expect(val.code, val.stdout + val.stderr).toBe(0)
      const manifest = JSON.parse(readFileSync(`${MIGRATIONS}/manifest.json`, 'utf8'))
      expect(val.stdout).toContain(`ok  tables: ${manifest.tables.length} expected tables present`)
      expect(val.stdout).toMatch(/ok {2}migration-log: 9 completed rows with matching checksums/)

      const dir = copyDir(MIGRATIONS)
      edit(dir, '004_advanced_production_features.sql', (s) => s.replace(/;\s*$/, ';\n-- an innocent-looking edit\n'))
      for (const cmd of ['up', 'validate']) {
        const r = await cli(['migrate', cmd, '--dir', dir], env)
        expect(r.code, `${cmd}: ${r.stderr}`).toBe(4)
        expect(r.stderr).toMatch(/\[MIGRATION_DRIFT\]/)
        expect(r.stderr).toMatch(/004_advanced_production_features\.sql: applied with checksum [0-9a-f]{64}, file now has [0-9a-f]{64}/)
      }
      const sj = JSON.parse((await cli(['migrate', 'status', '--json', '--dir', dir], env)).stdout)
      expect(sj.migrations[3].state).toBe('drifted')

      const down = await cli(['migrate', 'down', '--to', '7'], env)
      expect(down.code).toBe(2)
      expect(down.stderr).toMatch(/--yes/)
      const down2 = await cli(['migrate', 'down', '--to', '7', '--yes'], env)
      expect(down2.code, down2.stderr).toBe(0)
      expect(down2.stdout).toMatch(/reverted 2 migrations: version 9 → 7/)
      const dry = await cli(['migrate', 'up', '--dry-run', '--json'], env)
      expect(JSON.parse(dry.stdout).steps.map((s: { name: string }) => s.name)).toEqual(['008_fix_critical_schema_issues', '009_database_optimization'])
    } finally {
      await db.drop()
    }
  })

  it('a failing migration: exit 1, file:line:column, SQLSTATE, snippet, and the database at the last good version', async () => {
    const db = await engine.createDatabase('cli-fail')
    const env = { DATABASE_URL: db.url }
    try {
      const dir = copyDir(PLAIN, (f) => !f.startsWith('003'))
      edit(dir, '002_orders.sql', (s) => s.replace('NUMERIC(12, 2) NOT NULL', 'NUMERIC(12, 2) NOT NULL REFERENCES app.nope (id)'))
      const r = await cli(['migrate', 'up', '--dir', dir], env)
      expect(r.code).toBe(1)
      expect(r.stderr).toMatch(/002_orders\.sql:\d+:\d+: ERROR 42P01: relation "app\.nope" does not exist/)
      expect(r.stderr).toMatch(/> +\d+ \| .*REFERENCES app\.nope/)
      expect(r.stderr).toMatch(/was rolled back: the database is as it was after 001_accounts/)
      const st = JSON.parse((await cli(['migrate', 'status', '--json', '--dir', dir], env)).stdout)
      expect(st.current).toBe(1)
      expect(st.migrations[1].state).toBe('failed')
    } finally {
      await db.drop()
    }
  })
})

describe.each(await withoutTimescale())('pnpm migrate on $label', (s) => {
  let engine: StartedEngine
  beforeAll(async () => {
    engine = await s.start()
  })
  afterAll(async () => {
    await engine?.stop()
  })

  it('up exits 5 with the fix before changing anything', async () => {
    const db = await engine.createDatabase('cli-nots')
    try {
      const r = await cli(['migrate', 'up'], { DATABASE_URL: db.url })
      expect(r.code, r.stderr).toBe(5)
      expect(r.stderr).toContain(`[${s.code}]`)
      expect(r.stderr).toMatch(s.message)
      expect(r.stderr).toMatch(/what to do: .*shared_preload_libraries/)
      expect(r.stderr).toMatch(s.fix)
      const st = JSON.parse((await cli(['migrate', 'status', '--json'], { DATABASE_URL: db.url })).stdout)
      expect(st.logExists).toBe(false)
    } finally {
      await db.drop()
    }
  })
})

/** psql from PATH or an installed PostgreSQL, if any. */
function findPsql(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) if (dir && existsSync(`${dir}/psql`)) return `${dir}/psql`
  const versions = existsSync('/usr/lib/postgresql') ? readdirSync('/usr/lib/postgresql').sort().reverse() : []
  return versions.map((v) => `/usr/lib/postgresql/${v}/bin/psql`).find((p) => existsSync(p))
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, out }))
  })
}

/** `pnpm db [args]`: one DATABASE_URL line, the URL serves, and SIGTERM leaves nothing behind. */
async function dbCommand(args: string[], name: string, more?: (url: string) => Promise<void>): Promise<void> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'harness/cli/index.ts', 'db', ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stderr.on('data', (d) => (stderr += d))
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no URL after 60 s: ${stderr}`)), 60_000)
    child.stdout.on('data', (d) => {
      stdout += d
      const m = /^DATABASE_URL=(\S+)\n/.exec(stdout)
      if (m) {
        clearTimeout(t)
        resolve(m[1]!)
      }
    })
  })
  const st = await cli(['migrate', 'status', '--dir', PLAIN], { DATABASE_URL: url })
  expect(st.code, st.stderr).toBe(0)
  expect(st.stdout).toMatch(/version 0 of 3 · 3 pending/)
  await more?.(url)
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)))
  child.kill('SIGTERM')
  expect(await exited).toBe(143)
  expect(stdout.trim().split('\n')).toHaveLength(1)
  expect(stderr).toContain(`cleanup: ${name} engine done`)
  expect(stderr.trimEnd().split('\n').at(-1)).toBe('stopped by SIGTERM (exit 143)')
  // Nothing serves the URL any more.
  const probe = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 })
  probe.on('error', () => {})
  await expect(probe.connect()).rejects.toThrow()
  await probe.end().catch(() => {})
}

describe('pnpm db', () => {
  it('prints exactly one DATABASE_URL line, serves it, and leaves nothing behind on SIGTERM (the embedded engine by default)', () => dbCommand([], 'embedded'))

  it('the embedded URL works with psql as printed (no prompt, no PGPASSWORD); a second client while one is connected is told the engine is busy, at once', async (ctx) => {
    const psql = findPsql()
    if (!psql) return skipWith(ctx, 'psql is not installed here: the printed URL is not tried with it')
    await dbCommand([], 'embedded', async (url) => {
      const env = { PATH: process.env.PATH, HOME: process.env.HOME }
      const r = await run(psql, [url, '-w', '-Atc', 'select 1'], env)
      expect(r.code, r.out).toBe(0)
      expect(r.out.trim()).toBe('1')
      // The one slot frees shortly after psql exits: take it as soon as it is free.
      let holder: pg.Client | undefined
      for (let i = 0; !holder; i++) {
        const c = new pg.Client({ connectionString: url })
        c.on('error', () => {})
        try {
          await c.connect()
          holder = c
        } catch (e) {
          if (i >= 50) throw e
          await new Promise((r) => setTimeout(r, 100))
        }
      }
      try {
        const busy = await cli(['migrate', 'status', '--dir', PLAIN], { DATABASE_URL: url })
        expect(busy.code).toBe(6)
        expect(busy.stderr).toMatch(/the server closed the connection as soon as it was opened/)
        expect(busy.stderr).toMatch(/serves one connection at a time/)
        expect(busy.stderr).not.toMatch(/firewall/)
      } finally {
        await holder.end()
      }
    })
  })
})

describe.each(cases)('pnpm db --engine $name', (c) => {
  it('prints exactly one DATABASE_URL line, serves it, and leaves nothing behind on SIGTERM', () => dbCommand(['--engine', c.name], c.name))
})
