/**
 * Odd files handled on purpose (issue #15, 7): a migration that is a symlink out of --dir, or not
 * a regular file at all (a FIFO would block the read), is refused with exit 3 before anything
 * connects; a link to a file inside the directory is fine; --dir naming a file is a usage error
 * that says so; a password that looks unencoded in DATABASE_URL gets a percent-encoding hint (on
 * a server with password authentication, where it fails for real), and never appears in output.
 */
import { execFileSync } from 'node:child_process'
import { symlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startNative, type NativeStartedEngine } from '../harness/engines/native.ts'
import { passwordEncodingHint } from '../harness/runner/connect.ts'
import { cli } from './support/cli.ts'
import { copyDir, emptyDir, PLAIN } from './support/dirs.ts'
import { availableEngines } from './support/engines.ts'

describe('migration files that are not regular files inside --dir', () => {
  it('a symlink to a file outside the directory is refused with exit 3, naming where it points', async () => {
    const dir = copyDir(PLAIN)
    const outside = path.join(emptyDir('pgverify-outside-'), 'evil.sql')
    writeFileSync(outside, 'DROP TABLE accounts;\n')
    const files = (await import('node:fs')).readdirSync(dir).filter((f) => /^\d+_.*(?<!\.down)\.sql$/.test(f)).sort()
    const next = String(files.length + 1).padStart(3, '0')
    symlinkSync(outside, path.join(dir, `${next}_linked.sql`))
    const r = await cli(['migrate', 'plan', '--dir', dir])
    expect(r.code, r.stdout + r.stderr).toBe(3)
    expect(r.stderr).toMatch(new RegExp(`${next}_linked\\.sql: a symbolic link to ${outside.replace(/[.]/g, '\\.')}, outside the migrations directory .*: refused`))
  })

  it('a FIFO named like a migration is refused (exit 3) instead of blocking the read', async () => {
    const dir = copyDir(PLAIN)
    const files = (await import('node:fs')).readdirSync(dir).filter((f) => /^\d+_.*(?<!\.down)\.sql$/.test(f))
    const next = String(files.length + 1).padStart(3, '0')
    execFileSync('mkfifo', [path.join(dir, `${next}_pipe.sql`)])
    const r = await cli(['migrate', 'plan', '--dir', dir], {}, 60_000)
    expect(r.code, r.stdout + r.stderr).toBe(3)
    expect(r.stderr).toMatch(/\d{3}_pipe\.sql: not a regular file \(a FIFO, socket or device\): refused/)
  })

  it('a symlink to a file inside the directory is read like the file', async () => {
    const dir = copyDir(PLAIN)
    const { readdirSync, renameSync, mkdirSync } = await import('node:fs')
    const first = readdirSync(dir).filter((f) => /^001_.*(?<!\.down)\.sql$/.test(f))[0]!
    mkdirSync(path.join(dir, 'src'))
    renameSync(path.join(dir, first), path.join(dir, 'src', first))
    symlinkSync(path.join('src', first), path.join(dir, first))
    const r = await cli(['migrate', 'plan', '--dir', dir])
    // Past the files: plan needs a database next, and says so (usage), not a file error.
    expect(r.code, r.stdout + r.stderr).toBe(2)
    expect(r.stderr).toMatch(/no database to work on/)
  })

  it('--dir naming a file is a usage error that says so (exit 2)', async () => {
    const file = path.join(emptyDir('pgverify-notdir-'), 'migrations.sql')
    writeFileSync(file, 'SELECT 1;\n')
    const r = await cli(['migrate', 'plan', '--dir', file])
    expect(r.code, r.stdout + r.stderr).toBe(2)
    expect(r.stderr).toContain(`${file} is not a directory: --dir must name the migrations directory`)
    expect(r.stderr).not.toMatch(/MANIFEST_INVALID|ENOTDIR|permissions/)
  })
})

const native = await availableEngines(['native'])

