/**
 * `pnpm backup`: back up a database; `pnpm backup verify DIR`; `pnpm backup prune`.
 */
import path from 'node:path'
import { createBackup, logLocation } from '../backup/backup.ts'
import { humanBytes, verifyBackup } from '../backup/manifest.ts'
import { pruneBackups } from '../backup/retention.ts'
import type { BackupKind } from '../backup/manifest.ts'
import { HarnessError } from '../errors.ts'
import { loadManifest } from '../manifest/manifest.ts'
import { EXIT } from './exit-codes.ts'
import { bold, dim, green, info, json, out, red, yellow } from './output.ts'
import { wholeNumber } from './checks.ts'
import { openCommandTarget } from './settings.ts'
import { didYouMean } from './parse.ts'
import { flag, type Args, type Verb, type VerbContext } from './verb.ts'

export const BACKUP_HELP = `Usage: pnpm backup [options]                 back up the database (full, schema-only, data-only)
       pnpm backup verify DIR                 recheck a backup: every file's size and SHA-256, and the manifest
       pnpm backup prune [--keep-days N] [--dry-run]   remove old backups

Writes pre-migration-YYYYMMDD-HHMMSS/ (UTC) under the backup root, as seed 000 lays it out:
  database/full_backup.dump|.sql   the whole database (pg_dump -Fc; the embedded engine: WASM pg_dump, plain SQL)
  database/schema_only.dump|.sql   definitions only; schema_timescaledb.sql re-creates hypertables and policies
  database/data_only.sql           every table's rows, read through the table (hypertables included),
                                   loadable into a database migrated by the runner
  volumes/postgres_data.tar.gz     the embedded engine's data directory (its "volume backup")
  config/environment.txt, logs/backup.log
  BACKUP_MANIFEST.txt / .json      every file with size and SHA-256, engine, PostgreSQL and TimescaleDB
                                   versions, the migration log, row count and content hash per table,
                                   chunks and jobs per hypertable, the tool used
The backup is written under a temporary name (.pre-migration-….partial-PID) and renamed when
complete: an interrupted backup never looks like one. The state and the dumps come from one
snapshot (pg_dump --snapshot), so the manifest describes exactly what the files hold.

Where:
  DATABASE_URL        the database to back up (password never printed; passed to pg_dump via PGPASSWORD)
  PGCONNECT_TIMEOUT   seconds to wait for the server to answer (default 10; 0: no limit)
  --engine NAME       instead, a fresh disposable database on embedded | native | container (a rehearsal)

Options:
  --backup-root DIR   where backups live (default: backups)
  --kind KIND         all | full | schema | data (default: all)
  --dir DIR           migrations directory: its manifest names the schemas the migrations manage
                      (default: migrations)
  --log-schema NAME   schema of the migration log (default: the manifest's schema)
  --keep-days N       prune: remove backups older than N days (default 7); never the newest,
                      never one still being written, never a directory without a valid manifest;
                      interrupted backups (partial, their process gone) are removed whatever their age
  --dry-run           prune: list what would be removed, remove nothing
  --stall-timeout MS  stop (exit 7) when a table lock is not granted within MS, naming the table:
                      a backup queued behind an ALTER would otherwise wait and hold its snapshot
                      (default 60000; 0 = wait forever; config "stallTimeoutMs")
  --json              machine-readable output on stdout

pg_dump, pg_restore and psql must be of the server's major version (refused otherwise):
Debian/Ubuntu: apt-get install postgresql-client-15; or PG_BIN=/path/to/bin.

Exit codes: 0 ok · 1 backup failed · 2 usage · 5 no matching pg_dump · 6 connection ·
7 a table lock not granted within --stall-timeout · 8 engine unavailable · 9 verify: the backup is corrupt or incomplete`

function kindsArg(v: unknown): BackupKind[] {
  const k = v === undefined ? 'all' : String(v)
  if (k === 'all') return ['full', 'schema', 'data']
  if (k === 'full' || k === 'schema' || k === 'data') return [k]
  throw new HarnessError('USAGE', `--kind ${k}: unknown kind`, { hint: 'Use all, full, schema or data.' })
}

function keepDaysArg(v: unknown, byDefault: number): number {
  if (v === undefined) return byDefault
  const n = Number(v)
  if (typeof v === 'boolean' || !Number.isFinite(n) || n < 0) throw new HarnessError('USAGE', `--keep-days needs a number of days, got "${String(v)}"`, { hint: 'e.g. --keep-days 14' })
  return n
}

