/**
 * The schema stages of `pnpm verify`: replay from empty, post-migration validation, second up,
 * idempotency of every file, and the down/up round trip of every step.
 */
import type pg from 'pg'
import { HarnessError } from '../../errors.ts'
import { serverTrouble } from '../../sqlstate.ts'
import { formatLocated, locateError } from '../../runner/locate.ts'
import type { Migration } from '../../sql/migration.ts'
import { readCatalog, tableInterner } from '../../catalog/tables.ts'
import { validateExpected } from '../../validation/expected.ts'
import { fingerprintHash, snapshotJobs } from '../../validation/fingerprint/index.ts'
import { foreignKeyOrphans } from '../../validation/orphans.ts'
import { dataDiff, dataState, diffLines, failed, inFocus, migratorFor, passed, recordsFingerprint, schemaDiff, schemaState, take, type StageFn, type VerifyContext } from '../stage.ts'

/** Replays every migration from empty, one version at a time, recording the schema after each. */
export const replay: StageFn = async (ctx, client) => {
  const migrator = migratorFor(ctx, client)
  // Version 0 is "bootstrapped": required extensions and the migration log exist, nothing else.
  const boot = await migrator.up({ to: 0 })
  if (boot.error) return failed(`bootstrap failed: ${boot.error.message}`, boot.error.hint ? [boot.error.hint] : [], { code: boot.error.code, message: boot.error.message })
  // The fingerprint where a stage will compare with it, else only the jobs (recordsFingerprint).
  const record = async (v: number) => {
    if (!recordsFingerprint(ctx, v)) return void ctx.jobsAt.set(v, await snapshotJobs(client, ctx.schemas))
    const s = await take(client, ctx)
    ctx.fingerprints.set(v, s)
    ctx.jobsAt.set(v, s.jobs)
  }
  await record(0)
  // Data properties generate rows from the tables at every version: read here, on the way up,
  // instead of by a walk of its own (one replay and N downs fewer there).
  const catalogs = ctx.catalogs
  const log = `${migrator.log.schema}.${migrator.log.table}`
  const intern = tableInterner()
  const readTables = async (v: number) => void catalogs?.set(v, intern(await readCatalog(client, ctx.schemas, { exclude: [log] })))
  await readTables(0)
  const lines: string[] = []
  let total = 0
  for (const m of ctx.migrations) {
    const t0 = performance.now()
    const r = await migrator.up({ to: m.version })
    if (r.error) {
      const located = r.results.find((x) => x.status === 'failed')?.error
      const details = located ? formatLocated(located).split('\n') : [r.error.message]
      const limit = engineLimit(ctx, located?.text)
      if (limit) details.unshift(limit, '')
      details.push('', ...(await leftAt(ctx, client, m)))
      return failed(`${m.up.file} failed${located ? ` at ${located.file}:${located.line}:${located.column}${located.sqlstate ? ` (SQLSTATE ${located.sqlstate})` : ''}` : `: ${r.error.message}`}${limit ? `: the ${ctx.engine.name} engine cannot build an index outside a transaction` : ''}`, details, { code: r.error.code, message: r.error.message, located })
    }
    const ms = r.results[0]?.durationMs ?? 0
    total += ms
    lines.push(`${m.name}: ${Math.round(ms)} ms, ${m.up.statements.length} statements`)
    ctx.progress(`  replayed ${m.name} (${Math.round(ms)} ms)`)
    await record(m.version)
    await readTables(m.version)
    await ctx.base?.reached(m.version)
    ctx.meter?.part(m.name, performance.now() - t0)
  }
  const last = ctx.fingerprints.get(ctx.migrations.length)!
  return passed(`${ctx.migrations.length} migrations applied from empty in ${Math.round(total)} ms; schema ${fingerprintHash(last).slice(0, 12)}`, lines)
}

/**
 * A failure the engine explains rather than the file: a non-transactional index build
 * (CREATE INDEX CONCURRENTLY, transaction_per_chunk) on an engine without that capability
 * (the embedded engine answers it with an internal error). Said first, so nobody reads the
 * engine's limit as a verdict on the file, and nobody mistakes it for a pass either.
 */
function engineLimit(ctx: VerifyContext, statement: string | undefined): string | undefined {
  if (ctx.engine.capabilities.nonTransactionalIndexBuilds || !statement) return undefined
  if (!/\bCONCURRENTLY\b|timescaledb\.transaction_per_chunk/i.test(statement)) return undefined
  return `ENGINE LIMIT: ${ctx.engine.describe()} cannot build an index outside a transaction (CREATE INDEX CONCURRENTLY, WITH (timescaledb.transaction_per_chunk)); this statement is not verified here: verify on a server engine (--engine native or container)`
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
  } else lines.push(`schema at version ${m.version - 1} not compared: --changed records fingerprints only around the new or changed migrations (a run without --changed compares it)`)
  const log = migratorFor(ctx, client).log
  const rows = (await client.query<{ status: string }>(`SELECT status FROM ${log.qualified} WHERE migration_name = $1`, [m.name]).catch(() => ({ rows: [] as { status: string }[] }))).rows
  lines.push(rows.some((r) => r.status === 'completed') ? `migration_log HAS a completed row for ${m.name}` : `migration_log: no completed row for ${m.name} (recorded: ${rows.map((r) => r.status).join(', ') || 'nothing'})`)
  return lines
}

