/** What the runner knows about one migration file, once read and checked. */
import type { ErrorCode } from '../errors.ts'
import type { Position } from './lines.ts'
import type { Statement, SyntaxError } from './split.ts'

export interface MigrationScript {
  /** Absolute path. */
  path: string
  /** File name as shown to users, e.g. "003_production_management.sql". */
  file: string
  sql: string
  /** SHA-256 of the file's bytes, hex (64 chars), as `sha256sum` prints it. */
  checksum: string
  statements: Statement[]
  /** `--! no-transaction`: statements run one by one in autocommit mode. */
  noTransaction: boolean
  /** Statements PostgreSQL's parser refuses (the server will too, when the statement runs). */
  syntaxErrors?: SyntaxError[]
  /** Where an unterminated literal, identifier, body or comment swallows the rest of the file. */
  unterminated?: Position & { offset: number }
}

export interface Migration {
  /** 1, 2, 3 … from the file name prefix. */
  version: number
  /** File name without `.sql`, e.g. "003_production_management": the key in migration_log. */
  name: string
  up: MigrationScript
  down?: MigrationScript
}

/** Where migrations come from; the runner never reads the file system itself. */
export interface MigrationProvider {
  /** Human-readable origin, e.g. the directory, for messages. */
  readonly source: string
  getMigrations(): Promise<Migration[]>
}

/**
 * One problem with the files, found without a database. `error`: the runner refuses the
 * directory (the code and message are those of the HarnessError it throws); `warning`: the
 * runner runs the file and the server will decide (a syntax error: the server reports it too).
 */
export interface Diagnostic {
  code: ErrorCode | 'MIGRATION_SYNTAX'
  severity: 'error' | 'warning'
  /** As the runner's error message says it (it starts with the file or directory). */
  message: string
  hint: string
  /** The file it is about (a name in the directory), when it is about one. */
  file?: string
  line?: number
  column?: number
  /** The migration number it is about (gaps and duplicates), when known. */
  version?: number
  details?: Record<string, unknown>
}
