/**
 * 008 brings existing rows into line itself (issue #11 item 4): on every engine present, a
 * database at version 7 holding one row of each kind that breaks a constraint 008 adds is migrated
 * to 8; every such row is in factory_telemetry.migration_quarantine (fixed or deleted, with the
 * whole row), the fixes are the declared ones, 008 run again changes nothing, and down to 7 puts
 * the deleted rows back.
 */
import type pg from 'pg'
import { beforeAll, describe, expect, it } from 'vitest'
import type { StartedEngine } from '../harness/engines/types.ts'
import { connect } from '../harness/runner/connect.ts'
import { FileMigrationProvider } from '../harness/runner/discover.ts'
import { Migrator } from '../harness/runner/migrator.ts'
import { MIGRATIONS } from './support/dirs.ts'
import { availableEngines, needs, useEngine } from './support/engines.ts'

const cases = await availableEngines()
const S = 'factory_telemetry'

async function breakingRows(c: pg.Client): Promise<void> {
  const one = async (sql: string, params: unknown[] = []) => (await c.query(sql, params)).rows[0]?.id as string
  const line = await one(`INSERT INTO ${S}.production_lines (line_code, name) VALUES ('L1', 'Line 1') RETURNING id`)
  await c.query(`INSERT INTO ${S}.fault_event (equipment_code, bit_index, ts_on, ts_off) VALUES ('EQ1', 2000, '2026-01-01', NULL), ('EQ1', 5, '2026-01-02 10:00', '2026-01-02 09:00')`)
  await c.query(`INSERT INTO ${S}.fault_active (equipment_code, bit_index, since_ts) VALUES ('EQ1', 4000, '2026-01-01')`)
  await c.query(`INSERT INTO ${S}.downtime_events (line_id, equipment_code, start_time, end_time, reason_code, category) VALUES ($1, 'EQ1', '2026-01-03 10:00', '2026-01-03 09:00', 'JAM', 'unplanned')`, [line])
  await c.query(`INSERT INTO ${S}.oee_calculations (line_id, equipment_code, calculation_time, good_parts, total_parts) VALUES ($1, 'EQ1', '2026-01-03', 12, 10)`, [line])
  const def = await one(`INSERT INTO ${S}.metric_def (equipment_code, metric_key, value_type, description) VALUES ('EQ1', 'speed', 'REAL', 'speed') RETURNING id`)
  const older = await one(`INSERT INTO ${S}.users (id, username, email) VALUES ('00000000-0000-4000-8000-000000000001', 'ann', 'Ann@Example.com') RETURNING id`)
  await c.query(`INSERT INTO ${S}.users (id, username, email) VALUES ('00000000-0000-4000-8000-000000000002', 'ann2', 'ann@example.com')`)
  const product = await one(`INSERT INTO ${S}.product_types (product_code, name) VALUES ('P1', 'Part') RETURNING id`)
  const schedule = await one(`INSERT INTO ${S}.production_schedules (line_id, product_type_id, scheduled_start, scheduled_end, target_quantity) VALUES ($1, $2, '2026-01-04', '2026-01-05', 10) RETURNING id`, [line, product])
  await c.query(`INSERT INTO ${S}.job_assignments (schedule_id, user_id, started_at, completed_at) VALUES ($1, $2, '2026-01-04 10:00', '2026-01-04 09:00')`, [schedule, older])
  await c.query(`INSERT INTO ${S}.context (equipment_code, production_line_id, current_job_id) VALUES ('EQ9', gen_random_uuid(), gen_random_uuid())`)
  const conn = await one(`INSERT INTO ${S}.plc_connections (name, ip_address, plc_type) VALUES ('PLC 1', '10.0.0.1', 'LOGIX') RETURNING id`)
  await c.query(`INSERT INTO ${S}.plc_tags (id, connection_id, tag_name, address, data_type) VALUES ('00000000-0000-4000-8000-0000000000a1', $1, 'speed', 'N7:0', 'REAL'), ('00000000-0000-4000-8000-0000000000a2', $1, 'speed_copy', 'N7:0', 'REAL')`, [conn])
  await c.query(`INSERT INTO ${S}.metric_binding (metric_def_id, plc_kind, address, scale_factor, plc_tag_id) VALUES ($1, 'LOGIX', 'Speed', 0, '00000000-0000-4000-8000-0000000000a2')`, [def])
}

