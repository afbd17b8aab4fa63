/**
 * `restoreBackup`: puts a verified backup into a database and proves it with the round-trip
 * comparison against the state recorded in the backup's manifest.
 *
 * Where it goes (`mode`):
 *   fresh     an empty database (a disposable one, or a new scratch database): nothing is dropped.
 *   in-place  the database the backup came from (DATABASE_URL, or the execute rollback). Restoring
 *             "the database" there means: every schema the backup covers (the user schemas that
 *             existed at backup time, plus the schemas the migrations manage, which the backup
 *             records as absent when they did not exist yet) is dropped with everything in it and
 *             re-created from the backup; extensions the backup did not have are dropped when nothing
 *             else uses them. Schemas the backup does not cover, roles, database settings and other
 *             databases are left alone (and listed). Refused when `public` holds objects of its own
 *             (it cannot be dropped: extensions live there) or hypertables exist outside the covered
 *             schemas (TimescaleDB's catalog is shared by the whole database).
 *
 * What (`kind`): full (the whole logical dump), schema (definitions, TimescaleDB objects
 * re-created, tables empty), data (rows only, into an existing schema: the covered tables are
 * truncated and loaded, chunks compressed where they were), volume (the embedded engine's
 * physical copy, always into a new database of that engine).
 *
 * Everything of one restore runs in ONE transaction (pg connection for plain SQL, psql
 * --single-transaction for pg_restore's script): when any statement fails, the database is
 * exactly as it was before the restore began. TimescaleDB's procedure is followed
 * (timescale.ts); its version must be identical on both sides, and is checked first.
 */
import { literal as lit, quoteIdent, splitQualified } from '../util/sql.ts'
import { chmod, writeFile } from 'node:fs/promises'
import path from 'node:path'
import type pg from 'pg'
import { HarnessError, isHarnessError } from '../errors.ts'
import { connect } from '../runner/connect.ts'
import { redact, redactUrl } from '../util/redact.ts'
import { compareStates, scopeFor } from './compare.ts'
import { requireVerified, type BackupManifest, type FileRole } from './manifest.ts'
import { inOneTransaction, runScriptFile } from './sql-script.ts'
import { publicObjects, userSchemas } from '../catalog/schemas.ts'
import { captureState } from './state.ts'
import type { Target } from '../engines/target.ts'
import type { RestoreKind, RestoreMode, RestoreOptions, RestoreResult } from './restore-types.ts'
import { restoreVolume } from './restore-volume.ts'
import { canSetReplicaRole, postRestoreSql, preRestoreSql, timescaleSchema } from './timescale.ts'
import type { DumpTools } from '../engines/types.ts'
import { openWorkDir } from './work-dir.ts'
import { hasTimescale, restoreData } from './restore-data.ts'
import { isConnectionLoss, sqlstateOf, toolLostServer } from '../sqlstate.ts'
import { exclusiveHolders } from '../runner/watchdog.ts'

export type { RestoreKind, RestoreMode, RestoreOptions, RestoreResult } from './restore-types.ts'

const ROLE_OF: Record<Exclude<RestoreKind, 'volume'>, FileRole> = { full: 'full', schema: 'schema', data: 'data' }

/** The backup file for `kind`, or a USAGE error naming what the backup has. */
function fileFor(m: BackupManifest, kind: RestoreKind): string {
  const role: FileRole = kind === 'volume' ? 'volume' : ROLE_OF[kind]
  const f = m.files.find((x) => x.role === role)
  if (!f) {
    throw new HarnessError('USAGE', `backup ${m.name} has no ${kind} backup (it holds: ${m.kinds.join(', ')})`, { hint: `Choose --kind ${m.kinds.join(' | ')}.` })
  }
  return f.path
}

const major = (v: string) => Number(/^(\d+)/.exec(v)?.[1] ?? 0)

