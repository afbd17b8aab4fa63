/** Static lint of migration files: every rule fires on its case and stays quiet on the near miss. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { HarnessError } from '../harness/errors.ts'
import { ALLOW_FILE, loadAllowList, type AllowEntry } from '../harness/lint/allow.ts'
import { formatLintResult, lintDirectory, lintMigrations, type LintResult } from '../harness/lint/lint.ts'
import { RULES } from '../harness/lint/rules.ts'
import { FileMigrationProvider } from '../harness/runner/discover.ts'

const MIGRATIONS = path.resolve(import.meta.dirname, '../migrations')

const made: string[] = []
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true })
})

/** A throw-away migrations directory: 001 creates a plain table and a hypertable, then `files`. */
function fixture(files: Record<string, string | Buffer>, base = true): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pgverify-lint-'))
  made.push(dir)
  if (base) {
    writeFileSync(path.join(dir, '001_base.sql'), BASE)
    writeFileSync(path.join(dir, '001_base.down.sql'), 'DROP TABLE IF EXISTS app.events;\nDROP TABLE IF EXISTS app.accounts;\n')
  }
  for (const [name, content] of Object.entries(files)) writeFileSync(path.join(dir, name), content)
  return dir
}

const BASE = `CREATE SCHEMA IF NOT EXISTS app;
CREATE TABLE IF NOT EXISTS app.accounts (id BIGINT PRIMARY KEY, email TEXT);
CREATE TABLE IF NOT EXISTS app.events (
  account_id BIGINT NOT NULL,
  ts         TIMESTAMPTZ NOT NULL,
  kind       TEXT,
  PRIMARY KEY (account_id, ts)
);
SELECT create_hypertable('app.events', 'ts', if_not_exists => TRUE);
`
const LOCK = "SET LOCAL lock_timeout = '5s';\n"

async function lint(files: Record<string, string | Buffer>, allow: AllowEntry[] = []): Promise<LintResult> {
  return lintDirectory(fixture(files), { allow })
}

const of = (r: LintResult, rule: string) => r.findings.filter((f) => f.rule === rule)
const show = (r: LintResult) => formatLintResult(r, { showAllowed: true })

