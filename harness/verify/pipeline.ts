/**
 * `pnpm verify`'s stages, in order, on one disposable database. Each stage returns a verdict
 * with its evidence; a stage that cannot run says why (`skipped` with a reason), never passes
 * silently. The CLI renders these results and the reports are built from them.
 */
import type pg from 'pg'
import type { StartedEngine } from '../engines/types.ts'
import { HarnessError, isHarnessError } from '../errors.ts'
import { connect } from '../runner/connect.ts'
import { FileMigrationProvider } from '../runner/discover.ts'
import { formatLocated, type LocatedError } from '../runner/locate.ts'
import type { Migration } from '../runner/migration.ts'
import { Migrator, type MigratorEvent } from '../runner/migrator.ts'
import { validateExpected } from '../validation/expected.ts'
import { diffSnapshots, fingerprintHash, snapshot, type SchemaSnapshot } from '../validation/fingerprint.ts'
import { loadManifest, type Manifest } from '../validation/manifest.ts'
import { foreignKeyOrphans } from '../validation/orphans.ts'
import { loadReleased, releasedDrift } from '../runner/released.ts'
import { dataDigests, diffDigests } from '../validation/data-digest.ts'
import { locateError } from '../runner/locate.ts'

export type Verdict = 'passed' | 'failed' | 'skipped'

export interface StageResult {
  id: string
  title: string
  verdict: Verdict
  durationMs: number
  /** One line for the terminal and the report. */
  summary: string
  /** Evidence: check lines, diff lines, the located error. */
  details: string[]
  error?: { code: string; message: string; located?: LocatedError }
}

export interface VerifyOptions {
  dir: string
  logSchema?: string
  logTable?: string
  onProgress?: (line: string) => void
}

export interface VerifyContext {
  engine: StartedEngine
  dir: string
  manifest?: Manifest
  migrations: Migration[]
  schemas: string[]
  logSchema: string
  logTable?: string
  /** Fingerprint after each version 0..N, recorded during replay. */
  fingerprints: Map<number, SchemaSnapshot>
  progress: (line: string) => void
}

export interface VerifyReport {
  engine: { name: string; description: string; postgres: string; timescaledb: string; license: string }
  dir: string
  startedAt: string
  durationMs: number
  ok: boolean
  stages: StageResult[]
}

type StageFn = (ctx: VerifyContext, client: pg.Client) => Promise<Omit<StageResult, 'id' | 'title' | 'durationMs'>>

interface Stage {
  id: string
  title: string
  /** Stages that must have passed for this one to mean anything. */
  needs: string[]
  run: StageFn
}

const passed = (summary: string, details: string[] = []) => ({ verdict: 'passed' as const, summary, details })
const failed = (summary: string, details: string[] = [], error?: StageResult['error']) => ({ verdict: 'failed' as const, summary, details, error })

function migratorFor(ctx: VerifyContext, client: pg.ClientBase, onEvent?: (e: MigratorEvent) => void): Migrator {
  return new Migrator({
    client,
    provider: { source: ctx.dir, getMigrations: async () => ctx.migrations },
    logSchema: ctx.logSchema,
    logTable: ctx.logTable,
    requirements: ctx.manifest?.requirements,
    lockWaitMs: 0,
    onEvent,
  })
}

const take = (client: pg.ClientBase, ctx: VerifyContext) => snapshot(client, ctx.schemas)

function diffLines(a: SchemaSnapshot, b: SchemaSnapshot, limit = 40): string[] {
  const d = diffSnapshots(a, b)
  return d.length > limit ? [...d.slice(0, limit), `… ${d.length - limit} more differences`] : d
}

