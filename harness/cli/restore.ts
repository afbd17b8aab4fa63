/**
 * `pnpm restore DIR`: restore a verified backup and prove it with the round-trip comparison.
 */
import { checkInterrupted, closeJournals } from '../execute/journal.ts'
import path from 'node:path'
import { formatComparison } from '../backup/compare.ts'
import { restoreBackup, type RestoreKind } from '../backup/restore.ts'
import { HarnessError } from '../errors.ts'
import { EXIT } from './exit-codes.ts'
import { bold, dim, green, info, json, out, red, yellow } from './output.ts'
import { openCommandTarget } from './settings.ts'
import { confirmDestructive } from './confirm.ts'
import { wholeNumber } from './checks.ts'
import { redactUrl } from '../util/redact.ts'
import { flag, type Args, type Verb, type VerbContext } from './verb.ts'

export const RESTORE_HELP = `Usage: pnpm restore DIR [options]

Restores a backup made by \`pnpm backup\` (or \`pnpm execute\`) and proves it: afterwards the
database is compared with the state recorded in the backup's manifest (schema fingerprint,
every table's row count and content hash, chunks and compression per hypertable, jobs,
sequences, migration log) and every difference is printed; "0 differences" is the proof.

The backup is verified first (every checksum and the manifest); a corrupt, truncated or
incomplete backup is refused by name and nothing is touched. TimescaleDB's procedure is
followed: the same TimescaleDB version on both sides (refused otherwise), CREATE EXTENSION,
timescaledb_pre_restore(), the dump without parallel catalog restore, timescaledb_post_restore().

Where:
  DATABASE_URL   restore IN PLACE into that database (needs --yes). This replaces, inside the same
                 database, every schema the backup covers: each is dropped with everything in it and
                 re-created from the backup (schemas the migrations manage that did not exist at
                 backup time are dropped); extensions the backup did not have are dropped when
                 nothing else uses them. Schemas the backup does not cover, roles, database settings
                 and other databases are left alone and listed. Refused when schema public holds
                 objects of its own, or hypertables exist outside the covered schemas: restore
                 into a new, empty database then. The whole restore is ONE transaction: if any
                 statement fails, the database is exactly as it was before.
  --engine NAME  instead, into a fresh disposable database on embedded | native | container (a
                 rehearsal: proves the backup restores, then the database is thrown away)

Options:
  --kind KIND    full (default) | schema (definitions, empty tables) | data (rows only, into an
                 existing schema: the backup's tables are truncated and loaded) | volume (the
                 embedded engine's data-directory copy; --engine embedded only)
  --yes          confirm an in-place restore on DATABASE_URL (else it is asked for at a terminal,
                 and refused without one)
  --accept-current-state
                 an earlier execute of this database was interrupted: restore another backup than
                 its own anyway (restoring its own backup finishes its rollback and needs no flag)
  --stall-timeout MS
                 in place: give up (nothing kept, exit 7) when a table lock is not granted within
                 MS, naming the sessions that hold them (default 60000; 0 = wait forever)
  --json         machine-readable output on stdout

Exit codes: 0 restored with 0 differences · 2 usage (e.g. missing --yes) · 5 no matching
pg_restore · 4 an interrupted execute of this database (see above) · 6 connection · 7 a table
lock not granted within --stall-timeout (nothing kept) · 9 backup corrupt or versions do not
match (nothing restored) · 10 restore failed or the comparison found differences`

const KINDS = ['full', 'schema', 'data', 'volume']

export async function restore(argv: Args, { config }: VerbContext): Promise<number> {
  const dirArg = argv._[0]
  if (!dirArg) throw new HarnessError('USAGE', 'missing the backup directory', { hint: 'e.g. pnpm restore backups/pre-migration-20261123-181500 --yes' })
  const dir = path.resolve(dirArg)
  const kind = String(argv.kind ?? 'full')
  if (!KINDS.includes(kind)) throw new HarnessError('USAGE', `--kind ${kind}: unknown kind`, { hint: `Use ${KINDS.join(', ')}.` })
  const engine = flag(argv, 'engine')
  const asJson = Boolean(argv.json)
  const lockTimeoutMs = wholeNumber('stall-timeout', argv['stall-timeout'], '0') ?? config.stallTimeoutMs
  const target = await openCommandTarget(engine, config, 'restore')
  try {
    const mode = target.capabilities.disposable ? 'fresh' : 'in-place'
    // An interrupted execute of this database: restoring its own backup finishes its rollback; another backup needs the state accepted.
    const guard = mode === 'in-place' ? await checkInterrupted(target.url, [path.dirname(dir), config.backupRoot], 'restore', Boolean(argv['accept-current-state']), dir) : { journals: [] }
    if (guard.notice) info(yellow(guard.notice))
    if (mode === 'in-place') {
      await confirmDestructive({
        what: [
          `restore ${kind === 'data' ? 'the rows' : kind === 'schema' ? 'the definitions' : 'everything'} of ${path.basename(dir)} IN PLACE`,
          kind === 'data' ? "the backup's tables are truncated and loaded from it" : 'every schema the backup covers is dropped with everything in it and re-created from the backup',
          'in one transaction: a failure leaves the database as it was',
        ],
        where: redactUrl(target.url),
        yes: Boolean(argv.yes),
        safer: 'Rehearse into a disposable database with --engine embedded|native|container.',
      })
    }
    const r = await restoreBackup(dir, target, { kind: kind as RestoreKind, mode, onLog: asJson ? undefined : (l) => info(dim(l)), lockTimeoutMs })
    try {
      const ok = r.comparison.differences.length === 0
      if (asJson) json({ ok, dir, kind, mode, durationMs: Math.round(r.durationMs), replaced: r.replaced, leftAlone: r.leftAlone, notes: r.notes, comparison: r.comparison })
      else {
        for (const n of r.notes) info(yellow(`note: ${n}`))
        for (const l of formatComparison(r.comparison)) out(l.startsWith('  ') ? red(l) : l)
        out(
          ok
            ? green(bold(`restored ${kind} from ${r.manifest.name} (${mode}) in ${(r.durationMs / 1000).toFixed(1)} s: 0 differences from the backed-up state`))
            : red(bold(`restored ${kind} from ${r.manifest.name}, but ${r.comparison.differences.length} differences from the backed-up state (listed above)`)),
        )
      }
      if (ok && guard.journals.length) {
        await closeJournals(guard.journals)
        if (!asJson) out(green(`the interrupted execute's rollback is finished: its journal is closed`))
      }
      return ok ? EXIT.OK : EXIT.RESTORE
    } finally {
      await r.target.drop?.().catch(() => {})
    }
  } finally {
    await target.close()
  }
}

export const verb: Verb = { help: RESTORE_HELP, options: { string: ['engine', 'kind', 'stall-timeout'], boolean: ['yes', 'json', 'accept-current-state'], positionals: 1 }, run: restore }