/** Same TimescaleDB version (TimescaleDB requires it), PostgreSQL not older than the source. */
async function checkVersions(client: pg.ClientBase, m: BackupManifest, kind: RestoreKind, target: Target): Promise<void> {
  const r = (
    await client.query<{ pg: string; avail: string | null; inst: string | null }>(
      `SELECT current_setting('server_version') AS pg,
              (SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb') AS avail,
              (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb') AS inst`,
    )
  ).rows[0]!
  const here = r.inst ?? r.avail ?? 'none'
  if (kind !== 'data' && m.server.timescaledb !== 'none' && here !== m.server.timescaledb) {
    throw new HarnessError('BACKUP_VERSION_MISMATCH', `backup ${m.name} was made with TimescaleDB ${m.server.timescaledb}; ${redactUrl(target.url)} has ${here === 'none' ? 'no TimescaleDB' : `TimescaleDB ${here}${r.inst ? ' (installed)' : ' (available)'}`}; nothing was restored`, {
      hint: `TimescaleDB restores need the identical version on both sides: install TimescaleDB ${m.server.timescaledb} on this server, restore, then \`ALTER EXTENSION timescaledb UPDATE\` if you want a newer one.`,
      details: { backup: m.server.timescaledb, server: here },
    })
  }
  if (kind === 'volume' && r.pg !== m.server.postgres) {
    throw new HarnessError('BACKUP_VERSION_MISMATCH', `backup ${m.name}'s volume copy is of PostgreSQL ${m.server.postgres}; this engine runs ${r.pg}; nothing was restored`, {
      hint: 'A physical copy only loads into the very same server build; restore the logical backup (--kind full) instead.',
    })
  }
  if (kind !== 'data' && major(r.pg) < m.server.postgresMajor) {
    throw new HarnessError('BACKUP_VERSION_MISMATCH', `backup ${m.name} is of PostgreSQL ${m.server.postgres}; ${redactUrl(target.url)} runs the older PostgreSQL ${r.pg}; nothing was restored`, {
      hint: `Restore into PostgreSQL ${m.server.postgresMajor} or newer (dumps are not portable to older majors).`,
      details: { backup: m.server.postgres, server: r.pg },
    })
  }
}

