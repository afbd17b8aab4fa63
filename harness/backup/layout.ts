/**
 * Where a backup's files live and what they are called (seed 000's backup structure):
 *
 *   pre-migration-YYYYMMDD-HHMMSS/          (UTC; written as .pre-migration-…​.partial-PID, renamed when complete)
 *   ├── database/
 *   │   ├── full_backup.(dump|sql)          whole database: pg_dump -Fc, or the WASM pg_dump's plain SQL
 *   │   ├── schema_only.(dump|sql)          object definitions (no TimescaleDB chunks)
 *   │   ├── schema_timescaledb.sql          hypertables, compression, policies, re-created after schema_only
 *   │   └── data_only.sql                   every table's rows, read through the table (hypertables included)
 *   ├── volumes/postgres_data.tar.gz        physical copy of the data directory (engines with physicalSnapshot)
 *   ├── config/environment.txt              engine, versions and server settings (no secrets)
 *   ├── logs/backup.log                     what the backup did, with times
 *   ├── BACKUP_MANIFEST.txt                 for people
 *   ├── BACKUP_MANIFEST.json                for machines: every file's size and SHA-256, versions, state
 *   └── BACKUP_MANIFEST.json.sha256         the JSON manifest's own checksum (sha256sum format)
 */
import { existsSync } from 'node:fs'
import path from 'node:path'

export const BACKUP_PREFIX = 'pre-migration-'
/** `pre-migration-20261123-181500`, optionally `-2`, `-3` when two start in the same second. */
export const BACKUP_NAME_RE = /^pre-migration-(\d{8})-(\d{6})(?:-(\d+))?$/
/** In-progress (or interrupted) backups: never mistaken for complete ones. */
export const PARTIAL_RE = /^\.pre-migration-\d{8}-\d{6}(?:-\d+)?\.partial-(\d+)$/

export const MANIFEST_JSON = 'BACKUP_MANIFEST.json'
export const MANIFEST_TXT = 'BACKUP_MANIFEST.txt'
export const MANIFEST_SUM = 'BACKUP_MANIFEST.json.sha256'

export const FILES = {
  fullDump: 'database/full_backup.dump',
  fullSql: 'database/full_backup.sql',
  schemaDump: 'database/schema_only.dump',
  schemaSql: 'database/schema_only.sql',
  schemaTimescale: 'database/schema_timescaledb.sql',
  data: 'database/data_only.sql',
  volume: 'volumes/postgres_data.tar.gz',
  environment: 'config/environment.txt',
  log: 'logs/backup.log',
} as const

export const DEFAULT_BACKUP_ROOT = 'backups'

const pad = (n: number, w = 2) => String(n).padStart(w, '0')

/** `YYYYMMDD-HHMMSS` in UTC, as seed 000 names its backups and logs. */
export function stamp(d: Date = new Date()): string {
  return `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}-${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}`
}

/** The instant a backup name encodes (UTC), or undefined for other names. */
export function stampDate(name: string): Date | undefined {
  const m = BACKUP_NAME_RE.exec(name)
  if (!m) return undefined
  const [d, t] = [m[1]!, m[2]!]
  const date = new Date(Date.UTC(+d.slice(0, 4), +d.slice(4, 6) - 1, +d.slice(6, 8), +t.slice(0, 2), +t.slice(2, 4), +t.slice(4, 6)))
  return Number.isNaN(date.getTime()) ? undefined : date
}

/** A backup name not yet used under `root` (neither complete nor in progress). */
export function freshName(root: string, at: Date): string {
  const base = `${BACKUP_PREFIX}${stamp(at)}`
  for (let i = 1; ; i++) {
    const name = i === 1 ? base : `${base}-${i}`
    if (!existsSync(path.join(root, name))) return name
  }
}

export const partialName = (name: string) => `.${name}.partial-${process.pid}`