/** Replays every migration from empty, one version at a time, recording the schema after each. */
const replay: StageFn = async (ctx, client) => {
  const migrator = migratorFor(ctx, client)
  // Version 0 is "bootstrapped": required extensions and the migration log exist, nothing else.
  const boot = await migrator.up({ to: 0 })
  if (boot.error) return failed(`bootstrap failed: ${boot.error.message}`, boot.error.hint ? [boot.error.hint] : [], { code: boot.error.code, message: boot.error.message })
  ctx.fingerprints.set(0, await take(client, ctx))
  const lines: string[] = []
  let total = 0
  for (const m of ctx.migrations) {
    const r = await migrator.up({ to: m.version })
    if (r.error) {
      const located = r.results.find((x) => x.status === 'Error')?.error
      const details = located ? formatLocated(located).split('\n') : [r.error.message]
      details.push('', ...(await leftAt(ctx, client, m)))
      return failed(`${m.up.file} failed${located ? ` at ${located.file}:${located.line}:${located.column}${located.sqlstate ? ` (SQLSTATE ${located.sqlstate})` : ''}` : `: ${r.error.message}`}`, details, { code: r.error.code, message: r.error.message, located })
    }
    const ms = r.results[0]?.durationMs ?? 0
    total += ms
    lines.push(`${m.name}: ${Math.round(ms)} ms, ${m.up.statements.length} statements`)
    ctx.progress(`  replayed ${m.name} (${Math.round(ms)} ms)`)
    ctx.fingerprints.set(m.version, await take(client, ctx))
  }
  const last = ctx.fingerprints.get(ctx.migrations.length)!
  return passed(`${ctx.migrations.length} migrations applied from empty in ${Math.round(total)} ms; schema ${fingerprintHash(last).slice(0, 12)}`, lines)
}

/** Evidence that a failed migration left the database exactly at the last good version. */
async function leftAt(ctx: VerifyContext, client: pg.ClientBase, m: Migration): Promise<string[]> {
  const lines: string[] = []
  const good = ctx.fingerprints.get(m.version - 1)
  if (good) {
    const diff = diffLines(good, await take(client, ctx))
    lines.push(diff.length === 0
      ? `database left exactly at version ${m.version - 1}: schema fingerprint ${fingerprintHash(good).slice(0, 12)} equal to the one recorded before ${m.name}`
      : `DATABASE CHANGED by the failed migration (fingerprint differs from version ${m.version - 1}):`, ...diff)
  }
  const log = migratorFor(ctx, client).log
  const rows = (await client.query<{ status: string }>(`SELECT status FROM ${log.qualified} WHERE migration_name = $1`, [m.name]).catch(() => ({ rows: [] as { status: string }[] }))).rows
  lines.push(rows.some((r) => r.status === 'completed') ? `migration_log HAS a completed row for ${m.name}` : `migration_log: no completed row for ${m.name} (recorded: ${rows.map((r) => r.status).join(', ') || 'nothing'})`)
  return lines
}

const postValidation: StageFn = async (ctx, client) => {
  if (!ctx.manifest) return { verdict: 'skipped', summary: `no manifest.json in ${ctx.dir}: expected objects not checked`, details: [] }
  const checks = await validateExpected(client, ctx.manifest, {
    scope: 'all',
    log: { schema: ctx.logSchema, table: ctx.logTable ?? 'migration_log' },
    migrations: ctx.migrations,
  })
  const orphans = await foreignKeyOrphans(client, ctx.schemas)
  checks.push({ id: 'foreign-key-orphans', ok: orphans.length === 0, message: orphans.length ? orphans.join('; ') : 'no rows reference a missing parent' })
  await client.query('ANALYZE')
  checks.push({ id: 'analyze', ok: true, message: 'ANALYZE completed' })
  const bad = checks.filter((c) => !c.ok)
  const details = checks.map((c) => `${c.ok ? 'ok  ' : 'FAIL'} ${c.id}: ${c.message}`)
  return bad.length ? failed(`${bad.length} of ${checks.length} checks failed: ${bad.map((c) => c.id).join(', ')}`, details) : passed(`${checks.length} checks passed`, details)
}

const secondUp: StageFn = async (ctx, client) => {
  const before = await take(client, ctx)
  const r = await migratorFor(ctx, client).up()
  if (r.error) return failed(`second up failed: ${r.error.message}`, [], { code: r.error.code, message: r.error.message })
  const applied = r.results.filter((x) => x.status === 'Success').map((x) => x.name)
  const diff = diffLines(before, await take(client, ctx))
  if (applied.length || diff.length) return failed(`second up was not a no-op: applied ${applied.length}`, [...applied.map((a) => `applied again: ${a}`), ...diff])
  return passed('a second up applies nothing and changes nothing')
}

