/**
 * Bad input: a clear error, nothing changed. Table-driven: every case runs the real command line
 * against a database of its own and checks
 *   - the message: what is wrong and where (file:line:column, file, URL without password),
 *   - the exit code (harness/cli/exit-codes.ts),
 *   - that the target database is unchanged: schema fingerprint of every user schema, data
 *     digests, the migration log (a failed migration may add its 'failed' row, nothing else),
 *     and the list of databases on the server.
 *
 * Server cases run on native PostgreSQL with password authentication where it exists (else on
 * the embedded engine, the native-only cases skipped with the reason printed); "TimescaleDB
 * older than required" needs an engine with TimescaleDB (embedded); "TimescaleDB missing or
 * unusable" runs on servers started without it on purpose (support/engines.ts: not available,
 * not preloaded), whatever this machine has installed. A last test proves that a
 * password in DATABASE_URL never appears in output, JSON, logs or reports.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, unlinkSync, chmodSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EXIT } from '../harness/cli/exit-codes.ts'
import type { NativeStartedEngine } from '../harness/engines/native.ts'
import { startNative } from '../harness/engines/native.ts'
import type { DatabaseHandle, StartedEngine } from '../harness/engines/types.ts'
import { connect } from '../harness/runner/connect.ts'
import { FileMigrationProvider } from '../harness/runner/discover.ts'
import { Migrator } from '../harness/runner/migrator.ts'
import { dataDigests, diffDigests, type TableDigest } from '../harness/validation/data-digest.ts'
import { diffSnapshots, snapshot, type SchemaSnapshot } from '../harness/validation/fingerprint/index.ts'
import { cli } from './support/cli.ts'
import { copyDir, edit, MIGRATIONS, PLAIN, ROOT, write } from './support/dirs.ts'
import { engineCases, withoutTimescale, type WithoutTimescale } from './support/engines.ts'

// SUITE_ENGINES (support/engines.ts) can narrow this, e.g. to prove the embedded-only path.
const cases = await engineCases(['embedded', 'native'])
const nativeCase = cases.find((c) => c.name === 'native' && c.available)
const embeddedCase = cases.find((c) => c.name === 'embedded' && c.available)
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0

const RUNNER_ROLE = 'ms5_runner'
const RUNNER_PASSWORD = 'r0le-Pa55-' + Math.random().toString(36).slice(2, 10)

interface Ctx {
  engine: StartedEngine
  /** The case's own database. */
  db: DatabaseHandle
  /** A fresh copy of the plain fixture set, without 003 on engines that cannot build indexes CONCURRENTLY. */
  dir: string
  native?: NativeStartedEngine
}

interface Case {
  name: string
  /** 'server': native where available, else embedded; a WithoutTimescale: that server, started for the case. */
  on: 'server' | 'native' | 'embedded' | WithoutTimescale
  /** Why a case cannot run here (returns a reason), checked before anything is made. */
  unless?: (ctx: { engine: StartedEngine }) => string | undefined
  /** Puts the target database into the case's starting state (before the "before" fingerprint). */
  prepare?: (ctx: Ctx) => Promise<void>
  /** Arguments of `harness/cli/index.ts`; DATABASE_URL is the case's database unless `url` says otherwise. */
  args: (ctx: Ctx) => string[]
  url?: (ctx: Ctx) => string
  exit: number
  /** Each must match stderr + stdout. */
  messages: (ctx: Ctx) => Array<RegExp | string>
  /** The one migration that may gain a 'failed' row in the log (a migration the server refused). */
  mayRecordFailure?: string
  logSchema?: string
}

/** Applies the plain set (or `dir`) up to `to` in-process, closing the connection (the embedded engine serves one at a time). */
async function upTo(ctx: Ctx, to: number, dir = ctx.dir): Promise<void> {
  const client = await connect(ctx.db.url)
  try {
    const r = await new Migrator({ client, provider: new FileMigrationProvider(dir), logSchema: 'app', lockWaitMs: 0 }).up({ to })
    if (r.error) throw r.error
  } finally {
    await client.end()
  }
}

