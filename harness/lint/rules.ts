/**
 * The lint rules: stable ids (used in allow-lists, reports and tests), severity, scope, what they
 * catch and the fix. The checks live by family in rules/*.ts and read the statement's PostgreSQL
 * parse tree (facts.ts); the small token scan only places the caret, and stands in for the tree
 * where the parser cannot go (a statement it refuses; PL/pgSQL bodies are strings to it).
 *
 * What "existing table" means: any table the statement touches that was not created earlier in
 * the same file. It was created by an earlier migration (the message names it) or exists outside
 * the migrations; either way it may hold rows and be in use while the migration runs.
 *
 * Not seen (by design of a static lint): SQL run by EXECUTE inside DO blocks or functions, tables
 * created or made hypertables there, and anything decided by data.
 */

export type Severity = 'error' | 'warning'

export interface LintFinding {
  rule: string
  severity: Severity
  file: string
  line: number
  column: number
  message: string
  fix: string
  /** First line of the statement. */
  statement: string
  allowed?: { reason: string }
}

export interface LintResult {
  findings: LintFinding[]
  /** Errors not covered by the allow-list. */
  errors: number
  /** Warnings not covered by the allow-list (including unused allow entries). */
  warnings: number
  /** Findings covered by the allow-list. */
  allowed: number
}

export interface Rule {
  /** Stable kebab-case id: used in allow-lists, reports and tests. */
  id: string
  severity: Severity
  /** `up`: up files only. `all`: down files too (they are expected to drop things, but must still run). */
  scope: 'up' | 'all'
  description: string
  fix: string
}

export const HYPERTABLE_INDEX_FIX =
  'hypertables do not support CONCURRENTLY; build it in a maintenance window or WITH (timescaledb.transaction_per_chunk) in a --! no-transaction file'