/** Each file executed again on the migrated database must succeed and change nothing. */
const idempotency: StageFn = async (ctx, client) => {
  const log = migratorFor(ctx, client).log
  const exclude = [`${log.schema}.${log.table}`]
  const schema0 = await take(client, ctx)
  const data0 = await dataDigests(client, ctx.schemas, exclude)
  const problems: string[] = []
  for (const m of ctx.migrations) {
    const script = m.up
    let current = script.statements[0]!
    try {
      if (!script.noTransaction) await client.query('BEGIN')
      for (const st of script.statements) {
        current = st
        await client.query(st.text)
      }
      if (!script.noTransaction) await client.query('COMMIT')
    } catch (e) {
      if (!script.noTransaction) await client.query('ROLLBACK').catch(() => {})
      const located = locateError(script, current, e as Error)
      problems.push(`${script.file} fails when run a second time:`, ...formatLocated(located).split('\n').map((l) => `  ${l}`))
      continue
    }
    const diff = diffLines(schema0, await take(client, ctx))
    const data = diffDigests(data0, await dataDigests(client, ctx.schemas, exclude))
    if (diff.length || data.length) {
      problems.push(`${script.file} changed the database when run a second time:`, ...diff.map((l) => `  ${l}`), ...data.map((l) => `  ${l}`))
      break
    }
    ctx.progress(`  re-ran ${m.name}: no change`)
  }
  return problems.length ? failed(`not idempotent: ${problems.filter((p) => !p.startsWith(' ')).length} file(s)`, problems) : passed(`all ${ctx.migrations.length} files ran a second time without error or change (schema and data)`)
}

/**
 * For every step k: down to k-1 gives exactly the schema recorded after up to k-1, and up to k
 * again gives exactly the schema recorded after up to k.
 */
const downUp: StageFn = async (ctx, client) => {
  const missing = ctx.migrations.filter((m) => !m.down)
  if (missing.length) return failed(`no down file for ${missing.map((m) => m.name).join(', ')}`, missing.map((m) => `write ${m.name}.down.sql`))
  const migrator = migratorFor(ctx, client)
  const problems: string[] = []
  const lines: string[] = []
  for (const m of [...ctx.migrations].reverse()) {
    const k = m.version
    const down = await migrator.down({ to: k - 1 })
    if (down.error) {
      const located = down.results.find((x) => x.status === 'Error')?.error
      return failed(`${m.down!.file} failed`, located ? formatLocated(located).split('\n') : [down.error.message], { code: down.error.code, message: down.error.message, located })
    }
    const afterDown = diffLines(ctx.fingerprints.get(k - 1)!, await take(client, ctx))
    if (afterDown.length) problems.push(`after ${m.down!.file} the schema differs from the one after up to ${k - 1} (what the down file forgets or adds):`, ...afterDown.map((l) => `  ${l}`))
    const up = await migrator.up({ to: k })
    if (up.error) return failed(`${m.up.file} failed when re-applied after its down file`, [up.error.message], { code: up.error.code, message: up.error.message })
    const afterUp = diffLines(ctx.fingerprints.get(k)!, await take(client, ctx))
    if (afterUp.length) problems.push(`up ${k} → down ${k - 1} → up ${k} gives a different schema than up ${k}:`, ...afterUp.map((l) => `  ${l}`))
    const again = await migrator.down({ to: k - 1 })
    if (again.error) return failed(`${m.down!.file} failed the second time`, [again.error.message], { code: again.error.code, message: again.error.message })
    lines.push(`${m.name}: down/up/down round trip exact`)
    ctx.progress(`  round trip ${m.name}`)
  }
  const back = await migrator.up()
  if (back.error) return failed('re-applying everything after the round trips failed', [back.error.message], { code: back.error.code, message: back.error.message })
  const final = diffLines(ctx.fingerprints.get(ctx.migrations.length)!, await take(client, ctx))
  if (final.length) problems.push('re-applying everything from empty gives a different schema than the first replay:', ...final.map((l) => `  ${l}`))
  return problems.length ? failed(`down/up round trip: ${problems.filter((p) => !p.startsWith(' ')).length} mismatch(es)`, problems) : passed(`every step k = ${ctx.migrations.length}…1: down to k-1 and up to k reproduce the recorded schemas exactly`, lines)
}

export const STAGES: Stage[] = [
  { id: 'replay', title: 'Replay all migrations from an empty database', needs: [], run: replay },
  { id: 'post-validation', title: 'Post-migration validation (manifest, hypertables, policies, log, orphans)', needs: ['replay'], run: postValidation },
  { id: 'second-up', title: 'A second up is a no-op', needs: ['replay'], run: secondUp },
  { id: 'idempotency', title: 'Idempotency: every file run again changes nothing', needs: ['replay'], run: idempotency },
  { id: 'down-up', title: 'Down/up round trip for every step', needs: ['replay'], run: downUp },
]

