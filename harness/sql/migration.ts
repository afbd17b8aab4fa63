/** What the runner knows about one migration file, once read and checked. */
import type { Statement } from './split.ts'

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
