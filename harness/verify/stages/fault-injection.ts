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
 * The dataset is the fixed one of harness/data/seed.ts, derived from the catalog (NOT NULL
 * columns, foreign keys to earlier rows, IN-list CHECKs), three rows per table, topped up at every
 * version for tables that are still empty. Generated values are the same for every run (fixed
 * timestamps, md5-derived uuids, no random defaults); rows the migrations insert themselves (005's escalation rules, 006's report
 * templates) carry now() and random uuids, and rows generated to reference them follow those.
 */
import type pg from 'pg'
import { sequencePositions } from '../../catalog/sequences.ts'
import { seedDataset } from '../../data/seed.ts'
import { connect } from '../../runner/connect.ts'
import { formatLocated } from '../../runner/locate.ts'
import type { Migration } from '../../sql/migration.ts'
import { diffDigests, type TableDigest } from '../../validation/data-digest.ts'
import { fingerprintHash } from '../../validation/fingerprint/index.ts'
import { checkLockFree, checkLog, expectInjected, otherLogRows, restoreSequences } from '../faults/checks.ts'
import { failingAfter, Problem, where, type FaultStats, type Start } from '../faults/model.ts'
import { coresToSpare, dataDiff, dataState, diffLines, digests, failed, inFocus, migratorFor, passed, schemaDiff, schemaState, take, type StageFn, type VerifyContext } from '../stage.ts'

export const faultInjection: StageFn = async (ctx) => {
  const stats = noStats()
  const started = performance.now()
  const lanes = planLanes(ctx, (await ctx.stageResult?.('replay'))?.breakdown)
  const done = await Promise.all(lanes.map((lane) => runLane(ctx, lane)))
  for (const d of done) for (const k of Object.keys(stats) as (keyof FaultStats)[]) stats[k] += d.stats[k]
  // A table with no generated rows is named once, by whichever lane met it first.
  const lines = done.flatMap((d) => d.lines).filter((l, i, all) => !l.startsWith('  no generated rows') || all.indexOf(l) === i)
  ctx.meter?.count('faultPoints', stats.points)
  ctx.meter?.count('faultPointsNotExercised', stats.notExercised)
  ctx.meter?.count('seededRows', stats.seededRows)
  const problem = done.find((d) => d.problem)?.problem
  if (problem) return failed(`${problem.summary} (after ${stats.points} fault points passed)`, [...problem.details, '', 'fault points that passed before:', ...lines], { code: 'VALIDATION_FAILED', message: problem.summary })
  const seconds = ((performance.now() - started) / 1000).toFixed(1)
  const laneNote = lanes.length > 1 ? `; in ${lanes.length} databases side by side: ${lanes.map((l) => `${ctx.migrations[l.from]!.name}…${ctx.migrations[l.to - 1]!.name}`).join(' | ')}` : ''
  const skippedNote = (stats.notExercised ? `; ${stats.notExercised} not exercised (see details)` : '') + (stats.replayedOnly ? `; ${stats.replayedOnly} released migration(s) replayed only (--changed)` : '') + (ctx.shard?.note('fault-injection') ?? '')
  return passed(`${stats.points} fault points in ${stats.migrations} migrations: every injected failure left schema, data, log and lock as before, and up then succeeded (${stats.seededRows} seeded rows, ${seconds} s${laneNote})${skippedNote}`, lines)
}

/**
 * The migrations (indexes from…to-1 of ctx.migrations) one database proves. A lane that starts
 * later first migrates to its start with the same seeded data, injecting nothing on the way.
 */
export interface Lane {
  from: number
  to: number
}

/**
 * The stage's work is a chain only within a database: on an engine whose databases work in
 * parallel, with a core to spare (coresToSpare) or on a server engine, the migrations are cut in two where the
 * estimated work evens out. A proven migration's work is its fault points times half its replay
 * time (the prefix re-run at each point) plus the checks after each point (about eight
 * statements' worth); the second lane also migrates to its start, with the data seeded at every
 * version (about twice a replay). Replay's per-migration times are the measure; without them,
 * statement counts.
 */
