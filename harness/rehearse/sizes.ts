/**
 * Production row counts for `pgverify plan --rehearse`: read from a production database
 * (`--size-from URL`) or given in the configuration (`productionRows`).
 *
 * The database is only read: one `BEGIN READ ONLY` transaction (the server refuses any write
 * in it, whatever the role may do), the catalog and statistics readers of catalog/sizes.ts (no
 * table is scanned), then ROLLBACK. The URL is never printed: messages and reports name it
 * redacted (util/redact.ts), and connect() registers its password as a secret.
 */
import { HarnessError } from '../errors.ts'
import { readTableSizes, type TableSize } from '../catalog/sizes.ts'
import { connect } from '../runner/connect.ts'
import { redactUrl } from '../util/redact.ts'

export interface ProductionSizes {
  /** Where the figures came from: the redacted URL, or the config key. */
  source: string
  /** Rows per schema.table. */
  rows: Record<string, number>
  /** Per table, how it was known (URL only). */
  tables?: TableSize[]
  /** The reading transaction was read-only, as the server said (`transaction_read_only`). */
  readOnly?: boolean
}

export async function sizesFromUrl(url: string): Promise<ProductionSizes> {
  const client = await connect(url, { applicationName: 'pgverify-plan sizes (read-only)' })
  try {
    await client.query('BEGIN TRANSACTION READ ONLY')
    try {
      const ro = (await client.query<{ transaction_read_only: string }>('SHOW transaction_read_only')).rows[0]!.transaction_read_only === 'on'
      if (!ro) throw new HarnessError('INTERNAL', 'the size-reading transaction is not read-only', { hint: 'Report this: sizes are read in BEGIN TRANSACTION READ ONLY.' })
      const tables = await readTableSizes(client)
      return { source: redactUrl(url), rows: Object.fromEntries(tables.map((t) => [t.table, t.rows])), tables, readOnly: ro }
    } finally {
      await client.query('ROLLBACK').catch(() => {})
    }
  } finally {
    await client.end().catch(() => {})
  }
}

export function sizesFromConfig(rows: Record<string, number>, source: string): ProductionSizes {
  return { source, rows: { ...rows } }
}
