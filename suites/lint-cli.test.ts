/**
 * `pgverify lint` and `pgverify new` without any database, `pgverify` as an installable command
 * (the bin launcher, `npx pgverify`) and as a library (package.json "exports", by its own name).
 * SARIF is validated against the OASIS SARIF 2.1.0 JSON schema (the copy
 * @microsoft/jest-sarif ships), with ajv.
 */
import { createRequire } from 'node:module'
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import AjvDraft04 from 'ajv-draft-04'
import { describe, expect, it } from 'vitest'
import { cli, spawnRun } from './support/cli.ts'
import { copyDir, emptyDir, MIGRATIONS, PLAIN, ROOT, write } from './support/dirs.ts'

const require = createRequire(import.meta.url)
const SARIF_SCHEMA = require('@microsoft/jest-sarif/lib/schemas/sarif-2.1.0-rtm.5.json') as object

const run = (cmd: string, args: string[], cwd = ROOT) => spawnRun(cmd, args, { cwd, env: { ...process.env, NO_COLOR: '1', DATABASE_URL: undefined } })

/** PLAIN plus a fourth file with an error (BEGIN) and warnings. */
function broken(): string {
  const dir = copyDir(PLAIN)
  write(dir, '004_bad.sql', 'CREATE INDEX i ON app.accounts (id);\nBEGIN;\n')
  return dir
}