async function sql(ctx: Ctx, text: string): Promise<void> {
  const client = await connect(ctx.db.url)
  try {
    await client.query(text)
  } finally {
    await client.end()
  }
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
const url = (ctx: Ctx, edit: (u: URL) => void) => {
  const u = new URL(ctx.db.url)
  edit(u)
  return u.toString()
}
const MALFORMED = "ALTER TABLE app.orders ADD COLUMN note TEXT DEFALT 'x';"

const CASES: Case[] = [
  {
    name: 'malformed SQL in the middle of a file → file:line:column, SQLSTATE, snippet',
    on: 'server',
    prepare: (ctx) => upTo(ctx, 1),
    args: (ctx) => {
      edit(ctx.dir, '002_orders.sql', (s) => s.replace('CREATE INDEX IF NOT EXISTS orders_account_idx', `${MALFORMED}\nCREATE INDEX IF NOT EXISTS orders_account_idx`))
      return ['migrate', 'up', '--dir', ctx.dir]
    },
    exit: EXIT.FAILED,
    messages: () => [
      `002_orders.sql:7:${MALFORMED.indexOf('DEFALT') + 1}: ERROR 42601: syntax error at or near "DEFALT"`,
      /> 7 \| ALTER TABLE app\.orders ADD COLUMN note TEXT DEFALT 'x';\n\s+\| {45}\^/,
      /002_orders\.sql was rolled back: the database is as it was after 001_accounts/,
    ],
    mayRecordFailure: '002_orders',
  },
  {
    name: 'an empty migration file',
    on: 'server',
    args: (ctx) => {
      write(ctx.dir, '002_orders.sql', '-- to do: the orders table\n\n')
      return ['migrate', 'up', '--dir', ctx.dir]
    },
    exit: EXIT.INPUT,
    messages: () => ['error [MIGRATION_EMPTY] 002_orders.sql: contains no SQL statement', /what to do: Delete the file, or put the migration in it/],
  },
  {
    name: 'an unreadable migration file (chmod 000)',
    on: 'server',
    unless: () => (isRoot ? 'tests run as root here, and chmod 000 does not stop root from reading (the dangling-symlink and directory cases below give a real read error)' : undefined),
    args: (ctx) => {
      chmodSync(path.join(ctx.dir, '002_orders.sql'), 0)
      return ['migrate', 'up', '--dir', ctx.dir]
    },
    exit: EXIT.INPUT,
    messages: (ctx) => [`error [MIGRATION_UNREADABLE] ${path.join(ctx.dir, '002_orders.sql')}: cannot be read: EACCES`, /Check the file permissions/],
  },
  {
    name: 'an unreadable migration file (a dangling symlink)',
    on: 'server',
    args: (ctx) => {
      unlinkSync(path.join(ctx.dir, '002_orders.sql'))
      symlinkSync(path.join(ctx.dir, 'moved-away.sql'), path.join(ctx.dir, '002_orders.sql'))
      return ['migrate', 'up', '--dir', ctx.dir]
    },
    exit: EXIT.INPUT,
    messages: (ctx) => [`error [MIGRATION_UNREADABLE] ${path.join(ctx.dir, '002_orders.sql')}: cannot be read: ENOENT`],
  },
  {
    name: 'an unreadable migration file (a directory named 002_orders.sql)',
    on: 'server',
    args: (ctx) => {
      unlinkSync(path.join(ctx.dir, '002_orders.sql'))
      mkdirSync(path.join(ctx.dir, '002_orders.sql'))
      return ['migrate', 'up', '--dir', ctx.dir]
    },
    exit: EXIT.INPUT,
    messages: (ctx) => [`error [MIGRATION_UNREADABLE] ${path.join(ctx.dir, '002_orders.sql')}: cannot be read: EISDIR`],
  },
  {
    name: 'a migration file that is not UTF-8 (Latin-1 é in a comment)',
    on: 'server',
    args: (ctx) => {
      const text = readFileSync(path.join(ctx.dir, '002_orders.sql'))
      write(ctx.dir, '002_orders.sql', Buffer.concat([Buffer.from('-- Commandes pass'), Buffer.from([0xe9]), Buffer.from('es\n'), text]))
      return ['migrate', 'up', '--dir', ctx.dir]
    },
    exit: EXIT.INPUT,
    messages: () => ['error [MIGRATION_NOT_UTF8] 002_orders.sql: not valid UTF-8 (first bad byte at offset 17)', /iconv -f LATIN1 -t UTF-8/],
  },
  {
    name: 'a gap in the numbering',
    on: 'server',
    args: (ctx) => {
      for (const f of ['002_orders.sql', '002_orders.down.sql']) rmSync(path.join(ctx.dir, f))
      write(ctx.dir, '003_orders_placed_idx.sql', 'SELECT 1;\n')
      return ['migrate', 'up', '--dir', ctx.dir]
    },
    exit: EXIT.INPUT,
    messages: (ctx) => [`error [MIGRATION_GAP] ${ctx.dir}: migration 002 is missing (found 003_orders_placed_idx.sql after 001_accounts.sql)`],
  },
  {
    name: 'a duplicate number',
    on: 'server',
    args: (ctx) => {
      write(ctx.dir, '002_other.sql', 'SELECT 1;\n')
      return ['migrate', 'up', '--dir', ctx.dir]
    },
    exit: EXIT.INPUT,
    messages: (ctx) => [`error [MIGRATION_DUPLICATE] ${ctx.dir}: two migrations with number 002: 002_orders.sql and 002_other.sql`, /Renumber one of them/],
  },
  {
    name: 'a down file without an up file',
    on: 'server',
    args: (ctx) => {
      write(ctx.dir, '004_cleanup.down.sql', 'SELECT 1;\n')
      return ['migrate', 'up', '--dir', ctx.dir]
    },
    exit: EXIT.INPUT,
    messages: (ctx) => [`error [MIGRATION_ORPHAN_DOWN] ${path.join(ctx.dir, '004_cleanup.down.sql')}: down file without a matching up file 004_cleanup.sql`],
  },
  {
    name: 'an applied file edited (drift)',
    on: 'server',
    prepare: (ctx) => upTo(ctx, 2),
    args: (ctx) => {
      edit(ctx.dir, '001_accounts.sql', (s) => s.replace('email TEXT NOT NULL UNIQUE', 'email TEXT NOT NULL UNIQUE CHECK (email <> \'\')'))
      return ['migrate', 'up', '--dir', ctx.dir]
    },
    exit: EXIT.STATE,
    messages: () => [/error \[MIGRATION_DRIFT\] applied migration file has changed since it ran \("drift"\); nothing was changed:\n {2}001_accounts\.sql: applied with checksum [0-9a-f]{64}, file now has [0-9a-f]{64}/, /--accept-drift 001_accounts/],
  },
  {
    name: 'an applied file deleted',
    on: 'server',
    prepare: (ctx) => upTo(ctx, 2),
    args: (ctx) => {
      for (const f of readdirSync(ctx.dir).filter((f) => /^00[23]_/.test(f))) rmSync(path.join(ctx.dir, f))
      return ['migrate', 'up', '--dir', ctx.dir]
    },
    exit: EXIT.STATE,
    messages: (ctx) => [`error [MIGRATION_MISSING_FILE] applied migration without a file in ${ctx.dir}: 002_orders.sql`, /Restore the deleted file/],
  },
  {
    name: 'migration_log edited by hand (an applied migration marked rolled back under a later one)',
    on: 'server',
    prepare: async (ctx) => {
      await upTo(ctx, 2)
      await sql(ctx, `UPDATE app.migration_log SET status = 'rolled_back' WHERE migration_name = '001_accounts'`)
    },
    args: (ctx) => ['migrate', 'up', '--dir', ctx.dir],
    exit: EXIT.STATE,
    messages: () => ['error [MIGRATION_LOG_CORRUPT] app.migration_log: 002_orders is recorded as applied but 001_accounts is not (pending)', /The log was edited by hand/],
  },
  {
    name: 'migration_log edited by hand (an unknown status)',
    on: 'server',
    prepare: async (ctx) => {
      await upTo(ctx, 1)
      await sql(ctx, `UPDATE app.migration_log SET status = 'done' WHERE migration_name = '001_accounts'`)
    },
    args: (ctx) => ['migrate', 'status', '--dir', ctx.dir],
    exit: EXIT.STATE,
    messages: () => ['error [MIGRATION_LOG_CORRUPT] app.migration_log: row "001_accounts" has unknown status "done"', /Valid statuses are completed, failed, running, rolled_back/],
  },
  {
    name: 'an unreachable host (nothing listens on the port)',
    on: 'server',
    url: () => 'postgres://ms5_user:Unreach4ble-pw@127.0.0.1:1/factory_telemetry',
    args: (ctx) => ['migrate', 'up', '--dir', ctx.dir],
    exit: EXIT.CONNECTION,
    messages: () => ['error [CONNECTION_FAILED] cannot connect to postgres://ms5_user:***@127.0.0.1:1/factory_telemetry: connect ECONNREFUSED 127.0.0.1:1', /pg_isready/],
  },
  {
    name: 'a host name that does not resolve',
    on: 'server',
    url: () => 'postgres://ms5_user:N0where-pw@db.invalid:5432/factory_telemetry',
    args: (ctx) => ['migrate', 'status', '--dir', ctx.dir],
    exit: EXIT.CONNECTION,
    messages: () => [/error \[CONNECTION_FAILED\] cannot connect to postgres:\/\/ms5_user:\*\*\*@db\.invalid:5432\/factory_telemetry: getaddrinfo (ENOTFOUND|EAI_AGAIN) db\.invalid/],
  },
  {
    name: 'a wrong password',
    on: 'native',
    url: (ctx) => url(ctx, (u) => (u.password = 'Wr0ng-passw0rd')),
    args: (ctx) => ['migrate', 'up', '--dir', ctx.dir],
    exit: EXIT.CONNECTION,
    messages: (ctx) => [
      new RegExp(`error \\[AUTH_FAILED\\] authentication failed for postgres://postgres:\\*\\*\\*@127\\.0\\.0\\.1:\\d+/${esc(ctx.db.name)}: password authentication failed for user "postgres"`),
      /Check the user and password in DATABASE_URL \(the password is not shown here\)/,
    ],
  },
  {
    name: 'a database that does not exist',
    on: 'native',
    url: (ctx) => url(ctx, (u) => (u.pathname = '/no_such_database')),
    args: (ctx) => ['migrate', 'up', '--dir', ctx.dir],
    exit: EXIT.CONNECTION,
    messages: () => [/error \[DATABASE_NOT_FOUND\] postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/no_such_database: database "no_such_database" does not exist/, /createdb/],
  },
  {
    name: 'a role without the privilege to create schemas',
    on: 'native',
    prepare: (ctx) => sql(ctx, `REVOKE CREATE ON DATABASE "${ctx.db.name}" FROM PUBLIC`),
    url: (ctx) =>
      url(ctx, (u) => {
        u.username = RUNNER_ROLE
        u.password = RUNNER_PASSWORD
      }),
    args: (ctx) => ['migrate', 'up', '--dir', ctx.dir],
    exit: EXIT.CONNECTION,
    messages: (ctx) => [`error [PERMISSION_DENIED] cannot create the migration log or extensions: permission denied for database ${ctx.db.name}; nothing was changed`, /Run as a role that may create schemas \(CREATE on the database\)/],
  },
  // PostgreSQL without a usable TimescaleDB, made on purpose whatever this machine has installed.
  ...(await withoutTimescale()).map(
    (s): Case => ({
      name: `TimescaleDB missing or unusable: ${s.label}`,
      on: s,
      args: () => ['migrate', 'up', '--dir', MIGRATIONS],
      exit: EXIT.ENVIRONMENT,
      messages: () => [`error [${s.code}] `, s.message, new RegExp(`what to do: ${s.fix.source}`)],
      logSchema: 'factory_telemetry',
    }),
  ),
  {
    name: 'TimescaleDB older than the manifest requires (minVersion 99.0)',
    on: 'embedded',
    args: () => {
      const dir = copyDir(MIGRATIONS)
      edit(dir, 'manifest.json', (s) => s.replace('"minVersion": "2.11"', '"minVersion": "99.0"'))
      return ['migrate', 'up', '--dir', dir]
    },
    exit: EXIT.ENVIRONMENT,
    messages: (ctx) => [`error [TIMESCALEDB_TOO_OLD] extension "timescaledb" ${ctx.engine.versions.timescaledb} is older than the required 99.0; nothing was changed`, /Install timescaledb 99\.0 or newer/],
    logSchema: 'factory_telemetry',
  },
  {
    name: 'a --to target that does not exist',
    on: 'server',
    prepare: (ctx) => upTo(ctx, 1),
    args: (ctx) => ['migrate', 'up', '--to', '7', '--dir', ctx.dir],
    exit: EXIT.USAGE,
    messages: (ctx) => [`error [MIGRATION_TARGET_UNKNOWN] --to 7: no such migration (known: 0 … ${ctx.engine.capabilities.nonTransactionalIndexBuilds ? 3 : 2})`, /Use a number between 0 and/],
  },
]

interface DbState {
  schema: SchemaSnapshot
  data: Map<string, TableDigest>
  log: string[]
  databases: string[]
}

/** Everything a bad input must leave alone, read with one short connection. */
async function dbState(dbUrl: string, logSchema: string): Promise<DbState> {
  const c = await connect(dbUrl)
  try {
    const schemas = (await c.query<{ n: string }>(`SELECT nspname AS n FROM pg_namespace WHERE nspname !~ '^(pg_|_timescaledb|timescaledb_)' AND nspname <> 'information_schema' ORDER BY 1`)).rows.map((r) => r.n)
    const log = (await c.query<{ t: string | null }>(`SELECT to_regclass($1) AS t`, [`${logSchema}.migration_log`])).rows[0]!.t
      ? (await c.query<{ r: string }>(`SELECT concat_ws('|', migration_name, status, checksum) AS r FROM "${logSchema}".migration_log ORDER BY id`)).rows.map((r) => r.r)
      : []
    return {
      schema: await snapshot(c, schemas),
      data: await dataDigests(c, schemas, [`${logSchema}.migration_log`]),
      log,
      databases: (await c.query<{ d: string }>(`SELECT datname AS d FROM pg_database ORDER BY 1`)).rows.map((r) => r.d),
    }
  } finally {
    await c.end()
  }
}

describe('bad input: a clear error, the exit code, and nothing changed', () => {
  let native: NativeStartedEngine | undefined
  let embedded: StartedEngine | undefined
  beforeAll(async () => {
    if (nativeCase) {
      native = await startNative({ passwordAuth: true, log: () => {} })
      const admin = await connect(native.url)
      await admin.query(`CREATE ROLE ${RUNNER_ROLE} LOGIN PASSWORD '${RUNNER_PASSWORD}'`)
      await admin.end()
    }
    if (embeddedCase) embedded = await embeddedCase.provider.start({ log: () => {} })
  })
  afterAll(async () => {
    await native?.stop()
    await embedded?.stop()
  })

  for (const c of CASES) {
    it(`${c.name}`, async (t) => {
      const own = typeof c.on === 'object' ? await c.on.start() : undefined
      t.onTestFinished(() => own?.stop())
      const engine = own ?? (c.on === 'native' ? native : c.on === 'embedded' ? embedded : (native ?? embedded))
      if (!engine) {
        console.warn(`[suites] bad input "${c.name}" not exercised: no ${c.on === 'server' ? 'native or embedded' : c.on} engine here (${cases.map((x) => x.reason).join('; ')})`)
        return t.skip()
      }
      const reason = c.unless?.({ engine })
      if (reason) {
        console.warn(`[suites] bad input "${c.name}" not exercised: ${reason}`)
        return t.skip()
      }
      const db = await engine.createDatabase('bad')
      try {
        const dir = copyDir(PLAIN, (f) => engine.capabilities.nonTransactionalIndexBuilds || !f.startsWith('003'))
        const ctx: Ctx = { engine, db, dir, native: engine === native ? native : undefined }
        await c.prepare?.(ctx)
        const logSchema = c.logSchema ?? 'app'
        const before = await dbState(db.url, logSchema)
        const r = await cli(c.args(ctx), { DATABASE_URL: c.url?.(ctx) ?? db.url })
        const output = r.stderr + r.stdout
        expect(r.code, output).toBe(c.exit)
        for (const m of c.messages(ctx)) {
          if (typeof m === 'string') expect(output).toContain(m)
          else expect(output).toMatch(m)
        }
        expect(output).not.toMatch(/internal error|at .*\.ts:\d+:\d+\)/)
        const after = await dbState(db.url, logSchema)
        expect(diffSnapshots(before.schema, after.schema), 'schema fingerprint').toEqual([])
        expect(diffDigests(before.data, after.data), 'data').toEqual([])
        expect(after.databases, 'databases on the server').toEqual(before.databases)
        const added = after.log.filter((l) => !before.log.includes(l))
        expect(after.log.filter((l) => !added.includes(l)), 'migration_log rows kept').toEqual(before.log)
        expect(added.map((l) => l.split('|').slice(0, 2).join('|')), 'migration_log rows added').toEqual(c.mayRecordFailure ? [`${c.mayRecordFailure}|failed`] : [])
      } finally {
        await db.drop()
      }
    })
  }
})

