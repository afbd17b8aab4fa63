/**
 * Migration replay: all nine migrations, from an empty database, through the production
 * runner (bootstrap, checksums, one transaction per file). Needs TimescaleDB.
 */
import { makeFigure, type Figure } from '../harness/measure/figures.ts'
import { measure } from '../harness/measure/tiny.ts'
import { connect } from '../harness/runner/connect.ts'
import { migrate, type BenchContext } from './context.ts'

export async function migrationReplay(ctx: BenchContext): Promise<Figure[]> {
  const samples = await measure(
    'migrate',
    async () => {
      const db = await ctx.engine.createDatabase('bench_migrate')
      try {
        const client = await connect(db.url, { applicationName: 'pgverify-bench migrate' })
        try {
          return await migrate(client)
        } finally {
          await client.end().catch(() => {})
        }
      } finally {
        await db.drop().catch(() => {})
      }
    },
    { iterations: ctx.sizes.migrateIterations },
  )
  return [makeFigure({ id: 'migrate.replay', label: 'Migration replay (001…009 from empty)', group: 'migration', unit: 'ms', better: 'lower', samples })]
}
