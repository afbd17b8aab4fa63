/**
 * Fault injection: a failing migration leaves no trace.
 *
 * On a database of its own, for every migration k and every statement boundary i in it, the
 * stage starts from version k-1 holding a small deterministic dataset, makes the runner fail
 * right after statement i (the Migrator's `hooks.afterStatement` throws), and checks:
 *   - the schema fingerprint equals the one before (recorded by replay, `ctx.fingerprints`),
 *   - the data digest of every table is unchanged (the migration log excepted),
 *   - migration_log has one row for k, status 'failed' with the injected error; no completed
 *     row, and the other rows are untouched,
 *   - the runner's advisory lock is free: no backend holds it in pg_locks, and
 *     pg_try_advisory_lock on the runner's key succeeds (then is unlocked),
 *   - `up` runs again: the injection run for boundary i+1 re-executes statements 1…i+1 past the
 *     previous failure point, and after the last boundary a clean `up --to k` succeeds and gives
 *     exactly the fingerprint replay recorded for version k.
 *
 * Non-transactional migrations (`--! no-transaction`) cannot be rolled back; they state their
 * own recovery instead: after a failure after statement i the statements before stay applied
 * (recorded in the details as the schema difference), the log says 'failed', the lock is free,
 * and re-running `up` must succeed and end with the schema AND data of a clean run. Between
 * boundaries the stage returns to k-1 with the down file (sequences reset, so serial ids come
 * out the same); without a down file only one boundary can be exercised (the one after the
 * next-to-last statement, so the re-run repeats the most), compared with replay's schema, and
 * the summary says how many were not.
 *
 * The dataset is derived from the catalog (NOT NULL columns, foreign keys to earlier rows,
 * IN-list CHECKs), three rows per table, topped up at every version for tables that are still
 * empty. Generated values are the same for every run (fixed timestamps, md5-derived uuids, no
 * random defaults); rows the migrations insert themselves (005's escalation rules, 006's report
 * templates) carry now() and random uuids, and rows generated to reference them follow those.
 */
import { literal } from '../../util/sql.ts'
import type pg from 'pg'
import { connect } from '../../runner/connect.ts'
import { formatLocated } from '../../runner/locate.ts'
import { lockKey } from '../../runner/lock.ts'
import type { Migration } from '../../sql/migration.ts'
import { Migrator, type MigratorHooks } from '../../runner/migrator.ts'
import { dataDigests, diffDigests, type TableDigest } from '../../validation/data-digest.ts'
import { fingerprintHash, type SchemaSnapshot } from '../../validation/fingerprint/index.ts'
import { diffLines, failed, migratorFor, passed, take, type StageFn, type VerifyContext } from '../stage.ts'

/** The error the hook throws; its message is what migration_log must show. */
export class InjectedFault extends Error {
  constructor(readonly migration: string, readonly statement: number, readonly of: number) {
    super(`fault injected by pgverify after statement ${statement} of ${of}`)
    this.name = 'InjectedFault'
  }
}

export interface FaultStats {
  /** Boundaries where a failure was injected and everything checked. */
  points: number
  /** Boundaries that could not be exercised (non-transactional migration without a down file). */
  notExercised: number
  migrations: number
  seededRows: number
}

class Problem extends Error {
  constructor(readonly summary: string, readonly details: string[]) {
    super(summary)
  }
}

export const faultInjection: StageFn = async (ctx) => {
  const db = await ctx.engine.createDatabase('fault')
  let client: pg.Client | undefined
  const stats: FaultStats = { points: 0, notExercised: 0, migrations: 0, seededRows: 0 }
  const lines: string[] = []
  const started = performance.now()
  try {
    client = await connect(db.url, { applicationName: 'pgverify fault-injection' })
    await run(ctx, client, stats, lines)
    const seconds = ((performance.now() - started) / 1000).toFixed(1)
    const skippedNote = stats.notExercised ? `; ${stats.notExercised} not exercised (see details)` : ''
    return passed(
      `${stats.points} fault points in ${stats.migrations} migrations: every injected failure left schema, data, log and lock as before, and up then succeeded (${stats.seededRows} seeded rows, ${seconds} s)${skippedNote}`,
      lines,
    )
  } catch (e) {
    if (!(e instanceof Problem)) throw e
    return failed(`${e.summary} (after ${stats.points} fault points passed)`, [...e.details, '', 'fault points that passed before:', ...lines], { code: 'VALIDATION_FAILED', message: e.summary })
  } finally {
    await client?.end().catch(() => {})
    await db.drop().catch(() => {})
  }
}