export async function runVerify(engine: StartedEngine, options: VerifyOptions, stages: Stage[] = STAGES): Promise<VerifyReport> {
  const started = Date.now()
  const progress = options.onProgress ?? (() => {})
  const results: StageResult[] = []
  const report: VerifyReport = {
    engine: { name: engine.name, description: engine.describe(), postgres: engine.versions.postgres, timescaledb: engine.versions.timescaledb, license: engine.versions.timescaledbLicense },
    dir: options.dir,
    startedAt: new Date(started).toISOString(),
    durationMs: 0,
    ok: false,
    stages: results,
  }
  const fileStage = { id: 'files', title: 'Read and check the migration files' }
  let manifest: Manifest | undefined
  let migrations: Migration[]
  const t0 = Date.now()
  try {
    manifest = await loadManifest(options.dir)
    migrations = await new FileMigrationProvider(options.dir).getMigrations()
    const released = await loadReleased(options.dir)
    const drift = released ? releasedDrift(released, migrations) : []
    if (drift.length) {
      throw new HarnessError('MIGRATION_DRIFT', `released migration${drift.length > 1 ? 's were' : ' was'} edited (drift): ${drift.join('; ')}`, {
        hint: 'Restore the released file(s) from the release and put the change in a new migration; production would refuse the edited file.',
        details: { drift },
      })
    }
    results.push({ ...fileStage, verdict: 'passed', durationMs: Date.now() - t0, summary: `${migrations.length} migrations, ${migrations.filter((m) => m.down).length} with down files${manifest ? ', manifest found' : ', no manifest'}${released ? `, ${Object.keys(released.migrations).length} released unchanged` : ', no released.json'}`, details: migrations.map((m) => `${m.up.file} sha256 ${m.up.checksum}`) })
  } catch (e) {
    if (!isHarnessError(e)) throw e
    results.push({ ...fileStage, verdict: 'failed', durationMs: Date.now() - t0, summary: e.message, details: e.hint ? [e.hint] : [], error: { code: e.code, message: e.message } })
    for (const s of stages) results.push({ id: s.id, title: s.title, verdict: 'skipped', durationMs: 0, summary: 'skipped: the migration files were refused', details: [] })
    report.durationMs = Date.now() - started
    return report
  }
  const schemas = [...new Set([manifest?.schema, options.logSchema, ...(manifest?.tables ?? []).map((t) => t.split('.')[0])].filter((s): s is string => !!s))]
  const logSchema = options.logSchema ?? manifest?.schema ?? 'public'
  if (!schemas.includes(logSchema)) schemas.push(logSchema)
  const ctx: VerifyContext = { engine, dir: options.dir, manifest, migrations, schemas, logSchema, logTable: options.logTable, fingerprints: new Map(), progress }

  const db = await engine.createDatabase('verify')
  let client: pg.Client | undefined
  try {
    client = await connect(db.url, { applicationName: 'pgverify verify' })
    for (const stage of stages) {
      const blocked = stage.needs.find((n) => results.find((r) => r.id === n)?.verdict !== 'passed')
      if (blocked) {
        results.push({ id: stage.id, title: stage.title, verdict: 'skipped', durationMs: 0, summary: `skipped: needs stage "${blocked}" to pass`, details: [] })
        continue
      }
      progress(`▸ ${stage.title}`)
      const s0 = Date.now()
      let r: Omit<StageResult, 'id' | 'title' | 'durationMs'>
      try {
        r = await stage.run(ctx, client)
      } catch (e) {
        const he = isHarnessError(e) ? e : new HarnessError('VALIDATION_FAILED', (e as Error).message)
        r = failed(`${stage.id} could not complete: ${he.message}`, he.hint ? [he.hint] : [], { code: he.code, message: he.message })
      }
      results.push({ id: stage.id, title: stage.title, durationMs: Date.now() - s0, ...r })
    }
  } finally {
    await client?.end().catch(() => {})
    await db.drop().catch(() => {})
  }
  report.durationMs = Date.now() - started
  report.ok = results.every((r) => r.verdict !== 'failed')
  return report
}
