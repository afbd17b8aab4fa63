/** The one place that maps error codes to process exit codes. Documented in the README. */
import { SIGNAL_EXIT_CODES } from '../engines/cleanup.ts'
import type { ErrorCode } from '../errors.ts'

export const EXIT = {
  OK: 0,
  /** A migration, a validation or a verification stage failed. */
  FAILED: 1,
  /** The command line was wrong. */
  USAGE: 2,
  /** The migrations directory or a file in it is not acceptable (nothing was run). */
  INPUT: 3,
  /** The database's migration log disagrees with the files (drift, missing file, edited log), or an execute of it was interrupted. */
  STATE: 4,
  /** The server lacks what the migrations need (TimescaleDB missing, too old, Apache-only), or ran out of disk, memory or connections. */
  ENVIRONMENT: 5,
  /** Cannot connect, authenticate, find the database, or lack privileges. */
  CONNECTION: 6,
  /** A lock could not be had: another runner holds the migration lock, or a statement waited on a table lock past the watchdog's limit. */
  LOCKED: 7,
  /** The requested engine is not available or failed to start. */
  ENGINE: 8,
  /** The backup is corrupt or incomplete, or was made on other PostgreSQL/TimescaleDB versions: nothing was restored. */
  BACKUP: 9,
  /** A restore failed part-way: the message says what state the database is in. */
  RESTORE: 10,
  /** `report merge`: the shard reports are not one run (a shard missing, duplicated, of another N, or disagreeing on the base schema, migrations or settings): nothing was merged. */
  SHARDS: 11,
  /** A bug in the harness: please report it with the output. */
  INTERNAL: 70,
  /** Interrupted (SIGINT 130, SIGTERM 143, SIGHUP 129), after cleanup: set by the signal handler, engines/cleanup.ts. */
  ...SIGNAL_EXIT_CODES,
} as const

const BY_CODE: Record<ErrorCode, number> = {
  MIGRATIONS_DIR_NOT_FOUND: EXIT.INPUT,
  MIGRATION_GAP: EXIT.INPUT,
  MIGRATION_DUPLICATE: EXIT.INPUT,
  MIGRATION_UNREADABLE: EXIT.INPUT,
  MIGRATION_OUTSIDE_DIR: EXIT.INPUT,
  MIGRATION_EMPTY: EXIT.INPUT,
  MIGRATION_NOT_UTF8: EXIT.INPUT,
  MIGRATION_BAD_NAME: EXIT.INPUT,
  MIGRATION_ORPHAN_DOWN: EXIT.INPUT,
  MIGRATION_DIRECTIVE: EXIT.INPUT,
  MIGRATION_TRANSACTION_CONTROL: EXIT.INPUT,
  MIGRATION_NEEDS_NO_TRANSACTION: EXIT.INPUT,
  MIGRATION_NO_DOWN: EXIT.INPUT,
  MANIFEST_INVALID: EXIT.INPUT,
  MIGRATION_TARGET_UNKNOWN: EXIT.USAGE,
  USAGE: EXIT.USAGE,
  MIGRATION_DRIFT: EXIT.STATE,
  MIGRATION_MISSING_FILE: EXIT.STATE,
  MIGRATION_LOG_CORRUPT: EXIT.STATE,
  EXECUTE_INTERRUPTED: EXIT.STATE,
  MIGRATION_FAILED: EXIT.FAILED,
  VALIDATION_FAILED: EXIT.FAILED,
  // A validation refusal like any other (pnpm execute names the rows and the flag that accepts them).
  RETENTION_NOT_ACKNOWLEDGED: EXIT.FAILED,
  LOCK_TIMEOUT: EXIT.LOCKED,
  STALLED: EXIT.LOCKED,
  TIMESCALEDB_MISSING: EXIT.ENVIRONMENT,
  TIMESCALEDB_NOT_PRELOADED: EXIT.ENVIRONMENT,
  TIMESCALEDB_TOO_OLD: EXIT.ENVIRONMENT,
  TIMESCALEDB_APACHE_ONLY: EXIT.ENVIRONMENT,
  CONNECTION_FAILED: EXIT.CONNECTION,
  SERVER_RESOURCES: EXIT.ENVIRONMENT,
  AUTH_FAILED: EXIT.CONNECTION,
  DATABASE_NOT_FOUND: EXIT.CONNECTION,
  PERMISSION_DENIED: EXIT.CONNECTION,
  ENGINE_UNAVAILABLE: EXIT.ENGINE,
  ENGINE_START_FAILED: EXIT.ENGINE,
  BACKUP_FAILED: EXIT.FAILED,
  BACKUP_TOOL_MISMATCH: EXIT.ENVIRONMENT,
  BACKUP_CORRUPT: EXIT.BACKUP,
  BACKUP_VERSION_MISMATCH: EXIT.BACKUP,
  RESTORE_FAILED: EXIT.RESTORE,
  SHARDS_MISMATCH: EXIT.SHARDS,
  INTERNAL: EXIT.INTERNAL,
}

export const exitCodeFor = (code: ErrorCode): number => BY_CODE[code] ?? EXIT.INTERNAL
