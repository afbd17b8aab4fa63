/**
 * The configuration: pgverify.config.json validated with errors naming the key, precedence
 * flags > environment > config file > defaults, and the command line honouring it (the engine
 * and migrations directory from the file, the environment over the file, a flag over both, a
 * bad file refused with exit 2 before any engine starts).
 */
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { CONFIG_FILE, loadConfig, readEnvironment, resolveConfig } from '../harness/config/index.ts'
import { validateConfig } from '../harness/config/file.ts'
import { urlFromPgVariables } from '../harness/config/database-url.ts'
import { HarnessError } from '../harness/errors.ts'
import { spawnRun } from './support/cli.ts'
import { emptyDir, PLAIN, ROOT } from './support/dirs.ts'

function usage(fn: () => unknown): HarnessError {
  try {
    fn()
  } catch (e) {
    expect(e).toBeInstanceOf(HarnessError)
    expect((e as HarnessError).code).toBe('USAGE')
    return e as HarnessError
  }
  throw new Error('expected a USAGE error')
}

describe('the database from the environment', () => {
  it('DATABASE_URL is checked and wins over the PG* variables', () => {
    const env = readEnvironment({ DATABASE_URL: 'postgres://a@h1/db1', PGHOST: 'h2', PGDATABASE: 'db2' })
    expect(resolveConfig({ env, cwd: '/p' })).toMatchObject({ databaseUrl: 'postgres://a@h1/db1', databaseUrlSource: 'DATABASE_URL' })
    expect(usage(() => resolveConfig({ env: readEnvironment({ DATABASE_URL: 'postgres://u:pw@h:x/db' }) })).message).not.toContain('pw')
  })

  it('the PG* variables make the URL psql would use, libpq defaults for the rest', () => {
    expect(urlFromPgVariables({}, 'me')).toBeUndefined()
    expect(urlFromPgVariables({ password: 'only' }, 'me')).toBeUndefined()
    expect(urlFromPgVariables({ host: 'db.example', port: '6543', user: 'ms5 user', password: 'p@ss/word', database: 'factory', sslmode: 'require' }, 'me')).toBe('postgres://ms5%20user:p%40ss%2Fword@db.example:6543/factory?sslmode=require')
    expect(urlFromPgVariables({ database: 'factory' }, 'me')).toBe('postgres://me@localhost/factory')
    expect(urlFromPgVariables({ host: '/var/run/postgresql', user: 'postgres' }, 'me')).toBe('postgres://postgres@/postgres?host=%2Fvar%2Frun%2Fpostgresql')
    const c = resolveConfig({ env: readEnvironment({ PGHOST: 'db.example', PGUSER: 'ms5', PGPASSWORD: 'pw' }), cwd: '/p' })
    expect(c).toMatchObject({ databaseUrl: 'postgres://ms5:pw@db.example/ms5', databaseUrlSource: 'PGHOST, PGUSER, PGPASSWORD' })
  })
})

describe('pgverify.config.json', () => {
  const file = '/project/pgverify.config.json'

  it('accepts every setting, with relative paths resolved against the file', () => {
    const c = validateConfig({ migrations: 'db/migrations', logSchema: 'app', logTable: 'schema_log', engine: 'native', containerImage: 'registry/pg:15', backupRoot: '../backups', retention: { keepDays: 14 }, reports: 'out', lockWaitMs: 0, thresholds: { dashboard: 50 }, lint: { allowFile: 'allow.json' } }, file)
    expect(c).toEqual({ path: file, migrations: '/project/db/migrations', logSchema: 'app', logTable: 'schema_log', engine: 'native', containerImage: 'registry/pg:15', backupRoot: '/backups', retention: { keepDays: 14 }, reports: '/project/out', lockWaitMs: 0, thresholds: { dashboard: 50 }, lint: { allowFile: '/project/allow.json' } })
  })

  it('refuses an unknown key, naming it and the known ones', () => {
    const e = usage(() => validateConfig({ migration: 'x' }, file))
    expect(e.message).toBe(`${file}: "migration" is not a setting`)
    expect(e.hint).toMatch(/Known settings: .*migrations/)
    expect(usage(() => validateConfig({ thresholds: { dashbord: 1 } }, file)).message).toBe(`${file}: "thresholds.dashbord" is not a setting`)
  })

  it('refuses a value of the wrong kind, naming the key and the value', () => {
    expect(usage(() => validateConfig({ engine: 'docker' }, file)).message).toBe(`${file}: "engine" must be one of embedded, native, container, url, got "docker"`)
    expect(usage(() => validateConfig({ retention: { keepDays: -1 } }, file)).message).toBe(`${file}: "retention.keepDays" must be a whole number ≥ 0, got -1`)
    expect(usage(() => validateConfig({ logSchema: 'a; drop' }, file)).message).toMatch(/"logSchema" must be a plain SQL identifier/)
    expect(usage(() => validateConfig({ migrations: '' }, file)).message).toMatch(/"migrations" must be a non-empty string/)
    expect(usage(() => validateConfig([1], file)).message).toMatch(/must be an object/)
  })

  it('is not JSON: a usage error naming the file', async () => {
    const dir = emptyDir('pgverify-config-')
    writeFileSync(path.join(dir, CONFIG_FILE), '{ "engine": ')
    await expect(loadConfig({ cwd: dir, env: {} })).rejects.toMatchObject({ code: 'USAGE', message: expect.stringContaining(`${path.join(dir, CONFIG_FILE)}: not valid JSON`) })
  })
})

