/**
 * The data-properties stage on every engine present (support/engines.ts), shown able to fail,
 * with a shrunk example and a replayable file, on small foreign migration sets: a NOT NULL column
 * without a default, a dropped column, an undeclared backfill. The same seed gives the same
 * datasets. Its pass on the nine MS5.0 migrations (generated datasets carried through every
 * upgrade step keep their rows and values; 008's declared data changes listed) is asserted on
 * every engine by suites/verify.test.ts's full run, which runs this very stage on them (seed
 * 20261122); it is not run a second time here.
 */
import { existsSync, readFileSync } from 'node:fs'
import type pg from 'pg'
import { beforeAll, describe, expect, it } from 'vitest'
import type { StartedEngine } from '../harness/engines/types.ts'
import { connect } from '../harness/runner/connect.ts'
import { FileMigrationProvider } from '../harness/runner/discover.ts'
import { Migrator } from '../harness/runner/migrator.ts'
import { runVerify, STAGES, type StageResult, type VerifyOptions } from '../harness/verify/pipeline.ts'
import type { HarnessError } from '../harness/errors.ts'
import { loadManifest } from '../harness/manifest/manifest.ts'
import type { VerifyContext } from '../harness/verify/stage.ts'
import { dataProperties } from '../harness/verify/stages/data-properties.ts'
import { emptyDir, write } from './support/dirs.ts'
import { availableEngines, depthOn, useEngine } from './support/engines.ts'

const STAGES_USED = STAGES.filter((s) => s.id === 'replay' || s.id === 'data-properties')
// The generator, the checks and the shrinking are the same code on every server: the slower cases
// run on the embedded engine (PostgreSQL 17, one session, stages one after another) and on native
// (PostgreSQL 15 with concurrent sessions); the container engine's server is native's, and what is
// its own (a connection lost in the middle) keeps running there.
const SERVERS_ONCE = ['embedded', 'native']

/** A migration directory of our own: files by name, plus manifest.json (schema "app"). */
function migrationSet(files: Record<string, string>, migrations: Record<string, unknown> = {}): string {
  const dir = emptyDir()
  for (const [name, sql] of Object.entries(files)) write(dir, name, sql)
  write(dir, 'manifest.json', JSON.stringify({ schema: 'app', migrations }, null, 2))
  return dir
}

const ITEMS = {
  '001_items.sql': `CREATE TABLE IF NOT EXISTS app.items (
  id      integer PRIMARY KEY,
  name    text NOT NULL,
  note    varchar(20),
  qty     smallint CHECK (qty BETWEEN 0 AND 100),
  price   numeric(8, 2),
  flag    boolean NOT NULL DEFAULT false,
  seen_at timestamptz
);
`,
  '001_items.down.sql': 'DROP TABLE IF EXISTS app.items;\n',
}

const datasetsDigest = (s: StageResult) => /datasets sha256 ([0-9a-f]{16})/.exec(s.details.join('\n'))?.[1]
const replayFileOf = (s: StageResult) => /replay: (\S+\.sql)/.exec(s.details.join('\n'))?.[1]

const cases = await availableEngines()