describe('a password that looks unencoded in DATABASE_URL', () => {
  it('is recognised without printing it', () => {
    expect(passwordEncodingHint('postgres://u:p@ss@db:5432/x')).toMatch(/percent-encoded/)
    expect(passwordEncodingHint('postgres://u:50%off@db/x')).toMatch(/% → %25/)
    expect(passwordEncodingHint('postgres://u:p%40ss@db/x')).toBeUndefined()
    expect(passwordEncodingHint('postgres://u:plain@db/x')).toBeUndefined()
    expect(passwordEncodingHint('postgres://u@db/x')).toBeUndefined()
    expect(passwordEncodingHint('postgres://u:p@ss@db/x')).not.toContain('p@ss')
  })

  describe.runIf(native.length > 0)('on a native server with password authentication', () => {
    let engine: NativeStartedEngine
    beforeAll(async () => {
      engine = await startNative({ log: () => {}, passwordAuth: true })
    }, 300_000)
    afterAll(async () => {
      await engine?.stop()
    })

    it.for(['wr@ng', '50%wrong'])('password %s: exit 6 with the percent-encoding hint, the password never printed', async (pw) => {
      const u = new URL(engine.url)
      const url = `postgres://${u.username}:${pw}@${u.host}${u.pathname}`
      const r = await cli(['migrate', 'status', '--dir', PLAIN], { DATABASE_URL: url })
      expect(r.code, r.stdout + r.stderr).toBe(6)
      expect(r.stderr).toMatch(/must be percent-encoded in a URL \(@ → %40, % → %25/)
      expect(r.stdout + r.stderr).not.toContain(pw)
    })
  })
})

describe.runIf(native.length > 0)('a no-transaction file killed halfway', () => {
  let engine: NativeStartedEngine
  beforeAll(async () => {
    engine = await startNative({ log: () => {} })
  }, 300_000)
  afterAll(async () => {
    await engine?.stop()
  })

  it('is "partial" in status (row and summary, not "failed"), and the next up warns before running it again', async () => {
    const db = await engine.createDatabase('partial')
    const dir = copyDir(PLAIN)
    const { readdirSync } = await import('node:fs')
    const next = String(readdirSync(dir).filter((f) => /^\d+_.*(?<!\.down)\.sql$/.test(f)).length + 1).padStart(3, '0')
    writeFileSync(path.join(dir, `${next}_slow.sql`), `--! no-transaction\nCREATE TABLE IF NOT EXISTS slow_marker (id int);\nSELECT pg_sleep(3);\n`)
    const { spawn } = await import('node:child_process')
    const { ROOT } = await import('./support/dirs.ts')
    const child = spawn(process.execPath, ['--import', 'tsx', 'harness/cli/index.ts', 'migrate', 'up', '--dir', dir], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1', DATABASE_URL: db.url }, stdio: 'ignore' })
    const closed = new Promise((r) => child.on('close', r))
    const { connect } = await import('../harness/runner/connect.ts')
    const c = await connect(db.url)
    try {
      // Halfway: the first statement committed, the second is sleeping.
      for (let i = 0; i < 3000; i++) {
        const seen = (await c.query(`SELECT to_regclass('public.slow_marker') IS NOT NULL AS t, (SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(3)%' AND state = 'active')::int AS n`)).rows[0]
        if (seen.t && seen.n > 0) break
        await new Promise((r) => setTimeout(r, 20))
      }
      child.kill('SIGKILL')
      await closed
      // The orphaned backend finishes its sleep; only then is the lock free.
      for (let i = 0; i < 500; i++) {
        if ((await c.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(3)%' AND state = 'active'`)).rows[0].n === 0) break
        await new Promise((r) => setTimeout(r, 20))
      }
    } finally {
      await c.end()
    }
    const st = await cli(['migrate', 'status', '--dir', dir], { DATABASE_URL: db.url })
    expect(st.stdout).toMatch(new RegExp(`${next}_slow\\s+partial`))
    expect(st.stdout).toMatch(/· 0 failed · 1 partial ·/)
    const up = await cli(['migrate', 'up', '--dir', dir], { DATABASE_URL: db.url })
    expect(up.code, up.stdout + up.stderr).toBe(0)
    expect(up.stderr).toMatch(new RegExp(`warning: ${next}_slow\\.sql is partial: a non-transactional file interrupted halfway last time; running it again from the start`))
  }, 300_000)
})