describe.each(cases)('008 on the $name engine', (c) => {
  const started = useEngine(c)
  let engine: StartedEngine
  beforeAll(() => {
    engine = started()
  })

  it('quarantines and fixes or deletes every existing row that breaks its constraints; a re-run changes nothing; down puts deleted rows back', async (ctx) => {
    needs(ctx, engine, 'timescaledb', '008 on a TimescaleDB database')
    const db = await engine.createDatabase('quarantine')
    const client = await connect(db.url)
    try {
      const migrator = new Migrator({ client, provider: new FileMigrationProvider(MIGRATIONS), logSchema: S, lockWaitMs: 0 })
      const to = async (v: number, dir: 'up' | 'down' = 'up') => {
        const r = dir === 'up' ? await migrator.up({ to: v }) : await migrator.down({ to: v })
        if (r.error) throw r.error
      }
      await to(7)
      await breakingRows(client)
      await to(8)
      const q = async () => (await client.query(`SELECT source_table, action, count(*)::int AS n FROM ${S}.migration_quarantine GROUP BY 1, 2 ORDER BY 1, 2`)).rows.map((r) => `${r.source_table} ${r.action} ${r.n}`)
      const quarantined = await q()
      expect(quarantined).toEqual([
        `${S}.context fixed 1`,
        `${S}.downtime_events fixed 1`,
        `${S}.fault_active deleted 1`,
        `${S}.fault_event deleted 1`,
        `${S}.fault_event fixed 1`,
        `${S}.job_assignments fixed 1`,
        `${S}.metric_binding fixed 1`,
        `${S}.oee_calculations fixed 1`,
        `${S}.plc_tags deleted 1`,
        `${S}.users fixed 1`,
      ])
      const v = async (sql: string) => Object.values((await client.query(sql)).rows[0] ?? {})
      expect(await v(`SELECT count(*)::int FROM ${S}.fault_event WHERE bit_index = 2000`)).toEqual([0])
      expect(await v(`SELECT ts_off = ts_on FROM ${S}.fault_event WHERE bit_index = 5`)).toEqual([true])
      expect(await v(`SELECT end_time = start_time FROM ${S}.downtime_events`)).toEqual([true])
      expect(await v(`SELECT good_parts, total_parts FROM ${S}.oee_calculations`)).toEqual([10, 10])
      expect(await v(`SELECT completed_at = started_at FROM ${S}.job_assignments`)).toEqual([true])
      expect(await v(`SELECT scale_factor, plc_tag_id::text FROM ${S}.metric_binding`)).toEqual([1, '00000000-0000-4000-8000-0000000000a1'])
      expect(await v(`SELECT production_line_id, current_job_id FROM ${S}.context WHERE equipment_code = 'EQ9'`)).toEqual([null, null])
      expect((await client.query(`SELECT username, email FROM ${S}.users ORDER BY id`)).rows).toEqual([{ username: 'ann', email: 'Ann@Example.com' }, { username: 'ann2', email: null }])
      expect(await v(`SELECT row_data->>'address' FROM ${S}.migration_quarantine WHERE source_table = '${S}.plc_tags'`)).toEqual(['N7:0'])
      // Idempotent: the file again finds nothing to fix.
      await client.query('BEGIN')
      for (const s of (await new FileMigrationProvider(MIGRATIONS).getMigrations())[7]!.up.statements) await client.query(s.text)
      await client.query('COMMIT')
      expect(await q()).toEqual(quarantined)
      // Down to 7: the deleted rows come back, the quarantine goes.
      await to(7, 'down')
      expect(await v(`SELECT count(*)::int FROM ${S}.fault_event WHERE bit_index = 2000`)).toEqual([1])
      expect(await v(`SELECT count(*)::int FROM ${S}.fault_active WHERE bit_index = 4000`)).toEqual([1])
      expect(await v(`SELECT count(*)::int FROM ${S}.plc_tags`)).toEqual([2])
      expect(await v(`SELECT to_regclass('${S}.migration_quarantine') IS NULL`)).toEqual([true])
    } finally {
      await client.end()
      await db.drop()
    }
  }, 300_000)
})