async function run(ctx: VerifyContext, client: pg.Client, stats: FaultStats, lines: string[]): Promise<void> {
  const base = migratorFor(ctx, client)
  const logName = `${base.log.schema}.${base.log.table}`
  const exclude = [logName]
  const boot = await base.up({ to: 0 })
  if (boot.error) throw new Problem(`bootstrap failed: ${boot.error.message}`, boot.error.hint ? [boot.error.hint] : [])
  const expected = (v: number) => ctx.fingerprints.get(v)
  const reported = new Set<string>()
  for (const m of ctx.migrations) {
    const k = m.version
    const seeded = await seedDataset(client, ctx.schemas, exclude)
    stats.seededRows += seeded.rows
    const schemaBefore = await take(client, ctx)
    const want = expected(k - 1)
    if (want) {
      const d = diffLines(want, schemaBefore)
      if (d.length) throw new Problem(`before ${m.name}: the schema at version ${k - 1} with data differs from the one replay recorded`, d)
    }
    const dataBefore = await dataDigests(client, ctx.schemas, exclude)
    const t0 = performance.now()
    const note = m.up.noTransaction
      ? await nonTransactional(ctx, client, m, { schemaBefore, dataBefore, exclude }, stats)
      : await transactional(ctx, client, m, { schemaBefore, dataBefore, exclude }, stats)
    stats.migrations++
    const rows = [...dataBefore.values()].reduce((s, d) => s + d.rows, 0)
    lines.push(`${m.up.file}: ${note} (from version ${k - 1} with ${rows} rows in ${[...dataBefore.values()].filter((d) => d.rows > 0).length} tables${seeded.rows ? `, ${seeded.rows} just seeded` : ''}; ${Math.round(performance.now() - t0)} ms)`)
    for (const s of seeded.skipped) {
      const table = s.split(':')[0]!
      if (!reported.has(table)) lines.push(`  no generated rows for ${s}`)
      reported.add(table)
    }
    ctx.progress(`  fault injection ${m.name}: ${note.split('\n')[0]!.replace(/:$/, '')}`)
  }
}

interface Start {
  schemaBefore: SchemaSnapshot
  dataBefore: Map<string, TableDigest>
  exclude: string[]
}

const failingAfter = (m: Migration, index: number): MigratorHooks => ({
  afterStatement: (mm, script, st) => {
    if (mm.name === m.name && st.index === index) throw new InjectedFault(m.name, index + 1, script.statements.length)
  },
})

const where = (m: Migration, i: number) => {
  const st = m.up.statements[i]!
  return `${m.up.file}:${st.line}:${st.column} (statement ${i + 1} of ${m.up.statements.length}: ${st.text.split('\n')[0]!.slice(0, 80)})`
}

async function transactional(ctx: VerifyContext, client: pg.Client, m: Migration, start: Start, stats: FaultStats): Promise<string> {
  const n = m.up.statements.length
  const logBefore = await otherLogRows(client, migratorFor(ctx, client), m.name)
  for (let i = 0; i < n; i++) {
    const migrator = migratorFor(ctx, client, { hooks: failingAfter(m, i) })
    const r = await migrator.up({ to: m.version })
    await expectInjected(r, m, i)
    const at = `after a failure injected after ${where(m, i)}`
    const schema = diffLines(start.schemaBefore, await take(client, ctx))
    if (schema.length) throw new Problem(`${m.up.file} left schema changes behind ${at}`, ['the transaction should have been rolled back; the schema differs from version ' + (m.version - 1) + ':', ...schema])
    const data = diffDigests(start.dataBefore, await dataDigests(client, ctx.schemas, start.exclude))
    if (data.length) throw new Problem(`${m.up.file} left data changes behind ${at}`, data)
    await checkLog(client, migrator, m, i, at, logBefore)
    await checkLockFree(client, migrator, at)
    stats.points++
  }
  return `${n} fault points, each rolled back to version ${m.version - 1}; ${await cleanUp(ctx, client, m)}`
}

