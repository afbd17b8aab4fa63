/**
 * The jobs stage on every TimescaleDB engine available here: the twelve policies migration 009
 * registers run with CALL run_job on generated data that spans beyond their windows, and the
 * stage reports, per job, the migration, the config and what it did, with real numbers (asserted
 * on verify's one full run per engine, suites/verify.test.ts with support/jobs-009.ts, which runs
 * this very stage on MS5.0; not run a second time here). The same data built by hand shows those numbers are what the policies' definitions predict (and
 * what execute's read-only count predicts). A job whose procedure raises fails the stage, naming
 * the job, the migration that registered it and the error.
 */
import type pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadJobTemplates } from '../harness/data/job-data.ts'
import type { StartedEngine } from '../harness/engines/types.ts'
import { connect } from '../harness/runner/connect.ts'
import { FileMigrationProvider } from '../harness/runner/discover.ts'
import { Migrator } from '../harness/runner/migrator.ts'
import { registerStepwise } from '../harness/data/job-register.ts'
import { spreadOverWindows } from '../harness/data/job-spread.ts'
import { listJobs, runJobsMeasured } from '../harness/validation/jobs/index.ts'
import { declaredRetention, retentionImpact } from '../harness/validation/retention.ts'
import { runVerify, STAGES, type VerifyReport } from '../harness/verify/pipeline.ts'
import { copyDir, MIGRATIONS, write } from './support/dirs.ts'
import { engineCases, needs } from './support/engines.ts'

const LONG = 600_000
const STAGES_USED = STAGES.filter((s) => s.id === 'replay' || s.id === 'jobs')
const stage = (r: VerifyReport, id: string) => r.stages.find((s) => s.id === id)!
const cases = (await engineCases()).filter((c) => c.available)

const HYPERTABLES = ['metric_hist', 'fault_event', 'oee_calculations', 'downtime_events', 'energy_consumption', 'production_kpis']

/** A custom job whose procedure raises: registered by a migration 010 of the test's own. */
const BROKEN_010 = `-- 010_broken_job: registers a job whose procedure fails (test)
CREATE OR REPLACE PROCEDURE factory_telemetry.refresh_shift_summary(job_id INT, config JSONB)
LANGUAGE plpgsql
AS $$
BEGIN
  RAISE EXCEPTION 'shift summary source % is missing', config ->> 'source' USING ERRCODE = '42P01';
END
$$;
SELECT add_job('factory_telemetry.refresh_shift_summary', '1 hour', config => '{"source": "factory_telemetry.shift_summary_src"}');
`
const BROKEN_010_DOWN = `SELECT delete_job(job_id) FROM timescaledb_information.jobs WHERE proc_name = 'refresh_shift_summary';
DROP PROCEDURE IF EXISTS factory_telemetry.refresh_shift_summary(INT, JSONB);
`

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = await connect(url)
  try {
    return await fn(c)
  } finally {
    await c.end()
  }
}

