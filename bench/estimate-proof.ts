/**
 * `pnpm bench:estimate`: does `pgverify plan --rehearse` estimate well? (issue #14, part 4.)
 *
 *   1. On a native engine, a "production" database ten times the rehearsal's default (`--factor
 *      10`: ten days of MS5.0 telemetry, ~1.1 M rows), all migrations applied, analysed.
 *   2. `pgverify plan --rehearse --size-from <its URL> --json` as a user runs it (a child
 *      process with its own engine; the URL carries a password, which must not appear in what it
 *      prints). It rehearses at 1× and 3× and extrapolates to the sizes it reads.
 *   3. The real run at that size: every migration rehearsed from a database at version k-1 loaded
 *      with the same ten days (the same workload, sampler and runner), timed per statement.
 *   4. Estimate against actual, per statement and per migration: reports/estimate-proof.json and
 *      reports/estimate-proof.md, with the machine's load before and after.
 *
 * Options: --factor N (default 10), --only N,M, --reports DIR.
 */
import { writeFileSync, mkdirSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { startEngine } from '../harness/engines/target.ts'
import { loadTelemetryAt, telemetryPlan } from '../harness/rehearse/load.ts'
import { rehearse } from '../harness/rehearse/rehearse.ts'
import type { PlanEstimate } from '../harness/rehearse/estimate.ts'
import { connect } from '../harness/runner/connect.ts'
import { renderJson } from '../harness/reports/text.ts'
import { migrate, MIGRATIONS_DIR, REPO } from './context.ts'
import { spawnSync } from 'node:child_process'

const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`)
  return i < 0 ? undefined : process.argv[i + 1]
}
const load = () => os.loadavg().map((x) => Math.round(x * 100) / 100)
const PASSWORD = 'proof-Secret-9137'

export interface Compared {
  version: number
  where: string
  text: string
  estimatedMs: number
  actualMs: number
  /** estimate / actual. */
  ratio: number | null
  fit: string
  productionRows: number
}

async function main(): Promise<void> {
  const factor = Number(arg('factor') ?? 10)
  const only = arg('only')?.split(',').map(Number)
  const reports = path.resolve(arg('reports') ?? path.join(REPO, 'reports'))
  const loadBefore = load()
  const t0 = performance.now()
  const engine = await startEngine({ request: { name: 'native', source: '--engine' }, log: (l) => console.error(l) })
  try {
    // 1. The production-sized database.
    const db = await engine.createDatabase('production_10x')
    const client = await connect(db.url)
    await migrate(client)
    const loaded = await loadTelemetryAt(client, telemetryPlan({ seed: 1, days: factor }))
    await client.end()
    const rows = Object.values(loaded.rows).reduce((a, b) => a + b, 0)
    console.error(`production database: ${rows.toLocaleString('en-US')} rows (${factor} days) in ${(loaded.durationMs / 1000).toFixed(1)} s`)
    const u = new URL(db.url)
    u.password = PASSWORD
    const url = u.toString()

    // 2. The estimate, by the command line.
    const args = ['--import', 'tsx', 'harness/cli/index.ts', 'plan', '--rehearse', '--size-from', url, '--engine', 'native', '--json', '--reports', path.join(os.tmpdir(), 'pgverify-estimate-proof'), ...(only ? ['--only', only.join(',')] : [])]
    const tPlan = performance.now()
    const p = spawnSync(process.execPath, args, { cwd: REPO, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, env: { ...process.env, NO_COLOR: '1', DATABASE_URL: undefined } })
    const planMs = performance.now() - tPlan
    const leaked = `${p.stdout}${p.stderr}`.includes(PASSWORD)
    if (!p.stdout.trim().startsWith('{')) throw new Error(`plan --rehearse printed no JSON (exit ${p.status}):\n${p.stderr.slice(-3000)}`)
    const estimate = JSON.parse(p.stdout) as PlanEstimate
    console.error(`plan --rehearse: exit ${p.status} in ${(planMs / 1000).toFixed(0)} s; password in its output: ${leaked ? 'YES' : 'no'}`)

    // 3. The real run at that size.
    const tReal = performance.now()
    const real = await rehearse(engine, { dir: MIGRATIONS_DIR, days: factor, seed: 1, ...(only ? { only } : {}), onProgress: (l) => console.error(l) })
    const realMs = performance.now() - tReal

    // 4. Estimate against actual.
    const statements: Compared[] = []
    const migrations = estimate.migrations.map((m) => {
      const r = real.migrations.find((x) => x.version === m.version)
      for (const s of m.statements) {
        const a = r?.statements.find((x) => x.where === s.where)
        if (!a) continue
        statements.push({ version: m.version, where: s.where, text: s.text, estimatedMs: s.estimatedMs, actualMs: a.durationMs, ratio: a.durationMs > 0 ? s.estimatedMs / a.durationMs : null, fit: s.fit.kind, productionRows: s.productionRows })
      }
      const actualMs = r ? r.statements.reduce((x, s) => x + s.durationMs, 0) : 0
      return { version: m.version, file: m.file, estimatedMs: m.estimatedMs, actualMs, ratio: actualMs > 0 ? m.estimatedMs / actualMs : null, risk: m.risk, realVerdict: r?.verdict }
    })
    const result = {
      factor,
      productionRows: loaded.rows,
      plan: { exit: p.status, durationMs: Math.round(planMs), passwordPrinted: leaked, scales: estimate.scales, production: estimate.production, model: estimate.model },
      real: { durationMs: Math.round(realMs), data: real.data },
      migrations,
      statements,
      machine: { cores: os.cpus().length, loadBefore, loadAfter: load() },
      durationMs: Math.round(performance.now() - t0),
      engine: engine.describe(),
    }
    mkdirSync(reports, { recursive: true })
    writeFileSync(path.join(reports, 'estimate-proof.json'), renderJson(result))
    writeFileSync(path.join(reports, 'estimate-proof.md'), markdown(result))
    console.error(`written: ${path.join(reports, 'estimate-proof.md')}`)
    await db.drop().catch(() => {})
  } finally {
    await engine.stop()
  }
}

const f = (ms: number) => (ms < 10 ? ms.toFixed(1) : Math.round(ms).toLocaleString('en-US'))

function markdown(r: { factor: number; productionRows: Record<string, number>; plan: { exit: number | null; passwordPrinted: boolean; scales: PlanEstimate['scales'] }; migrations: { file: string; estimatedMs: number; actualMs: number; ratio: number | null; risk: { level: string; text: string } }[]; statements: Compared[]; machine: { loadBefore: number[]; loadAfter: number[]; cores: number }; engine: string }): string {
  const big = r.statements.filter((s) => s.actualMs >= 20 || s.estimatedMs >= 20)
  return [
    `# plan --rehearse: estimate against a real run at ${r.factor}× the rehearsal's data`,
    '',
    `Engine: ${r.engine}. Machine: ${r.machine.cores} cores, load ${r.machine.loadBefore.join(' / ')} before, ${r.machine.loadAfter.join(' / ')} after (1/5/15 min).`,
    `Production database: ${Object.values(r.productionRows).reduce((a, b) => a + b, 0).toLocaleString('en-US')} rows (metric_hist ${(r.productionRows['factory_telemetry.metric_hist'] ?? 0).toLocaleString('en-US')}).`,
    `Rehearsals: ${r.plan.scales.map((s) => `${s.factor}× (${Math.round(s.durationMs / 1000)} s)`).join(', ')}. plan exit ${r.plan.exit}; password printed: ${r.plan.passwordPrinted ? 'YES' : 'no'}.`,
    '',
    '## Per migration',
    '',
    '| migration | estimate ms | actual ms | estimate/actual | risk at production size |',
    '|---|---:|---:|---:|---|',
    ...r.migrations.map((m) => `| ${m.file} | ${f(m.estimatedMs)} | ${f(m.actualMs)} | ${m.ratio === null ? '–' : m.ratio.toFixed(2)} | ${m.risk.level}: ${m.risk.text} |`),
    '',
    '## Statements of 20 ms or more (estimate or actual)',
    '',
    '| statement | fit | rows | estimate ms | actual ms | estimate/actual |',
    '|---|---|---:|---:|---:|---:|',
    ...big.map((s) => `| ${s.where} ${s.text.replaceAll('|', '\\|').slice(0, 60)} | ${s.fit} | ${s.productionRows.toLocaleString('en-US')} | ${f(s.estimatedMs)} | ${f(s.actualMs)} | ${s.ratio === null ? '–' : s.ratio.toFixed(2)} |`),
    '',
  ].join('\n')
}

await main()