/** A clean `up --to k` after the failures: it must succeed and give replay's fingerprint for k. */
async function cleanUp(ctx: VerifyContext, client: pg.Client, m: Migration): Promise<string> {
  const r = await migratorFor(ctx, client).up({ to: m.version })
  if (r.error) {
    const located = r.results.find((x) => x.status === 'Error')?.error
    throw new Problem(
      `up to ${m.version} after the injected failures failed${located ? ` at ${located.file}:${located.line}:${located.column}${located.sqlstate ? ` (SQLSTATE ${located.sqlstate})` : ''}` : `: ${r.error.message}`} on a database with data at version ${m.version - 1}`,
      [...(located ? formatLocated(located).split('\n') : [r.error.message, ...(r.error.hint ? [r.error.hint] : [])]), '', `the tables held the stage's generated rows (three per table, NOT NULL columns and foreign keys filled): a migration that cannot run on a database with rows fails here`],
    )
  }
  const after = await take(client, ctx)
  const want = ctx.fingerprints.get(m.version)
  if (want) {
    const d = diffLines(want, after)
    if (d.length) throw new Problem(`re-running ${m.up.file} after the injected failures gave a different schema than replay from empty`, d)
  }
  return `then up ${m.version} succeeded, schema ${fingerprintHash(after).slice(0, 12)}${want ? ' = replay' : ''}`
}

