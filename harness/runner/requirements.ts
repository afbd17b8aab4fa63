/**
 * Pre-flight: what the server must offer before the first migration runs. Read-only: a
 * server without TimescaleDB is reported before anything is created, with the fix.
 */
import type pg from 'pg'
import { HarnessError } from '../errors.ts'
import type { Requirements } from '../manifest/manifest.ts'
import type { Migration } from '../sql/migration.ts'

export const DEFAULT_TIMESCALEDB_MIN = '2.11'

/** Directories without a manifest still get the TimescaleDB check when their SQL uses it. */
export function inferRequirements(migrations: Migration[]): Requirements {
  const usesTimescale = migrations.some((m) => m.up.statements.some((s) => /\b(timescaledb|create_hypertable|add_compression_policy|add_retention_policy|time_bucket)\b/i.test(s.code)))
  const usesTsl = migrations.some((m) => m.up.statements.some((s) => /\b(timescaledb\.compress|add_compression_policy|add_retention_policy|compress_chunk)\b/i.test(s.code)))
  if (!usesTimescale) return {}
  return { extensions: { timescaledb: { minVersion: DEFAULT_TIMESCALEDB_MIN, ...(usesTsl ? { license: 'timescale' } : {}) } } }
}

/** The extensions the runner's bootstrap creates for a migration set: its manifest's requirements, else what its SQL shows it uses. */
export function requiredExtensions(requirements: Requirements | undefined, migrations: Migration[]): string[] {
  return Object.keys((requirements ?? inferRequirements(migrations)).extensions ?? {})
}

/** Compares dotted versions numerically; "2.23.0-dev" counts as 2.23.0. */
export function versionAtLeast(actual: string, min: string): boolean {
  const a = actual.split(/[^0-9]+/).filter(Boolean).map(Number)
  const b = min.split(/[^0-9]+/).filter(Boolean).map(Number)
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? 0
    const y = b[i] ?? 0
    if (x !== y) return x > y
  }
  return true
}

export interface PreflightReport {
  postgres: string
  extensions: Record<string, { available?: string; installed?: string; license?: string }>
}

const INSTALL_HINT =
  'Run on a PostgreSQL with TimescaleDB: the container image timescale/timescaledb:2.28.3-pg15 (or latest-pg15), or install the timescaledb-2-postgresql-15 package and set shared_preload_libraries = \'timescaledb\' in postgresql.conf, then restart.'

export async function preflight(client: pg.ClientBase, req: Requirements): Promise<PreflightReport> {
  // Everything the checks read, in one round trip: the runner comes here at every up. The
  // license setting exists only once TimescaleDB's library is loaded (preloaded or created).
  const names = Object.keys(req.extensions ?? {})
  const pgv = (
    await client.query<{ v: string; license: string | null; ext: { name: string; default_version: string | null; installed_version: string | null }[] }>(
      `SELECT current_setting('server_version') AS v, current_setting('timescaledb.license', true) AS license,
              coalesce((SELECT json_agg(json_build_object('name', name, 'default_version', default_version, 'installed_version', installed_version))
                          FROM pg_available_extensions WHERE name = ANY($1::text[])), '[]') AS ext`,
      [names],
    )
  ).rows[0]!
  const report: PreflightReport = { postgres: pgv.v, extensions: {} }
  const minPg = req.postgres?.minVersion
  if (minPg && !versionAtLeast(pgv.v, minPg)) {
    throw new HarnessError('ENGINE_UNAVAILABLE', `PostgreSQL ${pgv.v} is older than the required ${minPg}; nothing was changed`, { hint: `Upgrade the server to PostgreSQL ${minPg} or newer.` })
  }
  for (const [name, want] of Object.entries(req.extensions ?? {})) {
    const row = pgv.ext.find((e) => e.name === name)
    const isTs = name === 'timescaledb'
    if (!row) {
      throw new HarnessError(isTs ? 'TIMESCALEDB_MISSING' : 'ENGINE_UNAVAILABLE', `extension "${name}" is not available on this server (PostgreSQL ${pgv.v}); nothing was changed`, {
        hint: isTs ? `The migrations call create_hypertable() and would fail. ${INSTALL_HINT}` : `Install the "${name}" extension package on the server.`,
        details: { extension: name, postgres: pgv.v },
      })
    }
    const installed = row.installed_version ?? undefined
    const available = row.default_version ?? undefined
    const effective = installed ?? available ?? '0'
    if (want.minVersion && !versionAtLeast(effective, want.minVersion)) {
      throw new HarnessError(isTs ? 'TIMESCALEDB_TOO_OLD' : 'ENGINE_UNAVAILABLE', `extension "${name}" ${effective} is older than the required ${want.minVersion}; nothing was changed`, {
        hint: installed
          ? `Update it: install a newer package, then \`ALTER EXTENSION ${name} UPDATE;\` as the first command of a fresh session (psql -X).`
          : `Install ${name} ${want.minVersion} or newer on the server.`,
        details: { extension: name, installed, available, required: want.minVersion },
      })
    }
    let license: string | undefined
    if (isTs) {
      license = pgv.license ?? undefined
      checkLicense(want, license)
    }
    report.extensions[name] = { available, installed, license }
  }
  return report
}

export function checkLicense(want: ExtensionRequirementLike, license: string | undefined): void {
  if (want.license && license && license !== want.license) {
    throw new HarnessError('TIMESCALEDB_APACHE_ONLY', `TimescaleDB here is the "${license}" edition; the migrations need "${want.license}" features (compression, retention and compression policies); nothing was changed`, {
      hint: 'Use a TimescaleDB build with the Community (TSL) license: the timescale/timescaledb images without -oss, or set timescaledb.license = \'timescale\'.',
      details: { license, required: want.license },
    })
  }
}

type ExtensionRequirementLike = { license?: string }