/** Every file under `dir` (recursively) that contains `needle`, as relative paths. */
function filesContaining(dir: string, needles: string[], since = 0): { scanned: number; hits: string[] } {
  let scanned = 0
  const hits: string[] = []
  const walk = (d: string) => {
    if (!existsSync(d)) return
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name)
      if (e.isDirectory()) walk(p)
      else if (e.isFile() && statSync(p).mtimeMs >= since) {
        scanned++
        const text = readFileSync(p, 'latin1')
        if (needles.some((n) => text.includes(n))) hits.push(path.relative(dir, p))
      }
    }
  }
  walk(dir)
  return { scanned, hits }
}

describe.runIf(nativeCase ?? embeddedCase)('a password in DATABASE_URL never appears in output, JSON, logs or reports', () => {
  let engine: StartedEngine
  let native: NativeStartedEngine | undefined
  beforeAll(async () => {
    native = nativeCase ? await startNative({ passwordAuth: true, log: () => {} }) : undefined
    engine = native ?? (await embeddedCase!.provider.start({ log: () => {} }))
  })
  afterAll(async () => {
    await engine?.stop()
  })

  it('migrate (human and --json, success and failure), verify --engine url with its reports, the server log and migration_log', async () => {
    // Native checks the password for real; the embedded engine accepts any, so one is put into its URL.
    const password = native?.credentials!.password ?? 'Emb3dded-' + Math.random().toString(36).slice(2, 12)
    const wrong = 'Wr0ng-' + password.slice(0, 8) + '-pw'
    const needles = [password, encodeURIComponent(password), wrong]
    const created = await engine.createDatabase('secret')
    const db = { ...created, url: native ? created.url : (() => { const u = new URL(created.url); u.username = 'postgres'; u.password = password; return u.toString() })() }
    const started = Date.now()
    const reportsDir = mkdtempSync(path.join(os.tmpdir(), 'pgverify-reports-'))
    try {
      const env = { DATABASE_URL: db.url }
      expect(db.url).toContain(`:${password}@`)
      const concurrently = engine.capabilities.nonTransactionalIndexBuilds
      const good = copyDir(PLAIN, (f) => concurrently || !f.startsWith('003'))
      const bad = copyDir(PLAIN, (f) => concurrently || !f.startsWith('003'))
      const broken = `${concurrently ? '004' : '003'}_broken.sql`
      write(bad, broken, `CREATE TABLE app.broken (id int PRIMARY KEY,\n  note TEXT DEFALT 'x');\n`)
      const runs = [
        { args: ['migrate', 'plan', '--dir', good], code: 0 },
        { args: ['migrate', 'up', '--dir', good, '--json'], code: 0 },
        { args: ['migrate', 'status', '--dir', good], code: 0 },
        { args: ['migrate', 'status', '--dir', good, '--json'], code: 0 },
        // Without 003 (embedded) the manifest's orders_placed_idx is missing: validate fails, as it should.
        { args: ['migrate', 'validate', '--dir', good, '--json'], code: concurrently ? 0 : EXIT.FAILED },
        { args: ['migrate', 'up', '--dir', bad], code: EXIT.FAILED },
        { args: ['migrate', 'up', '--dir', bad, '--json'], code: EXIT.FAILED },
        { args: ['migrate', 'up', '--dir', good, '--to', '9'], code: EXIT.USAGE },
        { args: ['migrate', 'status', '--dir', good], code: EXIT.CONNECTION, env: { DATABASE_URL: 'postgres://ms5_user:' + wrong + '@127.0.0.1:1/factory_telemetry' } },
        ...(native
          ? [
              { args: ['migrate', 'status', '--dir', good], code: EXIT.CONNECTION, env: { DATABASE_URL: db.url.replace(`:${password}@`, `:${wrong}@`) } },
              { args: ['migrate', 'status', '--dir', good, '--json'], code: EXIT.CONNECTION, env: { DATABASE_URL: db.url.replace(`:${password}@`, `:${wrong}@`) } },
              // The url engine makes scratch databases next to DATABASE_URL's: a server that has CREATE DATABASE.
              { args: ['verify', '--engine', 'url', '--dir', good, '--reports', reportsDir], code: 0 },
            ]
          : []),
      ]
      if (!native) console.warn('[suites] no native PostgreSQL: a wrong password, `verify --engine url` and the server log are not exercised (the embedded engine accepts any password and has no CREATE DATABASE for scratch databases)')
      for (const run of runs) {
        const r = await cli(run.args, run.env ?? env, 180_000)
        const output = r.stdout + r.stderr
        expect(r.code, `${run.args.join(' ')}\n${output}`).toBe(run.code)
        for (const n of needles) expect(output, `${run.args.join(' ')} printed a password`).not.toContain(n)
        // The URL is still named, with the password masked.
        if (run.args[0] === 'migrate' && !run.args.includes('--json')) expect(output).toMatch(/postgres:\/\/\w+:\*\*\*@127\.0\.0\.1:\d+\//)
        if (run.args.includes('--json') && r.stdout.trim()) expect(() => JSON.parse(r.stdout)).not.toThrow()
      }
      const reports = filesContaining(reportsDir, needles)
      expect(reports.hits).toEqual([])
      if (native) {
        expect(reports.scanned, 'verify wrote its reports').toBeGreaterThanOrEqual(3)
        expect(readFileSync(path.join(reportsDir, 'verify.json'), 'utf8')).toMatch(/postgres:\/\/postgres:\*\*\*@127\.0\.0\.1/)
      }
      // reports/ of the project: any file written while this test ran.
      const project = filesContaining(path.join(ROOT, 'reports'), needles, started)
      expect(project.hits).toEqual([])
      // The server's own log (connection failures, the failed migration's statement).
      if (native) expect(filesContaining(native.tempDir, needles).hits.filter((f) => f.endsWith('.log'))).toEqual([])
      // What the runner wrote into the database.
      const c = await connect(db.url)
      const log = (await c.query(`SELECT migration_log::text AS r FROM app.migration_log`)).rows.map((r) => r.r).join('\n')
      await c.end()
      expect(log).toContain(`${broken}:2:`)
      expect(log).toContain('[42601]')
      for (const n of needles) expect(log).not.toContain(n)
      console.log(`[bad-input] ${runs.length} commands with a password in DATABASE_URL on ${engine.name}; scanned ${reports.scanned} report files in ${reportsDir}, ${project.scanned} new in reports/${native ? ', the server log' : ''} and migration_log: no password`)
    } finally {
      rmSync(reportsDir, { recursive: true, force: true })
      await created.drop()
    }
  })
})