async function nonTransactional(ctx: VerifyContext, client: pg.Client, m: Migration, start: Start, stats: FaultStats): Promise<string> {
  const n = m.up.statements.length
  const seqs = await sequenceState(client, ctx.schemas)
  const logBefore = await otherLogRows(client, migratorFor(ctx, client), m.name)
  const want = ctx.fingerprints.get(m.version)
  // The reference: a clean run from the same start, when the down file can take us back after it;
  // otherwise replay's fingerprint for the schema, and the data cannot be compared.
  let cleanSchema = want
  let cleanData: Map<string, TableDigest> | undefined
  if (m.down) {
    const clean = await migratorFor(ctx, client).up({ to: m.version })
    if (clean.error) throw new Problem(`${m.up.file} fails on a database with data at version ${m.version - 1}: ${clean.error.message.split('\n')[0]}`, clean.error.message.split('\n'))
    cleanSchema = await take(client, ctx)
    cleanData = await dataDigests(client, ctx.schemas, start.exclude)
    if (want) {
      const d = diffLines(want, cleanSchema)
      if (d.length) throw new Problem(`${m.up.file} run on a database with data gives a different schema than replay from empty`, d)
    }
  }
  const points = m.down ? [...Array(n).keys()] : [Math.max(0, n - 2)]
  const notes: string[] = []
  let done = 0
  for (const i of points) {
    if (m.down) {
      // Back to k-1: the down file, then the sequences as they were.
      const down = await migratorFor(ctx, client).down({ to: m.version - 1 })
      if (down.error) throw new Problem(`cannot return to version ${m.version - 1} to inject the next failure: ${m.down.file} failed`, down.error.message.split('\n'))
      await restoreSequences(client, seqs)
      const back = diffLines(start.schemaBefore, await take(client, ctx))
      if (back.length) throw new Problem(`cannot return to version ${m.version - 1} to inject the next failure: after ${m.down!.file} the schema differs`, back)
      const backData = diffDigests(start.dataBefore, await dataDigests(client, ctx.schemas, start.exclude))
      if (backData.length) {
        stats.notExercised += points.length - done
        notes.push(`stopped before statement boundary ${i + 1}: ${m.down!.file} does not restore the data of version ${m.version - 1} exactly (${backData.join('; ')})`)
        break
      }
    }
    const migrator = migratorFor(ctx, client, { hooks: failingAfter(m, i) })
    const r = await migrator.up({ to: m.version })
    await expectInjected(r, m, i)
    const at = `after a failure injected after ${where(m, i)}`
    const stays = diffLines(start.schemaBefore, await take(client, ctx))
    await checkLog(client, migrator, m, i, at, logBefore)
    await checkLockFree(client, migrator, at)
    notes.push(`after statement ${i + 1}: statements 1…${i + 1} stay applied (${stays.length ? `${stays.length} schema difference${stays.length > 1 ? 's' : ''}: ${stays.slice(0, 3).join('; ')}${stays.length > 3 ? '; …' : ''}` : 'no schema difference'}); re-run recovers`)
    // Recovery: up again, from the start of the file, must give what a clean run gives.
    const again = await migratorFor(ctx, client).up({ to: m.version })
    if (again.error) {
      const located = again.results.find((x) => x.status === 'Error')?.error
      throw new Problem(
        `${m.up.file} is non-transactional and does not recover: after a failure after statement ${i + 1} of ${n}, re-running up fails${located ? ` at ${located.file}:${located.line}:${located.column}${located.sqlstate ? ` (SQLSTATE ${located.sqlstate})` : ''}` : ''}`,
        [`the statements before stay applied, and the re-run starts the file from the top: every statement must be idempotent.`, ...(located ? formatLocated(located).split('\n') : again.error.message.split('\n'))],
      )
    }
    const schema = cleanSchema ? diffLines(cleanSchema, await take(client, ctx)) : []
    if (schema.length) throw new Problem(`${m.up.file} is non-transactional and recovers to a different schema: after a failure after statement ${i + 1} of ${n} and a re-run, the schema differs from a ${m.down ? 'clean run' : 'replay from empty'}`, schema)
    const data = cleanData ? diffDigests(cleanData, await dataDigests(client, ctx.schemas, start.exclude)) : []
    if (data.length) throw new Problem(`${m.up.file} is non-transactional and recovers to different data: after a failure after statement ${i + 1} of ${n} and a re-run, the data differs from a clean run (statements 1…${i + 1} ran twice)`, data)
    stats.points++
    done++
  }
  if (!m.down) {
    stats.notExercised += n - 1
    notes.push(`only 1 of ${n} boundaries exercised: no ${m.name}.down.sql to return to version ${m.version - 1} between injections; recovery compared with replay's schema${want ? '' : ' (not recorded)'}, data not compared (no clean run to compare with)`)
  }
  // Whatever happened last, the database ends at version k.
  const fin = await migratorFor(ctx, client).up({ to: m.version })
  if (fin.error) throw new Problem(`${m.up.file}: final up failed`, fin.error.message.split('\n'))
  return `non-transactional, ${done} fault point${done === 1 ? '' : 's'} with recovery checked against ${m.down ? 'a clean run' : 'replay'}:\n    ${notes.join('\n    ')}`
}


async function expectInjected(r: Awaited<ReturnType<Migrator['up']>>, m: Migration, i: number): Promise<void> {
  const res = r.results.find((x) => x.name === m.name)
  const e = res?.error
  if (!r.error || r.error.code !== 'MIGRATION_FAILED' || !e) {
    throw new Problem(`the failure injected after ${where(m, i)} was not reported as a failed migration`, [r.error ? `${r.error.code}: ${r.error.message}` : `up returned no error; results: ${r.results.map((x) => `${x.name} ${x.status}`).join(', ')}`])
  }
  if (!e.message.includes('fault injected by pgverify')) {
    // The file failed on its own before reaching the boundary.
    throw new Problem(`${m.up.file} failed before the injected fault after statement ${i + 1}: ${e.file}:${e.line}:${e.column}${e.sqlstate ? ` (SQLSTATE ${e.sqlstate})` : ''}`, formatLocated(e).split('\n'))
  }
  if (e.statement !== i + 1) throw new Problem(`the failure injected after statement ${i + 1} of ${m.up.file} was located at statement ${e.statement}`, formatLocated(e).split('\n'))
}

async function otherLogRows(client: pg.ClientBase, migrator: Migrator, name: string): Promise<string> {
  const r = await client.query<{ s: string | null }>(
    `SELECT string_agg(concat_ws('|', migration_name, status, checksum, execution_time_ms, error_message), E'\\n' ORDER BY migration_name) AS s FROM ${migrator.log.qualified} WHERE migration_name <> $1`,
    [name],
  )
  return r.rows[0]?.s ?? ''
}

