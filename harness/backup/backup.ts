/**
 * `createBackup`: the seed's pre-migration backup, proven restorable by the round-trip suite.
 *
 * One consistent view of the database: the state (row counts, content hashes, fingerprint,
 * chunks, jobs, migration log) and the data-only export are read in one REPEATABLE READ
 * transaction, and pg_dump joins that very snapshot (`--snapshot`), so the manifest describes
 * exactly what the dumps hold even while the application keeps writing. (The embedded engine
 * serves one connection at a time, so nothing can write between its steps.)
 *
 * Written into `.pre-migration-…partial-PID/` and renamed to `pre-migration-…/` only when the
 * manifest is complete: an interrupted backup never looks like a backup.
 */
import { mkdir, rename, rm, writeFile } from 'node:fs/promises'
import { existsSync, rmSync } from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import { gzip } from 'node:zlib'
import type pg from 'pg'
import { HarnessError, isHarnessError } from '../errors.ts'
import { connect } from '../runner/connect.ts'
import { exclusiveHolders } from '../runner/watchdog.ts'
import { redact, redactUrl } from '../util/redact.ts'
import type { Manifest } from '../manifest/manifest.ts'
import { exportData } from './data-export.ts'
import { FILES, freshName, partialName } from './layout.ts'
import { describeFile, writeManifest, type BackupKind, type BackupManifest, type ManifestFile } from './manifest.ts'
import { publicObjects, userSchemas } from '../catalog/schemas.ts'
import { captureState } from './state.ts'
import { timescaleSchema, timescaleSchemaSql } from './timescale.ts'
import type { Target } from '../engines/target.ts'
import { toolError } from '../engines/client-tools.ts'
import type { DumpTools } from '../engines/types.ts'
import { registerCleanup } from '../engines/cleanup.ts'
import { diskFailure } from '../util/out-file.ts'
import { isConnectionLoss, sqlstateOf, toolLostServer } from '../sqlstate.ts'

const gzipAsync = promisify(gzip)

export interface BackupOptions {
  /** Where backups live (default `backups/`). */
  root: string
  /** Which logical backups to write (default all three). A physical copy is added to 'full' where the engine offers one. */
  kinds?: BackupKind[]
  /** The migrations' manifest: its schemas count as covered even before they exist. */
  manifest?: Manifest
  /** Where the migration log lives (default: the manifest's schema, table migration_log). */
  log?: { schema: string; table: string }
  /** Progress lines (already redacted). */
  onLog?: (line: string) => void
  now?: Date
  /**
   * How long the backup's session and pg_dump wait for a table lock (ms; 0: forever). Default 60 s.
   * A backup only reads, but behind an ALTER TABLE that waits for its own lock it would queue
   * forever, holding its snapshot; past this limit it stops and names the lock instead.
   */
  lockTimeoutMs?: number
}

/** A lock the backup's session or pg_dump gave up on (lock_timeout, --lock-wait-timeout), said as "on RELATION". */
function lockWaitFailure(e: unknown): string | undefined {
  const ours = sqlstateOf(e) === '55P03'
  const dump = isHarnessError(e) && e.code === 'BACKUP_FAILED' && /could not obtain lock on relation/.test(e.message)
  if (!ours && !dump) return undefined
  const relation = /relation "([^"]+)"/.exec((e as Error).message)?.[1]
  return relation ? `on ${relation}` : 'on a table'
}

export interface BackupResult {
  dir: string
  name: string
  manifest: BackupManifest
  durationMs: number
  /** Time spent reading the state (row counts, content hashes, fingerprint) for the manifest. */
  stateMs: number
  bytes: number
}

/** Schemas the migrations manage: the manifest's schema and every schema its tables live in. */
export function managedSchemas(manifest?: Manifest, log?: { schema: string }): string[] {
  const s = new Set<string>()
  if (manifest?.schema) s.add(manifest.schema)
  for (const t of manifest?.tables ?? []) if (t.includes('.')) s.add(t.slice(0, t.indexOf('.')))
  if (log) s.add(log.schema)
  s.delete('public')
  return [...s].sort()
}

export function logLocation(manifest: Manifest | undefined, log?: { schema: string; table: string }): { schema: string; table: string } | undefined {
  if (log) return log
  if (manifest?.schema) return { schema: manifest.schema, table: 'migration_log' }
  return undefined
}

