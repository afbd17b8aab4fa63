/**
 * Every error a user can hit is a HarnessError with a stable `code`.
 * The CLI maps codes to exit codes in one place (cli/exit-codes.ts).
 */
export type ErrorCode =
  // input: the migrations directory and its files
  | 'MIGRATIONS_DIR_NOT_FOUND'
  | 'MIGRATION_GAP'
  | 'MIGRATION_DUPLICATE'
  | 'MIGRATION_UNREADABLE'
  /** A migration that is a symlink out of the directory, or not a regular file. */
  | 'MIGRATION_OUTSIDE_DIR'
  | 'MIGRATION_EMPTY'
  | 'MIGRATION_NOT_UTF8'
  | 'MIGRATION_BAD_NAME'
  | 'MIGRATION_ORPHAN_DOWN'
  | 'MIGRATION_DIRECTIVE'
  | 'MIGRATION_TRANSACTION_CONTROL'
  | 'MIGRATION_NEEDS_NO_TRANSACTION'
  | 'MIGRATION_NO_DOWN'
  | 'MIGRATION_TARGET_UNKNOWN'
  | 'MANIFEST_INVALID'
  // state in the database
  | 'MIGRATION_DRIFT'
  | 'MIGRATION_MISSING_FILE'
  | 'MIGRATION_LOG_CORRUPT'
  | 'MIGRATION_FAILED'
  | 'LOCK_TIMEOUT'
  /** A step waited on a lock past the watchdog's limit and was cancelled (runner/watchdog.ts). */
  | 'STALLED'
  /** An earlier `execute` of this database was interrupted: its journal names the backup and the ways out. */
  | 'EXECUTE_INTERRUPTED'
  // environment
  | 'TIMESCALEDB_MISSING'
  | 'TIMESCALEDB_NOT_PRELOADED'
  | 'TIMESCALEDB_TOO_OLD'
  | 'TIMESCALEDB_APACHE_ONLY'
  | 'CONNECTION_FAILED'
  /** The server ran out of disk, memory or connections (SQLSTATE class 53): not the fault of what ran. */
  | 'SERVER_RESOURCES'
  | 'AUTH_FAILED'
  | 'DATABASE_NOT_FOUND'
  | 'PERMISSION_DENIED'
  | 'ENGINE_UNAVAILABLE'
  | 'ENGINE_START_FAILED'
  | 'USAGE'
  | 'VALIDATION_FAILED'
  /** Pending retention policies would delete rows and the deletion was not acknowledged. */
  | 'RETENTION_NOT_ACKNOWLEDGED'
  // backups and restores
  | 'BACKUP_FAILED'
  | 'BACKUP_CORRUPT'
  | 'BACKUP_VERSION_MISMATCH'
  | 'BACKUP_TOOL_MISMATCH'
  | 'RESTORE_FAILED'
  /** `pgverify report merge`: the shard reports are not one run (a shard missing, duplicated, of another N, disagreeing). */
  | 'SHARDS_MISMATCH'
  /** Not something a user can cause: a bug in the harness (exit 70). Public methods that return results report it instead of throwing. */
  | 'INTERNAL'

export class HarnessError extends Error {
  readonly code: ErrorCode
  /** What the user should do next; printed after the message. */
  readonly hint?: string
  /** Structured details for --json output and reports. */
  readonly details?: Record<string, unknown>

  constructor(code: ErrorCode, message: string, options: { hint?: string; details?: Record<string, unknown>; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'HarnessError'
    this.code = code
    this.hint = options.hint
    this.details = options.details
  }

  toJSON() {
    return { code: this.code, message: this.message, hint: this.hint, details: this.details }
  }
}

export const isHarnessError = (e: unknown): e is HarnessError => e instanceof HarnessError