export async function restoreBackup(dir: string, target: Target, options: RestoreOptions): Promise<RestoreResult> {
  const t0 = performance.now()
  const kind = options.kind ?? 'full'
  const log = (l: string) => options.onLog?.(redact(l))
  // Destructive steps need a verified backup: nothing happens before this passes.
  const m = await requireVerified(dir)
  const verifyMs = performance.now() - t0
  log(`backup ${m.name} verified: ${m.files.length} files, checksums and manifest match`)
  const rel = fileFor(m, kind)
  const notes: string[] = []

  if (kind === 'volume') return restoreVolume(dir, rel, m, target, t0, verifyMs, log)

  if (m.tool.format === 'custom' && kind !== 'data' && target.capabilities.dumpTool !== 'pg_dump') {
    throw new HarnessError('BACKUP_VERSION_MISMATCH', `backup ${m.name} was written by pg_dump (custom format); ${target.describe} cannot run pg_restore's output; nothing was restored`, {
      hint: 'Restore it into a server engine (native, container, or DATABASE_URL), or use --kind data, which loads anywhere.',
    })
  }
  let tools: DumpTools | undefined
  if (m.tool.format === 'custom' && kind !== 'data') tools = await target.dumpTools()

  let client = await connect(target.url, { applicationName: `pgverify-restore ${kind}` })
  let replaced: string[] = []
  let leftAlone: string[] = []
  try {
    await checkVersions(client, m, kind, target)
    const existing = await userSchemas(client)
    const covered = m.coveredSchemas
    if (options.mode === 'fresh' && kind !== 'data') {
      const clash = existing.filter((s) => covered.includes(s))
      if (clash.length) {
        throw new HarnessError('RESTORE_FAILED', `${redactUrl(target.url)} is not empty: schema${clash.length > 1 ? 's' : ''} ${clash.join(', ')} already exist; nothing was restored`, {
          hint: 'Restore into an empty database, or in place (which replaces the covered schemas).',
        })
      }
    }
    if (kind !== 'data') {
      const pub = await publicObjects(client)
      if (options.mode === 'in-place' && (pub.length || m.publicObjects.length)) {
        throw new HarnessError('RESTORE_FAILED', `schema public holds objects of its own (${[...new Set([...pub, ...m.publicObjects])].slice(0, 8).join(', ')}); an in-place restore only replaces whole schemas and cannot drop public (extensions live there); nothing was restored`, {
          hint: 'Restore into a new, empty database instead (e.g. createdb NAME, then DATABASE_URL=…/NAME pnpm restore DIR --yes), and switch the application over.',
        })
      }
      replaced = existing.filter((s) => covered.includes(s))
      leftAlone = existing.filter((s) => !covered.includes(s))
      if (options.mode === 'in-place' && (await hasTimescale(client))) {
        const outside = (
          await client.query<{ q: string }>(
            `SELECT hypertable_schema || '.' || hypertable_name AS q FROM timescaledb_information.hypertables WHERE NOT (hypertable_schema = ANY($1::text[]))`,
            [covered],
          )
        ).rows.map((r) => r.q)
        if (outside.length) {
          throw new HarnessError('RESTORE_FAILED', `hypertables outside the backup's schemas (${outside.join(', ')}) share TimescaleDB's catalog with the restored ones; an in-place restore would damage them; nothing was restored`, {
            hint: 'Restore into a new, empty database instead and switch the application over.',
          })
        }
      }
      if (leftAlone.length) notes.push(`schemas not covered by the backup were left alone: ${leftAlone.join(', ')}`)
    }
    log(`restoring ${kind} (${options.mode}) into ${target.describe}${replaced.length ? `; replacing schemas ${replaced.join(', ')}` : ''}`)
    const tLoad = performance.now()

    const lockTimeoutMs = options.lockTimeoutMs ?? 60_000
    if (kind === 'data') await restoreData(client, dir, rel, m, log, notes, lockTimeoutMs)
    else if (tools) {
      await restoreWithPsql(client, tools, dir, rel, m, kind, target, options.mode, lockTimeoutMs, log, notes)
      // psql's session may have dropped or re-created TimescaleDB under this one, whose loaded
      // extension then reads stale catalog OIDs ("could not open relation with OID …"): read
      // the result through a new session.
      await client.end().catch(() => {})
      client = await connect(target.url, { applicationName: `pgverify-restore ${kind}` })
    } else await restorePlain(client, dir, rel, m, kind, options.mode, lockTimeoutMs, log, notes)

    const loadMs = performance.now() - tLoad
    const tCompare = performance.now()
    const after = await userSchemas(client)
    const schemas = options.mode === 'in-place' ? after.filter((s) => covered.includes(s)) : after
    const actual = await captureState(client, { schemas, log: m.migrationLog.table ? splitQualified(m.migrationLog.table) : undefined })
    const comparison = compareStates(m.state, actual, scopeFor(kind))
    const durationMs = performance.now() - t0
    const timings = { verifyMs, loadMs, compareMs: performance.now() - tCompare }
    log(`restore done in ${Math.round(durationMs)} ms (verify ${Math.round(verifyMs)}, load ${Math.round(loadMs)}, compare ${Math.round(timings.compareMs)}); comparison: ${comparison.differences.length} differences`)
    return { dir, kind, mode: options.mode, manifest: m, target, durationMs, timings, replaced, leftAlone, notes, comparison }
  } catch (e) {
    // The server went away (our session, or psql's in its words): the connection's fault, not the backup's.
    if (isConnectionLoss(e) || (isHarnessError(e) && e.code === 'RESTORE_FAILED' && toolLostServer(String((e.details as { psql?: string } | undefined)?.psql ?? e.message)))) {
      throw new HarnessError('CONNECTION_FAILED', `the server went away during the restore of ${m.name} into ${redactUrl(target.url)}: ${redact((e as Error).message.split('\n').slice(0, 2).join(' | '))}. The restore runs in one transaction, so nothing of it was kept: the database is as it was before the restore began`, {
        hint: 'The backup is not at fault and is unchanged. Check that the server is up (its log says why it went away), then run the restore again.',
        cause: e,
      })
    }
    if (options.mode === 'in-place' && (sqlstateOf(e) === '55P03' || /lock timeout/i.test(String((e as Error).message)))) {
      const held = await exclusiveHolders(target.url, 'any')
      throw new HarnessError('STALLED', `the restore of ${m.name} into ${redactUrl(target.url)} waited ${(options.lockTimeoutMs ?? 60_000) / 1000} s for a table lock${held ? `; held: ${held}` : ''}. It ran in one transaction, so nothing of it was kept: the database is as it was before the restore began`, {
        hint: 'An in-place restore drops and re-creates the covered schemas, which needs every table\'s lock: stop the application (or end the sessions named), then run the restore again; raise --stall-timeout to wait longer. The backup is unchanged.',
        details: { sqlstate: '55P03' },
        cause: e,
      })
    }
    if (isHarnessError(e)) throw e
    const err = e as { code?: string; message?: string }
    throw new HarnessError('RESTORE_FAILED', `restore of ${m.name} into ${redactUrl(target.url)} failed: ${err.message ?? String(e)}${err.code ? ` [SQLSTATE ${err.code}]` : ''}; it ran in one transaction, so nothing of it was kept`, {
      hint: err.code === '42501' ? 'Restore as the owner of the backed-up objects or a superuser.' : 'Fix the cause and run the restore again; the backup is unchanged.',
      details: { sqlstate: err.code },
      cause: e,
    })
  } finally {
    await client.end().catch(() => {})
  }
}


