/**
 * The migration log (`migration_log`, the seed's columns). One row per migration name; its
 * status is the truth about what was applied: completed | failed | running | rolled_back.
 * `running` survives only when a non-transactional migration was interrupted halfway.
 */
import { quoteIdent } from '../util/sql.ts'
import type pg from 'pg'

export type LogStatus = 'completed' | 'failed' | 'running' | 'rolled_back'
export const LOG_STATUSES: readonly string[] = ['completed', 'failed', 'running', 'rolled_back']

export interface LogRow {
  migration_name: string
  migration_file: string
  status: string
  checksum: string | null
  applied_at: Date | null
  applied_by: string | null
  execution_time_ms: number | null
  error_message: string | null
}


export class MigrationLog {
  readonly schema: string
  readonly table: string
  readonly qualified: string

  constructor(schema = 'factory_telemetry', table = 'migration_log') {
    this.schema = schema
    this.table = table
    this.qualified = `${quoteIdent(schema)}.${quoteIdent(table)}`
  }

  bootstrapSql(): string[] {
    return [
      `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(this.schema)}`,
      `CREATE TABLE IF NOT EXISTS ${this.qualified} (
    id SERIAL PRIMARY KEY,
    migration_name VARCHAR(255) UNIQUE NOT NULL,
    migration_file VARCHAR(255) NOT NULL,
    applied_at TIMESTAMPTZ DEFAULT NOW(),
    applied_by VARCHAR(255) DEFAULT USER,
    execution_time_ms INTEGER,
    status VARCHAR(50) DEFAULT 'completed',
    error_message TEXT,
    checksum VARCHAR(64),
    created_at TIMESTAMPTZ DEFAULT NOW()
)`,
    ]
  }

  async exists(client: pg.ClientBase): Promise<boolean> {
    const r = await client.query<{ t: string | null }>(`SELECT to_regclass($1) AS t`, [this.qualified])
    return r.rows[0]?.t != null
  }

  /** Every row in order, or undefined when the table does not exist (asked first: a query naming a missing table would leave an ERROR in the server's log). */
  async read(client: pg.ClientBase): Promise<LogRow[] | undefined> {
    if (!(await this.exists(client))) return undefined
    return (await client.query<LogRow>(`SELECT migration_name, migration_file, status, checksum, applied_at, applied_by, execution_time_ms, error_message FROM ${this.qualified} ORDER BY id`)).rows
  }

  async recordCompleted(client: pg.ClientBase, name: string, file: string, checksum: string, ms: number): Promise<void> {
    await client.query(
      `INSERT INTO ${this.qualified} AS l (migration_name, migration_file, checksum, execution_time_ms, status)
       VALUES ($1, $2, $3, $4, 'completed')
       ON CONFLICT (migration_name) DO UPDATE SET migration_file = EXCLUDED.migration_file, checksum = EXCLUDED.checksum,
         execution_time_ms = EXCLUDED.execution_time_ms, status = 'completed', error_message = NULL,
         applied_at = NOW(), applied_by = USER`,
      [name, file, checksum, Math.round(ms)],
    )
  }

  /** A failure is recorded after the rollback, in its own statement; it never overwrites a completed row. */
  async recordStatus(client: pg.ClientBase, name: string, file: string, checksum: string, status: 'failed' | 'running', ms: number | null, error: string | null): Promise<void> {
    await client.query(
      `INSERT INTO ${this.qualified} AS l (migration_name, migration_file, checksum, execution_time_ms, status, error_message)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (migration_name) DO UPDATE SET migration_file = EXCLUDED.migration_file, checksum = EXCLUDED.checksum,
         execution_time_ms = EXCLUDED.execution_time_ms, status = EXCLUDED.status, error_message = EXCLUDED.error_message,
         applied_at = NOW(), applied_by = USER
       WHERE l.status <> 'completed'`,
      [name, file, checksum, ms === null ? null : Math.round(ms), status, error],
    )
  }

  async recordRolledBack(client: pg.ClientBase, name: string, ms: number): Promise<void> {
    await client.query(
      `UPDATE ${this.qualified} SET status = 'rolled_back', execution_time_ms = $2, error_message = NULL, applied_at = NOW(), applied_by = USER WHERE migration_name = $1`,
      [name, Math.round(ms)],
    )
  }

  /** An explicit drift override is written into the log itself, so the audit trail keeps it. */
  async acceptChecksum(client: pg.ClientBase, name: string, oldSum: string | null, newSum: string): Promise<void> {
    await client.query(
      `UPDATE ${this.qualified} SET checksum = $2::text,
         error_message = concat_ws(E'\\n', error_message, format('drift accepted by %s at %s: checksum %s -> %s', USER, NOW(), coalesce($3::text, 'none'), $2::text))
       WHERE migration_name = $1`,
      [name, newSum, oldSum],
    )
  }
}
