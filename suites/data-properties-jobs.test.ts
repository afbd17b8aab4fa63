/**
 * The data-properties stage runs the jobs the migrations register after every migrated dataset
 * (CALL run_job: nothing runs by itself) and checks the rows again: a row a retention policy
 * explains (its hypertable has the policy, its time value is older than now() - drop_after) is a
 * declared effect, counted per policy in the summary; a row a job deletes without such an
 * explanation is still caught, with the reason. On every TimescaleDB engine available here.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { StartedEngine } from '../harness/engines/types.ts'
import { runVerify, STAGES, type StageResult, type VerifyOptions } from '../harness/verify/pipeline.ts'
import { emptyDir, write } from './support/dirs.ts'
import { engineCases, needs } from './support/engines.ts'

const LONG = 600_000
const STAGES_USED = STAGES.filter((s) => s.id === 'replay' || s.id === 'data-properties')
const cases = (await engineCases()).filter((c) => c.available)

/** A migration directory of our own (schema "app", TimescaleDB with its policies required). */
function migrationSet(files: Record<string, string>): string {
  const dir = emptyDir()
  for (const [name, sql] of Object.entries(files)) write(dir, name, sql)
  write(dir, 'manifest.json', JSON.stringify({ schema: 'app', requirements: { extensions: { timescaledb: { minVersion: '2.11', license: 'timescale' } } } }, null, 2))
  return dir
}

const BASE = {
  '001_readings.sql': `CREATE TABLE IF NOT EXISTS app.sensors (
  id   integer PRIMARY KEY,
  name text NOT NULL
);
CREATE TABLE IF NOT EXISTS app.readings (
  sensor_id integer NOT NULL,
  ts        timestamptz NOT NULL,
  value     double precision,
  PRIMARY KEY (sensor_id, ts)
);
SELECT create_hypertable('app.readings', 'ts', chunk_time_interval => INTERVAL '1 day', if_not_exists => TRUE);
`,
  '001_readings.down.sql': 'DROP TABLE IF EXISTS app.readings;\nDROP TABLE IF EXISTS app.sensors;\n',
}
const retention = (window: string) => ({
  '002_retention.sql': `SELECT add_retention_policy('app.readings', drop_after => INTERVAL '${window}', if_not_exists => TRUE);\n`,
  '002_retention.down.sql': `SELECT remove_retention_policy('app.readings', if_exists => TRUE);\n`,
})
/** A custom job that deletes every row of a table: no retention policy declares that. */
const purge = (table: string) => ({
  '003_purge.sql': `CREATE OR REPLACE PROCEDURE app.purge(job_id INT, config JSONB)
LANGUAGE plpgsql
AS $$
BEGIN
  DELETE FROM ${table};
END
$$;
SELECT add_job('app.purge', '1 day');
`,
  '003_purge.down.sql': `SELECT delete_job(job_id) FROM timescaledb_information.jobs WHERE proc_name = 'purge';\nDROP PROCEDURE IF EXISTS app.purge(INT, JSONB);\n`,
})

describe.each(cases)('data properties with the registered jobs run, on the $name engine', ({ provider }) => {
  let engine: StartedEngine
  let reports: string
  beforeAll(async () => {
    engine = await provider.start({ log: () => {} })
    reports = emptyDir()
  }, LONG)
  afterAll(async () => {
    await engine?.stop()
  })

  const stageOf = async (dir: string, options: Partial<VerifyOptions> = {}): Promise<StageResult> => {
    const r = await runVerify(engine, { dir, reportsDir: reports, ...options }, STAGES_USED)
    const replay = r.stages.find((s) => s.id === 'replay')!
    expect(replay.verdict, `${replay.summary}\n${replay.details.join('\n')}`).toBe('passed')
    return r.stages.find((s) => s.id === 'data-properties')!
  }

  it('rows a retention policy explains are declared effects, counted per policy in the summary', async (ctx) => {
    needs(ctx, engine, 'timescaledb', 'data properties with jobs')
    // The generator's hypertable rows lie around 2024-01-15: all older than now() - 30 days.
    const s = await stageOf(migrationSet({ ...BASE, ...retention('30 days') }), { seed: 11, runs: 4 })
    console.log(`[data-properties+jobs on ${engine.name}] ${s.summary}`)
    expect(s.verdict, `${s.summary}\n${s.details.join('\n')}`).toBe('passed')
    const m = /then the registered job ran \(CALL run_job\): (\d+) generated rows? removed as declared by retention policies \(002_retention: readings (\d+)\), nothing else lost or changed$/.exec(s.summary)
    expect(m, s.summary).not.toBeNull()
    expect(Number(m![1])).toBeGreaterThan(0)
    expect(m![2]).toBe(m![1])
    expect(s.details).toContain(`declared by a retention policy: ${m![1]} generated row(s) removed by the retention policy on app.readings (002_retention, drop_after 30 days) (time value older than now() - drop_after)`)
    expect(s.details.join('\n')).toMatch(/^registered jobs run after every migrated dataset \(CALL run_job, id order\), then the rows checked again: retention policy on app\.readings \[002_retention\.sql\]$/m)
    // Deterministic: the same seed removes the same rows.
    const again = await stageOf(migrationSet({ ...BASE, ...retention('30 days') }), { seed: 11, runs: 4 })
    expect(again.summary.replace(/\([\d.]+ s\)/, '')).toBe(s.summary.replace(/\([\d.]+ s\)/, ''))
  }, LONG)

  it('a job deleting rows of a table without a retention policy is still a loss, with the reason', async (ctx) => {
    needs(ctx, engine, 'timescaledb', 'data properties with jobs')
    const s = await stageOf(migrationSet({ ...BASE, ...retention('30 days'), ...purge('app.sensors') }), { seed: 11, runs: 4 })
    console.log(`[data-properties+jobs on ${engine.name}, purge of app.sensors] ${s.summary}`)
    expect(s.verdict).toBe('failed')
    expect(s.summary).toMatch(
      /^data property failed from version \d \(\S+\): app\.sensors: the row with primary key \(id\) = \("-?\d+"\) is gone after the registered jobs ran \(CALL run_job\); no retention policy is registered on app\.sensors, so no job may delete its rows — seed 11, shrunk to 1 row\(s\)/,
    )
    const file = /replay: (\S+\.sql)/.exec(s.details.join('\n'))![1]!
    const { readFileSync } = await import('node:fs')
    expect(readFileSync(file, 'utf8')).toMatch(/3b\. the registered jobs, in id order: {2}SELECT format\('CALL run_job\(%s\);', job_id\)/)
  }, LONG)

  it('a job deleting hypertable rows newer than now() - drop_after is still a loss, naming the cutoff', async (ctx) => {
    needs(ctx, engine, 'timescaledb', 'data properties with jobs')
    // The policy keeps ten years; the custom job deletes every reading anyway.
    const s = await stageOf(migrationSet({ ...BASE, ...retention('3650 days'), ...purge('app.readings') }), { seed: 11, runs: 4 })
    console.log(`[data-properties+jobs on ${engine.name}, purge of app.readings] ${s.summary}`)
    expect(s.verdict).toBe('failed')
    expect(s.summary).toMatch(
      /^data property failed from version \d \(\S+\): app\.readings: the row with primary key \(sensor_id, ts\) = \("-?\d+", "[^"]+"\) is gone after the registered jobs ran \(CALL run_job\); its ts "[^"]+" is not older than now\(\) - 3650 days \([^,]+, 002_retention\.sql\), so no retention policy explains it — seed 11/,
    )
  }, LONG)
})