export async function createBackup(target: Target, options: BackupOptions): Promise<BackupResult> {
  const t0 = performance.now()
  const createdAt = options.now ?? new Date()
  const lockTimeoutMs = options.lockTimeoutMs ?? 60_000
  const kinds: BackupKind[] = options.kinds?.length ? [...new Set(options.kinds)] : ['full', 'schema', 'data']
  const root = path.resolve(options.root)
  const lines: string[] = []
  const log = (line: string) => {
    const l = redact(line)
    lines.push(`[${new Date().toISOString()}] ${l}`)
    options.onLog?.(l)
  }
  try {
    await mkdir(root, { recursive: true })
  } catch (e) {
    throw new HarnessError('BACKUP_FAILED', `backup root ${root} cannot be created: ${(e as Error).message}`, { hint: 'Choose a writable directory with --backup-root.' })
  }
  const name = freshName(root, createdAt)
  const tmp = path.join(root, partialName(name))
  let client: pg.Client | undefined
  // Ctrl-C, SIGTERM or an early exit: the session goes (its snapshot and locks with it) and so does
  // the partial directory, which holds a copy of the data.
  const unregister = registerCleanup(
    `partial backup ${tmp}`,
    async () => {
      await client?.end().catch(() => {})
      await rm(tmp, { recursive: true, force: true })
    },
    () => rmSync(tmp, { recursive: true, force: true }),
  )
  try {
    log(`backup ${name} of ${target.describe} into ${root}`)

    // ---- the tool, before anything is read ----------------------------------------------------
    let tools: DumpTools | undefined
    if (target.capabilities.dumpTool === 'pg_dump') tools = await target.dumpTools()
    else if (target.capabilities.dumpTool === 'wasm-pg_dump') {
      if (!target.physical) throw new HarnessError('BACKUP_TOOL_MISMATCH', `${target.describe}: the WASM pg_dump needs in-process access to the database, which this target does not offer`, { hint: 'Back up an embedded database through its engine (--engine embedded), not through its URL.' })
    } else throw new HarnessError('BACKUP_TOOL_MISMATCH', `${target.describe}: no dump tool fits this engine`, { hint: 'Use an engine with pg_dump (native, container, url) or the embedded engine.' })
    const { wasmDump, wasmDumpVersion } = tools ? { wasmDump: undefined, wasmDumpVersion: undefined } : await import('./wasm-dump.ts')
    const logicalTool = tools ? `pg_dump ${tools.version} (${tools.where})` : `WASM pg_dump (${wasmDumpVersion!()})`
    log(`logical dump tool: ${logicalTool}`)

    // The session before any file: a server that cannot be reached leaves nothing behind, and a
    // partial directory on disk means the backup had the server's attention when it was made.
    client = await connect(target.url, { applicationName: 'pgverify-backup' })
    for (const d of ['database', 'volumes', 'config', 'logs']) await mkdir(path.join(tmp, d), { recursive: true })
    const info = (
      await client.query<{ db: string; pg: string; lic: string | null }>(
        `SELECT current_database() AS db, current_setting('server_version') AS pg, current_setting('timescaledb.license', true) AS lic`,
      )
    ).rows[0]!
    const tsVersion = (await client.query<{ v: string }>(`SELECT extversion AS v FROM pg_extension WHERE extname = 'timescaledb'`)).rows[0]?.v ?? 'none'
    const tsSchema = (await timescaleSchema(client)) ?? null
    const logAt = logLocation(options.manifest, options.log)
    const existing = await userSchemas(client)
    const managed = managedSchemas(options.manifest, logAt)
    const absent = managed.filter((s) => !existing.includes(s))
    const pub = await publicObjects(client)
    log(`schemas: ${existing.join(', ') || '(none)'}${absent.length ? `; managed by the migrations but absent: ${absent.join(', ')}` : ''}`)
    // Said, not silent: public is never replaced by a restore (extensions live there), so it is not backed up either.
    if (pub.length) log(`NOT covered: schema public holds ${pub.length} object${pub.length > 1 ? 's' : ''} of its own (${pub.slice(0, 6).join(', ')}${pub.length > 6 ? ', …' : ''}); this backup holds none of their data. Keep migrated objects in a schema of their own, or back public up with pg_dump as well.`)

    // ---- one snapshot for the state, the data export and pg_dump ---------------------------------
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY')
    await client.query(`SELECT set_config('lock_timeout', $1, true)`, [String(lockTimeoutMs)])
    let snapshotId: string | undefined
    if (tools) snapshotId = (await client.query<{ s: string }>('SELECT pg_export_snapshot() AS s')).rows[0]!.s
    let t = performance.now()
    const state = await captureState(client, { schemas: existing, log: logAt })
    const stateMs = performance.now() - t
    const totalRows = Object.values(state.tables).reduce((s, x) => s + x.rows, 0)
    log(`state: ${Object.keys(state.tables).length} tables, ${totalRows} rows, schema ${state.fingerprintHash.slice(0, 12)}, ${Object.keys(state.hypertables).length} hypertables, ${state.jobs.length} jobs (${Math.round(performance.now() - t)} ms)`)
    const files: ManifestFile[] = []
    const notes: string[] = []
    if (kinds.includes('data')) {
      t = performance.now()
      const ex = await exportData(client, existing, path.join(tmp, FILES.data))
      const ms = performance.now() - t
      files.push(await describeFile(tmp, FILES.data, 'data', { tool: 'pgverify data export: INSERTs read through each table, foreign-key order', durationMs: ms }))
      log(`data_only: ${ex.tables.length} tables, ${ex.tables.reduce((s, x) => s + x.rows, 0)} rows, ${ex.bytes} bytes (${Math.round(ms)} ms)`)
      if (ex.cycles.length) notes.push(`foreign-key cycle among ${ex.cycles.join(', ')}: a data-only restore needs a role that may set session_replication_role`)
      notes.push('data_only.sql is written by pgverify (rows read through each table), not by pg_dump: pg_dump --data-only of a TimescaleDB database carries the internal catalog and chunk tables and cannot be loaded into a database migrated by the runner.')
    }
    const pgDump = async (rel: string, role: 'full' | 'schema', extra: string[]) => {
      const args = ['--format=custom', { out: path.join(tmp, rel), prefix: '--file=' }, '--no-password', ...(snapshotId ? [`--snapshot=${snapshotId}`] : []), ...(lockTimeoutMs ? [`--lock-wait-timeout=${lockTimeoutMs}`] : []), ...extra]
      const r = await tools!.run('pg_dump', args, { connect: target.url })
      // A full disk is the disk's fault, not pg_dump's: said with the file it was writing.
      if (r.code !== 0 && /No space left on device/i.test(r.stderr)) throw Object.assign(new Error(`pg_dump could not write ${rel}`), { code: 'ENOSPC', path: path.join(tmp, rel) })
      if (r.code !== 0) throw toolError('BACKUP_FAILED', `pg_dump ${extra.join(' ')}`.trim(), r, target.url, 'Check that the role may read every table (pg_dump needs SELECT on all of them) and that the disk has room; the partial backup was removed.')
      if (r.stderr.trim()) log(`pg_dump: ${r.stderr.trim().split('\n').slice(0, 5).join(' | ')}`)
      files.push(await describeFile(tmp, rel, role, { tool: `pg_dump ${tools!.version} -Fc${extra.length ? ' ' + extra.join(' ') : ''}${snapshotId ? ' --snapshot' : ''}`, durationMs: r.durationMs }))
      log(`${rel}: ${files[files.length - 1]!.bytes} bytes (${Math.round(r.durationMs)} ms)`)
    }
    const schemaArgs = ['--schema-only', ...(tsVersion !== 'none' ? ['--exclude-schema=_timescaledb_internal'] : [])]
    if (tools) {
      if (kinds.includes('full')) await pgDump(FILES.fullDump, 'full', [])
      if (kinds.includes('schema')) await pgDump(FILES.schemaDump, 'schema', schemaArgs)
      await client.query('COMMIT')
    } else {
      // The WASM pg_dump drives the instance directly: our connection must be idle.
      await client.query('COMMIT')
      const wasm = async (rel: string, role: 'full' | 'schema', args: string[]) => {
        const t1 = performance.now()
        await wasmDump!(target.physical!, args, path.join(tmp, rel))
        const ms = performance.now() - t1
        files.push(await describeFile(tmp, rel, role, { tool: `WASM pg_dump --inserts${args.length ? ' ' + args.join(' ') : ''}`, durationMs: ms }))
        log(`${rel}: ${files[files.length - 1]!.bytes} bytes (${Math.round(ms)} ms)`)
      }
      if (kinds.includes('full')) await wasm(FILES.fullSql, 'full', [])
      if (kinds.includes('schema')) await wasm(FILES.schemaSql, 'schema', schemaArgs)
    }
    if (kinds.includes('schema') && tsSchema && state.fingerprint.hypertables.length) {
      await writeFile(path.join(tmp, FILES.schemaTimescale), timescaleSchemaSql(state.fingerprint, state.jobs, tsSchema))
      files.push(await describeFile(tmp, FILES.schemaTimescale, 'schema-timescaledb', { tool: 'generated from the TimescaleDB catalog' }))
      notes.push('schema-only restore: pg_dump --schema-only carries no TimescaleDB catalog rows; schema_timescaledb.sql re-creates the hypertables, compression settings and policies afterwards.')
    }

    // ---- physical copy ----------------------------------------------------------------------------
    let physicalTool: string | null = null
    if (kinds.includes('full') && target.capabilities.physicalSnapshot && target.physical) {
      t = performance.now()
      // Compressed here at level 1, on libuv's threads: PGlite's own gzip (default level, on the
      // database's thread) took 581–590 ms of a 1.75 s backup of the migrated nine with telemetry.
      const tar = await target.physical.dumpDataDir()
      await writeFile(path.join(tmp, FILES.volume), await gzipAsync(tar, { level: 1 }))
      const ms = performance.now() - t
      physicalTool = 'tar of the PGlite instance\'s data directory after a CHECKPOINT (gzip level 1)'
      files.push(await describeFile(tmp, FILES.volume, 'volume', { tool: physicalTool, durationMs: ms }))
      log(`${FILES.volume}: ${files[files.length - 1]!.bytes} bytes (${Math.round(ms)} ms)`)
    }

    // ---- environment (no secrets) -----------------------------------------------------------------
    const settings = (
      await client.query<{ name: string; setting: string }>(
        `SELECT name, setting FROM pg_settings WHERE name IN ('server_version', 'server_encoding', 'lc_collate', 'lc_ctype', 'TimeZone', 'shared_preload_libraries', 'max_connections', 'timescaledb.license', 'timescaledb.max_background_workers', 'data_checksums') ORDER BY name`,
      )
    ).rows
    await client.end()
    client = undefined
    const env = [
      `engine: ${target.describe}`,
      `url: ${redactUrl(target.url)}`,
      `database: ${info.db}`,
      `PostgreSQL: ${info.pg}`,
      `TimescaleDB: ${tsVersion}${info.lic ? ` (${info.lic})` : ''}`,
      `logical tool: ${logicalTool}`,
      `node: ${process.version} on ${process.platform}/${process.arch}`,
      '',
      'server settings:',
      ...settings.map((s) => `  ${s.name} = ${s.setting}`),
    ]
    await writeFile(path.join(tmp, FILES.environment), redact(env.join('\n')) + '\n')
    files.push(await describeFile(tmp, FILES.environment, 'environment'))

    const durationMs = performance.now() - t0
    log(`backup complete in ${Math.round(durationMs)} ms`)
    await writeFile(path.join(tmp, FILES.log), lines.join('\n') + '\n')
    files.push(await describeFile(tmp, FILES.log, 'log'))

    const logRows = state.migrationLog?.rows ?? []
    const version = logRows.filter((r) => r.status === 'completed').reduce((v, r) => Math.max(v, Number(/^(\d+)/.exec(r.migration_name ?? '')?.[1] ?? 0)), 0)
    const manifest: BackupManifest = {
      format: 'pgverify-backup/1',
      name,
      createdAt: createdAt.toISOString(),
      completedAt: new Date().toISOString(),
      durationMs,
      kinds: [...kinds, ...(physicalTool ? (['volume'] as const) : [])],
      engine: { name: target.engineName, description: redact(target.describe), url: redactUrl(target.url), versions: { ...target.versions } },
      server: {
        postgres: info.pg,
        postgresMajor: Number(/^(\d+)/.exec(info.pg)?.[1] ?? 0),
        timescaledb: tsVersion,
        timescaledbLicense: info.lic ?? 'none',
        timescaledbSchema: tsSchema,
        database: info.db,
      },
      tool: { logical: logicalTool, physical: physicalTool, format: tools ? 'custom' : 'plain' },
      coveredSchemas: [...new Set([...existing, ...absent])].sort(),
      absentSchemas: absent,
      publicObjects: pub,
      migrationLog: { table: state.migrationLog?.table ?? null, rows: logRows.length, version: state.migrationLog ? version : null },
      state,
      files,
      notes,
    }
    await writeManifest(tmp, manifest)
    // Complete: only now does it get its real name.
    let finalName = name
    for (let i = 2; ; i++) {
      try {
        if (existsSync(path.join(root, finalName))) throw Object.assign(new Error('exists'), { code: 'EEXIST' })
        await rename(tmp, path.join(root, finalName))
        break
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code
        if ((code !== 'EEXIST' && code !== 'ENOTEMPTY') || i > 50) throw e
        finalName = `${name}-${i}`
      }
    }
    if (finalName !== name) {
      // The manifest names the directory; a renamed backup keeps its recorded name (verify does not depend on it).
      log(`renamed to ${finalName}: ${name} was taken`)
    }
    unregister()
    const bytes = manifest.files.reduce((s, f) => s + f.bytes, 0)
    return { dir: path.join(root, finalName), name: finalName, manifest, durationMs, stateMs, bytes }
  } catch (e) {
    // The session is closed, not asked to roll back: a server that must first answer would keep us
    // waiting, and closing ends its transaction (snapshot, locks) just the same.
    if (client) await client.end().catch(() => {})
    await rm(tmp, { recursive: true, force: true }).catch(() => {})
    unregister()
    const disk = diskFailure(e)
    if (disk) {
      const file = (e as { path?: string }).path ?? tmp
      throw new HarnessError('BACKUP_FAILED', `backup failed writing ${file}: ${disk.reason} (${disk.errno}); the partial backup ${tmp} was removed and the database session closed`, {
        hint: `Free space on the file system of ${root} (df -h ${root}) or choose another --backup-root, then run the backup again. Nothing in the database was changed.`,
        details: { file, errno: disk.errno, backupRoot: root },
        cause: e,
      })
    }
    // The server went away (pg_dump says so in its own words): a connection error, not a backup bug.
    if (isConnectionLoss(e) || (isHarnessError(e) && e.code === 'BACKUP_FAILED' && toolLostServer(e.message))) {
      throw new HarnessError('CONNECTION_FAILED', `the server went away during the backup of ${redactUrl(target.url)}: ${redact((e as Error).message.split('\n').slice(-3).join(' | '))}; the partial backup ${tmp} was removed`, {
        hint: 'The server went away; the backup and the migration files are not at fault, and nothing in the database was changed (a backup only reads). Check that the server is up (its log says why it went away), then run the backup again.',
        cause: e,
      })
    }
    const lock = lockWaitFailure(e)
    if (lock) {
      const held = await exclusiveHolders(target.url)
      throw new HarnessError('STALLED', `the backup of ${redactUrl(target.url)} waited ${lockTimeoutMs / 1000} s for a lock ${lock}${held ? `; held: ${held}` : ''} and stopped; the partial backup ${tmp} was removed and its session closed`, {
        hint: 'Another session holds (or waits for) an exclusive lock on that table: an ALTER, a LOCK TABLE, a VACUUM FULL. Let it finish, or end it, then run the backup again; raise --stall-timeout to wait longer. Nothing in the database was changed.',
        details: { sqlstate: '55P03' },
        cause: e,
      })
    }
    if (isHarnessError(e)) throw e
    const err = e as { code?: string; message?: string }
    throw new HarnessError('BACKUP_FAILED', `backup of ${redactUrl(target.url)} failed: ${err.message ?? String(e)}${err.code ? ` [${err.code}]` : ''}; the partial backup was removed`, {
      hint: 'Nothing in the database was changed by the backup. Fix the cause and run it again.',
      cause: e,
    })
  }
}