describe('pgverify lint', () => {
  it('MS5.0 lints clean: exit 0, the allowed findings after the summary counts', async () => {
    const r = await cli(['lint', 'migrations'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/^migrations: 0 errors, 0 warnings, \d+ allowed$/m)
  })

  it('an error exits 1; real findings come before allowed ones; every file in one run', async () => {
    const dir = broken()
    write(dir, 'lint-allow.json', JSON.stringify({ allow: [{ file: '003_orders_placed_idx.sql', rule: 'missing-lock-timeout', reason: 'a test' }] }))
    const r = await cli(['lint', dir])
    expect(r.code).toBe(1)
    const lines = r.stdout.split('\n')
    const firstAllowed = lines.findIndex((l) => /  allowed  /.test(l))
    const lastReal = lines.length - 1 - [...lines].reverse().findIndex((l) => /  (error|warning)  /.test(l))
    expect(firstAllowed).toBeGreaterThan(lastReal)
    expect(r.stdout).toMatch(/004_bad\.sql:2:1 {2}error {2}transaction-control/)
    expect(r.stdout).toMatch(/004_bad\.sql:1:8 {2}warning {2}index-not-concurrent/)
    expect(r.stdout).toMatch(/: 1 error, \d+ warnings, 1 allowed$/m)
  })

  it('--json: the findings and counts', async () => {
    const r = await cli(['lint', broken(), '--json'])
    expect(r.code).toBe(1)
    const j = JSON.parse(r.stdout)
    expect(j.ok).toBe(false)
    expect(j.errors).toBe(1)
    expect(j.findings.find((f: { rule: string }) => f.rule === 'transaction-control')).toMatchObject({ file: '004_bad.sql', line: 2, column: 1, severity: 'error' })
  })

  it('--format sarif is a valid SARIF 2.1.0 log that locates every finding, relative to the working directory', async () => {
    // The schema's language pattern is not valid as a unicode regular expression.
    const ajv = new AjvDraft04.default({ allErrors: true, strict: false, unicodeRegExp: false })
    const validate = ajv.compile(SARIF_SCHEMA)
    for (const [dir, code] of [['migrations', 0], [broken(), 1]] as const) {
      const r = await cli(['lint', dir, '--format', 'sarif'])
      expect(r.code).toBe(code)
      const log = JSON.parse(r.stdout)
      expect(validate(log), JSON.stringify(validate.errors?.slice(0, 5))).toBe(true)
      expect(log.version).toBe('2.1.0')
      const driver = log.runs[0].tool.driver
      expect(driver.name).toBe('pgverify')
      const relative = path.relative(ROOT, path.resolve(ROOT, dir))
      for (const res of log.runs[0].results) {
        expect(driver.rules[res.ruleIndex].id).toBe(res.ruleId)
        const loc = res.locations[0].physicalLocation
        expect(loc.artifactLocation.uri.startsWith(`${relative}/`)).toBe(true)
        expect(loc.region.startLine).toBeGreaterThanOrEqual(1)
      }
      if (code === 0) {
        // MS5.0's accepted findings are there, suppressed with their reason.
        expect(log.runs[0].results.length).toBeGreaterThan(0)
        for (const res of log.runs[0].results) expect(res.suppressions[0].justification).toMatch(/\w/)
      } else {
        expect(log.runs[0].results.find((x: { ruleId: string }) => x.ruleId === 'transaction-control')).toMatchObject({ level: 'error', locations: [{ physicalLocation: { region: { startLine: 2, startColumn: 1 } } }] })
      }
    }
  })

  it('--format github writes workflow annotations, escaped', async () => {
    const dir = broken()
    const r = await cli(['lint', dir, '--format', 'github'])
    expect(r.code).toBe(1)
    const rel = path.relative(ROOT, dir)
    expect(r.stdout).toContain(`::error file=${rel}/004_bad.sql,line=2,col=1,title=pgverify transaction-control::transaction control at top level (BEGIN)`)
    for (const l of r.stdout.trim().split('\n')) expect(l).toMatch(/^::(error|warning) file=[^,]+,line=\d+,col=\d+,title=pgverify [a-z-]+::[^\n]*%0Afix: /)
  })

  it('usage: a bad --format (with the one meant), a missing directory, an empty one', async () => {
    const bad = await cli(['lint', '--format', 'sarf'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/--format sarf: unknown format \(did you mean sarif\?\)/)
    expect((await cli(['lint', 'nope'])).code).toBe(3)
    expect((await cli(['lint', emptyDir()])).stderr).toMatch(/has no migration files/)
  })
})

describe('pgverify new', () => {
  it('creates the next NNN_name.sql and .down.sql from a template our lint accepts', async () => {
    const dir = copyDir(MIGRATIONS)
    const r = await cli(['new', 'add_widget', '--dir', dir])
    expect(r.code, r.stderr).toBe(0)
    expect(readdirSync(dir).filter((f) => f.startsWith('010_'))).toEqual(['010_add_widget.down.sql', '010_add_widget.sql'])
    expect(readFileSync(path.join(dir, '010_add_widget.sql'), 'utf8')).toMatch(/^SET LOCAL lock_timeout = '5s';$/m)
    const before = JSON.parse((await cli(['lint', MIGRATIONS, '--json'])).stdout)
    const after = JSON.parse((await cli(['lint', dir, '--json'])).stdout)
    expect(after.errors).toBe(0)
    expect(after.warnings).toBe(before.warnings)
    expect(after.findings.filter((f: { file: string }) => f.file.startsWith('010_'))).toEqual([])
    // The next one is 011; the same name again is refused, nothing overwritten.
    expect((await cli(['new', 'add_gadget', '--dir', dir])).stdout).toMatch(/011_add_gadget\.sql/)
  })

  it('starts a new directory at 001, and refuses a bad name with a suggestion', async () => {
    const dir = path.join(emptyDir(), 'db', 'migrations')
    expect((await cli(['new', 'init', '--dir', dir])).code).toBe(0)
    expect(readdirSync(dir)).toEqual(['001_init.down.sql', '001_init.sql'])
    const lint = await cli(['lint', dir])
    expect(lint.code, lint.stdout).toBe(0)
    const bad = await cli(['new', 'Add Widget', '--dir', dir])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/"Add Widget" is not a migration name/)
    expect(bad.stderr).toMatch(/e\.g\. pgverify new add_widget/)
    expect(readdirSync(dir)).toHaveLength(2)
  })
})

describe('pgverify as a command and a library', () => {
  it('the bin launcher, `pnpm pgverify` and `npx pgverify` print the version from a clone', async () => {
    const version = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version
    for (const [cmd, args] of [[process.execPath, ['bin/pgverify.mjs', '--version']], ['pnpm', ['-s', 'pgverify', '--version']], ['npx', ['--no-install', 'pgverify', '--version']]] as const) {
      const r = await run(cmd, [...args])
      expect(r.code, `${cmd} ${args.join(' ')}: ${r.stderr}`).toBe(0)
      expect(r.stdout.trim()).toBe(`pgverify ${version}`)
    }
  })

  it('package.json names it pgverify, with a bin and the typed library API by its own name', async () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'))
    expect(pkg.name).toBe('pgverify')
    expect(pkg.private).toBeUndefined()
    expect(pkg.bin).toEqual({ pgverify: 'bin/pgverify.mjs' })
    const r = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', "const m = await import('pgverify'); const l = await m.lint('migrations'); console.log(JSON.stringify({ keys: Object.keys(m).sort(), errors: l.errors, migrator: typeof m.Migrator }))"])
    expect(r.code, r.stderr).toBe(0)
    const j = JSON.parse(r.stdout)
    for (const k of ['Migrator', 'startEngine', 'verify', 'lint']) expect(j.keys).toContain(k)
    expect(j).toMatchObject({ errors: 0, migrator: 'function' })
  })
})
