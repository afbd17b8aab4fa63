/**
 * Pre-migration validation (seed 000, component 3), read-only: system resources, connectivity
 * and latency, server versions and what the migrations require, migration files and their
 * checksums (and drift against the log), the dump tool, the backup and log directories, and
 * free disk space against the database's size, the data preconditions pending migrations declare,
 * and what their retention policies will delete on the first run (refused unless acknowledged with
 * --accept-retention-deletes). Each check says ok / warn / fail with evidence.
 * A fail stops the execution before anything is changed; a warn is reported and the run goes on.
 */
import { constants as FS } from 'node:fs'
import { access, mkdir, rm, statfs, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import type pg from 'pg'
import type { Target } from '../engines/target.ts'
import { humanBytes } from '../backup/manifest.ts'
import { publicObjects } from '../catalog/schemas.ts'
import { HarnessError, isHarnessError } from '../errors.ts'
import { connect } from '../runner/connect.ts'
import type { Migration } from '../sql/migration.ts'
import { Migrator, type PlanStep } from '../runner/migrator.ts'
import { preflight } from '../runner/requirements.ts'
import type { Manifest } from '../manifest/manifest.ts'
import type { Status } from '../steps/step.ts'
import { checkPreconditions } from '../validation/preconditions.ts'
import { declaredRetention, impactSummary, retentionImpact, type RetentionImpact } from '../validation/retention.ts'

export type CheckStatus = Extract<Status, 'passed' | 'warning' | 'failed'>

export interface PreCheck {
  id: string
  status: CheckStatus
  message: string
  /** For a fail: what to do. */
  hint?: string
  /** The error code a fail maps to (exit code). */
  code?: string
}

export interface PreValidation {
  checks: PreCheck[]
  ok: boolean
  plan: PlanStep[]
  /** Version before the run. */
  current: number
  databaseBytes?: number
  /** What the pending migrations' retention policies delete on their first run (counted read-only). */
  retention?: RetentionImpact[]
}

/** The flag that accepts what the pending retention policies will delete. */
export const ACCEPT_RETENTION_FLAG = '--accept-retention-deletes'

/** Seed 000's prerequisites: below them a warning, not a refusal (rehearsals run on small machines). */
export const SEED_PREREQUISITES = { memoryBytes: 4 * 2 ** 30, cpus: 2, diskBytes: 20 * 2 ** 30, connectMs: 100 }

/** How much room a backup needs relative to the database's on-disk size: three logical files and a volume copy at most. */
const BACKUP_SIZE_FACTOR = 3

async function nearestExisting(dir: string): Promise<string> {
  let d = path.resolve(dir)
  for (;;) {
    try {
      await access(d)
      return d
    } catch {
      const up = path.dirname(d)
      if (up === d) return d
      d = up
    }
  }
}

export interface PreValidationInput {
  target: Target
  dir: string
  migrations: Migration[]
  manifest?: Manifest
  log: { schema: string; table: string }
  backupRoot: string
  dryRun: boolean
  lockWaitMs: number
  /** `--accept-retention-deletes`: the deletions the pending retention policies will make are accepted. */
  acceptRetentionDeletes?: boolean
}

export async function preValidate(input: PreValidationInput): Promise<PreValidation> {
  const checks: PreCheck[] = []
  const add = (c: PreCheck) => checks.push(c)
  const fail = (id: string, e: unknown) => {
    const he = isHarnessError(e) ? e : new HarnessError('CONNECTION_FAILED', (e as Error).message)
    add({ id, status: 'failed', message: he.message, hint: he.hint, code: he.code })
  }
  let plan: PlanStep[] = []
  let current = 0
  let databaseBytes: number | undefined
  let retention: RetentionImpact[] | undefined

  // ---- system resources (the machine running the migration) -------------------------------------
  const mem = os.totalmem()
  add({ id: 'memory', status: mem >= SEED_PREREQUISITES.memoryBytes ? 'passed' : 'warning', message: `${humanBytes(mem)} total, ${humanBytes(os.freemem())} free (seed minimum 4 GiB, 8 GiB recommended)` })
  const cpus = os.cpus().length
  add({ id: 'cpu', status: cpus >= SEED_PREREQUISITES.cpus ? 'passed' : 'warning', message: `${cpus} cores (seed minimum 2, 4 recommended)` })
  const nodeMajor = Number(process.versions.node.split('.')[0])
  add({ id: 'node', status: nodeMajor >= 20 ? 'passed' : 'failed', message: `Node ${process.versions.node}`, ...(nodeMajor >= 20 ? {} : { hint: 'Use Node 20 or newer.', code: 'USAGE' }) })

  // ---- migration files ---------------------------------------------------------------------------
  add({
    id: 'migration-files',
    status: 'passed',
    message: `${input.migrations.length} migrations in ${input.dir}: ${input.migrations.map((m) => `${m.up.file} sha256 ${m.up.checksum.slice(0, 12)}`).join(', ')}`,
  })
  add({ id: 'manifest', status: input.manifest ? 'passed' : 'warning', message: input.manifest ? `manifest.json: ${input.manifest.tables?.length ?? 0} tables, ${input.manifest.hypertables?.length ?? 0} hypertables expected` : `no manifest.json in ${input.dir}: post-migration validation checks only the log` })

  // ---- the dump tool ------------------------------------------------------------------------------
  try {
    if (input.target.capabilities.dumpTool === 'pg_dump') {
      const t = await input.target.dumpTools()
      add({ id: 'dump-tool', status: 'passed', message: `pg_dump/pg_restore/psql ${t.version} in ${t.where} (server ${input.target.versions.postgres})` })
    } else if (input.target.capabilities.dumpTool === 'wasm-pg_dump' && input.target.physical) {
      add({ id: 'dump-tool', status: 'passed', message: 'WASM pg_dump in-process, plus a physical copy of the data directory' })
    } else throw new HarnessError('BACKUP_TOOL_MISMATCH', `${input.target.describe}: no dump tool fits this target`, { hint: 'Use DATABASE_URL with pg_dump installed, or --engine embedded|native|container.' })
  } catch (e) {
    fail('dump-tool', e)
  }

  // ---- backup directory: writable, and room for a backup -------------------------------------------
  const root = path.resolve(input.backupRoot)
  try {
    if (input.dryRun) {
      const at = await nearestExisting(root)
      await access(at, FS.W_OK)
      add({ id: 'backup-dir', status: 'passed', message: `${root} is writable (checked ${at}; dry run creates nothing)` })
    } else {
      await mkdir(root, { recursive: true })
      const probe = path.join(root, `.write-probe-${process.pid}`)
      await writeFile(probe, 'probe')
      await rm(probe, { force: true })
      add({ id: 'backup-dir', status: 'passed', message: `${root} is writable` })
    }
  } catch (e) {
    add({ id: 'backup-dir', status: 'failed', message: `${root} is not writable: ${(e as Error).message}`, hint: 'Choose a writable directory with --backup-root.', code: 'BACKUP_FAILED' })
  }

  // ---- the database ---------------------------------------------------------------------------------
  let client: pg.Client | undefined
  try {
    const t0 = performance.now()
    client = await connect(input.target.url, { applicationName: 'pgverify-execute pre-validation' })
    const connectMs = performance.now() - t0
    const rtt: number[] = []
    for (let i = 0; i < 5; i++) {
      const t = performance.now()
      await client.query('SELECT 1')
      rtt.push(performance.now() - t)
    }
    rtt.sort((a, b) => a - b)
    add({
      id: 'connectivity',
      status: connectMs <= SEED_PREREQUISITES.connectMs ? 'passed' : 'warning',
      message: `connected in ${connectMs.toFixed(1)} ms (seed threshold 100 ms); round trip median ${rtt[2]!.toFixed(2)} ms, max ${rtt[4]!.toFixed(2)} ms`,
    })
  } catch (e) {
    fail('connectivity', e)
  }
  if (client) {
    try {
      try {
        const r = await preflight(client, input.manifest?.requirements ?? {})
        const ts = r.extensions.timescaledb
        add({ id: 'versions', status: 'passed', message: `PostgreSQL ${r.postgres}${ts ? `; TimescaleDB ${ts.installed ?? `${ts.available} (available, created by the bootstrap)`}${ts.license ? `, ${ts.license} license` : ''}` : ''}` })
      } catch (e) {
        fail('versions', e)
      }
      const size = (await client.query<{ b: string; db: string }>(`SELECT pg_database_size(current_database())::text AS b, current_database() AS db`)).rows[0]!
      databaseBytes = Number(size.b)
      try {
        const fsStat = await statfs(await nearestExisting(root))
        const free = Number(fsStat.bavail) * Number(fsStat.bsize)
        const need = databaseBytes * BACKUP_SIZE_FACTOR
        add({
          id: 'disk-space',
          status: free < need ? 'failed' : free < SEED_PREREQUISITES.diskBytes ? 'warning' : 'passed',
          message: `${humanBytes(free)} free at ${root}; database ${size.db} is ${humanBytes(databaseBytes)}, a backup needs up to ${humanBytes(need)}${free < SEED_PREREQUISITES.diskBytes ? ' (seed asks for 20 GiB free)' : ''}`,
          ...(free < need ? { hint: 'Free disk space or choose another --backup-root.', code: 'BACKUP_FAILED' } : {}),
        })
      } catch (e) {
        add({ id: 'disk-space', status: 'warning', message: `free space at ${root} could not be measured: ${(e as Error).message}` })
      }
      const priv = (
        await client.query<{ create: boolean; sup: boolean }>(
          `SELECT has_database_privilege(current_database(), 'CREATE') AS create, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS sup`,
        )
      ).rows[0]!
      add({ id: 'privileges', status: priv.create ? 'passed' : 'warning', message: `role may ${priv.create ? '' : 'NOT '}create schemas in this database${priv.sup ? ' (superuser)' : ''}` })
      const migrator = new Migrator({ client, provider: { source: input.dir, getMigrations: async () => input.migrations }, logSchema: input.log.schema, logTable: input.log.table, requirements: input.manifest?.requirements, lockWaitMs: input.lockWaitMs })
      const st = await migrator.check()
      if (st.error) fail('migration-log', st.error)
      else {
        current = st.current
        const applied = st.migrations.filter((m) => m.state === 'applied').length
        add({ id: 'migration-log', status: 'passed', message: st.logExists ? `${input.log.schema}.${input.log.table}: version ${st.current}, ${applied} applied files unchanged (checksums match)` : `no migration log yet: the bootstrap creates ${input.log.schema}.${input.log.table}` })
        const p = await migrator.plan()
        if (p.error) fail('plan', p.error)
        else {
          plan = p.steps
          for (const w of p.warnings) add({ id: 'plan-warning', status: 'warning', message: w })
          add({ id: 'plan', status: 'passed', message: plan.length ? `${plan.length} migration${plan.length > 1 ? 's' : ''} to apply: version ${p.from} → ${p.to}` : `nothing to apply: database at version ${p.from}` })
          if (plan.length) add(await rollbackCoverage(client, input.log))
          const pre = await checkPreconditions(client, input.manifest, plan.map((x) => x.name))
          const broken = pre.filter((x) => x.violations > 0)
          if (broken.length) {
            add({
              id: 'data-preconditions',
              status: 'failed',
              message: broken.map((b) => `${b.migration} needs ${b.table} ${b.condition}: ${b.violations} row${b.violations > 1 ? 's' : ''} violate it`).join('; '),
              hint: 'Clean these rows before migrating (the migration would fail on its new constraint and roll back); the conditions are declared in manifest.json.',
              code: 'VALIDATION_FAILED',
            })
          } else if (pre.length) add({ id: 'data-preconditions', status: 'passed', message: `${pre.length} declared data precondition${pre.length > 1 ? 's' : ''} of pending migrations hold` })
          // Retention policies the pending migrations add start deleting on their first run.
          const pending = new Set(plan.map((x) => x.name))
          const declared = declaredRetention(input.migrations.filter((m) => pending.has(m.name)))
          if (declared.length) {
            retention = await retentionImpact(client, declared, input.manifest)
            const deleting = retention.filter((x) => x.status === 'would-delete' || x.status === 'unknown')
            const quiet = retention.filter((x) => x.status !== 'would-delete' && x.status !== 'unknown')
            const all = deleting.length
              ? [...deleting.map((x) => x.message), ...(quiet.length ? [`${quiet.length} other pending retention polic${quiet.length > 1 ? 'ies delete' : 'y deletes'} nothing now (${quiet.map((x) => x.resolved ?? x.table).join(', ')})`] : [])].join('; ')
              : retention.map((x) => x.message).join('; ')
            if (!deleting.length) add({ id: 'retention-deletes', status: 'passed', message: `counted read-only: ${all}` })
            else if (input.acceptRetentionDeletes) add({ id: 'retention-deletes', status: 'warning', message: `ACKNOWLEDGED with ${ACCEPT_RETENTION_FLAG}: the pending retention policies will delete ${impactSummary(retention)} — ${all}` })
            else
              add({
                id: 'retention-deletes',
                status: 'failed',
                message: `the pending retention policies would delete ${impactSummary(retention)} — ${all}`,
                hint: `A retention policy starts deleting on its first run, right after the migration on a server whose TimescaleDB background workers are on. Export or back up these rows if they are needed, then run again with ${ACCEPT_RETENTION_FLAG} to accept the deletion (it is recorded in the execution log and report); or change the policy's window in the migration.`,
                code: 'RETENTION_NOT_ACKNOWLEDGED',
              })
          }
        }
      }
    } catch (e) {
      fail('database', e)
    } finally {
      await client.end().catch(() => {})
    }
  }
  return { checks, ok: checks.every((c) => c.status !== 'failed'), plan, current, ...(databaseBytes !== undefined ? { databaseBytes } : {}), ...(retention ? { retention } : {}) }
}

/**
 * Whether a failed migration can be rolled back in place. The restore replaces whole schemas and
 * never public (extensions live there), so objects of public's own (or a migration log the
 * bootstrap would put there) could not be put back: execute would promise a rollback it cannot
 * give. Said before anything changes, with the ways that work.
 */
async function rollbackCoverage(client: pg.ClientBase, log: { schema: string; table: string }): Promise<PreCheck> {
  const pub = await publicObjects(client)
  if (!pub.length && log.schema !== 'public') return { id: 'rollback-coverage', status: 'passed', message: 'schema public holds no objects of its own: an in-place restore can put every migrated schema back' }
  const what = pub.length ? `schema public holds ${pub.length} object${pub.length > 1 ? 's' : ''} of its own (${pub.slice(0, 6).join(', ')}${pub.length > 6 ? ', …' : ''})` : `the migration log would be created in schema public (${log.schema}.${log.table})`
  return {
    id: 'rollback-coverage',
    status: 'failed',
    message: `${what}: a restore replaces whole schemas and never public (extensions live there), so a failed migration could not be rolled back in place`,
    hint: pub.length
      ? 'Keep migrated objects in a schema of their own (and the log with --log-schema NAME), or migrate without the automatic rollback: `pnpm backup`, then `pnpm migrate up` (each transactional file rolls back on its own failure); a backup can always be restored into a new database.'
      : 'Keep the migration log out of public: --log-schema NAME (or "logSchema" in pgverify.config.json).',
    code: 'VALIDATION_FAILED',
  }
}
