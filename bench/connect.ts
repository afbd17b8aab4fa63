/**
 * Connection time (seed 000: < 100 ms) and fresh-database time (create + drop, what every
 * test pays for isolation). Neither needs TimescaleDB, so these run on every engine.
 */
import pg from 'pg'
import { makeFigure, type Figure } from '../harness/measure/figures.ts'
import { measure } from '../harness/measure/tiny.ts'
import type { BenchContext } from './context.ts'

/** Time from opening a socket until the server is ready for a query (SELECT 1 answered), then close (not timed). */
export async function connectionTime(ctx: BenchContext): Promise<Figure[]> {
  const db = await ctx.engine.createDatabase('bench_connect')
  try {
    const samples = await measure(
      'connect',
      async () => {
        const client = new pg.Client({ connectionString: db.url, connectionTimeoutMillis: 10_000 })
        client.on('error', () => {})
        const t0 = performance.now()
        await client.connect()
        await client.query('SELECT 1')
        const ms = performance.now() - t0
        await client.end()
        return ms
      },
      { iterations: ctx.sizes.connectIterations, warmup: 2 },
    )
    return [
      makeFigure({
        id: 'connect',
        label: 'Connection time (connect + SELECT 1)',
        group: 'connection',
        unit: 'ms',
        better: 'lower',
        samples,
        threshold: 'connect',
      }),
    ]
  } finally {
    await db.drop().catch(() => {})
  }
}

/** engine.createDatabase() + drop(): the price of a fresh, empty database. */
export async function freshDatabaseTime(ctx: BenchContext): Promise<Figure[]> {
  const create: number[] = []
  const drop: number[] = []
  await measure(
    'fresh-db',
    async () => {
      const t0 = performance.now()
      const db = await ctx.engine.createDatabase('bench_fresh')
      const t1 = performance.now()
      await db.drop()
      const t2 = performance.now()
      create.push(t1 - t0)
      drop.push(t2 - t1)
      return t2 - t0
    },
    { iterations: ctx.sizes.freshDbIterations },
  )
  const total = create.map((c, i) => c + drop[i]!)
  return [
    makeFigure({ id: 'fresh_db', label: 'Fresh database (create + drop)', group: 'database', unit: 'ms', better: 'lower', samples: total }),
    makeFigure({ id: 'fresh_db.create', label: 'Fresh database: create', group: 'database', unit: 'ms', better: 'lower', samples: create }),
  ]
}