async function checkLog(client: pg.ClientBase, migrator: Migrator, m: Migration, i: number, at: string, othersBefore: string): Promise<void> {
  const rows = (await client.query<{ status: string; error_message: string | null }>(`SELECT status, error_message FROM ${migrator.log.qualified} WHERE migration_name = $1`, [m.name])).rows
  const injected = `fault injected by pgverify after statement ${i + 1} of ${m.up.statements.length}`
  const st = m.up.statements[i]!
  if (rows.length !== 1 || rows[0]!.status !== 'failed' || !rows[0]!.error_message?.includes(injected)) {
    throw new Problem(`${migrator.log.schema}.${migrator.log.table} does not show the injected failure ${at}`, [
      `expected one row for ${m.name} with status 'failed' and error "${m.up.file}:${st.line}:…: ${injected}"`,
      `found: ${rows.length ? rows.map((r) => `${r.status}: ${r.error_message ?? '(no error)'}`).join(' | ') : 'no row'}`,
    ])
  }
  if (!rows[0]!.error_message!.startsWith(`${m.up.file}:`)) {
    throw new Problem(`${migrator.log.schema}.${migrator.log.table} records the injected failure without its file:line:column ${at}`, [rows[0]!.error_message!])
  }
  const others = await otherLogRows(client, migrator, m.name)
  if (others !== othersBefore) throw new Problem(`other rows of ${migrator.log.schema}.${migrator.log.table} changed ${at}`, ['before:', ...othersBefore.split('\n'), 'after:', ...others.split('\n')])
}

/**
 * Session advisory locks are re-entrant: pg_try_advisory_lock from the runner's own session would
 * succeed even if the runner had kept the lock. So pg_locks is asked first (no backend holds it),
 * then the lock is taken and given back once.
 */
