/**
 * What `pnpm execute` does when an earlier execute of the same database never finished (its
 * journal, journal.ts): refuse and say what happened, finish the rollback (--finish-rollback:
 * restore that execute's backup in place and prove it with the round-trip comparison), or take
 * the current state as this run's baseline because the operator said so (--accept-current-state).
 */
import { HarnessError } from '../errors.ts'
import { ACCEPT_STATE_FLAG, closeJournals, describeJournal, FINISH_ROLLBACK_FLAG, interruptedError, versionNow, type Journal } from './journal.ts'
import { rollbackPhase, type Run } from './phases.ts'
import type { Outcome } from './types.ts'

type Decide = (outcome: Outcome, state: string, error?: unknown) => void

/** Returns true when the run ends here (refused, or the rollback was finished or failed). */
export async function handleInterrupted(run: Run, journals: Journal[], decide: Decide): Promise<boolean> {
  const { o, log, report } = run
  if (journals.length === 0) {
    decide('not-started', `NOT CHANGED: ${FINISH_ROLLBACK_FLAG} was given, but no interrupted execute of this database was found under ${report.backupRoot}; nothing was run.`, new HarnessError('USAGE', `${FINISH_ROLLBACK_FLAG}: no unfinished execute journal for this database in ${report.backupRoot}`, { hint: 'Give the --backup-root the interrupted execute used, or run without the flag.' }))
    return true
  }
  const j = journals[journals.length - 1]!
  const current = await versionNow(o.target.url, j.log)
  const what = describeJournal(j, current)
  report.versionBefore = current
  if (o.finishRollback) {
    log.warn(`${what}: finishing its rollback (${FINISH_ROLLBACK_FLAG})`)
    try {
      await rollbackPhase(run, j.backup)
    } catch (e) {
      decide('rollback-failed', `ATTENTION: ${what}; restoring its backup failed (${(e as Error).message.split('\n')[0]}). The restore runs in one transaction, so the database is as the interrupted run left it (version ${current ?? 'unknown'}); the journal is kept.`, e)
      return true
    }
    const diffs = report.rollback!.comparison!.differences.length
    report.versionAfter = j.versionBefore
    if (diffs) {
      decide('restored-with-differences', `ATTENTION: ${what}; its backup was restored, but the comparison with the pre-migration state shows ${diffs} difference${diffs > 1 ? 's' : ''} (listed in the report); the journal is kept.`)
      return true
    }
    await closeJournals(journals)
    decide('rollback-finished', `RESTORED: ${what}. The rollback is finished: the database was restored from ${j.backup.dir} and is in its pre-migration state (version ${j.versionBefore}): the comparison with the state recorded at backup time shows 0 differences.`)
    return true
  }
  if (o.acceptCurrentState) {
    log.warn(`ACCEPTED (${ACCEPT_STATE_FLAG}): ${what}; the current state (version ${current ?? 'unknown'}) is taken as this run's baseline, as asked`)
    await closeJournals(journals)
    return false
  }
  decide('not-started', `NOT CHANGED: ${what}. Nothing was run: choose how to go on.`, interruptedError(j, current, 'execute'))
  report.versionAfter = current
  return true
}
