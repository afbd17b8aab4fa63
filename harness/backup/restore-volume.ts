/**
 * The volume restore: the embedded engine's physical copy (a data directory), booted as a new
 * database of the same engine build and proven with the round-trip comparison like the logical
 * kinds. Nothing existing is touched, so there is no in-place mode.
 */
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { userSchemas } from '../catalog/schemas.ts'
import { handleTarget, type Target } from '../engines/target.ts'
import { HarnessError } from '../errors.ts'
import { connect } from '../runner/connect.ts'
import { splitQualified } from '../util/sql.ts'
import { compareStates, scopeFor } from './compare.ts'
import type { BackupManifest } from './manifest.ts'
import type { RestoreResult } from './restore-types.ts'
import { captureState } from './state.ts'

/** The embedded engine's physical copy, booted as a new database of the target's engine. */
export async function restoreVolume(dir: string, rel: string, m: BackupManifest, target: Target, t0: number, verifyMs: number, log: (l: string) => void): Promise<RestoreResult> {
  const engine = target.engine
  if (!engine || !engine.capabilities.physicalSnapshot) {
    throw new HarnessError('BACKUP_VERSION_MISMATCH', `backup ${m.name}'s volume copy can only be booted by an engine with physical snapshots (the embedded engine); ${target.describe} has none; nothing was restored`, {
      hint: 'Restore the logical backup (--kind full) instead, or use --engine embedded.',
    })
  }
  const built = m.engine.versions
  if (engine.name !== m.engine.name || engine.versions.postgres !== built.postgres || engine.versions.timescaledb !== built.timescaledb) {
    throw new HarnessError('BACKUP_VERSION_MISMATCH', `backup ${m.name}'s volume copy was made by ${m.engine.name} PostgreSQL ${built.postgres} / TimescaleDB ${built.timescaledb}; this engine is ${engine.name} PostgreSQL ${engine.versions.postgres} / TimescaleDB ${engine.versions.timescaledb}; nothing was restored`, {
      hint: 'A physical copy only loads into the same engine build; restore --kind full instead.',
    })
  }
  const bytes = await readFile(path.join(dir, rel))
  const t = performance.now()
  const db = await engine.createDatabase('restored', { from: bytes })
  log(`${rel}: booted as ${db.name} (${Math.round(performance.now() - t)} ms)`)
  const loadMs = performance.now() - t
  const fresh = { ...handleTarget(engine, db), drop: () => db.drop() }
  const tCompare = performance.now()
  const client = await connect(db.url, { applicationName: 'pgverify-restore volume' })
  try {
    const actual = await captureState(client, { schemas: await userSchemas(client), log: m.migrationLog.table ? splitQualified(m.migrationLog.table) : undefined })
    const comparison = compareStates(m.state, actual, scopeFor('volume'))
    return { dir, kind: 'volume', mode: 'fresh', manifest: m, target: fresh, durationMs: performance.now() - t0, timings: { verifyMs, loadMs, compareMs: performance.now() - tCompare }, replaced: [], leftAlone: [], notes: [], comparison }
  } finally {
    await client.end().catch(() => {})
  }
}

