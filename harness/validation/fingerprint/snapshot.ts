/**
 * Schema fingerprint: taking a canonical, ordered, JSON-serialisable snapshot of the catalog
 * for a set of schemas, its sha256, and a readable diff between two snapshots.
 *
 * Two databases with the same schema give byte-identical JSON whatever order their
 * objects were created in: everything is sorted by name (code-unit order, not collation),
 * and nothing that differs between two identical databases is kept (OIDs, attnums,
 * sequence values, TimescaleDB hypertable/job ids, chunk names, table rows).
 *
 * Queries work on PostgreSQL 15–17, with TimescaleDB 2.11+ or without it (pg_extension
 * is checked first). TimescaleDB's internal schemas (`_timescaledb_*`), its chunks and
 * compressed hypertables, and objects that belong to an extension are left out.
 *
 * Names and expressions are printed with `search_path = pg_catalog` (SET LOCAL in a transaction
 * or savepoint that is rolled back afterwards) so they do not depend on the caller's session,
 * and the session is left as it was.
 */
import type pg from 'pg'
import { hasTimescale, withLocalSettings } from '../../catalog/common.ts'
import { cmp } from './canonical.ts'
import { extensionSnapshots, functionSnapshots, sequenceSnapshots, typeSnapshots } from './objects.ts'
import { relationSnapshots } from './relations.ts'
import { jobSnapshots, timescaleSnapshots, type TimescaleSnapshots } from './timescale.ts'
import { SNAPSHOT_FORMAT, type JobSnapshot, type SchemaSnapshot } from './types.ts'

/**
 * Take a snapshot of the given schemas. `_timescaledb_*` schemas are ignored even if asked for.
 * Outside a transaction it runs in a read-only transaction of its own; inside one it runs in a
 * savepoint (the caller's transaction must not be in an aborted state).
 */
export async function snapshot(client: pg.ClientBase, schemas: string[]): Promise<SchemaSnapshot> {
  const wanted = [...new Set(schemas)].filter((s) => !s.startsWith('_timescaledb')).sort(cmp)
  // search_path is set with SET LOCAL inside a transaction of our own, or inside a savepoint of
  // the caller's transaction, and rolled back afterwards: the session is left exactly as it was.
  const how = { savepoint: 'fingerprint_snapshot', begin: 'BEGIN READ ONLY', settings: ['SET LOCAL search_path = pg_catalog'] }
  return withLocalSettings(client, how, () => take(client, wanted))
}

/**
 * Only the jobs part of a snapshot (what `snapshot(…).jobs` holds), read the same way: one catalog
 * query instead of a dozen, for callers that want a version's jobs and not its schema.
 */
export async function snapshotJobs(client: pg.ClientBase, schemas: string[]): Promise<JobSnapshot[]> {
  const wanted = [...new Set(schemas)].filter((s) => !s.startsWith('_timescaledb')).sort(cmp)
  const how = { savepoint: 'fingerprint_jobs', begin: 'BEGIN READ ONLY', settings: ['SET LOCAL search_path = pg_catalog'] }
  return withLocalSettings(client, how, async () => ((await hasTimescale(client)) ? jobSnapshots(client, wanted) : []))
}

/** Every object kind, each read by the catalog readers and put in snapshot form by its module. */
async function take(client: pg.ClientBase, schemas: string[]): Promise<SchemaSnapshot> {
  const tsdb = await hasTimescale(client)
  const extensions = await extensionSnapshots(client, schemas)
  const { tables, constraints, indexes, views, triggers } = await relationSnapshots(client, schemas, tsdb)
  const functions = await functionSnapshots(client, schemas)
  const sequences = await sequenceSnapshots(client, schemas)
  const types = await typeSnapshots(client, schemas)
  const { hypertables, compression, jobs }: TimescaleSnapshots = tsdb ? await timescaleSnapshots(client, schemas) : { hypertables: [], compression: [], jobs: [] }
  return {
    format: SNAPSHOT_FORMAT,
    schemas,
    extensions,
    types,
    tables,
    constraints,
    indexes,
    views,
    functions,
    triggers,
    sequences,
    hypertables,
    compression,
    jobs,
  }
}