async function checkLockFree(client: pg.ClientBase, migrator: Migrator, at: string): Promise<void> {
  const key = lockKey(migrator.log.qualified)
  const k = BigInt(key)
  const held = async () =>
    (
      await client.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 1`,
        [Number((k >> 32n) & 0xffffffffn), Number(k & 0xffffffffn)],
      )
    ).rows[0]!.n
  const before = await held()
  if (before !== 0) throw new Problem(`the migration lock is still held ${at}`, [`pg_locks shows ${before} granted advisory lock(s) on key ${key}`])
  const got = (await client.query<{ ok: boolean }>(`SELECT pg_try_advisory_lock($1::bigint) AS ok`, [key])).rows[0]!.ok
  const released = got ? (await client.query<{ ok: boolean }>(`SELECT pg_advisory_unlock($1::bigint) AS ok`, [key])).rows[0]!.ok : false
  if (!got || !released || (await held()) !== 0) throw new Problem(`the migration lock cannot be taken and given back ${at}`, [`pg_try_advisory_lock(${key}) = ${got}, pg_advisory_unlock = ${released}`])
}

// ---- sequences --------------------------------------------------------------------------------

interface SeqState {
  name: string
  last: string | null
  called: boolean
}

async function sequenceState(client: pg.ClientBase, schemas: string[]): Promise<SeqState[]> {
  const seqs = (await client.query<{ q: string }>(`SELECT format('%I.%I', schemaname, sequencename) AS q FROM pg_sequences WHERE schemaname = ANY($1::text[]) ORDER BY 1`, [schemas])).rows
  const out: SeqState[] = []
  for (const s of seqs) {
    const r = (await client.query<{ last_value: string; is_called: boolean }>(`SELECT last_value::text, is_called FROM ${s.q}`)).rows[0]!
    out.push({ name: s.q, last: r.last_value, called: r.is_called })
  }
  return out
}

async function restoreSequences(client: pg.ClientBase, seqs: SeqState[]): Promise<void> {
  for (const s of seqs) {
    const exists = (await client.query<{ r: string | null }>(`SELECT to_regclass($1) AS r`, [s.name])).rows[0]?.r
    if (exists && s.last !== null) await client.query(`SELECT setval($1::regclass, $2::bigint, $3)`, [s.name, s.last, s.called])
  }
}

// ---- the dataset ------------------------------------------------------------------------------

const ROWS = 3

interface Column {
  table: string
  attnum: number
  name: string
  type: string
  category: string
  typtype: string
  notNull: boolean
  def: string | null
  identity: string
  generated: string
  maxLen: number | null
  elemType: string | null
  elemCategory: string | null
  labels: string[] | null
}

interface ForeignKey {
  table: string
  parent: string
  cols: string[]
  parentCols: string[]
}

/**
 * Three rows in every table of `schemas` that has none yet: the NOT NULL columns without a
 * default, columns whose default calls a function (so values do not depend on the clock or
 * gen_random_uuid()), every timestamp column (later columns later,
 * so "end after start" CHECKs hold), foreign keys pointing at existing parent rows. Nullable
 * plain columns stay NULL, so constraints added later with "x IS NULL OR …" stay satisfiable.
 * A table whose rows are refused is skipped and named, never half-filled.
 */
export async function seedDataset(client: pg.ClientBase, schemas: string[], exclude: string[] = []): Promise<{ rows: number; skipped: string[] }> {
  const tables = (
    await client.query<{ q: string; name: string; empty: boolean }>(
      `SELECT format('%I.%I', n.nspname, c.relname) AS q, n.nspname || '.' || c.relname AS name, true AS empty
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY($1::text[]) AND NOT c.relispartition
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
        ORDER BY 2`,
      [schemas],
    )
  ).rows.filter((t) => !exclude.includes(t.name))
  const empty: typeof tables = []
  for (const t of tables) {
    const r = await client.query(`SELECT 1 FROM ${t.q} LIMIT 1`)
    if (r.rowCount === 0) empty.push(t)
  }
  if (empty.length === 0) return { rows: 0, skipped: [] }
  const cols = (
    await client.query<Column>(
      `SELECT format('%I.%I', n.nspname, c.relname) AS table, a.attnum::int AS attnum, a.attname AS name,
              format_type(a.atttypid, a.atttypmod) AS type,
              coalesce(bt.typcategory, t.typcategory)::text AS category, coalesce(bt.typtype, t.typtype)::text AS typtype,
              a.attnotnull AS "notNull", pg_get_expr(ad.adbin, ad.adrelid) AS def,
              a.attidentity::text AS identity, a.attgenerated::text AS generated,
              CASE WHEN coalesce(bt.oid, t.oid) IN ('varchar'::regtype, 'bpchar'::regtype) AND a.atttypmod > 4 THEN a.atttypmod - 4 END AS "maxLen",
              CASE WHEN coalesce(bt.typelem, t.typelem) <> 0 AND coalesce(bt.typcategory, t.typcategory) = 'A' THEN format_type(coalesce(bt.typelem, t.typelem), NULL) END AS "elemType",
              (SELECT et.typcategory::text FROM pg_type et WHERE et.oid = coalesce(bt.typelem, t.typelem) AND coalesce(bt.typcategory, t.typcategory) = 'A') AS "elemCategory",
              (SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = coalesce(bt.oid, t.oid)) AS labels
         FROM pg_attribute a
         JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         JOIN pg_type t ON t.oid = a.atttypid
         LEFT JOIN pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype
         LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
        WHERE a.attnum > 0 AND NOT a.attisdropped AND format('%I.%I', n.nspname, c.relname) = ANY($1::text[])
        ORDER BY 1, 2`,
      [empty.map((t) => t.q)],
    )
  ).rows
  const fks = (
    await client.query<ForeignKey>(
      `SELECT format('%I.%I', cn.nspname, cc.relname) AS table, format('%I.%I', pn.nspname, pc.relname) AS parent,
              ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(n, i) JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.i) AS cols,
              ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(n, i) JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.i) AS "parentCols"
         FROM pg_constraint con
         JOIN pg_class cc ON cc.oid = con.conrelid JOIN pg_namespace cn ON cn.oid = cc.relnamespace
         JOIN pg_class pc ON pc.oid = con.confrelid JOIN pg_namespace pn ON pn.oid = pc.relnamespace
        WHERE con.contype = 'f' AND format('%I.%I', cn.nspname, cc.relname) = ANY($1::text[])
        ORDER BY 1, con.conname`,
      [empty.map((t) => t.q)],
    )
  ).rows
  const checks = (
    await client.query<{ table: string; col: string; def: string }>(
      `SELECT format('%I.%I', n.nspname, c.relname) AS table, a.attname AS col, pg_get_constraintdef(con.oid) AS def
         FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = con.conkey[1]
        WHERE con.contype = 'c' AND array_length(con.conkey, 1) = 1 AND format('%I.%I', n.nspname, c.relname) = ANY($1::text[])`,
      [empty.map((t) => t.q)],
    )
  ).rows
  const allowed = new Map<string, string[]>()
  for (const c of checks) {
    const arr = /ARRAY\[(.*?)\]/.exec(c.def)
    if (!arr || !/= ANY/.test(c.def)) continue
    const values = [...arr[1]!.matchAll(/'((?:[^']|'')*)'/g)].map((x) => x[1]!.replace(/''/g, "'"))
    if (values.length) allowed.set(`${c.table}.${c.col}`, values)
  }

  // Parents before children; a table waits for the parents its NOT NULL foreign keys need.
  const order: string[] = []
  const pending = new Set(empty.map((t) => t.q))
  while (pending.size) {
    const ready = [...pending].filter((t) => !fks.some((f) => f.table === t && f.parent !== t && pending.has(f.parent)))
    const next = ready.length ? ready : [[...pending][0]!]
    for (const t of next) {
      order.push(t)
      pending.delete(t)
    }
  }

  let rows = 0
  const skipped: string[] = []
  await client.query('BEGIN')
  try {
    for (const table of order) {
      const tcols = cols.filter((c) => c.table === table)
      const tfks = fks.filter((f) => f.table === table && f.parent !== table)
      const fkOf = new Map<string, { fk: ForeignKey; pos: number }>()
      for (const fk of tfks) fk.cols.forEach((c, pos) => fkOf.has(c) || fkOf.set(c, { fk, pos }))
      const parentRows = new Map<ForeignKey, Array<Array<string | null>>>()
      for (const fk of tfks) {
        const sel = fk.parentCols.map((c) => `${quote(c)}::text`).join(', ')
        const r = await client.query({ text: `SELECT ${sel} FROM ${fk.parent} WHERE ${fk.parentCols.map((c) => `${quote(c)} IS NOT NULL`).join(' AND ')} ORDER BY ${fk.parentCols.map((_, i) => i + 1).join(', ')} LIMIT ${ROWS}`, rowMode: 'array' })
        parentRows.set(fk, r.rows as Array<Array<string | null>>)
      }
      const fill = tcols.filter((c) => {
        if (c.generated || c.identity) return false
        if (fkOf.has(c.name)) return true
        if (c.def && /\bnextval\(/.test(c.def)) return false
        if (c.category === 'D') return true
        // Function defaults (gen_random_uuid(), now()) would make the rows differ between runs.
        if (c.def?.includes('(')) return true
        return c.notNull && c.def === null
      })
      // Variant 0: numbers 1, 2, 3; variant 1: numbers 0 (for CHECKs like "passed + failed <= checked").
      let refused: string | undefined
      let inserted = false
      for (const variant of [0, 1]) {
        const built = buildRows(table, fill, fkOf, parentRows, allowed, variant)
        if ('reason' in built) {
          refused = built.reason
          break
        }
        const sql = fill.length
          ? `INSERT INTO ${table} (${fill.map((c) => quote(c.name)).join(', ')}) VALUES ${built.values.map((r) => `(${r.join(', ')})`).join(', ')}`
          : `INSERT INTO ${table} SELECT FROM generate_series(1, ${ROWS})`
        await client.query('SAVEPOINT seed_table')
        try {
          const r = await client.query(sql)
          rows += r.rowCount ?? 0
          await client.query('RELEASE SAVEPOINT seed_table')
          inserted = true
          break
        } catch (e) {
          await client.query('ROLLBACK TO SAVEPOINT seed_table')
          refused = `refused (${(e as Error).message})`
        }
      }
      if (!inserted) skipped.push(`${table}: ${refused}`)
    }
    await client.query('COMMIT')
  } catch (e) {
    await client.query('ROLLBACK').catch(() => {})
    throw e
  }
  return { rows, skipped }
}

function buildRows(
  table: string,
  fill: Column[],
  fkOf: Map<string, { fk: ForeignKey; pos: number }>,
  parentRows: Map<ForeignKey, Array<Array<string | null>>>,
  allowed: Map<string, string[]>,
  variant: number,
): { values: string[][] } | { reason: string } {
  const values: string[][] = []
  for (let n = 1; n <= ROWS; n++) {
    const row: string[] = []
    for (const c of fill) {
      const ref = fkOf.get(c.name)
      if (ref) {
        const prow = parentRows.get(ref.fk)!
        const v = prow.length ? prow[(n - 1) % prow.length]![ref.pos] : null
        if (v == null && c.notNull) return { reason: `its foreign key to ${ref.fk.parent} needs parent rows, and ${ref.fk.parent} has none` }
        row.push(v == null ? 'NULL' : `${literal(v)}::${c.type}`)
        continue
      }
      const v = valueFor(c, variant === 1 && c.category === 'N' ? 0 : n, allowed.get(`${table}.${c.name}`))
      if (v === undefined) {
        if (c.notNull) return { reason: `no generator for NOT NULL column ${c.name} of type ${c.type}` }
        row.push('NULL')
      } else row.push(v)
    }
    values.push(row)
  }
  return { values }
}

const quote = (s: string) => `"${s.replace(/"/g, '""')}"`