export function planLanes(ctx: VerifyContext, replayed?: { label: string; ms: number }[]): Lane[] {
  const n = ctx.migrations.length
  const whole = [{ from: 0, to: n }]
  const together = ctx.engine.capabilities.concurrentConnections || ctx.engine.capabilities.parallelDatabases
  // A server engine runs the proofs in its own processes while this one mostly waits, and this
  // stage ends last: on two cores a native full run (cluster on tmpfs) left a core idle for its
  // last 3–5 s; in two lanes the run took 15.2/14.7 s against 18.2/15.4 s, interleaved.
  const spare = coresToSpare(ctx) || ctx.engine.capabilities.concurrentConnections
  if (!together || !spare || ctx.migrations.filter((m) => inFocus(ctx, m)).length < 2) return whole
  const measured = new Map((replayed ?? []).map((p) => [p.label, p.ms]))
  const replayMs = ctx.migrations.map((m) => measured.get(m.name) ?? m.up.statements.length)
  const perStatement = replayMs.reduce((a, b) => a + b, 0) / Math.max(1, ctx.migrations.reduce((t, m) => t + m.up.statements.length, 0))
  const work = ctx.migrations.map((m, i) => (inFocus(ctx, m) ? m.up.statements.length * (replayMs[i]! / 2 + 8 * perStatement) : replayMs[i]!))
  const sum = (a: number[]) => a.reduce((x, y) => x + y, 0)
  let best = whole
  let bestCost = sum(work)
  for (let cut = 1; cut < n; cut++) {
    const proves = (ms: Migration[]) => ms.some((m) => inFocus(ctx, m))
    if (!proves(ctx.migrations.slice(0, cut)) || !proves(ctx.migrations.slice(cut))) continue
    const cost = Math.max(sum(work.slice(0, cut)), sum(work.slice(cut)) + 2 * sum(replayMs.slice(0, cut)))
    if (cost < bestCost) {
      best = [{ from: 0, to: cut }, { from: cut, to: n }]
      bestCost = cost
    }
  }
  return best
}

const noStats = (): FaultStats => ({ points: 0, notExercised: 0, migrations: 0, seededRows: 0, replayedOnly: 0 })

/** One lane on a database of its own: what it proved, or the problem that ended it. */
async function runLane(ctx: VerifyContext, lane: Lane): Promise<{ stats: FaultStats; lines: string[]; problem?: Problem }> {
  const stats = noStats()
  const lines: string[] = []
  // A lane that starts at the released base starts from replay's copy of it, where there is one.
  const released = releasedBase(ctx, lane)
  const atBase = released > 0 && ctx.base?.version === ctx.migrations[released - 1]!.version
  const db = atBase ? await ctx.base!.start(ctx.engine, 'fault') : await ctx.engine.createDatabase('fault')
  let client: pg.Client | undefined
  try {
    client = await connect(db.url, { applicationName: 'pgverify fault-injection' })
    await run(ctx, client, stats, lines, lane, atBase)
    return { stats, lines }
  } catch (e) {
    if (!(e instanceof Problem)) throw e
    return { stats, lines, problem: e }
  } finally {
    await client?.end().catch(() => {})
    await db.drop().catch(() => {})
  }
}

