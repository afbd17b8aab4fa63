/**
 * The schema fingerprint on every engine present (support/engines.ts):
 * two fresh databases given the same DDL in different orders fingerprint the same (even with
 * different rows, chunks, hypertable ids and job ids); each kind of schema change makes the
 * fingerprints differ and the diff names the object; a database without TimescaleDB works.
 */
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { StartedEngine } from '../harness/engines/types.ts'
import { diffSnapshots, fingerprintHash, PackedSnapshots, snapshot, type SchemaSnapshot } from '../harness/validation/fingerprint/index.ts'
import { availableEngines } from './support/engines.ts'
import { catalogMark, catalogUnchanged, dataMark, rowsUnchanged } from '../harness/catalog/marks.ts'

const S = ['fp', 'fp_other']

/**
 * Independent groups of DDL. Statements inside a group run in order; groups run in any order
 * as long as `after` is respected. Database A runs them as listed, B in the order of ORDER_B.
 */
const GROUPS: Record<string, { after?: string[]; sql: string[] }> = {
  schemas: { sql: ['CREATE SCHEMA fp', 'CREATE SCHEMA fp_other'] },
  enum: { after: ['schemas'], sql: [`CREATE TYPE fp.status AS ENUM ('new', 'done')`] },
  domain: { after: ['schemas'], sql: [`CREATE DOMAIN fp.ratio AS numeric(5,4) CHECK (VALUE BETWEEN 0 AND 1)`] },
  lines: {
    after: ['schemas', 'enum', 'domain'],
    sql: [
      `CREATE TABLE fp.lines (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), code text NOT NULL UNIQUE,
         status fp.status NOT NULL DEFAULT 'new', target fp.ratio, created_at timestamptz NOT NULL DEFAULT now())`,
      `CREATE INDEX idx_lines_status ON fp.lines (status) WHERE status = 'new'`,
      `COMMENT ON TABLE fp.lines IS 'production lines'`,
    ],
  },
  log: {
    after: ['schemas'],
    sql: [`CREATE TABLE fp.log (id serial PRIMARY KEY, name varchar(255) UNIQUE NOT NULL, applied_at timestamptz DEFAULT now())`],
  },
  seq: { after: ['schemas'], sql: ['CREATE SEQUENCE fp_other.counter INCREMENT 5 START 10'] },
  hist: {
    after: ['lines'],
    sql: [
      `CREATE TABLE fp.hist (line_id uuid NOT NULL REFERENCES fp.lines (id), ts timestamptz NOT NULL, v double precision,
         PRIMARY KEY (line_id, ts))`,
      `SELECT create_hypertable('fp.hist', 'ts', chunk_time_interval => INTERVAL '1 day', if_not_exists => TRUE)`,
      `ALTER TABLE fp.hist SET (timescaledb.compress, timescaledb.compress_segmentby = 'line_id', timescaledb.compress_orderby = 'ts DESC')`,
      `SELECT add_compression_policy('fp.hist', INTERVAL '7 days', if_not_exists => TRUE)`,
      `SELECT add_retention_policy('fp.hist', INTERVAL '90 days', if_not_exists => TRUE)`,
    ],
  },
  energy: {
    after: ['schemas'],
    sql: [
      `CREATE TABLE fp_other.energy (meter text NOT NULL, ts timestamptz NOT NULL, kwh double precision)`,
      `SELECT create_hypertable('fp_other.energy', 'ts', chunk_time_interval => INTERVAL '7 days', if_not_exists => TRUE)`,
      `SELECT add_retention_policy('fp_other.energy', INTERVAL '365 days', if_not_exists => TRUE)`,
    ],
  },
  fn: {
    after: ['schemas'],
    sql: [
      `CREATE FUNCTION fp.oee(a numeric, p numeric, q numeric) RETURNS numeric LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT round(a * p * q, 4) $$`,
      `CREATE FUNCTION fp.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.created_at := now(); RETURN NEW; END $$`,
    ],
  },
  trigger: { after: ['lines', 'fn'], sql: ['CREATE TRIGGER trg_lines_touch BEFORE UPDATE ON fp.lines FOR EACH ROW EXECUTE FUNCTION fp.touch()'] },
  view: {
    after: ['hist', 'fn'],
    sql: [
      `CREATE VIEW fp.v_daily AS SELECT line_id, time_bucket(INTERVAL '1 day', ts) AS day, avg(v) AS avg_v, fp.oee(1, 1, 1) AS k
         FROM fp.hist GROUP BY line_id, time_bucket(INTERVAL '1 day', ts)`,
    ],
  },
  matview: { after: ['lines'], sql: ['CREATE MATERIALIZED VIEW fp.mv_codes AS SELECT code FROM fp.lines WITH NO DATA'] },
}
// A valid order different from the declaration order: hypertables swapped, so their ids (and the
// ids in their jobs' configs) differ between the two databases.
const ORDER_B = ['schemas', 'seq', 'energy', 'fn', 'log', 'domain', 'enum', 'lines', 'matview', 'trigger', 'hist', 'view']