export const RULES: readonly Rule[] = [
  { id: 'parse', severity: 'error', scope: 'all', description: 'The file cannot be read as a migration (name, encoding, directive, unterminated string, comment or dollar-quote).', fix: 'Fix the file so the runner can split it; the message says where.' },
  { id: 'syntax-error', severity: 'error', scope: 'all', description: "PostgreSQL's own parser refuses the statement (SQLSTATE 42601 when it runs): found without a database.", fix: 'Fix the statement at the position shown (a missing comma, a misspelt keyword, an unbalanced parenthesis).' },
  { id: 'transaction-control', severity: 'error', scope: 'all', description: 'BEGIN/COMMIT/ROLLBACK/SAVEPOINT… at top level: the runner owns the transaction.', fix: 'Remove it; for statements that cannot run in a transaction, start the file with --! no-transaction.' },
  { id: 'concurrently-in-transaction', severity: 'error', scope: 'all', description: 'CONCURRENTLY in a file that runs in a transaction (no --! no-transaction directive): PostgreSQL refuses it.', fix: 'Move the statement into a migration of its own whose first line is --! no-transaction, or drop CONCURRENTLY.' },
  { id: 'concurrently-on-hypertable', severity: 'error', scope: 'all', description: 'CREATE INDEX CONCURRENTLY on a hypertable: TimescaleDB refuses it even outside a transaction.', fix: HYPERTABLE_INDEX_FIX + '.' },
  { id: 'needs-no-transaction', severity: 'error', scope: 'all', description: 'A statement PostgreSQL/TimescaleDB refuse inside a transaction block (transaction_per_chunk, refresh_continuous_aggregate, VACUUM, …) in a transactional file.', fix: 'Move the statement into a migration of its own whose first line is --! no-transaction.' },
  { id: 'plpgsql-outside-block', severity: 'error', scope: 'all', description: 'RAISE or PERFORM as a top-level statement: PL/pgSQL only, a syntax error in plain SQL.', fix: 'Put it inside a DO $$ BEGIN … END $$ block (or use SELECT instead of PERFORM).' },
  { id: 'hypertable-unique-without-time', severity: 'error', scope: 'up', description: 'PRIMARY KEY / UNIQUE constraint or unique index on a hypertable without its partitioning column(s): TimescaleDB refuses it.', fix: 'Add the time (and any space-partitioning) column to the key, or drop the uniqueness.' },
  { id: 'index-volatile-function', severity: 'error', scope: 'all', description: 'A function that is not IMMUTABLE (now(), CURRENT_DATE, random(), a VOLATILE or STABLE function of the set…) in an index expression or predicate: PostgreSQL refuses it (42P17).', fix: 'Use a constant (a fixed cut-off date) or an IMMUTABLE expression; for "recent rows" filter in the query, not in the index.' },
  { id: 'view-duplicate-column', severity: 'error', scope: 'all', description: 'A view whose select list repeats a column name: PostgreSQL refuses it (42701).', fix: 'Give every output column its own name with AS.' },
  { id: 'view-column-change', severity: 'error', scope: 'all', description: 'CREATE OR REPLACE VIEW that removes, renames or reorders columns of a view defined earlier in the set: PostgreSQL refuses it (42P16); only new columns at the end are allowed.', fix: 'Keep the existing columns in their order and add new ones at the end; or DROP VIEW (and its dependants) first and create it again.' },
  { id: 'function-return-type-change', severity: 'error', scope: 'all', description: 'CREATE OR REPLACE FUNCTION that changes the return type of a function defined earlier in the set: PostgreSQL refuses it (42P13).', fix: 'DROP FUNCTION with the old signature first (in the same migration), then create it; or give the new function another name.' },
  { id: 'extension-missing', severity: 'error', scope: 'all', description: "Use of an extension's objects (pg_stat_statements, pgcrypto's crypt(), uuid-ossp, pg_trgm, hstore, citext, PostGIS…) that no migration creates and the manifest does not require.", fix: 'CREATE EXTENSION IF NOT EXISTS <name> in an earlier migration, or list it under requirements.extensions in manifest.json (the runner then checks for it before the first migration).' },
  { id: 'add-column-not-null-no-default', severity: 'error', scope: 'up', description: 'ADD COLUMN … NOT NULL without DEFAULT on an existing table: fails as soon as the table has a row.', fix: 'Add the column nullable, backfill it, then SET NOT NULL; or give it a DEFAULT.' },
  { id: 'index-not-concurrent', severity: 'warning', scope: 'up', description: 'CREATE INDEX without CONCURRENTLY on an existing table: blocks writes to it for the whole build.', fix: 'Use CREATE INDEX CONCURRENTLY IF NOT EXISTS in a migration of its own starting with --! no-transaction (for a hypertable: ' + HYPERTABLE_INDEX_FIX + ').' },
  { id: 'constraint-not-valid', severity: 'warning', scope: 'up', description: 'FOREIGN KEY or CHECK constraint added to an existing table without NOT VALID: validating every row holds a lock that blocks writes for the whole scan.', fix: 'Two steps: ALTER TABLE … ADD CONSTRAINT … NOT VALID (instant), then ALTER TABLE … VALIDATE CONSTRAINT … (a later statement or migration; it takes a lighter lock and lets writes through).' },
  { id: 'hypertable-no-if-not-exists', severity: 'warning', scope: 'up', description: 'create_hypertable() without if_not_exists => TRUE: a re-run fails.', fix: 'Add if_not_exists => TRUE (and migrate_data => TRUE if the table may already hold rows).' },
  { id: 'alter-column-type', severity: 'warning', scope: 'up', description: 'ALTER COLUMN … TYPE on an existing table: usually rewrites the table under ACCESS EXCLUSIVE.', fix: 'Add a new column, backfill in batches and switch over; or run it in a maintenance window.' },
  { id: 'drop-table', severity: 'warning', scope: 'up', description: 'DROP TABLE in an up migration: its data is gone.', fix: 'Make sure the data is no longer needed or copied elsewhere first; allow-list the finding with the reason.' },
  { id: 'drop-column', severity: 'warning', scope: 'up', description: 'DROP COLUMN in an up migration: its data is gone.', fix: 'Make sure the data is no longer needed or copied elsewhere first; allow-list the finding with the reason.' },
  { id: 'missing-lock-timeout', severity: 'warning', scope: 'up', description: 'DDL on an existing table without an earlier SET lock_timeout in the file: waiting for the lock queues every other query behind it.', fix: "Put SET LOCAL lock_timeout = '10s'; before the first such statement (plain SET in a --! no-transaction file)." },
  { id: 'not-idempotent', severity: 'warning', scope: 'up', description: 'A statement that fails or duplicates something when the file is run again (no IF NOT EXISTS / OR REPLACE / guard).', fix: 'Use IF NOT EXISTS / OR REPLACE / if_not_exists => TRUE, or guard the statement in a DO block that checks the catalog.' },
  { id: 'unused-allow', severity: 'warning', scope: 'all', description: 'An allow-list entry that matches no finding (stale).', fix: 'Remove the entry from lint-allow.json, or correct its file, rule or line.' },
]

export type RuleId = (typeof RULES)[number]['id']
export const RULE_BY_ID: ReadonlyMap<string, Rule> = new Map(RULES.map((r) => [r.id, r]))