/** Statements that empty the covered schemas and drop extensions the backup did not have. */
async function prologue(client: pg.ClientBase, m: BackupManifest, kind: RestoreKind, mode: RestoreMode, lockTimeoutMs: number): Promise<string[]> {
  const out: string[] = [`SET LOCAL client_min_messages = warning`]
  if (mode === 'in-place') {
    out.push(`SET LOCAL lock_timeout = ${lockTimeoutMs}`)
    for (const s of await userSchemas(client)) if (m.coveredSchemas.includes(s)) out.push(`DROP SCHEMA ${quoteIdent(s)} CASCADE`)
    // TimescaleDB (seen with 2.28) drops a compressed hypertable's catalog rows but leaves its
    // compressed chunk tables in _timescaledb_internal; the dump creates them again ("already
    // exists"). Drop what no catalog row refers to any more: no hypertable survives outside the
    // covered schemas (checked before), so these are the dropped hypertables' leftovers only.
    if (await hasTimescale(client)) out.push(ORPHANED_CHUNKS)
    const installed = (await client.query<{ e: string }>(`SELECT extname AS e FROM pg_extension WHERE extname <> 'plpgsql'`)).rows.map((r) => r.e)
    for (const e of installed) {
      if (e in m.state.extensions) continue
      // Created after the backup (e.g. by the migrations' bootstrap): dropped unless something outside the covered schemas uses it.
      out.push(`DO $pgverify$ BEGIN EXECUTE ${lit(`DROP EXTENSION ${quoteIdent(e)}`)}; EXCEPTION WHEN dependent_objects_still_exist THEN RAISE WARNING 'extension % kept: still in use', ${lit(e)}; END $pgverify$`)
    }
  }
  if (m.server.timescaledb !== 'none' && (kind === 'full' || kind === 'schema')) out.push(`CREATE EXTENSION IF NOT EXISTS timescaledb`)
  return out
}


/** Drops the tables in _timescaledb_internal that belong neither to the extension nor to its catalog (see prologue). */
const ORPHANED_CHUNKS = `DO $pgverify$ DECLARE r record; BEGIN
  FOR r IN SELECT c.oid::regclass AS rel FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = '_timescaledb_internal' AND c.relkind = 'r'
              AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
              AND NOT EXISTS (SELECT 1 FROM _timescaledb_catalog.chunk k WHERE k.schema_name = n.nspname AND k.table_name = c.relname)
              AND NOT EXISTS (SELECT 1 FROM _timescaledb_catalog.hypertable h WHERE h.schema_name = n.nspname AND h.table_name = c.relname)
  LOOP EXECUTE format('DROP TABLE IF EXISTS %s CASCADE', r.rel); END LOOP;
END $pgverify$`

/** Plain-SQL backups (the WASM pg_dump's) through one pg connection, one transaction. */
async function restorePlain(client: pg.ClientBase, dir: string, rel: string, m: BackupManifest, kind: 'full' | 'schema', mode: RestoreMode, lockTimeoutMs: number, log: (l: string) => void, notes: string[]): Promise<void> {
  await inOneTransaction(client, async () => {
    for (const s of await prologue(client, m, kind, mode, lockTimeoutMs)) await client.query(s)
    const ts = m.server.timescaledb !== 'none' && kind === 'full'
    let extSchema = ''
    let replica = false
    if (ts) {
      extSchema = (await timescaleSchema(client)) ?? 'public'
      replica = await canSetReplicaRole(client)
      for (const s of await preRestoreSql(client, extSchema, replica)) await client.query(s)
      if (!replica) notes.push('this role may not set session_replication_role: catalog rows were loaded with foreign keys enforced')
    }
    let t = performance.now()
    const r = await runScriptFile(client, path.join(dir, rel), rel)
    log(`${rel}: ${r.statements} statements in ${r.batches} batches (${Math.round(performance.now() - t)} ms)`)
    if (kind === 'schema') {
      const tsFile = m.files.find((f) => f.role === 'schema-timescaledb')
      if (tsFile) {
        t = performance.now()
        await runScriptFile(client, path.join(dir, tsFile.path), tsFile.path)
        log(`${tsFile.path}: TimescaleDB objects re-created (${Math.round(performance.now() - t)} ms)`)
      }
    }
    if (ts) for (const s of postRestoreSql(extSchema, replica)) await client.query(s)
  })
}