describe.each(cases)('data properties through the upgrades, on the $name engine', (c) => {
  const started = useEngine(c)
  let engine: StartedEngine
  let reports: string
  beforeAll(() => {
    engine = started()
    reports = emptyDir()
  })

  const stageOf = async (dir: string, options: Partial<VerifyOptions> = {}): Promise<StageResult> => {
    const r = await runVerify(engine, { dir, reportsDir: reports, ...options }, STAGES_USED)
    const replay = r.stages.find((s) => s.id === 'replay')!
    expect(replay.verdict, `${replay.summary}\n${replay.details.join('\n')}`).toBe('passed')
    return r.stages.find((s) => s.id === 'data-properties')!
  }

  /** A fresh database at the replay file's starting version with the file's INSERTs applied. */
  const replayed = async (dir: string, sql: string, fn: (client: pg.Client, migrator: Migrator) => Promise<void>) => {
    const k = Number(/^-- starting version: (\d+)/m.exec(sql)![1])
    const db = await engine.createDatabase('replay')
    const client = await connect(db.url)
    try {
      const migrator = new Migrator({ client, provider: new FileMigrationProvider(dir), logSchema: 'app', lockWaitMs: 0 })
      expect((await migrator.up({ to: k })).error).toBeUndefined()
      await client.query(sql.slice(0, sql.indexOf('-- ---- the failing check')))
      await fn(client, migrator)
    } finally {
      await client.end()
      await db.drop()
    }
  }

  it('(a) a NOT NULL column without a default on a table with rows fails, shrunk to one row, with a replay file', async () => {
    const dir = migrationSet({
      ...ITEMS,
      '002_add_sku.sql': 'ALTER TABLE app.items ADD COLUMN sku text NOT NULL;\n',
      '002_add_sku.down.sql': 'ALTER TABLE app.items DROP COLUMN IF EXISTS sku;\n',
    })
    const s = await stageOf(dir, { seed: 42, runs: 10 })
    expect(s.verdict).toBe('failed')
    expect(s.summary).toMatch(/^data property failed from version 1 \(001_items\): migrating up from version 1 with this data failed at 002_add_sku\.sql:1:\d+ \(SQLSTATE 23502\): column "sku" of relation "items" contains null values — seed 42, shrunk to 1 row\(s\)/)
    expect(s.details).toContain('shrunk dataset (1 row(s)): app.items 1')
    const file = replayFileOf(s)!
    expect(file).toMatch(/data-property-1-42\.sql$/)
    expect(existsSync(file)).toBe(true)
    const sql = readFileSync(file, 'utf8')
    expect(sql).toMatch(/^-- starting version: 1 \(001_items\)$/m)
    expect(sql).toMatch(/pnpm migrate up --to 1/)
    expect(sql).toMatch(/^INSERT INTO "app"\."items" \("id", "name", "note", "qty", "price", "flag", "seen_at"\) VALUES$/m)
    expect(sql.split('\n').filter((l) => l.startsWith('  ('))).toHaveLength(1)
    expect(sql).toMatch(/-- migration-failed: .*SQLSTATE 23502/)

    // Replayed by hand on a fresh database: version 1, the file's INSERTs, up → the same failure.
    await replayed(dir, sql, async (client, migrator) => {
      expect(Number((await client.query('SELECT count(*) AS n FROM app.items')).rows[0].n)).toBe(1)
      const up = await migrator.up()
      expect(up.error?.message).toMatch(/002_add_sku\.sql:1:\d+: ERROR 23502: column "sku" of relation "items" contains null values/)
    })
  })

  it('(b) a migration that drops a column with data fails preservation, naming the table and the column', async () => {
    const dir = migrationSet({
      ...ITEMS,
      '002_drop_note.sql': 'ALTER TABLE app.items DROP COLUMN IF EXISTS note;\n',
      '002_drop_note.down.sql': 'ALTER TABLE app.items ADD COLUMN IF NOT EXISTS note varchar(20);\n',
    })
    const s = await stageOf(dir, { seed: 42, runs: 10 })
    expect(s.verdict).toBe('failed')
    expect(s.summary).toMatch(/^data property failed from version 1 \(001_items\): column app\.items\.note was dropped: it held data in 1 of 1 row\(s\) — seed 42, shrunk to 1 row\(s\)/)
    expect(s.details).toContain('FAIL column-dropped app.items.note: column app.items.note was dropped: it held data in 1 of 1 row(s)')
    const sql = readFileSync(replayFileOf(s)!, 'utf8')
    expect(sql).toMatch(/-- column-dropped on app\.items\.note: /)
    expect(sql).toMatch(/^SELECT column_name FROM information_schema\.columns WHERE table_schema = 'app' AND table_name = 'items' AND column_name = 'note';$/m)
  })

  it('(c) an undeclared backfill fails; the same migration with its backfill declared in the manifest passes', async (ctx) => {
    depthOn(ctx, engine, SERVERS_ONCE, 'an undeclared backfill')
    const files = {
      ...ITEMS,
      '002_shout.sql': "UPDATE app.items SET name = name || '!';\n",
      '002_shout.down.sql': "UPDATE app.items SET name = left(name, -1) WHERE name LIKE '%!';\n",
    }
    const undeclared = await stageOf(migrationSet(files), { seed: 42, runs: 10 })
    expect(undeclared.verdict).toBe('failed')
    expect(undeclared.summary).toMatch(/^data property failed from version 1 \(001_items\): app\.items\.name changed for primary key \(".*"\): ".*" → ".*!"; no migration declares this change — seed 42, shrunk to 1 row\(s\)/)
    expect(undeclared.details.some((d) => d.startsWith('FAIL value-changed app.items.name: '))).toBe(true)

    const declared = await stageOf(migrationSet(files, { '002_shout': { dataChanges: [{ kind: 'backfill', table: 'app.items', columns: ['name'], note: "appends '!'" }] } }), { seed: 42, runs: 10 })
    expect(declared.verdict, declared.details.join('\n')).toBe('passed')
    expect(declared.details.join('\n')).toMatch(/declared data change: 002_shout: backfill app\.items \(name\) — appends '!'/)

    // "only where NULL" is checked too: this backfill changes values that were set.
    const nullsOnly = await stageOf(migrationSet(files, { '002_shout': { dataChanges: [{ kind: 'backfill', table: 'app.items', columns: ['name'], onlyWhereNull: true }] } }), { seed: 42, runs: 10 })
    expect(nullsOnly.verdict).toBe('failed')
    expect(nullsOnly.summary).toMatch(/; the declared backfill is of NULLs only, and this value was not NULL/)
  })

  it('a declared move (copy into a new table, drop the old one) is checked for row parity and missing rows, as seed 004 asks', async (ctx) => {
    depthOn(ctx, engine, SERVERS_ONCE, 'a declared move')
    const move = (where: string) => ({
      ...ITEMS,
      '002_move.sql': `CREATE TABLE IF NOT EXISTS app.items_v2 (LIKE app.items INCLUDING ALL);\nINSERT INTO app.items_v2 SELECT * FROM app.items${where};\nDROP TABLE IF EXISTS app.items;\n`,
      '002_move.down.sql': 'CREATE TABLE IF NOT EXISTS app.items (LIKE app.items_v2 INCLUDING ALL);\nINSERT INTO app.items SELECT * FROM app.items_v2;\nDROP TABLE IF EXISTS app.items_v2;\n',
    })
    const declared = { '002_move': { dataChanges: [{ kind: 'move', from: 'app.items', to: 'app.items_v2', key: ['id'] }] } }

    const undeclared = await stageOf(migrationSet(move('')), { seed: 42, runs: 10 })
    expect(undeclared.verdict).toBe('failed')
    expect(undeclared.summary).toMatch(/table app\.items no longer exists: its 1 row\(s\) are lost \(no "drop" or "move" declared\)/)

    const good = await stageOf(migrationSet(move(''), declared), { seed: 42, runs: 10 })
    expect(good.verdict, good.details.join('\n')).toBe('passed')

    const lossy = await stageOf(migrationSet(move(' WHERE qty IS NOT NULL'), declared), { seed: 42, runs: 10 })
    expect(lossy.verdict).toBe('failed')
    expect(lossy.summary).toMatch(/declared move app\.items → app\.items_v2: 1 of 1 row\(s\) are missing in app\.items_v2 \(by id\)/)
    const sql = readFileSync(replayFileOf(lossy)!, 'utf8')
    expect(sql).toMatch(/^SELECT f\.\* FROM \(VALUES \('-?\d+'\)\) AS f\("id"\) WHERE NOT EXISTS \(SELECT 1 FROM "app"\."items_v2" t WHERE t\."id"::text = f\."id"\);$/m)
    // Replayed: the shrunk row is the kind the WHERE loses (qty NULL), and the check query names it after migrating.
    await replayed(migrationSet(move(' WHERE qty IS NOT NULL'), declared), sql, async (client, migrator) => {
      expect((await client.query('SELECT qty FROM app.items')).rows).toEqual([{ qty: null }])
      expect((await migrator.up()).error).toBeUndefined()
      const check = /^SELECT f\.\*.*;$/m.exec(sql)![0]
      expect((await client.query(check)).rows).toHaveLength(1)
    })
  })

  it('chained: every step is applied once per chain (work linear in N), and rows carried to a later step that loses them fail there', async (ctx) => {
    depthOn(ctx, engine, SERVERS_ONCE, 'chained datasets')
    const steps = {
      ...ITEMS,
      '002_items_idx.sql': 'CREATE INDEX IF NOT EXISTS items_name ON app.items (name);\n',
      '002_items_idx.down.sql': 'DROP INDEX IF EXISTS app.items_name;\n',
      '003_tags.sql': 'CREATE TABLE IF NOT EXISTS app.tags (id integer PRIMARY KEY, label text NOT NULL);\n',
      '003_tags.down.sql': 'DROP TABLE IF EXISTS app.tags;\n',
    }
    const good = await runVerify(engine, { dir: migrationSet({ ...steps, '004_noop.sql': 'SELECT 1;\n', '004_noop.down.sql': 'SELECT 1;\n' }), reportsDir: reports, seed: 5, runs: 3 }, STAGES_USED)
    const s = good.stages.find((x) => x.id === 'data-properties')!
    expect(s.verdict, s.details.join('\n')).toBe('passed')
    // 4 migrations, 3 chains, on a fresh database of its own: each chain up once, 3 × 4; the
    // catalog of every version comes from replay (no walk of its own); the first chain starts at
    // the bottom, the two others go down first, 2 × 4. No reset at the end: that database is
    // dropped after the stage.
    expect(s.counts).toMatchObject({ migrationsApplied: 12, migrationsReverted: 8, datasets: 1 + 3 * 3 })
    expect(s.breakdown!.map((p) => p.label).slice(0, 4)).toEqual(['from 0 (bootstrap only)', 'from 1 (001_items)', 'from 2 (002_items_idx)', 'from 3 (003_tags)'])

    // 004 loses every row of app.items, whichever version generated it: caught at the step 3 → 4.
    const bad = await stageOf(migrationSet({ ...steps, '004_purge.sql': 'DELETE FROM app.items;\n', '004_purge.down.sql': 'SELECT 1;\n' }), { seed: 5, runs: 3 })
    expect(bad.verdict).toBe('failed')
    expect(bad.summary).toMatch(/^data property failed from version 3 \(003_tags\): .*app\.items/)
    const sql = readFileSync(replayFileOf(bad)!, 'utf8')
    expect(sql).toMatch(/^-- failing step: 3 → 4 \(004_purge\)$/m)
    expect(sql).toMatch(/^INSERT INTO "app"\."items" /m)
  })

  it('carried rows: after a step only what it touched is read and compared again, and a touch is found whichever way it came', async (ctx) => {
    depthOn(ctx, engine, SERVERS_ONCE, 'carried rows')
    const base = {
      '001_items.sql': `CREATE TYPE app.mood AS ENUM ('calm', 'busy');
CREATE FUNCTION app.small(q integer) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT q <= 100';
CREATE TABLE app.items (id integer PRIMARY KEY, name text NOT NULL, qty integer CHECK (app.small(qty)), mood app.mood);
CREATE TABLE app.audit (id bigserial PRIMARY KEY, item integer, source text NOT NULL);
CREATE FUNCTION app.audit_item() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO app.audit (item, source) VALUES (NEW.id, 'trigger:' || NEW.id); RETURN NEW; END $$;
CREATE TRIGGER items_audit AFTER INSERT ON app.items FOR EACH ROW EXECUTE FUNCTION app.audit_item();
`,
      '001_items.down.sql': 'DROP TABLE app.audit, app.items; DROP FUNCTION app.audit_item(); DROP FUNCTION app.small(integer); DROP TYPE app.mood;\n',
      '002_noop.sql': 'SELECT 1;\n',
      '002_noop.down.sql': 'SELECT 1;\n',
    }
    const at3 = (sql: string) => migrationSet({ ...base, '003_step.sql': sql, '003_step.down.sql': 'SELECT 1;\n' })

    // Steps 2 and 3 touch nothing: both tables carried, nothing read or compared again (3 chains × 2 steps × 2 tables).
    const good = await stageOf(at3('SELECT 1;\n'), { seed: 7, runs: 3 })
    expect(good.verdict, good.details.join('\n')).toBe('passed')
    expect(good.counts).toMatchObject({ tablesCompared: 0, tablesCarried: 12 })

    const cases: [string, string, RegExp][] = [
      ['an UPDATE', `UPDATE app.items SET name = name || '!';\n`, /app\.items\.name changed/],
      ['a function a CHECK calls', `CREATE OR REPLACE FUNCTION app.small(q integer) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT q < -2147483000';\n`, /violate CHECK items_qty_check/],
      ['an enum label renamed', `ALTER TYPE app.mood RENAME VALUE 'busy' TO 'hectic';\n`, /app\.items\.mood changed/],
      ['rows a trigger wrote (not the INSERT itself)', `DELETE FROM app.audit WHERE source = 'trigger:' || item;\n`, /app\.audit: the row with primary key/],
    ]
    for (const [what, sql, found] of cases) {
      const bad = await stageOf(at3(sql), { seed: 7, runs: 3 })
      expect(bad.verdict, what).toBe('failed')
      expect(bad.details.join('\n'), what).toMatch(found)
    }
  })

  it('a connection lost in the middle is reported as such, not as a property of the data (no shrinking, no replay file)', async () => {
    const dir = migrationSet({
      ...ITEMS,
      '002_index.sql': 'CREATE INDEX IF NOT EXISTS items_name ON app.items (name);\n',
      '002_index.down.sql': 'DROP INDEX IF EXISTS app.items_name;\n',
    })
    const own = emptyDir()
    const db = await engine.createDatabase('lost')
    const client = await connect(db.url)
    try {
      const migrations = await new FileMigrationProvider(dir).getMigrations()
      const ctx: VerifyContext = {
        engine,
        dir,
        manifest: await loadManifest(dir),
        migrations,
        schemas: ['app'],
        logSchema: 'app',
        fingerprints: new Map(),
        jobsAt: new Map(),
        // The connection goes away as soon as the datasets of version 1 start.
        progress: (line) => void (/data from version 1/.test(line) && client.end()),
        options: { dir, seed: 42, runs: 10, reportsDir: own },
      }
      const err = await dataProperties(ctx, client).then(
        () => undefined,
        (e: HarnessError) => e,
      )
      expect(err?.code).toBe('CONNECTION_FAILED')
      expect(err?.message).toMatch(/^data property from version 1: the connection to the database was lost while running a dataset \(.*\); this is not a property of the data \(seed 42\)$/)
      expect(existsSync(`${own}/data-property-1-42.sql`)).toBe(false)
    } finally {
      await client.end().catch(() => {})
      await db.drop()
    }
  })

  it('a declaration the stage cannot understand is refused with the place to fix it', async () => {
    const dir = migrationSet(ITEMS, { '001_items': { dataChanges: [{ kind: 'rename', table: 'app.items' }] } })
    const s = await stageOf(dir, { seed: 1, runs: 1 })
    expect(s.verdict).toBe('failed')
    expect(s.summary).toMatch(/manifest\.json: migrations\["001_items"\]\.dataChanges\[0\]: unknown kind "rename" \(expected backfill, insert, delete, drop, move, requires\)/)
  })

  describe('a richer schema: enums, arrays, json, uuids, intervals, serials, a self-reference, an expression unique index, a hypertable', () => {
    const RICH = {
      '001_rich.sql': `CREATE TYPE app.mood AS ENUM ('happy', 'sad', 'it''s complicated');
CREATE TABLE IF NOT EXISTS app.owners (
  id          uuid PRIMARY KEY,
  email       text NOT NULL,
  code        varchar(8) NOT NULL UNIQUE,
  mood        app.mood,
  tags        text[] NOT NULL DEFAULT '{}',
  profile     jsonb,
  score       double precision CHECK (score >= 0),
  ratio       real,
  budget      numeric(12, 3) CHECK (budget BETWEEN -1000 AND 1000000),
  born        date,
  shift_start time,
  lease       interval,
  ip          inet,
  big         bigint,
  small       smallint CHECK (small IN (1, 2, 3)),
  note        text CHECK (length(note) <= 50),
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS owners_email_lower ON app.owners (lower(email));
CREATE TABLE IF NOT EXISTS app.pets (
  id        bigserial PRIMARY KEY,
  owner_id  uuid NOT NULL REFERENCES app.owners (id) ON DELETE CASCADE,
  friend_id bigint REFERENCES app.pets (id),
  name      text NOT NULL CHECK (name <> ''),
  started   timestamptz,
  ended     timestamptz,
  CHECK (ended IS NULL OR started IS NULL OR ended >= started)
);
CREATE TABLE IF NOT EXISTS app.readings (
  owner_id uuid NOT NULL REFERENCES app.owners (id),
  ts       timestamptz NOT NULL,
  value    double precision,
  quality  smallint NOT NULL DEFAULT 192,
  PRIMARY KEY (owner_id, ts)
);
SELECT create_hypertable('app.readings', 'ts', chunk_time_interval => INTERVAL '1 day', if_not_exists => TRUE);
`,
      '001_rich.down.sql': 'DROP TABLE IF EXISTS app.readings;\nDROP TABLE IF EXISTS app.pets;\nDROP TABLE IF EXISTS app.owners;\nDROP TYPE IF EXISTS app.mood;\n',
      '002_nickname.sql': 'ALTER TABLE app.pets ADD COLUMN IF NOT EXISTS nickname text;\nCREATE INDEX IF NOT EXISTS pets_owner ON app.pets (owner_id);\n',
      '002_nickname.down.sql': 'DROP INDEX IF EXISTS app.pets_owner;\nALTER TABLE app.pets DROP COLUMN IF EXISTS nickname;\n',
      '003_level.sql': 'ALTER TABLE app.owners ADD COLUMN IF NOT EXISTS level integer NOT NULL DEFAULT 1;\n',
      '003_level.down.sql': 'ALTER TABLE app.owners DROP COLUMN IF EXISTS level;\n',
    }

    it('passes, and the same --seed gives the same datasets (another seed other ones)', async (ctx) => {
      depthOn(ctx, engine, SERVERS_ONCE, 'the richer schema and seed reproducibility')
      const dir = migrationSet(RICH)
      const a = await stageOf(dir, { seed: 7, runs: 8 })
      expect(a.verdict, a.details.join('\n')).toBe('passed')
      expect(a.summary).toMatch(/^seed 7: 17 datasets \(\d+ rows\) from every version 0…2 migrated to 3/)
      expect(a.details.join('\n')).not.toMatch(/refused by the engine/)
      const b = await stageOf(dir, { seed: 7, runs: 8 })
      expect(datasetsDigest(b)).toBe(datasetsDigest(a))
      expect(b.summary.replace(/\([\d.]+ s\)$/, '')).toBe(a.summary.replace(/\([\d.]+ s\)$/, ''))
      const c = await stageOf(dir, { seed: 8, runs: 8 })
      expect(datasetsDigest(c)).not.toBe(datasetsDigest(a))
    }, 180_000)
  })
})