describe.each(cases)('jobs stage on the $name engine', ({ provider }) => {
  let engine: StartedEngine
  beforeAll(async () => {
    engine = await provider.start({ log: () => {} })
  }, LONG)
  afterAll(async () => {
    await engine?.stop()
  })

  it('the same data built by hand: each policy deletes exactly the rows of the chunks entirely before now() - drop_after, as execute\'s read-only count predicted', async (ctx) => {
    needs(ctx, engine, 'timescaledb', 'the jobs stage')
    const db = await engine.createDatabase('jobs_by_hand')
    try {
      await withClient(db.url, async (c) => {
        const migrations = await new FileMigrationProvider(MIGRATIONS).getMigrations()
        const migrator = new Migrator({ client: c, provider: { source: MIGRATIONS, getMigrations: async () => migrations }, logSchema: 'factory_telemetry', lockWaitMs: 0 })
        expect((await migrator.up({ to: 0 })).error).toBeUndefined()
        const { jobs, error } = await registerStepwise(c, migrator, migrations)
        expect(error).toBeUndefined()
        expect(jobs.map((j) => `${j.kind} ${j.hypertable} ${j.registeredBy?.file}`).sort()).toEqual(
          HYPERTABLES.flatMap((t) => [`compression factory_telemetry.${t} 009_database_optimization.sql`, `retention factory_telemetry.${t} 009_database_optimization.sql`]).sort(),
        )
        await loadJobTemplates(c, { seed: 1 })
        await spreadOverWindows(c, jobs, ['factory_telemetry'])
        // What drop_chunks' definition predicts, by plain SQL, and what execute's count predicts.
        const expected = new Map<string, { rows: number; chunks: number }>()
        for (const t of HYPERTABLES) {
          const window = t === 'metric_hist' ? '90 days' : '365 days'
          const col = (await c.query(`SELECT column_name FROM timescaledb_information.dimensions WHERE hypertable_name = $1`, [t])).rows[0].column_name
          const r = await c.query(
            `WITH b AS (SELECT count(*)::int AS chunks, max(range_end) AS edge FROM timescaledb_information.chunks WHERE hypertable_name = $1 AND range_end <= now() - $2::interval)
             SELECT b.chunks, (SELECT count(*)::int FROM factory_telemetry.${t} WHERE ${col} < b.edge) AS rows FROM b`,
            [t, window],
          )
          expected.set(t, { rows: r.rows[0].rows, chunks: r.rows[0].chunks })
          expect(r.rows[0].chunks).toBeGreaterThan(0)
        }
        const predicted = await retentionImpact(c, declaredRetention(migrations), undefined)
        expect(Object.fromEntries(predicted.map((p) => [p.resolved!.split('.')[1], { rows: p.rows, chunks: p.chunks }]))).toEqual(Object.fromEntries(expected))
        const runs = await runJobsMeasured(c, await listJobs(c), ['factory_telemetry'], { exclude: ['factory_telemetry.migration_log'] })
        expect(runs.filter((r) => !r.ok || r.violations.length)).toEqual([])
        for (const r of runs.filter((x) => x.job.kind === 'retention')) {
          const e = r.effects.find((x) => x.table === r.job.hypertable)!
          const t = r.job.hypertable!.split('.')[1]!
          expect({ rows: e.rowsBefore - e.rowsAfter, chunks: e.chunksDropped }, t).toEqual(expected.get(t))
          // Nothing older than the cutoff is left in a chunk that lies entirely before it.
          const left = await c.query(`SELECT count(*)::int AS n FROM timescaledb_information.chunks WHERE hypertable_name = $1 AND range_end <= now() - $2::interval`, [t, String(r.job.config.drop_after)])
          expect(left.rows[0].n).toBe(0)
        }
        for (const r of runs.filter((x) => x.job.kind === 'compression')) {
          const e = r.effects.find((x) => x.table === r.job.hypertable)!
          expect(e.contentChanged).toBe(false)
          expect(e.chunksCompressed).toBeGreaterThan(0)
        }
      })
    } finally {
      await db.drop()
    }
  }, LONG)

  it('a migration registering a job whose procedure raises fails the stage, naming the job, the migration and the error', async (ctx) => {
    needs(ctx, engine, 'timescaledb', 'the jobs stage')
    const dir = copyDir(MIGRATIONS)
    write(dir, '010_broken_job.sql', BROKEN_010)
    write(dir, '010_broken_job.down.sql', BROKEN_010_DOWN)
    const r = await runVerify(engine, { dir, seed: 1 }, STAGES_USED)
    const s = stage(r, 'jobs')
    console.log(`[jobs on ${engine.name}, broken 010] ${s.summary}`)
    expect(s.verdict).toBe('failed')
    expect(s.summary).toMatch(
      /^1 of 13 jobs failed, 0 contradict their config: job \d+ \(custom job factory_telemetry\.refresh_shift_summary\(\), 010_broken_job\.sql\) failed: ERROR 42P01: shift summary source factory_telemetry\.shift_summary_src is missing/,
    )
    expect(s.error?.code).toBe('VALIDATION_FAILED')
    const details = s.details.join('\n')
    expect(details).toMatch(/^FAIL job \d+ custom job factory_telemetry\.refresh_shift_summary\(\) \[010_broken_job\.sql\]: source factory_telemetry\.shift_summary_src; every 01:00:00\n {2}CALL run_job\(\d+\) failed after \d+ ms: ERROR 42P01: shift summary source/m)
    // The other jobs still ran and are reported with their effect.
    expect(details.match(/^ok {3}job \d+ (retention|compression) policy on .* \[009_database_optimization\.sql\]/gm)).toHaveLength(12)
    expect(r.ok).toBe(false)
  }, LONG)
})