/** `atBase`: the database may be a copy of the released base (base.ts), bootstrapped and migrated already. */
async function run(ctx: VerifyContext, client: pg.Client, stats: FaultStats, lines: string[], lane: Lane, atBase: boolean): Promise<void> {
  const base = migratorFor(ctx, client)
  const logName = `${base.log.schema}.${base.log.table}`
  const exclude = [logName]
  // A copy of the released base is bootstrapped and migrated already (the empty database a lane gets when no copy could be taken is not).
  const boot = atBase && (await base.status()).current > 0 ? undefined : await base.up({ to: 0 })
  if (boot?.error) throw new Problem(`bootstrap failed: ${boot.error.message}`, boot.error.hint ? [boot.error.hint] : [])
  const expected = (v: number) => ctx.fingerprints.get(v)
  const reported = new Set<string>()
  // --shard: every statement boundary of every migration proven here is a unit; this run owns some.
  const all = ctx.migrations.filter((m) => inFocus(ctx, m)).flatMap((m) => m.up.statements.map((_, i) => pointLabel(m, i)))
  const owned = ctx.shard ? new Set(ctx.shard.owned('fault-injection', all, (l) => l)) : undefined
  // --changed: the released migrations before the first proven one are the base, applied in one
  // go with no data (on replay's copy of the base, base.ts, there is nothing left to apply); the
  // seed at its top then fills every table that exists there (a seed tops up empty tables only).
  // Seeding at every released version read the catalog and inserted once per version: on
  // embedded, one new migration after nine, the stage took 4.5–5.6 s that way and 3.7–4.5 s this
  // way (interleaved runs of the whole --changed verify).
  const released = releasedBase(ctx, lane)
  if (released) {
    const r = await migratorFor(ctx, client).up({ to: ctx.migrations[released - 1]!.version })
    if (r.error) throw new Problem(`${r.results.find((x) => x.status === 'failed')?.file ?? 'a released migration'} (released, replayed as the base) failed: ${r.error.message.split('\n')[0]}`, r.error.message.split('\n'))
    for (const m of ctx.migrations.slice(0, released)) lines.push(`${m.up.file}: replayed only (released; no fault injected)`)
    stats.replayedOnly += released
  }
  for (const [index, m] of ctx.migrations.slice(0, lane.to).entries()) {
    const k = m.version
    if (index < released) continue // applied above
    const mine = (i: number) => !owned || owned.has(pointLabel(m, i))
    const seeded = await seedDataset(client, ctx.schemas, exclude)
    if (index < lane.from) {
      // The other lane proves it; applied here with the same seeded data, to reach this lane's start.
      const r = await migratorFor(ctx, client).up({ to: k })
      if (r.error) throw new Problem(`${m.up.file} failed on a database with data (migrating to the start of the second lane): ${r.error.message.split('\n')[0]}`, r.error.message.split('\n'))
      continue
    }
    stats.seededRows += seeded.rows
    if (!inFocus(ctx, m)) {
      // --changed: proven when it was released; applied (with data) as the base for the new ones.
      const r = await migratorFor(ctx, client).up({ to: k })
      if (r.error) throw new Problem(`${m.up.file} (released, replayed as the base) failed on a database with data: ${r.error.message.split('\n')[0]}`, r.error.message.split('\n'))
      stats.replayedOnly++
      lines.push(`${m.up.file}: replayed only (released; no fault injected)`)
      continue
    }
    const schemaBefore = await take(client, ctx)
    const want = expected(k - 1)
    if (want) {
      const d = diffLines(want, schemaBefore)
      if (d.length) throw new Problem(`before ${m.name}: the schema at version ${k - 1} with data differs from the one replay recorded`, d)
    }
    const dataBefore = await digests(client, ctx, exclude)
    const t0 = performance.now()
    const note = m.up.noTransaction
      ? await nonTransactional(ctx, client, m, { schemaBefore, state: await schemaState(client, ctx, schemaBefore), dataBefore, exclude }, stats, mine)
      : await transactional(ctx, client, m, { schemaBefore, state: await schemaState(client, ctx, schemaBefore), dataBefore, exclude, data: await dataState(client, ctx, exclude, dataBefore) }, stats, mine)
    stats.migrations++
    ctx.meter?.part(m.name, performance.now() - t0)
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

/**
 * How many released migrations a lane starts from as one base under --changed (those before the
 * first proven one, when the lane starts at or before it); 0: none, every migration is taken one
 * at a time.
 */
function releasedBase(ctx: VerifyContext, lane: Lane): number {
  const firstProven = ctx.migrations.findIndex((m) => inFocus(ctx, m))
  return ctx.focus && firstProven > 0 && lane.from <= firstProven ? firstProven : 0
}

/** A fault point's name: the migration and the statement boundary (1-based) after which it fails. */
const pointLabel = (m: Migration, i: number) => `${m.name}#${i + 1}`

async function transactional(ctx: VerifyContext, client: pg.Client, m: Migration, start: Start, stats: FaultStats, mine: (i: number) => boolean): Promise<string> {
  const n = m.up.statements.length
  const logBefore = await otherLogRows(client, migratorFor(ctx, client), m.name)
  let ran = 0
  for (let i = 0; i < n; i++) {
    if (!mine(i)) continue // another shard's point
    const migrator = migratorFor(ctx, client, { hooks: failingAfter(m, i) })
    const r = await migrator.up({ to: m.version })
    await expectInjected(r, m, i)
    const at = `after a failure injected after ${where(m, i)}`
    // A rolled-back migration leaves the catalog's mark as it was: no fingerprint needed to prove it.
    const schema = await schemaDiff(client, ctx, start.state)
    if (schema.length) throw new Problem(`${m.up.file} left schema changes behind ${at}`, ['the transaction should have been rolled back; the schema differs from version ' + (m.version - 1) + ':', ...schema])
    // No row version written since the start: the same data, without hashing every table.
    const data = start.data ? await dataDiff(client, ctx, start.data) : diffDigests(start.dataBefore, await digests(client, ctx, start.exclude))
    if (data.length) throw new Problem(`${m.up.file} left data changes behind ${at}`, data)
    await checkLog(client, migrator, m, i, at, logBefore)
    await checkLockFree(client, migrator, at)
    stats.points++
    ran++
  }
  return `${ran === n ? n : `${ran} of ${n}`} fault points, each rolled back to version ${m.version - 1}; ${await cleanUp(ctx, client, m)}`
}

/** A clean `up --to k` after the failures: it must succeed and give replay's fingerprint for k. */
async function cleanUp(ctx: VerifyContext, client: pg.Client, m: Migration): Promise<string> {
  const r = await migratorFor(ctx, client).up({ to: m.version })
  if (r.error) {
    const located = r.results.find((x) => x.status === 'failed')?.error
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

async function nonTransactional(ctx: VerifyContext, client: pg.Client, m: Migration, start: Start, stats: FaultStats, mine: (i: number) => boolean): Promise<string> {
  const n = m.up.statements.length
  const seqs = await sequencePositions(client, ctx.schemas)
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
    cleanData = await digests(client, ctx, start.exclude)
    if (want) {
      const d = diffLines(want, cleanSchema)
      if (d.length) throw new Problem(`${m.up.file} run on a database with data gives a different schema than replay from empty`, d)
    }
  }
  // --shard: only this shard's boundaries (between them the down file returns to k-1 anyway).
  const points = (m.down ? [...Array(n).keys()] : [Math.max(0, n - 2)]).filter(mine)
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
      const backData = diffDigests(start.dataBefore, await digests(client, ctx, start.exclude))
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
      const located = again.results.find((x) => x.status === 'failed')?.error
      throw new Problem(
        `${m.up.file} is non-transactional and does not recover: after a failure after statement ${i + 1} of ${n}, re-running up fails${located ? ` at ${located.file}:${located.line}:${located.column}${located.sqlstate ? ` (SQLSTATE ${located.sqlstate})` : ''}` : ''}`,
        [`the statements before stay applied, and the re-run starts the file from the top: every statement must be idempotent.`, ...(located ? formatLocated(located).split('\n') : again.error.message.split('\n'))],
      )
    }
    const schema = cleanSchema ? diffLines(cleanSchema, await take(client, ctx)) : []
    if (schema.length) throw new Problem(`${m.up.file} is non-transactional and recovers to a different schema: after a failure after statement ${i + 1} of ${n} and a re-run, the schema differs from a ${m.down ? 'clean run' : 'replay from empty'}`, schema)
    const data = cleanData ? diffDigests(cleanData, await digests(client, ctx, start.exclude)) : []
    if (data.length) throw new Problem(`${m.up.file} is non-transactional and recovers to different data: after a failure after statement ${i + 1} of ${n} and a re-run, the data differs from a clean run (statements 1…${i + 1} ran twice)`, data)
    stats.points++
    done++
  }
  if (!m.down) {
    // The boundaries other than the one exercised, counted by the shard that owns each.
    stats.notExercised += [...Array(n).keys()].filter((i) => i !== Math.max(0, n - 2) && mine(i)).length
    notes.push(`only 1 of ${n} boundaries exercised: no ${m.name}.down.sql to return to version ${m.version - 1} between injections; recovery compared with replay's schema${want ? '' : ' (not recorded)'}, data not compared (no clean run to compare with)`)
  }
  // Whatever happened last, the database ends at version k.
  const fin = await migratorFor(ctx, client).up({ to: m.version })
  if (fin.error) throw new Problem(`${m.up.file}: final up failed`, fin.error.message.split('\n'))
  return `non-transactional, ${done} fault point${done === 1 ? '' : 's'} with recovery checked against ${m.down ? 'a clean run' : 'replay'}:\n    ${notes.join('\n    ')}`
}