const cases = await availableEngines()

describe.each(cases)('fingerprint on the $name engine', (ec) => {
  let engine: StartedEngine
  let a: pg.Client
  let b: pg.Client

  async function connect(label: string, timescale = true): Promise<pg.Client> {
    const db = await engine.createDatabase(label)
    const c = new pg.Client({ connectionString: db.url })
    await c.connect()
    if (timescale) await c.query('CREATE EXTENSION IF NOT EXISTS timescaledb')
    return c
  }

  async function runGroups(c: pg.Client, order: string[]) {
    const done = new Set<string>()
    for (const g of order) {
      const group = GROUPS[g]!
      for (const dep of group.after ?? []) if (!done.has(dep)) throw new Error(`test bug: ${g} runs before ${dep}`)
      for (const sql of group.sql) await c.query(sql)
      done.add(g)
    }
  }

  const snap = (c: pg.Client): Promise<SchemaSnapshot> => snapshot(c, S)

  beforeAll(async () => {
    engine = await ec.provider.start({ log: () => {} })
    a = await connect('fp_a')
    b = await connect('fp_b')
    expect([...ORDER_B].sort()).toEqual(Object.keys(GROUPS).sort())
    await runGroups(a, Object.keys(GROUPS))
    await runGroups(b, ORDER_B)
  }, 120_000)

  afterAll(async () => {
    await a?.end().catch(() => {})
    await b?.end().catch(() => {})
    await engine?.stop()
  })

  describe('catalog marks: no committed catalog write since the mark ⇒ the same fingerprint, without taking one', () => {
    it('a rolled-back DDL and a data write leave the catalog unchanged; a committed create, drop, comment or alter does not', async () => {
      const before = await snap(a)
      const mark = await catalogMark(a)
      await a.query('BEGIN')
      await a.query('CREATE TABLE fp.scratch (x int)')
      await a.query('ALTER TABLE fp.lines ADD COLUMN scratch int')
      await a.query('ROLLBACK')
      await a.query(`INSERT INTO fp.lines (code) VALUES ('mark-test')`)
      expect(await catalogUnchanged(a, mark)).toBe(true)
      expect(diffSnapshots(before, await snap(a))).toEqual([])
      for (const [ddl, undo] of [
        ['CREATE TABLE fp.scratch (x int)', 'DROP TABLE fp.scratch'],
        [`COMMENT ON TABLE fp.lines IS 'changed'`, `COMMENT ON TABLE fp.lines IS 'production lines'`],
        ['ALTER TABLE fp.lines ALTER COLUMN code SET DEFAULT \'x\'', 'ALTER TABLE fp.lines ALTER COLUMN code DROP DEFAULT'],
      ]) {
        const m = await catalogMark(a)
        await a.query(ddl!)
        expect(await catalogUnchanged(a, m), ddl).toBe(false)
        const m2 = await catalogMark(a)
        await a.query(undo!)
        expect(await catalogUnchanged(a, m2), undo).toBe(false)
      }
      await a.query(`DELETE FROM fp.lines WHERE code = 'mark-test'`)
      expect(diffSnapshots(before, await snap(a))).toEqual([])
    })

    it('the same mark over rows: a rolled-back write leaves them unchanged; a committed insert, update or delete does not', async () => {
      await a.query(`INSERT INTO fp.lines (code) VALUES ('rows-1'), ('rows-2')`)
      let m = await dataMark(a, ['fp.lines'])
      await a.query('BEGIN')
      await a.query(`UPDATE fp.lines SET code = code || '!'`)
      await a.query(`DELETE FROM fp.lines WHERE code LIKE 'rows-%'`)
      await a.query('ROLLBACK')
      expect(await rowsUnchanged(a, m)).toBe(true)
      for (const write of [`INSERT INTO fp.lines (code) VALUES ('rows-3')`, `UPDATE fp.lines SET code = 'rows-4' WHERE code = 'rows-3'`, `DELETE FROM fp.lines WHERE code = 'rows-4'`]) {
        m = await dataMark(a, ['fp.lines'])
        await a.query(write)
        expect(await rowsUnchanged(a, m), write).toBe(false)
      }
      await a.query(`DELETE FROM fp.lines WHERE code LIKE 'rows-%'`)
    })
  })

  describe('recorded fingerprints kept packed', () => {
    it('give back an equal snapshot (same hash, no difference), in a fraction of the bytes', async () => {
      const s = await snap(a)
      const store = new PackedSnapshots()
      store.set(3, s)
      expect(store.size).toBe(1)
      expect(store.get(4)).toBeUndefined()
      const back = store.get(3)!
      expect(fingerprintHash(back)).toBe(fingerprintHash(s))
      expect(diffSnapshots(s, back)).toEqual([])
      expect(store.bytes()).toBeLessThan(JSON.stringify(s).length / 3)
    })
  })

  describe('fingerprint: same schema, different creation order', () => {
    it('gives byte-identical JSON and the same hash', async () => {
      const [sa, sb] = [await snap(a), await snap(b)]
      expect(diffSnapshots(sa, sb)).toEqual([])
      expect(JSON.stringify(sb)).toBe(JSON.stringify(sa))
      expect(fingerprintHash(sb)).toBe(fingerprintHash(sa))
      expect(fingerprintHash(sa)).toMatch(/^[0-9a-f]{64}$/)
      // The snapshot really saw the objects (not two empty snapshots).
      expect(sa.tables.map((t) => t.name)).toEqual(['fp.hist', 'fp.lines', 'fp.log', 'fp_other.energy'])
      expect(sa.views.map((v) => `${v.kind} ${v.name}`)).toEqual(['materialized view fp.mv_codes', 'view fp.v_daily'])
      expect(sa.functions.map((f) => f.name)).toEqual(['fp.oee(a numeric, p numeric, q numeric)', 'fp.touch()'])
      expect(sa.types.map((t) => `${t.kind} ${t.name}`)).toEqual(['domain fp.ratio', 'enum fp.status'])
      expect(sa.sequences.map((q) => q.name)).toEqual(['fp.log_id_seq', 'fp_other.counter'])
      expect(sa.triggers.map((t) => t.name)).toContain('fp.lines.trg_lines_touch')
      expect(sa.hypertables.map((h) => [h.name, h.dimensions[0]?.timeInterval, h.compressionEnabled])).toEqual([
        ['fp.hist', '1 day', true],
        ['fp_other.energy', '7 days', false],
      ])
      expect(sa.compression).toEqual([{ name: 'fp.hist', segmentBy: ['line_id'], orderBy: ['ts DESC NULLS FIRST'] }])
      expect(sa.jobs.map((j) => [j.name, j.config])).toEqual([
        ['fp.hist policy_compression', { compress_after: '7 days' }],
        ['fp.hist policy_retention', { drop_after: '90 days' }],
        ['fp_other.energy policy_retention', { drop_after: '365 days' }],
      ])
      // The hypertable ids really do differ between the two databases (so leaving them out matters).
      const ids = async (c: pg.Client) =>
        (await c.query(`SELECT id FROM _timescaledb_catalog.hypertable WHERE table_name = 'hist'`)).rows[0]?.id
      expect(await ids(a)).not.toBe(await ids(b))
    })

    it('ignores rows, sequence values, chunks and compressed chunks', async () => {
      const before = fingerprintHash(await snap(a))
      await a.query(`INSERT INTO fp.log (name) VALUES ('001'), ('002')`)
      await a.query(`SELECT nextval('fp_other.counter')`)
      await a.query(`INSERT INTO fp.lines (code) VALUES ('L1')`)
      await a.query(
        `INSERT INTO fp.hist (line_id, ts, v) SELECT id, now() - g * INTERVAL '12 hours', g FROM fp.lines, generate_series(1, 40) g`,
      )
      await a.query(`SELECT compress_chunk(c) FROM show_chunks('fp.hist', older_than => INTERVAL '7 days') c`)
      await a.query(`REFRESH MATERIALIZED VIEW fp.mv_codes`)
      const chunks = await a.query(`SELECT count(*)::int AS n FROM timescaledb_information.chunks WHERE is_compressed`)
      expect(chunks.rows[0].n).toBeGreaterThan(0)
      expect(fingerprintHash(await snap(a))).toBe(before)
      expect(diffSnapshots(await snap(a), await snap(b))).toEqual([])
    })

    it('does not depend on the session search_path, and leaves it alone', async () => {
      // (Not RESET afterwards: the embedded engine's reset value of search_path is pg_catalog.)
      const initial = (await b.query('SHOW search_path')).rows[0].search_path as string
      await b.query(`SET search_path = fp, public`)
      try {
        const s = await snap(b)
        expect((await b.query('SHOW search_path')).rows[0].search_path).toBe('fp, public')
        expect(fingerprintHash(s)).toBe(fingerprintHash(await snap(a)))
      } finally {
        await b.query(`SELECT set_config('search_path', $1, false)`, [initial])
      }
    })

    it('works inside a transaction and leaves it usable', async () => {
      await b.query('BEGIN')
      try {
        await b.query('CREATE TABLE fp.in_tx (id int)')
        const s = await snap(b)
        expect(s.tables.map((t) => t.name)).toContain('fp.in_tx')
        expect((await b.query('SELECT count(*)::int AS n FROM fp.in_tx')).rows[0].n).toBe(0)
      } finally {
        await b.query('ROLLBACK')
      }
      expect(fingerprintHash(await snap(b))).toBe(fingerprintHash(await snap(a)))
    })
  })

  describe('fingerprint: a change makes it differ and the diff names the object', () => {
    /** Applies `change` to B, expects a different hash and a diff line matching `line`, then `revert`s and expects equality again. */
    async function expectDetected(change: string[], line: RegExp, revert: string[]) {
      const base = await snap(a)
      for (const sql of change) await b.query(sql)
      const changed = await snap(b)
      const diff = diffSnapshots(base, changed)
      expect(fingerprintHash(changed)).not.toBe(fingerprintHash(base))
      expect(diff.some((l) => line.test(l)), `diff was:\n${diff.join('\n')}`).toBe(true)
      for (const sql of revert) await b.query(sql)
      expect(diffSnapshots(base, await snap(b))).toEqual([])
    }

    it('an added index', () =>
      expectDetected(['CREATE INDEX idx_x ON fp.lines (created_at)'], /^\+ index fp\.idx_x: CREATE INDEX idx_x ON fp\.lines/, [
        'DROP INDEX fp.idx_x',
      ]))

    it('a changed column default', () =>
      expectDetected(
        [`ALTER TABLE fp.lines ALTER COLUMN status SET DEFAULT 'done'`],
        /^~ column fp\.lines\.status: .*DEFAULT 'new'::fp\.status → .*DEFAULT 'done'::fp\.status$/,
        [`ALTER TABLE fp.lines ALTER COLUMN status SET DEFAULT 'new'`],
      ))

    it('a changed view', () =>
      expectDetected(
        [
          `CREATE OR REPLACE VIEW fp.v_daily AS SELECT line_id, time_bucket(INTERVAL '1 day', ts) AS day, max(v) AS avg_v, fp.oee(1, 1, 1) AS k
             FROM fp.hist GROUP BY line_id, time_bucket(INTERVAL '1 day', ts)`,
        ],
        /^~ view fp\.v_daily: .*avg\(.* → .*max\(/,
        [
          `CREATE OR REPLACE VIEW fp.v_daily AS SELECT line_id, time_bucket(INTERVAL '1 day', ts) AS day, avg(v) AS avg_v, fp.oee(1, 1, 1) AS k
             FROM fp.hist GROUP BY line_id, time_bucket(INTERVAL '1 day', ts)`,
        ],
      ))

    it('a changed function body', () =>
      expectDetected(
        [`CREATE OR REPLACE FUNCTION fp.oee(a numeric, p numeric, q numeric) RETURNS numeric LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT round(a * p * q, 3) $$`],
        /^~ function fp\.oee\(a numeric, p numeric, q numeric\): .*round\(a \* p \* q, 4\).* → .*round\(a \* p \* q, 3\)/,
        [`CREATE OR REPLACE FUNCTION fp.oee(a numeric, p numeric, q numeric) RETURNS numeric LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT round(a * p * q, 4) $$`],
      ))

    it('a dropped column, and a column re-added at another position', async () => {
      const base = await snap(a)
      await b.query('ALTER TABLE fp.lines DROP COLUMN target')
      expect(diffSnapshots(base, await snap(b))).toContain('- column fp.lines.target fp.ratio')
      await b.query('ALTER TABLE fp.lines ADD COLUMN target fp.ratio')
      const diff = diffSnapshots(base, await snap(b))
      expect(diff).toEqual(['~ column order fp.lines: id, code, status, target, created_at → id, code, status, created_at, target'])
      // Put it back where it was, as a migration's down file would have to.
      await b.query('ALTER TABLE fp.lines DROP COLUMN created_at')
      await b.query('ALTER TABLE fp.lines ADD COLUMN created_at timestamptz NOT NULL DEFAULT now()')
      expect(diffSnapshots(base, await snap(b))).toEqual([])
    })

    it('a constraint, a trigger and a table comment', async () => {
      await expectDetected(
        ['ALTER TABLE fp.lines ADD CONSTRAINT chk_code CHECK (length(code) > 0)'],
        /^\+ constraint fp\.lines\.chk_code: CHECK CHECK \(length\(code\) > 0\)$/,
        ['ALTER TABLE fp.lines DROP CONSTRAINT chk_code'],
      )
      await expectDetected(['DROP TRIGGER trg_lines_touch ON fp.lines'], /^- trigger fp\.lines\.trg_lines_touch: CREATE TRIGGER/, [
        'CREATE TRIGGER trg_lines_touch BEFORE UPDATE ON fp.lines FOR EACH ROW EXECUTE FUNCTION fp.touch()',
      ])
      await expectDetected([`COMMENT ON TABLE fp.lines IS 'lines'`], /^~ table fp\.lines: .*"production lines".* → .*"lines"/, [
        `COMMENT ON TABLE fp.lines IS 'production lines'`,
      ])
    })

    it('TimescaleDB: a policy, compression settings and the chunk interval', async () => {
      await expectDetected(
        [`SELECT remove_retention_policy('fp.hist')`],
        /^- job fp\.hist policy_retention: policy_retention every .* config \{"drop_after":"90 days"\}$/,
        [`SELECT add_retention_policy('fp.hist', INTERVAL '90 days')`],
      )
      await expectDetected(
        [`ALTER TABLE fp_other.energy SET (timescaledb.compress, timescaledb.compress_segmentby = 'meter')`],
        /^\+ compression fp_other\.energy: segmentby \[meter\]/,
        [`ALTER TABLE fp_other.energy SET (timescaledb.compress = false)`],
      )
      await expectDetected(
        [`SELECT set_chunk_time_interval('fp_other.energy', INTERVAL '1 day')`],
        /^~ hypertable fp_other\.energy: Time ts \(timestamp with time zone\) interval 7 days → .*interval 1 day$/,
        [`SELECT set_chunk_time_interval('fp_other.energy', INTERVAL '7 days')`],
      )
    })

    it('a new table in a schema that is snapshotted, but not one outside', async () => {
      await b.query('CREATE TABLE public.elsewhere (id int)')
      expect(diffSnapshots(await snap(a), await snap(b))).toEqual([])
      await b.query('DROP TABLE public.elsewhere')
      await expectDetected(['CREATE TABLE fp_other.t (id int)'], /^\+ table fp_other\.t: table$/, ['DROP TABLE fp_other.t'])
    })
  })

  describe('fingerprint without TimescaleDB', () => {
    it('snapshots a database where the extension is not installed', async () => {
      const c = await connect('fp_plain', false)
      try {
        expect((await c.query(`SELECT count(*)::int AS n FROM pg_extension WHERE extname = 'timescaledb'`)).rows[0].n).toBe(0)
        await c.query(`CREATE SCHEMA fp; CREATE TABLE fp.t (id serial PRIMARY KEY, v text DEFAULT 'x')`)
        const s = await snapshot(c, ['fp', '_timescaledb_catalog'])
        expect(s.schemas).toEqual(['fp'])
        expect(s.tables.map((t) => t.name)).toEqual(['fp.t'])
        expect(s.tables[0]!.columns.map((col) => [col.name, col.type, col.default])).toEqual([
          ['id', 'integer', `nextval('fp.t_id_seq'::regclass)`],
          ['v', 'text', `'x'::text`],
        ])
        expect([s.hypertables, s.compression, s.jobs]).toEqual([[], [], []])
      } finally {
        await c.end()
      }
    }, 60_000)
  })
})
