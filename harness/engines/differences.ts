/**
 * What a proof on this engine cannot show, compared with a production PostgreSQL + TimescaleDB
 * server, derived from capability flags only. Verify prints these next to its verdict, so a pass
 * on one engine is never read as more than it is.
 */
import type { EngineCapabilities } from './types.ts'

export function engineDifferences(c: EngineCapabilities): string[] {
  const out: string[] = []
  if (c.timescaledb && !c.backgroundWorkers) {
    out.push('TimescaleDB background jobs do not run by themselves here (kept off so proofs are deterministic): policies run only where a stage runs them with CALL run_job; on a production server they start soon after the migration commits')
  }
  if (!c.timescaledb) out.push('no TimescaleDB: hypertables, compression and policies are not exercised')
  else if (!c.timescaledbCompression) out.push('TimescaleDB without TSL features (Apache license): compression, retention and jobs are not exercised')
  if (!c.nonTransactionalIndexBuilds) out.push('CREATE INDEX CONCURRENTLY and WITH (timescaledb.transaction_per_chunk) fail on this engine: a --! no-transaction migration using them fails here although it may succeed on a server')
  if (!c.concurrentConnections) out.push('one client connection at a time: lock waits, advisory-lock contention and concurrent sessions are not exercised')
  if (c.dumpTool === 'wasm-pg_dump') out.push("logical backups use the WASM pg_dump (plain SQL with INSERTs), not pg_dump's custom format")
  return out
}
