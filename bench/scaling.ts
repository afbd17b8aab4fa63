/**
 * `pnpm bench:scaling`: how `pnpm verify` grows with the number of migrations (issue #13). For
 * each N (default 10, 50, 200; `--n 10,50`), a synthetic set of N small migrations
 * (bench/synthetic.ts) is verified at full depth on one engine (`--engine NAME`, default native);
 * per N: wall time, every stage's time, the structural work counted in verify.json (migrations
 * applied and reverted, statements, snapshots, digests, datasets), the peak memory of this
 * process, and the machine's load before and after (the machine is shared: counts are the
 * figures a loaded machine cannot bend). Between consecutive N the growth exponent of each
 * figure is given: log(b/a) / log(N_b/N_a) — 1 is linear, 2 quadratic.
 * Figures go to reports/scaling.json (`--reports DIR`); `--skip A,B` leaves stages out.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { startEngine } from '../harness/engines/target.ts'
import { runVerify, type VerifyReport } from '../harness/verify/pipeline.ts'
import { syntheticMigrations } from './synthetic.ts'

const ROOT = path.resolve(import.meta.dirname, '..')
const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`)
  return i < 0 ? undefined : process.argv[i + 1]
}
const load = () => os.loadavg().map((x) => Math.round(x * 100) / 100)

export interface ScalingRow {
  n: number
  tables: number
  ok: boolean
  wallMs: number
  peakRssMb: number
  loadBefore: number[]
  loadAfter: number[]
  stages: Record<string, number>
  work: Record<string, number>
  failed: string[]
}

/** log(b/a) / log(nb/na): 1 for linear growth, 2 for quadratic. */
export const exponent = (na: number, a: number, nb: number, b: number): number | null => (a > 0 && b > 0 && nb !== na ? Math.round((Math.log(b / a) / Math.log(nb / na)) * 100) / 100 : null)

async function main(): Promise<void> {
  const ns = (arg('n') ?? '10,50,200').split(',').map(Number)
  if (ns.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`--n needs whole numbers ≥ 1, e.g. --n 10,50,200 (got ${arg('n')})`)
  const skip = arg('skip')?.split(',').filter(Boolean)
  const reports = path.resolve(arg('reports') ?? path.join(ROOT, 'reports'))
  const engine = await startEngine({ request: { name: arg('engine') ?? 'native', source: '--engine' }, log: () => {} })
  const rows: ScalingRow[] = []
  try {
    for (const n of ns) {
      const set = syntheticMigrations(n)
      let peak = process.memoryUsage().rss
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 250)
      const loadBefore = load()
      const t0 = performance.now()
      let report: VerifyReport
      try {
        report = await runVerify(engine, { dir: set.dir, seed: 1, skip, reportsDir: path.join(os.tmpdir(), 'pgverify-scaling-reports') })
      } finally {
        clearInterval(sampler)
        rmSync(set.dir, { recursive: true, force: true })
      }
      const row: ScalingRow = {
        n,
        tables: set.tables,
        ok: report.ok,
        wallMs: Math.round(performance.now() - t0),
        peakRssMb: Math.round(peak / 2 ** 20),
        loadBefore,
        loadAfter: load(),
        stages: Object.fromEntries(report.stages.map((s) => [s.id, s.durationMs])),
        work: report.work ?? {},
        failed: report.stages.filter((s) => s.verdict === 'failed').map((s) => `${s.id}: ${s.summary}`),
      }
      rows.push(row)
      console.log(`N=${n}: ${(row.wallMs / 1000).toFixed(1)} s, ${row.ok ? 'passed' : `FAILED (${row.failed.join('; ')})`}, peak RSS ${row.peakRssMb} MB, load ${loadBefore.join(' ')} → ${row.loadAfter.join(' ')}`)
      console.log(`  ${Object.entries(row.stages).map(([k, v]) => `${k} ${(v / 1000).toFixed(1)} s`).join(', ')}`)
      console.log(`  migrations applied ${row.work.migrationsApplied ?? 0}, reverted ${row.work.migrationsReverted ?? 0}, snapshots ${row.work.snapshots ?? 0}, digests ${row.work.dataDigests ?? 0}`)
    }
  } finally {
    await engine.stop()
  }
  const growth = rows.slice(1).map((b, i) => {
    const a = rows[i]!
    const keys = ['migrationsApplied', 'migrationsReverted', 'migrationStatements', 'snapshots', 'dataDigests']
    return {
      from: a.n,
      to: b.n,
      wall: exponent(a.n, a.wallMs, b.n, b.wallMs),
      stages: Object.fromEntries(Object.keys(b.stages).map((k) => [k, exponent(a.n, a.stages[k] ?? 0, b.n, b.stages[k] ?? 0)])),
      work: Object.fromEntries(keys.map((k) => [k, exponent(a.n, a.work[k] ?? 0, b.n, b.work[k] ?? 0)])),
    }
  })
  for (const g of growth) console.log(`growth ${g.from} → ${g.to} (1 = linear, 2 = quadratic): wall ${g.wall}; ${Object.entries(g.work).map(([k, v]) => `${k} ${v}`).join(', ')}; data-properties ${g.stages['data-properties']}`)
  mkdirSync(reports, { recursive: true })
  const file = path.join(reports, 'scaling.json')
  writeFileSync(file, JSON.stringify({ engine: engine.describe(), date: new Date().toISOString(), cpus: os.cpus().length, node: process.version, rows, growth }, null, 2) + '\n')
  console.log(`figures: ${file}`)
  if (rows.some((r) => !r.ok)) process.exitCode = 1
}

await main()