export async function backup(argv: Args, { config }: VerbContext): Promise<number> {
  const sub = argv._[0]
  const asJson = Boolean(argv.json)
  const root = path.resolve(flag(argv, 'backup-root') ?? config.backupRoot)
  if (sub === 'verify') {
    const dir = argv._[1]
    if (!dir) throw new HarnessError('USAGE', '`backup verify` needs the backup directory', { hint: 'e.g. pnpm backup verify backups/pre-migration-20261123-181500' })
    const v = await verifyBackup(path.resolve(dir))
    if (asJson) json({ ok: v.ok, dir: v.dir, problems: v.problems, checked: v.checked, extra: v.extra })
    else {
      for (const c of v.checked) out(`${c.ok ? green('ok  ') : red('BAD ')} ${c.file} ${dim(humanBytes(c.bytes))}`)
      for (const p of v.problems) out(`${red('BAD ')} ${p.file}: ${p.problem}`)
      for (const e of v.extra) out(`${yellow('note')} ${e}: not listed in the manifest`)
      out(v.ok ? green(bold(`backup verified: ${v.checked.length} files and the manifest match their checksums`)) : red(bold(`backup does NOT verify: ${v.problems.length} problem${v.problems.length > 1 ? 's' : ''}; restore refuses it`)))
    }
    return v.ok ? EXIT.OK : EXIT.BACKUP
  }
  if (sub === 'prune' || sub === undefined) {
    if (argv._.length > (sub ? 1 : 0)) throw new HarnessError('USAGE', `unexpected argument: ${JSON.stringify(argv._.at(-1))}`, { hint: 'pgverify backup [options] | pgverify backup verify DIR | pgverify backup prune' })
  }
  if (sub === 'prune') {
    const r = await pruneBackups(root, { keepDays: keepDaysArg(argv['keep-days'], config.keepDays), dryRun: Boolean(argv['dry-run']) })
    if (asJson) json({ ok: true, ...r })
    else {
      const verb = r.dryRun ? 'would remove' : 'removed'
      for (const e of r.removed) out(`${yellow(verb)} ${e.name}: ${e.reason}`)
      for (const e of r.kept) out(`${green('keep')}  ${e.name}: ${e.reason}`)
      for (const e of r.skipped) out(`${dim('skip')}  ${e.name}: ${e.reason}`)
      out(bold(`${r.root}: ${r.removed.length} ${verb}, ${r.kept.length} kept, ${r.skipped.length} left alone (retention ${r.keepDays} days${r.dryRun ? ', dry run' : ''})`))
    }
    return EXIT.OK
  }
  if (sub !== undefined) throw new HarnessError('USAGE', `unknown backup command "${sub}"${didYouMean(sub, ['verify', 'prune'], (s) => `"${s}"`)}`, { hint: 'pnpm backup [options] | pnpm backup verify DIR | pnpm backup prune' })

  const kinds = kindsArg(argv.kind)
  const dir = path.resolve(flag(argv, 'dir') ?? config.dir)
  const manifest = await loadManifest(dir).catch(() => undefined)
  const logSchema = flag(argv, 'log-schema') ?? config.logSchema
  const target = await openCommandTarget(flag(argv, 'engine'), config, 'backup')
  try {
    if (target.capabilities.disposable) info(yellow('note: a fresh disposable database is empty: this rehearses the backup itself'))
    const r = await createBackup(target, { root, kinds, manifest, log: logLocation(manifest, logSchema ? { schema: logSchema, table: config.logTable ?? 'migration_log' } : config.logTable && manifest?.schema ? { schema: manifest.schema, table: config.logTable } : undefined), onLog: asJson ? undefined : (l) => info(dim(l)), lockTimeoutMs: wholeNumber('stall-timeout', argv['stall-timeout'], '0') ?? config.stallTimeoutMs })
    if (asJson) json({ ok: true, dir: r.dir, name: r.name, bytes: r.bytes, durationMs: Math.round(r.durationMs), files: r.manifest.files, kinds: r.manifest.kinds })
    else {
      for (const f of r.manifest.files) out(`  ${f.path.padEnd(36)} ${humanBytes(f.bytes).padStart(10)}  ${dim(f.sha256)}`)
      out(green(bold(`backup written: ${r.dir} (${humanBytes(r.bytes)} in ${(r.durationMs / 1000).toFixed(1)} s)`)))
      out(dim(`verify: pnpm backup verify ${r.dir} · restore: pnpm restore ${r.dir} --yes`))
    }
    return EXIT.OK
  } finally {
    await target.close()
  }
}

export const verb: Verb = {
  help: BACKUP_HELP,
  options: { string: ['engine', 'backup-root', 'kind', 'dir', 'log-schema', 'keep-days', 'stall-timeout'], boolean: ['dry-run', 'json'], positionals: 2 },
  run: backup,
}