describe('precedence: environment > config file > defaults', () => {
  const file = validateConfig({ engine: 'native', containerImage: 'from/file', logSchema: 'file_schema', migrations: 'm' }, '/p/pgverify.config.json')

  it('defaults without either', () => {
    const c = resolveConfig({ env: readEnvironment({}), cwd: '/work' })
    expect(c).toMatchObject({ dir: '/work/migrations', backupRoot: '/work/backups', reports: '/work/reports', keepDays: 7, lockWaitMs: 60_000, thresholds: {}, lint: {} })
    expect(c.engine).toBeUndefined()
    expect(c.databaseUrl).toBeUndefined()
  })

  it('the file over the defaults, naming itself as the source', () => {
    const c = resolveConfig({ env: readEnvironment({}), file, cwd: '/work' })
    expect(c).toMatchObject({ dir: '/p/m', logSchema: 'file_schema', engine: { value: 'native', source: `${CONFIG_FILE} "engine"` }, containerImage: { value: 'from/file', source: `${CONFIG_FILE} "containerImage"` } })
  })

  it('the environment over the file; blank variables count as unset', () => {
    const env = readEnvironment({ VERIFY_ENGINE: 'embedded', PGVERIFY_CONTAINER_IMAGE: ' from/env ', MIGRATION_LOG_SCHEMA: 'env_schema', DATABASE_URL: '  ', PG_BIN: '/opt/pg/bin' })
    const c = resolveConfig({ env, file, cwd: '/work' })
    expect(c).toMatchObject({ logSchema: 'env_schema', engine: { value: 'embedded', source: 'VERIFY_ENGINE' }, containerImage: { value: 'from/env', source: 'PGVERIFY_CONTAINER_IMAGE' }, pgBin: '/opt/pg/bin' })
    expect(c.databaseUrl).toBeUndefined()
  })

  it('a program default (the production runner\'s bundled migrations) under the file', () => {
    expect(resolveConfig({ env: readEnvironment({}), cwd: '/work', defaults: { dir: '/bundle/migrations' } }).dir).toBe('/bundle/migrations')
    expect(resolveConfig({ env: readEnvironment({}), file, cwd: '/work', defaults: { dir: '/bundle/migrations' } }).dir).toBe('/p/m')
  })
})

/** The real command line, run in `cwd` (where its pgverify.config.json is). */
function run(args: string[], cwd: string, env: Record<string, string | undefined> = {}) {
  return spawnRun(process.execPath, ['--import', path.join(ROOT, 'node_modules/tsx/dist/loader.mjs'), path.join(ROOT, 'harness/cli/index.ts'), ...args], {
    cwd,
    env: { ...process.env, DATABASE_URL: undefined, VERIFY_ENGINE: undefined, MIGRATION_LOG_SCHEMA: undefined, NO_COLOR: '1', ...env },
  })
}

describe('the command line honours pgverify.config.json', () => {
  it('engine and migrations from the file; the environment and flags over it', async () => {
    const dir = emptyDir('pgverify-config-')
    writeFileSync(path.join(dir, CONFIG_FILE), JSON.stringify({ migrations: PLAIN, engine: 'embedded', logTable: 'schema_log' }))
    const r = await run(['migrate', 'status'], dir)
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toContain(`engine: embedded (chosen by ${CONFIG_FILE} "engine"`)
    expect(r.stderr).toMatch(new RegExp(`migrations: ${PLAIN.replace(/[/.]/g, '\\$&')} \\(3 files\\) .* log: app\\.schema_log`))
    expect(r.stdout).toMatch(/version 0 of 3 · 3 pending/)

    const env = await run(['migrate', 'status'], dir, { VERIFY_ENGINE: 'nosuch' })
    expect(env.code).toBe(2)
    expect(env.stderr).toContain('VERIFY_ENGINE nosuch: unknown engine')

    const flag = await run(['migrate', 'status', '--engine', 'nosuch'], dir, { VERIFY_ENGINE: 'native' })
    expect(flag.code).toBe(2)
    expect(flag.stderr).toContain('--engine nosuch: unknown engine')

    const dirFlag = await run(['migrate', 'status', '--dir', path.join(dir, 'missing')], dir)
    expect(dirFlag.code).toBe(3)
  }, 120_000)

  it('a bad config file is a usage error naming the key, before any engine starts', async () => {
    const dir = emptyDir('pgverify-config-')
    writeFileSync(path.join(dir, CONFIG_FILE), JSON.stringify({ engine: 'embedded', retention: { keep: 3 } }))
    for (const args of [['migrate', 'status'], ['verify'], ['backup', 'prune'], ['bench', '--quick']]) {
      const r = await run(args, dir)
      expect(r.code, args.join(' ')).toBe(2)
      expect(r.stderr).toContain(`${path.join(dir, CONFIG_FILE)}: "retention.keep" is not a setting`)
      expect(r.stderr).not.toMatch(/^engine: /m)
    }
  }, 120_000)
})
