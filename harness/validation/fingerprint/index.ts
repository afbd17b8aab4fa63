/**
 * The schema fingerprint: snapshot.ts takes it (one module per object kind: relations.ts,
 * objects.ts, timescale.ts, each over the catalog readers of harness/catalog/), canonical.ts
 * hashes it, render.ts and diff.ts compare two.
 */
export { canonicalJson, fingerprintHash } from './canonical.ts'
export { diffSnapshots } from './diff.ts'
export { snapshot, snapshotJobs } from './snapshot.ts'
export * from './types.ts'
export { PackedSnapshots, type Snapshots } from './store.ts'