describe('lint rules', () => {
  it('has stable kebab-case ids, each with a severity, a description and a fix', () => {
    const ids = RULES.map((r) => r.id)
    expect(new Set(ids).size).toBe(ids.length)
    for (const r of RULES) {
      expect(r.id).toMatch(/^[a-z]+(-[a-z]+)*$/)
      expect(['error', 'warning']).toContain(r.severity)
      expect(r.description.length, r.id).toBeGreaterThan(10)
      expect(r.fix.length, r.id).toBeGreaterThan(10)
    }
    for (const id of ['index-not-concurrent', 'concurrently-in-transaction', 'hypertable-unique-without-time', 'hypertable-no-if-not-exists', 'add-column-not-null-no-default', 'alter-column-type', 'drop-table', 'drop-column', 'missing-lock-timeout', 'plpgsql-outside-block', 'not-idempotent', 'transaction-control', 'parse', 'unused-allow', 'syntax-error', 'concurrently-on-hypertable', 'index-volatile-function', 'view-duplicate-column', 'view-column-change', 'function-return-type-change', 'extension-missing', 'constraint-not-valid']) {
      expect(ids).toContain(id)
    }
  })

  it('finds nothing in the base fixture', async () => {
    const r = await lint({})
    expect(r.findings, show(r)).toEqual([])
  })

  // [rule, what, files, file, line] — the finding expected (among others allowed).
  const triggers: Array<[string, string, Record<string, string>, string, number]> = [
    ['index-not-concurrent', 'an index on a table from an earlier file', { '002_idx.sql': LOCK + '\nCREATE INDEX IF NOT EXISTS accounts_email ON app.accounts (email);\n' }, '002_idx.sql', 3],
    ['concurrently-in-transaction', 'CONCURRENTLY without --! no-transaction', { '002_idx.sql': LOCK + 'CREATE INDEX CONCURRENTLY IF NOT EXISTS accounts_email ON app.accounts (email);\n' }, '002_idx.sql', 2],
    ['concurrently-in-transaction', 'DROP INDEX CONCURRENTLY without the directive', { '002_idx.sql': LOCK + 'DROP INDEX CONCURRENTLY IF EXISTS app.accounts_email;\n' }, '002_idx.sql', 2],
    ['hypertable-unique-without-time', 'a column PRIMARY KEY on a table made a hypertable', { '002_r.sql': 'CREATE TABLE IF NOT EXISTS app.readings (\n  id BIGINT PRIMARY KEY,\n  ts TIMESTAMPTZ NOT NULL\n);\nSELECT create_hypertable(\'app.readings\', \'ts\', if_not_exists => TRUE);\n' }, '002_r.sql', 2],
    ['hypertable-unique-without-time', 'a named UNIQUE table constraint', { '002_r.sql': 'CREATE TABLE IF NOT EXISTS app.readings (\n  id BIGINT,\n  ts TIMESTAMPTZ NOT NULL,\n  CONSTRAINT readings_id_uq UNIQUE (id)\n);\nSELECT create_hypertable(\'app.readings\', by_range(\'ts\'), if_not_exists => TRUE);\n' }, '002_r.sql', 4],
    ['hypertable-unique-without-time', 'a table that becomes a hypertable in a later file', { '002_r.sql': 'CREATE TABLE IF NOT EXISTS app.readings (id BIGINT, ts TIMESTAMPTZ NOT NULL, PRIMARY KEY (id));\n', '003_h.sql': "SELECT create_hypertable('app.readings', 'ts', if_not_exists => TRUE, migrate_data => TRUE);\n" }, '002_r.sql', 1],
    ['hypertable-unique-without-time', 'ALTER TABLE … ADD CONSTRAINT … PRIMARY KEY', { '002_pk.sql': LOCK + 'ALTER TABLE app.events\n  ADD CONSTRAINT events_kind_uq UNIQUE (account_id, kind);\n' }, '002_pk.sql', 3],
    ['hypertable-unique-without-time', 'CREATE UNIQUE INDEX on an unqualified name under SET search_path', { '002_ux.sql': LOCK + 'SET search_path TO app, public;\nCREATE UNIQUE INDEX IF NOT EXISTS events_kind_ux ON events (account_id, kind);\n' }, '002_ux.sql', 3],
    ['hypertable-unique-without-time', 'a unique index with an expression over the time column only', { '002_ux.sql': LOCK + "CREATE UNIQUE INDEX IF NOT EXISTS events_day_ux ON app.events (account_id, date_trunc('day', ts));\n" }, '002_ux.sql', 2],
    ['hypertable-no-if-not-exists', 'create_hypertable without if_not_exists', { '002_h.sql': "CREATE TABLE IF NOT EXISTS app.readings (ts TIMESTAMPTZ NOT NULL);\nSELECT create_hypertable('app.readings', 'ts');\n" }, '002_h.sql', 2],
    ['add-column-not-null-no-default', 'ADD COLUMN … NOT NULL without DEFAULT', { '002_col.sql': LOCK + 'ALTER TABLE app.accounts ADD COLUMN IF NOT EXISTS plan TEXT NOT NULL;\n' }, '002_col.sql', 2],
    ['alter-column-type', 'ALTER COLUMN … TYPE', { '002_t.sql': LOCK + 'ALTER TABLE app.accounts ALTER COLUMN email TYPE VARCHAR(320);\n' }, '002_t.sql', 2],
    ['alter-column-type', 'ALTER COLUMN … SET DATA TYPE', { '002_t.sql': LOCK + 'ALTER TABLE app.accounts\n  ALTER email SET DATA TYPE VARCHAR(320);\n' }, '002_t.sql', 3],
    ['drop-table', 'DROP TABLE in an up file', { '002_d.sql': LOCK + 'DROP TABLE IF EXISTS app.accounts;\n' }, '002_d.sql', 2],
    ['drop-column', 'DROP COLUMN in an up file', { '002_d.sql': LOCK + 'ALTER TABLE app.accounts DROP COLUMN IF EXISTS email;\n' }, '002_d.sql', 2],
    ['missing-lock-timeout', 'ALTER TABLE on an existing table without lock_timeout', { '002_l.sql': '-- adds a column\nALTER TABLE app.accounts ADD COLUMN IF NOT EXISTS note TEXT;\n' }, '002_l.sql', 2],
    ['missing-lock-timeout', 'lock_timeout set only after the DDL', { '002_l.sql': 'CREATE OR REPLACE TRIGGER t BEFORE UPDATE ON app.accounts FOR EACH ROW EXECUTE FUNCTION app.f();\n' + LOCK }, '002_l.sql', 1],
    ['missing-lock-timeout', 'SET LOCAL in a --! no-transaction file (no effect there)', { '002_l.sql': '--! no-transaction\n' + LOCK + 'CREATE INDEX CONCURRENTLY IF NOT EXISTS accounts_email ON app.accounts (email);\n' }, '002_l.sql', 3],
    ['missing-lock-timeout', 'DROP TRIGGER … ON an existing table', { '002_l.sql': 'SELECT 1;\nDROP TRIGGER IF EXISTS trg_x ON app.accounts;\n' }, '002_l.sql', 2],
    ['missing-lock-timeout', 'lock_timeout set to 0', { '002_l.sql': 'SET lock_timeout = 0;\nDROP INDEX IF EXISTS app.accounts_email;\n' }, '002_l.sql', 2],
    ['plpgsql-outside-block', 'RAISE at top level', { '002_p.sql': "SELECT 1;\nRAISE NOTICE 'done';\n" }, '002_p.sql', 2],
    ['plpgsql-outside-block', 'PERFORM at top level', { '002_p.sql': 'SELECT 1;\n\n  PERFORM pg_sleep(0);\n' }, '002_p.sql', 3],
    ['not-idempotent', 'CREATE TABLE without IF NOT EXISTS', { '002_n.sql': 'CREATE TABLE app.notes (id BIGINT);\n' }, '002_n.sql', 1],
    ['not-idempotent', 'CREATE INDEX without IF NOT EXISTS', { '002_n.sql': 'CREATE TABLE IF NOT EXISTS app.notes (id BIGINT);\nCREATE INDEX notes_id ON app.notes (id);\n' }, '002_n.sql', 2],
    ['not-idempotent', 'CREATE SCHEMA without IF NOT EXISTS', { '002_n.sql': 'CREATE SCHEMA audit;\n' }, '002_n.sql', 1],
    ['not-idempotent', 'CREATE VIEW without OR REPLACE', { '002_n.sql': 'CREATE VIEW app.v AS SELECT 1;\n' }, '002_n.sql', 1],
    ['not-idempotent', 'CREATE FUNCTION without OR REPLACE', { '002_n.sql': 'CREATE FUNCTION app.f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;\n' }, '002_n.sql', 1],
    ['not-idempotent', 'CREATE TYPE outside a DO block', { '002_n.sql': "CREATE TYPE app.mood AS ENUM ('ok', 'bad');\n" }, '002_n.sql', 1],
    ['not-idempotent', 'ADD COLUMN without IF NOT EXISTS', { '002_n.sql': LOCK + 'ALTER TABLE app.accounts ADD COLUMN note TEXT;\n' }, '002_n.sql', 2],
    ['not-idempotent', 'ADD CONSTRAINT outside a guarding DO block', { '002_n.sql': LOCK + 'ALTER TABLE app.accounts ADD CONSTRAINT accounts_email_uq UNIQUE (email);\n' }, '002_n.sql', 2],
    ['not-idempotent', 'add_retention_policy without if_not_exists', { '002_n.sql': "SELECT add_retention_policy('app.events', INTERVAL '90 days');\n" }, '002_n.sql', 1],
    ['not-idempotent', 'add_compression_policy without if_not_exists', { '002_n.sql': "SELECT add_compression_policy('app.events', INTERVAL '7 days', if_not_exists => FALSE);\n" }, '002_n.sql', 1],
    ['transaction-control', 'BEGIN at top level', { '002_tx.sql': 'SELECT 1;\nBEGIN;\nSELECT 2;\nCOMMIT;\n' }, '002_tx.sql', 2],
    ['transaction-control', 'COMMIT at top level', { '002_tx.sql': 'SELECT 1;\nCOMMIT;\n' }, '002_tx.sql', 2],
    ['needs-no-transaction', 'refresh_continuous_aggregate in a transactional file', { '002_r.sql': "CALL refresh_continuous_aggregate('app.daily', NULL, NULL);\n" }, '002_r.sql', 1],
    ['syntax-error', 'a missing comma, found without a database', { '002_s.sql': 'SELECT 1;\nCREATE TABLE IF NOT EXISTS app.t (id int name text);\n' }, '002_s.sql', 2],
    ['concurrently-on-hypertable', 'CREATE INDEX CONCURRENTLY on a hypertable, outside a transaction', { '002_c.sql': "--! no-transaction\nSET lock_timeout = '5s';\nCREATE INDEX CONCURRENTLY IF NOT EXISTS events_kind ON app.events (kind);\n" }, '002_c.sql', 3],
    ['concurrently-on-hypertable', 'CREATE INDEX CONCURRENTLY on a hypertable in a transactional file (with concurrently-in-transaction)', { '002_c.sql': LOCK + 'CREATE INDEX CONCURRENTLY IF NOT EXISTS events_kind ON app.events (kind);\n' }, '002_c.sql', 2],
    ['index-volatile-function', 'now() in an index predicate', { '002_i.sql': LOCK + "CREATE INDEX IF NOT EXISTS accounts_recent ON app.accounts (email)\n  WHERE id > 0 AND now() > '2020-01-01';\n" }, '002_i.sql', 3],
    ['index-volatile-function', 'CURRENT_DATE in an index expression', { '002_i.sql': LOCK + 'CREATE INDEX IF NOT EXISTS accounts_day ON app.accounts ((CURRENT_DATE - id::int));\n' }, '002_i.sql', 2],
    ['index-volatile-function', 'a STABLE function of the set in an index expression', { '002_i.sql': LOCK + 'CREATE OR REPLACE FUNCTION app.norm(t text) RETURNS text LANGUAGE sql STABLE AS $$ SELECT lower(t) $$;\nCREATE INDEX IF NOT EXISTS accounts_norm ON app.accounts (app.norm(email));\n' }, '002_i.sql', 3],
    ['view-duplicate-column', 'a select list that repeats a column name', { '002_v.sql': 'CREATE OR REPLACE VIEW app.v AS\n  SELECT a.id, e.account_id AS id FROM app.accounts a JOIN app.events e ON e.account_id = a.id;\n' }, '002_v.sql', 2],
    ['view-column-change', 'CREATE OR REPLACE VIEW that reorders the columns of a view from an earlier file', { '002_v.sql': 'CREATE OR REPLACE VIEW app.v AS SELECT id, email FROM app.accounts;\n', '003_v.sql': 'CREATE OR REPLACE VIEW app.v AS\n  SELECT email, id FROM app.accounts;\n' }, '003_v.sql', 2],
    ['view-column-change', 'CREATE OR REPLACE VIEW that drops a column', { '002_v.sql': 'CREATE OR REPLACE VIEW app.v AS SELECT id, email FROM app.accounts;\nCREATE OR REPLACE VIEW app.v AS SELECT id FROM app.accounts;\n' }, '002_v.sql', 2],
    ['function-return-type-change', 'CREATE OR REPLACE FUNCTION that changes the return type', { '002_f.sql': 'CREATE OR REPLACE FUNCTION app.f(a int) RETURNS int LANGUAGE sql AS $$ SELECT a $$;\n', '003_f.sql': 'CREATE OR REPLACE FUNCTION app.f(a integer)\n  RETURNS bigint LANGUAGE sql AS $$ SELECT a::bigint $$;\n' }, '003_f.sql', 2],
    ['function-return-type-change', 'RETURNS TABLE with other columns', { '002_f.sql': 'CREATE OR REPLACE FUNCTION app.g() RETURNS TABLE (id bigint) LANGUAGE sql AS $$ SELECT 1::bigint $$;\nCREATE OR REPLACE FUNCTION app.g() RETURNS TABLE (id bigint, n int) LANGUAGE sql AS $$ SELECT 1::bigint, 2 $$;\n' }, '002_f.sql', 2],
    ['extension-missing', 'pg_stat_statements that no migration creates', { '002_x.sql': 'CREATE OR REPLACE VIEW app.slow AS\n  SELECT query, calls FROM pg_stat_statements;\n' }, '002_x.sql', 2],
    ['extension-missing', "pgcrypto's crypt()", { '002_x.sql': "SELECT crypt('secret', gen_salt('bf'));\n" }, '002_x.sql', 1],
    ['constraint-not-valid', 'a CHECK added to an existing table without NOT VALID', { '002_k.sql': LOCK + "ALTER TABLE app.accounts ADD CONSTRAINT accounts_email_chk CHECK (email LIKE '%@%');\n" }, '002_k.sql', 2],
    ['constraint-not-valid', 'a FOREIGN KEY added to an existing table without NOT VALID', { '002_k.sql': LOCK + 'ALTER TABLE app.events\n  ADD CONSTRAINT events_account_fk FOREIGN KEY (account_id) REFERENCES app.accounts (id);\n' }, '002_k.sql', 3],
  ]
  for (const [rule, what, files, file, line] of triggers) {
    it(`${rule}: fires on ${what}`, async () => {
      const r = await lint(files)
      const hits = of(r, rule)
      expect(hits.map((f) => `${f.file}:${f.line}`), show(r)).toContain(`${file}:${line}`)
      const f = hits.find((h) => h.file === file && h.line === line)!
      expect(f.message.length).toBeGreaterThan(10)
      expect(f.fix.length).toBeGreaterThan(10)
      expect(f.statement.length).toBeGreaterThan(0)
      expect(f.severity).toBe(RULES.find((x) => x.id === rule)!.severity)
    })
  }

  // [rule, what, files] — must not produce that rule.
  const nearMisses: Array<[string, string, Record<string, string>]> = [
    ['index-not-concurrent', 'an index on a table created in the same file', { '002_idx.sql': 'CREATE TABLE IF NOT EXISTS app.notes (id BIGINT);\nCREATE INDEX IF NOT EXISTS notes_id ON app.notes (id);\n' }],
    ['index-not-concurrent', 'CREATE INDEX CONCURRENTLY in a --! no-transaction file', { '002_idx.sql': "--! no-transaction\nSET lock_timeout = '5s';\nCREATE INDEX CONCURRENTLY IF NOT EXISTS accounts_email ON app.accounts (email);\n" }],
    ['index-not-concurrent', 'transaction_per_chunk on a hypertable', { '002_idx.sql': "--! no-transaction\nSET lock_timeout = '5s';\nCREATE INDEX IF NOT EXISTS events_kind ON app.events (kind) WITH (timescaledb.transaction_per_chunk);\n" }],
    ['index-not-concurrent', 'CREATE INDEX in a comment and a string', { '002_idx.sql': "-- CREATE INDEX accounts_email ON app.accounts (email);\n/* CREATE INDEX x ON app.accounts (id); */\nSELECT 'CREATE INDEX y ON app.accounts (id)';\n" }],
    ['concurrently-in-transaction', 'CONCURRENTLY in a comment, a string and a function body', { '002_c.sql': "-- CREATE INDEX CONCURRENTLY later\nSELECT 'CREATE INDEX CONCURRENTLY';\nCREATE OR REPLACE FUNCTION app.f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN EXECUTE 'x'; END $$;\n" }],
    ['concurrently-in-transaction', 'REFRESH MATERIALIZED VIEW CONCURRENTLY (allowed in a transaction)', { '002_c.sql': 'REFRESH MATERIALIZED VIEW CONCURRENTLY app.mv;\n' }],
    ['hypertable-unique-without-time', 'a primary key that includes the time column', { '002_r.sql': "CREATE TABLE IF NOT EXISTS app.readings (id BIGINT, ts TIMESTAMPTZ NOT NULL, CONSTRAINT readings_pkey PRIMARY KEY (id, ts));\nSELECT create_hypertable('app.readings', 'ts', if_not_exists => TRUE);\n" }],
    ['hypertable-unique-without-time', 'a unique index that includes the time column', { '002_ux.sql': LOCK + 'CREATE UNIQUE INDEX IF NOT EXISTS events_kind_ux ON app.events (account_id, kind, ts DESC);\n' }],
    ['hypertable-unique-without-time', 'a unique key on a plain table', { '002_ux.sql': LOCK + 'CREATE UNIQUE INDEX IF NOT EXISTS accounts_email_ux ON app.accounts (lower(email));\n' }],
    ['hypertable-unique-without-time', 'an unqualified name that resolves to another schema', { '002_ux.sql': 'SET search_path TO other;\nCREATE TABLE IF NOT EXISTS events (id BIGINT PRIMARY KEY);\n' }],
    ['hypertable-unique-without-time', 'a non-unique index on the hypertable', { '002_ux.sql': LOCK + 'CREATE INDEX IF NOT EXISTS events_kind ON app.events (kind);\n' }],
    ['hypertable-no-if-not-exists', 'if_not_exists => TRUE, and the call in a comment and a string', { '002_h.sql': "CREATE TABLE IF NOT EXISTS app.readings (ts TIMESTAMPTZ NOT NULL);\n-- SELECT create_hypertable('app.x', 'ts');\nSELECT 'create_hypertable(''app.x'', ''ts'')';\nSELECT create_hypertable('app.readings', 'ts', if_not_exists => true);\n" }],
    ['add-column-not-null-no-default', 'NOT NULL with a DEFAULT', { '002_col.sql': LOCK + "ALTER TABLE app.accounts ADD COLUMN IF NOT EXISTS plan TEXT NOT NULL DEFAULT 'free';\n" }],
    ['add-column-not-null-no-default', 'NOT NULL on a table created in the same file', { '002_col.sql': 'CREATE TABLE IF NOT EXISTS app.notes (id BIGINT);\nALTER TABLE app.notes ADD COLUMN IF NOT EXISTS body TEXT NOT NULL;\n' }],
    ['add-column-not-null-no-default', 'a nullable column whose CHECK mentions NOT NULL', { '002_col.sql': LOCK + 'ALTER TABLE app.accounts ADD COLUMN IF NOT EXISTS note TEXT CHECK (note IS NOT NULL OR id > 0);\n' }],
    ['alter-column-type', 'ALTER COLUMN … SET NOT NULL', { '002_t.sql': LOCK + 'ALTER TABLE app.accounts ALTER COLUMN email SET NOT NULL;\n' }],
    ['alter-column-type', 'a type change on a table created in the same file', { '002_t.sql': 'CREATE TABLE IF NOT EXISTS app.notes (id INT);\nALTER TABLE app.notes ALTER COLUMN id TYPE BIGINT;\n' }],
    ['drop-table', 'DROP TABLE in a down file', { '002_n.sql': 'CREATE TABLE IF NOT EXISTS app.notes (id INT);\n', '002_n.down.sql': 'DROP TABLE IF EXISTS app.notes;\nDROP TABLE app.accounts;\n' }],
    ['drop-table', 'dropping a table created in the same file', { '002_n.sql': 'CREATE TABLE IF NOT EXISTS app.staging (id INT);\nDROP TABLE app.staging;\n' }],
    ['drop-column', 'DROP COLUMN in a down file, DROP CONSTRAINT in an up file', { '002_n.sql': LOCK + 'ALTER TABLE app.accounts DROP CONSTRAINT IF EXISTS accounts_x;\n', '002_n.down.sql': 'ALTER TABLE app.accounts DROP COLUMN IF EXISTS email;\n' }],
    ['missing-lock-timeout', 'SET LOCAL lock_timeout before the DDL', { '002_l.sql': "-- guard\nSET LOCAL lock_timeout = '10s';\nALTER TABLE app.accounts ADD COLUMN IF NOT EXISTS note TEXT;\nDROP INDEX IF EXISTS app.accounts_email;\n" }],
    ['missing-lock-timeout', "set_config('lock_timeout', …) before the DDL", { '002_l.sql': "SELECT set_config('lock_timeout', '10s', true);\nALTER TABLE app.accounts ADD COLUMN IF NOT EXISTS note TEXT;\n" }],
    ['missing-lock-timeout', 'DDL only on tables created in the same file', { '002_l.sql': 'CREATE TABLE IF NOT EXISTS app.notes (id INT);\nALTER TABLE app.notes ADD COLUMN IF NOT EXISTS body TEXT;\nCREATE INDEX IF NOT EXISTS notes_body ON app.notes (body);\n' }],
    ['plpgsql-outside-block', 'RAISE and PERFORM inside a DO block and a comment', { '002_p.sql': "-- RAISE NOTICE 'x';\nDO $$\nBEGIN\n  PERFORM 1;\n  RAISE NOTICE 'ok';\nEND\n$$;\nSELECT 'PERFORM';\n" }],
    ['not-idempotent', 'guarded constraint and type in DO blocks, IF NOT EXISTS / OR REPLACE everywhere', { '002_n.sql': LOCK + "CREATE TABLE IF NOT EXISTS app.notes (id BIGINT);\nCREATE INDEX IF NOT EXISTS notes_id ON app.notes (id);\nCREATE OR REPLACE VIEW app.v AS SELECT 1;\nALTER TABLE app.accounts ADD COLUMN IF NOT EXISTS note TEXT;\nDO $$ BEGIN\n  IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'accounts_email_uq') THEN\n    ALTER TABLE app.accounts ADD CONSTRAINT accounts_email_uq UNIQUE (email);\n  END IF;\n  IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'mood') THEN\n    CREATE TYPE app.mood AS ENUM ('ok');\n  END IF;\nEND $$;\nSELECT add_retention_policy('app.events', INTERVAL '90 days', if_not_exists => TRUE);\nSELECT add_compression_policy('app.events', INTERVAL '7 days', TRUE);\n" }],
    ['transaction-control', 'BEGIN ATOMIC bodies and DO blocks', { '002_tx.sql': 'CREATE OR REPLACE FUNCTION app.one() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT 1;\nEND;\nDO $$ BEGIN COMMIT; END $$;\n-- BEGIN;\n' }],
    ['needs-no-transaction', 'refresh_continuous_aggregate in a --! no-transaction file', { '002_r.sql': "--! no-transaction\nCALL refresh_continuous_aggregate('app.daily', NULL, NULL);\n" }],
    ['syntax-error', 'valid SQL: BEGIN ATOMIC bodies, dollar quotes, E-strings, a statement without a final semicolon', { '002_s.sql': "CREATE OR REPLACE FUNCTION app.one() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT 1;\nEND;\nSELECT E'a\\'b', $x$ ; $x$;\nSELECT 2" }],
    ['syntax-error', 'RAISE at top level (plpgsql-outside-block says it better)', { '002_s.sql': "RAISE NOTICE 'x';\n" }],
    ['concurrently-on-hypertable', 'CONCURRENTLY on a plain table, and transaction_per_chunk on the hypertable', { '002_c.sql': "--! no-transaction\nSET lock_timeout = '5s';\nCREATE INDEX CONCURRENTLY IF NOT EXISTS accounts_email ON app.accounts (email);\nCREATE INDEX IF NOT EXISTS events_kind ON app.events (kind) WITH (timescaledb.transaction_per_chunk);\n" }],
    ['index-volatile-function', 'IMMUTABLE expressions and constant predicates; now() outside an index', { '002_i.sql': LOCK + "CREATE OR REPLACE FUNCTION app.norm(t text) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT lower(t) $$;\nCREATE INDEX IF NOT EXISTS accounts_lower ON app.accounts (lower(email)) WHERE id > 100;\nCREATE INDEX IF NOT EXISTS accounts_norm ON app.accounts (app.norm(email));\nCREATE TABLE IF NOT EXISTS app.notes (at timestamptz DEFAULT now());\n" }],
    ['view-duplicate-column', 'columns named apart with AS, and a star', { '002_v.sql': 'CREATE OR REPLACE VIEW app.v AS SELECT a.id, e.account_id AS account FROM app.accounts a JOIN app.events e ON e.account_id = a.id;\nCREATE OR REPLACE VIEW app.w AS SELECT a.*, e.* FROM app.accounts a JOIN app.events e ON e.account_id = a.id;\n' }],
    ['view-column-change', 'new columns at the end, the same columns again, and DROP VIEW before a change', { '002_v.sql': 'CREATE OR REPLACE VIEW app.v AS SELECT id, email FROM app.accounts;\n', '003_v.sql': 'CREATE OR REPLACE VIEW app.v AS SELECT id, email, 1 AS n FROM app.accounts;\nCREATE OR REPLACE VIEW app.v AS SELECT id, email, 2 AS n FROM app.accounts;\nDROP VIEW IF EXISTS app.v;\nCREATE OR REPLACE VIEW app.v AS SELECT email FROM app.accounts;\n' }],
    ['function-return-type-change', 'the same return type, an overload with other arguments, and DROP FUNCTION first', { '002_f.sql': 'CREATE OR REPLACE FUNCTION app.f(a int) RETURNS int LANGUAGE sql AS $$ SELECT a $$;\n', '003_f.sql': 'CREATE OR REPLACE FUNCTION app.f(a int4) RETURNS integer LANGUAGE sql AS $$ SELECT a + 1 $$;\nCREATE OR REPLACE FUNCTION app.f(a bigint) RETURNS bigint LANGUAGE sql AS $$ SELECT a $$;\nDROP FUNCTION IF EXISTS app.f(int);\nCREATE OR REPLACE FUNCTION app.f(a int) RETURNS text LANGUAGE sql AS $$ SELECT a::text $$;\n' }],
    ['extension-missing', 'an extension created by an earlier migration', { '002_e.sql': 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements;\nCREATE EXTENSION IF NOT EXISTS pgcrypto;\n', '003_x.sql': "CREATE OR REPLACE VIEW app.slow AS SELECT query, calls FROM pg_stat_statements;\nSELECT crypt('secret', gen_salt('bf'));\n" }],
    ['extension-missing', 'an extension the manifest requires', { 'manifest.json': '{ "requirements": { "extensions": { "pg_stat_statements": {} } } }', '002_x.sql': 'CREATE OR REPLACE VIEW app.slow AS SELECT query, calls FROM pg_stat_statements;\n' }],
    ['constraint-not-valid', 'NOT VALID, a table created in the same file, and a UNIQUE constraint', { '002_k.sql': LOCK + "ALTER TABLE app.accounts ADD CONSTRAINT accounts_email_chk CHECK (email LIKE '%@%') NOT VALID;\nALTER TABLE app.accounts VALIDATE CONSTRAINT accounts_email_chk;\nCREATE TABLE IF NOT EXISTS app.notes (id BIGINT, account_id BIGINT);\nALTER TABLE app.notes ADD CONSTRAINT notes_account_fk FOREIGN KEY (account_id) REFERENCES app.accounts (id);\nALTER TABLE app.accounts ADD CONSTRAINT accounts_email_uq UNIQUE (email);\n" }],
    // The two false alarms of issue #11.
    ['not-idempotent', 'ADD CONSTRAINT that the same file drops IF EXISTS just before', { '002_n.sql': LOCK + 'ALTER TABLE app.accounts DROP CONSTRAINT IF EXISTS accounts_email_uq;\nALTER TABLE app.accounts ADD CONSTRAINT accounts_email_uq UNIQUE (email);\n' }],
    ['index-not-concurrent', 'CREATE INDEX IF NOT EXISTS of an index an earlier migration created (nothing is built)', { '002_n.sql': 'CREATE TABLE IF NOT EXISTS app.notes (id BIGINT, body TEXT);\nCREATE INDEX IF NOT EXISTS notes_body ON app.notes (body);\n', '003_again.sql': LOCK + 'CREATE INDEX IF NOT EXISTS notes_body ON app.notes (body);\n' }],
  ]
  for (const [rule, what, files] of nearMisses) {
    it(`${rule}: quiet on ${what}`, async () => {
      const r = await lint(files)
      expect(of(r, rule), show(r)).toEqual([])
    })
  }

  it('index-not-concurrent on a hypertable says hypertables do not support CONCURRENTLY', async () => {
    const r = await lint({ '002_idx.sql': LOCK + 'CREATE INDEX IF NOT EXISTS events_kind ON app.events (kind);\n' })
    const [f] = of(r, 'index-not-concurrent')
    expect(f, show(r)).toBeDefined()
    expect(f!.fix).toBe('hypertables do not support CONCURRENTLY; build it in a maintenance window or WITH (timescaledb.transaction_per_chunk) in a --! no-transaction file')
    expect(f!.message).toMatch(/hypertable app\.events \(created in 001_base\.sql\)/)
    const plain = of(await lint({ '002_idx.sql': LOCK + 'CREATE INDEX IF NOT EXISTS accounts_email ON app.accounts (email);\n' }), 'index-not-concurrent')[0]!
    expect(plain.fix).toMatch(/CONCURRENTLY IF NOT EXISTS .* --! no-transaction/)
  })

  it('hypertable-unique-without-time names the missing column and where the hypertable is made', async () => {
    const r = await lint({ '002_r.sql': "CREATE TABLE IF NOT EXISTS app.readings (id BIGINT PRIMARY KEY, ts TIMESTAMPTZ NOT NULL);\nSELECT create_hypertable('app.readings', 'ts', if_not_exists => TRUE);\n" })
    const [f] = of(r, 'hypertable-unique-without-time')
    expect(f!.message).toMatch(/PRIMARY KEY on column id \(id\) on hypertable app\.readings does not include its partitioning column ts \(create_hypertable in 002_r\.sql\)/)
    expect(f!.fix).toMatch(/\(id, ts\)/)
  })

  it('reports the line and column of the matching token, not of the statement', async () => {
    const r = await lint({ '002_x.sql': `${LOCK}ALTER TABLE app.accounts\n    ALTER COLUMN email TYPE TEXT,\n    DROP COLUMN IF EXISTS id;\n` })
    expect(of(r, 'alter-column-type').map((f) => [f.line, f.column])).toEqual([[3, 24]])
    expect(of(r, 'drop-column').map((f) => [f.line, f.column])).toEqual([[4, 5]])
    expect(of(r, 'drop-column')[0]!.statement).toBe('ALTER TABLE app.accounts')
  })

  it('reports missing-lock-timeout once per file, at the first unguarded statement', async () => {
    const r = await lint({ '002_l.sql': 'ALTER TABLE app.accounts ADD COLUMN IF NOT EXISTS a TEXT;\nALTER TABLE app.accounts ADD COLUMN IF NOT EXISTS b TEXT;\n' })
    const hits = of(r, 'missing-lock-timeout')
    expect(hits.map((f) => f.line)).toEqual([1])
    expect(hits[0]!.message).toMatch(/and 1 more DDL statement/)
  })

  it('lints down files with the run-time rules only', async () => {
    const r = await lint({
      '002_n.sql': LOCK + 'CREATE TABLE IF NOT EXISTS app.notes (id INT);\n',
      '002_n.down.sql': 'DROP TABLE app.notes;\nALTER TABLE app.accounts DROP COLUMN email;\nRAISE NOTICE \'x\';\nCOMMIT;\n',
    })
    const down = r.findings.filter((f) => f.file === '002_n.down.sql').map((f) => f.rule)
    expect(down.sort(), show(r)).toEqual(['plpgsql-outside-block', 'transaction-control'])
  })
})

describe('lintDirectory on files the runner refuses', () => {
  it('reports CONCURRENTLY without the directive where discover refuses the directory, and keeps going', async () => {
    const dir = fixture({
      '002_idx.sql': LOCK + 'CREATE INDEX CONCURRENTLY IF NOT EXISTS accounts_email ON app.accounts (email);\n',
      '003_col.sql': LOCK + 'ALTER TABLE app.accounts ADD COLUMN IF NOT EXISTS plan TEXT NOT NULL;\n',
    })
    await expect(new FileMigrationProvider(dir).getMigrations()).rejects.toMatchObject({ code: 'MIGRATION_NEEDS_NO_TRANSACTION' })
    const r = await lintDirectory(dir, { allow: [] })
    expect(of(r, 'concurrently-in-transaction').map((f) => `${f.file}:${f.line}:${f.column}`)).toEqual(['002_idx.sql:2:14'])
    expect(of(r, 'add-column-not-null-no-default').map((f) => `${f.file}:${f.line}`)).toEqual(['003_col.sql:2'])
    expect(r.errors).toBe(2)
  })

  it('turns parse problems into `parse` findings and lints the other files', async () => {
    const r = await lint({
      '002_str.sql': "SELECT 1;\nSELECT 'never closed;\nCREATE TABLE app.x (id INT);\n",
      '003_dir.sql': '--! no-transactoin\nSELECT 1;\n',
      '004_latin1.sql': Buffer.from([0x53, 0x45, 0x4c, 0x45, 0x43, 0x54, 0x20, 0x27, 0xe9, 0x27, 0x3b]),
      '005_body.sql': 'DO $$ BEGIN PERFORM 1;\n',
      '006_empty.sql': '-- nothing\n',
      'notes.sql': 'SELECT 1;',
      '007_ok.sql': 'CREATE TABLE app.y (id INT);\n',
    })
    const parse = of(r, 'parse').map((f) => `${f.file}:${f.line}:${f.column}`)
    expect(parse, show(r)).toEqual(['notes.sql:1:1', '002_str.sql:2:8', '003_dir.sql:1:1', '004_latin1.sql:1:1', '005_body.sql:1:4', '006_empty.sql:1:1'])
    expect(of(r, 'parse').every((f) => f.severity === 'error')).toBe(true)
    // the files after the broken ones are still linted
    expect(of(r, 'not-idempotent').map((f) => f.file)).toContain('007_ok.sql')
  })

  it('reports gaps, duplicates and orphan down files', async () => {
    const r = await lint({ '003_a.sql': 'SELECT 1;\n', '003_b.sql': 'SELECT 1;\n', '004_c.down.sql': 'SELECT 1;\n' })
    expect(of(r, 'parse').map((f) => f.message).join('\n'), show(r)).toMatch(/down file without a matching up file 004_c\.sql[\s\S]*two migrations with number 003[\s\S]*migration 002 is missing/)
  })

  it('gives the same findings through lintMigrations when the provider can read the directory', async () => {
    const dir = fixture({ '002_idx.sql': 'CREATE INDEX IF NOT EXISTS events_kind ON app.events (kind);\nALTER TABLE app.accounts ADD COLUMN note TEXT;\n' })
    const viaProvider = lintMigrations(await new FileMigrationProvider(dir).getMigrations())
    const viaDir = await lintDirectory(dir, { allow: [] })
    expect(viaProvider.findings).toEqual(viaDir.findings)
    expect(viaProvider.findings.map((f) => f.rule).sort()).toEqual(['index-not-concurrent', 'missing-lock-timeout', 'not-idempotent'])
  })
})

describe('allow-list', () => {
  const files = { '002_idx.sql': LOCK + 'CREATE INDEX IF NOT EXISTS accounts_email ON app.accounts (email);\nRAISE NOTICE \'x\';\n' }

  it('marks allowed findings and does not count them', async () => {
    const r = await lint(files, [
      { file: '002_idx.sql', rule: 'index-not-concurrent', reason: 'small table', line: 2 },
      { file: '002_idx.sql', rule: 'plpgsql-outside-block', reason: 'test only' },
    ])
    expect(r.findings.map((f) => [f.rule, f.allowed?.reason])).toEqual([
      ['index-not-concurrent', 'small table'],
      ['plpgsql-outside-block', 'test only'],
    ])
    expect([r.errors, r.warnings, r.allowed]).toEqual([0, 0, 2])
  })

  it('reports an entry that matches nothing as unused-allow', async () => {
    const dir = fixture(files)
    writeFileSync(path.join(dir, ALLOW_FILE), JSON.stringify({
      allow: [
        { file: '002_idx.sql', rule: 'index-not-concurrent', reason: 'small table', line: 2 },
        { file: '002_idx.sql', rule: 'index-not-concurrent', reason: 'stale: wrong line', line: 7 },
        { file: '009_gone.sql', rule: 'drop-table', reason: 'stale: no such file' },
      ],
    }, null, 2))
    const r = await lintDirectory(dir)
    const unused = of(r, 'unused-allow')
    expect(unused.map((f) => [f.file, f.line, f.severity]), show(r)).toEqual([[ALLOW_FILE, 9, 'warning'], [ALLOW_FILE, 15, 'warning']])
    expect(unused[0]!.message).toMatch(/002_idx\.sql index-not-concurrent line 7 matches no finding/)
    expect([r.errors, r.warnings, r.allowed]).toEqual([1, 2, 1]) // the RAISE is not allowed
  })

  const bad: Array<[string, string, RegExp]> = [
    ['invalid JSON', '{ "allow": [ { "file": "002_idx.sql", } ] }', /lint-allow\.json: not valid JSON/],
    ['a missing reason', '{ "allow": [\n  { "file": "002_idx.sql", "rule": "index-not-concurrent" }\n] }', /lint-allow\.json: entry 1 \(line 2\): missing "reason" for 002_idx\.sql index-not-concurrent/],
    ['an empty reason', '{ "allow": [ { "file": "a.sql", "rule": "drop-table", "reason": "ok" },\n { "file": "b.sql", "rule": "drop-table", "reason": "  " } ] }', /entry 2 \(line 2\): missing "reason"/],
    ['an unknown rule', '{ "allow": [ { "file": "a.sql", "rule": "no-such-rule", "reason": "x" } ] }', /entry 1 \(line 1\): "rule" must be a rule id, got "no-such-rule"/],
    ['a misspelt key', '{ "allow": [ { "file": "a.sql", "rule": "drop-table", "reason": "x", "lines": 3 } ] }', /unknown key "lines"/],
    ['a bad line', '{ "allow": [ { "file": "a.sql", "rule": "drop-table", "reason": "x", "line": "3" } ] }', /"line" must be a positive integer/],
    ['no allow array', '{ "allowed": [] }', /expected an object with an "allow" array/],
  ]
  for (const [what, text, message] of bad) {
    it(`refuses ${what} with MANIFEST_INVALID`, async () => {
      const dir = fixture({})
      writeFileSync(path.join(dir, ALLOW_FILE), text)
      const e = await loadAllowList(dir).then(() => undefined, (x: unknown) => x)
      expect(e).toBeInstanceOf(HarnessError)
      expect((e as HarnessError).code).toBe('MANIFEST_INVALID')
      expect((e as HarnessError).message).toMatch(message)
      await expect(lintDirectory(dir)).rejects.toMatchObject({ code: 'MANIFEST_INVALID' })
    })
  }

  it('matches an entry by a text of the statement (the index name), wherever the line moved', async () => {
    const moved = { '002_idx.sql': LOCK + '\n\n\nCREATE INDEX IF NOT EXISTS accounts_email ON app.accounts (email);\n' }
    const r = await lint(moved, [
      { file: '002_idx.sql', rule: 'index-not-concurrent', reason: 'small table', match: 'accounts_email' },
      { file: '002_idx.sql', rule: 'index-not-concurrent', reason: 'another index', match: 'accounts_name' },
    ])
    expect(r.findings.filter((f) => f.rule === 'index-not-concurrent').map((f) => f.allowed?.reason)).toEqual(['small table'])
    expect(of(r, 'unused-allow').map((f) => f.message)).toEqual([expect.stringMatching(/matching "accounts_name" matches no finding/)])
  })

  it('treats a missing allow file as an empty allow-list', async () => {
    expect(await loadAllowList(fixture({}))).toEqual([])
  })
})

describe('the MS5.0 migrations', () => {
  it('lint with zero errors that are not allowed', async () => {
    const r = await lintDirectory(MIGRATIONS)
    const open = r.findings.filter((f) => !f.allowed)
    if (open.length) console.log(`lint of ${MIGRATIONS}:\n${formatLintResult(r)}`)
    expect(r.errors, formatLintResult(r)).toBe(0)
    // Entries match by index name, so an edit that moves lines does not orphan them.
    expect(open, formatLintResult(r)).toEqual([])
  })

  it('every allow entry has a specific reason', async () => {
    for (const e of await loadAllowList(MIGRATIONS)) expect(e.reason.length, `${e.file} ${e.rule}`).toBeGreaterThan(40)
  })
})