/** pg_dump (custom format) backups: pg_restore writes the script, psql runs it in one transaction. */
async function restoreWithPsql(
  client: pg.ClientBase,
  tools: DumpTools,
  dir: string,
  rel: string,
  m: BackupManifest,
  kind: 'full' | 'schema',
  target: Target,
  mode: RestoreMode,
  lockTimeoutMs: number,
  log: (l: string) => void,
  notes: string[],
): Promise<void> {
  // pg_restore's script is a plaintext copy of the database: see work-dir.ts for where it lives.
  const scratch = await openWorkDir('pgverify-restore-')
  const work = scratch.dir
  try {
    const ts = m.server.timescaledb !== 'none' && kind === 'full'
    // The catalog cleanup is read from this server's extension, so it must exist while the prologue
    // is written; it is created in a transaction rolled back right after, and the script's own
    // prologue creates it inside the restore's one transaction: a failed or killed restore leaves
    // no extension behind.
    // The prologue is read first: it must see the database as it is (without the probe's extension).
    const pro = await prologue(client, m, kind, mode, lockTimeoutMs)
    const probe = ts && !(await hasTimescale(client))
    if (probe) {
      await client.query('BEGIN')
      await client.query('CREATE EXTENSION IF NOT EXISTS timescaledb')
    }
    let extSchema = ''
    let replica = false
    try {
      extSchema = ts ? ((await timescaleSchema(client)) ?? 'public') : ''
      replica = ts ? await canSetReplicaRole(client) : false
      if (ts) {
        pro.push(...(await preRestoreSql(client, extSchema, replica)))
        if (!replica) notes.push('this role may not set session_replication_role: catalog rows were loaded with foreign keys enforced')
      }
    } finally {
      if (probe) await client.query('ROLLBACK')
    }
    await writeFile(path.join(work, 'prologue.sql'), pro.map((s) => s + ';').join('\n') + '\n', { mode: 0o600 })
    await writeFile(path.join(work, 'epilogue.sql'), (ts ? postRestoreSql(extSchema, replica) : ['SELECT 1']).map((s) => s + ';').join('\n') + '\n', { mode: 0o600 })
    const script = path.join(work, path.basename(rel).replace(/\.dump$/, '.sql'))
    // No -j: TimescaleDB's catalog must not be restored in parallel (and one transaction is one session).
    let t = performance.now()
    const conv = await tools.run('pg_restore', [{ out: script, prefix: '--file=' }, ...(kind === 'schema' ? ['--schema-only'] : []), { in: path.join(dir, rel) }])
    if (conv.code !== 0) throw new HarnessError('RESTORE_FAILED', `pg_restore could not read ${rel}: ${conv.stderr.trim().split('\n').slice(-5).join(' | ')}; nothing was restored`, { hint: `The archive may come from a newer pg_dump than pg_restore ${tools.version} (${tools.where}).` })
    await chmod(script, 0o600).catch(() => {})
    log(`pg_restore ${tools.version}: ${rel} → script (${Math.round(conv.durationMs)} ms)`)
    const files = [path.join(work, 'prologue.sql'), script]
    if (kind === 'schema') {
      const tsFile = m.files.find((f) => f.role === 'schema-timescaledb')
      if (tsFile) files.push(path.join(dir, tsFile.path))
    }
    files.push(path.join(work, 'epilogue.sql'))
    t = performance.now()
    const r = await tools.run('psql', ['-X', '-q', '--no-password', '-v', 'ON_ERROR_STOP=1', '-v', 'VERBOSITY=verbose', '--single-transaction', ...files.flatMap((f) => ['-f', { in: f }])], { connect: target.url, env: { PGOPTIONS: '-c client_min_messages=warning' } })
    if (r.code !== 0) {
      const e = /psql:([^:]+):(\d+): ERROR:\s+(?:([0-9A-Z]{5}): )?(.*)/.exec(r.stderr)
      // The toolbox may have run psql on copies (inside a container): match by file name.
      const where = e ? `${path.basename(e[1]!).endsWith(path.basename(script)) ? `${rel} (as pg_restore's script)` : path.basename(e[1]!).replace(/^\d+-/, '')}:${e[2]}` : rel
      throw new HarnessError('RESTORE_FAILED', `${where}: ${e?.[3] ? `[SQLSTATE ${e[3]}] ` : ''}${e?.[4] ?? redact(r.stderr.trim().split('\n').slice(-6).join('\n'))}; the restore ran in one transaction, so nothing of it was kept`, {
        hint: e?.[3] === '42501' ? 'Restore as the owner of the backed-up objects or a superuser.' : 'Fix the cause above and run the restore again; the backup is unchanged.',
        details: { file: rel, sqlstate: e?.[3], psql: redact(r.stderr.slice(-2000)) },
      })
    }
    log(`psql --single-transaction: ${files.length} files applied (${Math.round(performance.now() - t)} ms)`)
  } finally {
    await scratch.remove()
  }
}