/** A deterministic value for row n (1-based; 0 only for numbers) of a column, as an SQL expression; undefined when the type has no generator. */
function valueFor(c: Column, n: number, allowed?: string[]): string | undefined {
  const cast = (v: string) => `${literal(v)}::${c.type}`
  const pick = (xs: string[]) => xs[(((n - 1) % xs.length) + xs.length) % xs.length]!
  if (allowed?.length) return cast(pick(allowed))
  if (c.labels?.length) return cast(pick(c.labels))
  const base = c.type.replace(/\(.*\)/, '').replace(/\[\]$/, '').trim()
  switch (c.category) {
    case 'N':
      if (/^(smallint|integer|bigint|oid)$/.test(base)) return cast(String(n))
      // 1, 0.5, 0.33…: inside [0, 1] for ratios, positive, distinct (0 when asked for 0).
      return cast(n === 0 ? '0' : String(Math.round(100 / n) / 100))
    case 'S': {
      if (base === '"char"') return cast('x')
      const text = `${c.name}_${n}`
      return cast(c.maxLen && text.length > c.maxLen ? `${n}${c.name}`.slice(0, c.maxLen) : text)
    }
    case 'B':
      return 'true'
    case 'D': {
      // Later columns later: "end after start" holds; rows a day apart cross chunk boundaries.
      const t = Date.UTC(2024, 0, n, 8, 0) + c.attnum * 60_000
      const iso = new Date(t).toISOString()
      if (base === 'date') return cast(iso.slice(0, 10))
      if (base.startsWith('time ') || base === 'time without time zone' || base === 'time with time zone') return cast(iso.slice(11, 19))
      return cast(iso)
    }
    case 'T':
      return cast(`${n} hours`)
    case 'I':
      return cast(`10.0.0.${n}`)
    case 'U':
      if (base === 'uuid') return `md5(${literal(`${c.table}.${c.name}:${n}`)})::uuid`
      if (base === 'json' || base === 'jsonb') return cast(`{"n": ${n}}`)
      if (base === 'bytea') return `'\\x0${n}'::bytea`
      return undefined
    case 'A': {
      if (!c.elemType) return undefined
      const elem = valueFor({ ...c, type: c.elemType, category: c.elemCategory ?? 'X', labels: null, maxLen: null }, n)
      return elem === undefined ? undefined : `ARRAY[${elem}]::${c.type}`
    }
    default:
      return undefined
  }
}