export const postValidation: StageFn = async (ctx, client) => {
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

export const secondUp: StageFn = async (ctx, client) => {
  // The schema right before, with the catalog's mark: an up that commits no catalog write needs no
  // second fingerprint (each takes about 0.25 s on embedded, most of this stage).
  const before = await schemaState(client, ctx)
  const r = await migratorFor(ctx, client).up()
  if (r.error) return failed(`second up failed: ${r.error.message}`, [], { code: r.error.code, message: r.error.message })
  const applied = r.results.filter((x) => x.status === 'passed').map((x) => x.name)
  const diff = await schemaDiff(client, ctx, before)
  if (applied.length || diff.length) return failed(`second up was not a no-op: applied ${applied.length}`, [...applied.map((a) => `applied again: ${a}`), ...diff])
  return passed('a second up applies nothing and changes nothing')
}

/** Each file executed again on the migrated database must succeed and change nothing. */
export const idempotency: StageFn = async (ctx, client) => {
  const log = migratorFor(ctx, client).log
  const exclude = [`${log.schema}.${log.table}`]
  // The schema before, with the catalog's mark: a file whose re-run writes nothing to the catalog needs no new fingerprint.
  const schema0 = await schemaState(client, ctx)
  // The same for the rows: a re-run that commits no row version and deletes nothing needs no new digests.
  const data0 = await dataState(client, ctx, exclude)
  const problems: string[] = []
  const files = ctx.migrations.filter((m) => inFocus(ctx, m))
  // --shard: every file proven here is a unit; this run re-runs its own.
  const mine = ctx.shard ? ctx.shard.owned('idempotency', files, (m) => m.name) : files
  for (const m of mine) {
    const t0 = performance.now()
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
      // A server that ran short or went away says nothing of the file: the stage ends with that.
      const trouble = serverTrouble(e)
      if (trouble) throw new HarnessError(trouble.code, `${trouble.message.split('\n')[0]} while re-running ${script.file}:\n${formatLocated(located)}`, { hint: trouble.hint, details: trouble.details })
      problems.push(`${script.file} fails when run a second time:`, ...formatLocated(located).split('\n').map((l) => `  ${l}`))
      continue
    }
    const diff = await schemaDiff(client, ctx, schema0)
    const data = await dataDiff(client, ctx, data0)
    if (diff.length || data.length) {
      problems.push(`${script.file} changed the database when run a second time:`, ...diff.map((l) => `  ${l}`), ...data.map((l) => `  ${l}`))
      break
    }
    ctx.progress(`  re-ran ${m.name}: no change`)
    ctx.meter?.count('idempotentFiles')
    ctx.meter?.part(m.name, performance.now() - t0)
  }
  const only = (ctx.focus ? ` (--changed: the ${ctx.focus.size} new or changed of ${ctx.migrations.length}; released ones not re-run)` : '') + (ctx.shard?.note('idempotency') ?? '')
  return problems.length ? failed(`not idempotent: ${problems.filter((p) => !p.startsWith(' ')).length} file(s)`, problems) : passed(`all ${mine.length} files ran a second time without error or change (schema and data)${only}`)
}

/**
 * For every step k: down to k-1 gives exactly the schema recorded after up to k-1, and up to k
 * again gives exactly the schema recorded after up to k.
 */
export const downUp: StageFn = async (ctx, client) => {
  const missing = ctx.migrations.filter((m) => !m.down)
  if (missing.length) return failed(`no down file for ${missing.map((m) => m.name).join(', ')}`, missing.map((m) => `write ${m.name}.down.sql`))
  const migrator = migratorFor(ctx, client)
  const problems: string[] = []
  const lines: string[] = []
  // --shard: every step proven here is a unit; this run round-trips its own.
  const steps = ctx.migrations.filter((m) => inFocus(ctx, m))
  const mine = new Set(ctx.shard ? ctx.shard.owned('down-up', steps, (m) => m.name) : steps)
  for (const m of [...ctx.migrations].reverse()) {
    if (!inFocus(ctx, m)) continue
    const t0 = performance.now()
    const k = m.version
    if (!mine.has(m)) {
      // Another shard's step: only stepped over, so each down file is judged in its own step.
      const past = await migrator.down({ to: k - 1 })
      if (past.error) return failed(`${m.down!.file} failed (stepping down past another shard's step)`, [past.error.message], { code: past.error.code, message: past.error.message })
      continue
    }
    const down = await migrator.down({ to: k - 1 })
    if (down.error) {
      const located = down.results.find((x) => x.status === 'failed')?.error
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
    ctx.meter?.count('downUpSteps')
    ctx.meter?.part(m.name, performance.now() - t0)
  }
  const back = await migrator.up()
  if (back.error) return failed('re-applying everything after the round trips failed', [back.error.message], { code: back.error.code, message: back.error.message })
  const final = diffLines(ctx.fingerprints.get(ctx.migrations.length)!, await take(client, ctx))
  if (final.length) problems.push('re-applying everything from empty gives a different schema than the first replay:', ...final.map((l) => `  ${l}`))
  const which = (ctx.focus ? `the ${ctx.focus.size} new or changed step(s) (--changed; released steps not round-tripped)` : ctx.shard ? `${mine.size} step(s)` : `every step k = ${ctx.migrations.length}…1`) + (ctx.shard?.note('down-up') ?? '')
  return problems.length ? failed(`down/up round trip: ${problems.filter((p) => !p.startsWith(' ')).length} mismatch(es)`, problems) : passed(`${which}: down to k-1 and up to k reproduce the recorded schemas exactly`, lines)
}

