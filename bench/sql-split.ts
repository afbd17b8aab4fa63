/**
 * `pnpm bench:split`: how fast migration files are read (issue #15 item 6: linear in the file
 * size). Figures go to reports/sql-split.json:
 *   - the parser (libpg-query, WASM): load time, the first parse, the cost of one small statement;
 *   - a generated ~50 MB seed file of single-row INSERTs: split (MB/s, statements/s) and the whole
 *     discovery the runner does (read, UTF-8, checksum, split, checks);
 *   - a 60k-statement file: discovery, and `plan` against a fresh database of an engine
 *     (`--engine NAME`, default embedded; `--no-plan` leaves it out).
 * `--mb N` changes the seed size, `--quick` makes it 5 MB and 6k statements (a smoke run).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { FileMigrationProvider, discover } from '../harness/runner/discover.ts'
import { loadParser, splitSql } from '../harness/sql/split.ts'
import { parse, parserLoadMs } from '../harness/sql/parser.ts'

const ROOT = path.resolve(import.meta.dirname, '..')
const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`)
  return i < 0 ? undefined : process.argv[i + 1]
}
const quick = process.argv.includes('--quick')
const seedMb = Number(arg('mb') ?? (quick ? 5 : 50))
const planStatements = quick ? 6_000 : 60_000

/** Single-row INSERTs into metric_hist, as a data-seeding migration writes them (~110 bytes each). */
export function seedFile(bytes: number, header = '-- seed data\n'): { sql: string; statements: number } {
  const parts = [header]
  let size = header.length
  let n = 0
  const t0 = Date.UTC(2024, 0, 1)
  while (size < bytes) {
    const ts = new Date(t0 + n * 1000).toISOString()
    const line = `INSERT INTO factory_telemetry.metric_hist (metric_def_id, ts, value) VALUES ('${(n % 97).toString(16).padStart(8, '0')}-0000-4000-8000-000000000000', '${ts}', ${(n * 0.37).toFixed(2)});\n`
    parts.push(line)
    size += line.length
    n++
  }
  return { sql: parts.join(''), statements: n }
}

const ms = (t0: number) => Math.round((performance.now() - t0) * 10) / 10
/** CPU time of this process since `c0` (ms): what the work costs whatever else the machine runs. */
const cpuMs = (c0: NodeJS.CpuUsage) => {
  const d = process.cpuUsage(c0)
  return Math.round((d.user + d.system) / 100) / 10
}

async function main(): Promise<void> {
  const figures: Record<string, unknown> = { node: process.version, cpus: os.cpus().length, cpu: os.cpus()[0]?.model, loadAverageAtStart: os.loadavg().map((x) => Math.round(x * 10) / 10), date: new Date().toISOString() }
  let t = performance.now()
  await loadParser()
  figures.parserLoadMs = Math.round(parserLoadMs() * 10) / 10
  t = performance.now()
  parse('SELECT 1')
  figures.firstParseMs = ms(t)
  const one = "INSERT INTO t (a, b) VALUES (1, 'x')"
  for (let i = 0; i < 2000; i++) parse(one)
  t = performance.now()
  for (let i = 0; i < 10_000; i++) parse(one)
  figures.smallStatementParseUs = Math.round(((performance.now() - t) / 10_000) * 1000 * 10) / 10

  const dir = mkdtempSync(path.join(os.tmpdir(), 'pgverify-split-bench-'))
  try {
    const seed = seedFile(seedMb * 1024 * 1024)
    const mb = Buffer.byteLength(seed.sql) / (1024 * 1024)
    t = performance.now()
    let c = process.cpuUsage()
    const split = splitSql(seed.sql)
    const splitMs = ms(t)
    const splitCpuMs = cpuMs(c)
    if (split.statements.length !== seed.statements) throw new Error(`split found ${split.statements.length} statements, the seed has ${seed.statements}`)
    writeFileSync(path.join(dir, '001_seed.sql'), seed.sql)
    t = performance.now()
    c = process.cpuUsage()
    const d = await discover(dir)
    const discoverMs = ms(t)
    const discoverCpuMs = cpuMs(c)
    if (d.migrations[0]?.up.statements.length !== seed.statements) throw new Error('discovery lost statements')
    figures.seed = {
      mb: Math.round(mb * 10) / 10, statements: seed.statements,
      splitMs, splitMBps: Math.round((mb / (splitMs / 1000)) * 10) / 10, splitStatementsPerSecond: Math.round(seed.statements / (splitMs / 1000)),
      discoverMs, discoverMBps: Math.round((mb / (discoverMs / 1000)) * 10) / 10,
      splitCpuMs, splitMBpsCpu: Math.round((mb / (splitCpuMs / 1000)) * 10) / 10, splitStatementsPerCpuSecond: Math.round(seed.statements / (splitCpuMs / 1000)),
      discoverCpuMs,
    }
    rmSync(path.join(dir, '001_seed.sql'))

    // Linear: half the file takes about half the time.
    const half = seedFile(seedMb * 512 * 1024)
    t = performance.now()
    c = process.cpuUsage()
    splitSql(half.sql)
    figures.halfSeed = { statements: half.statements, splitMs: ms(t), splitCpuMs: cpuMs(c) }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  const planDir = mkdtempSync(path.join(os.tmpdir(), 'pgverify-plan-bench-'))
  try {
    const parts = ['-- many statements\n']
    for (let i = 0; i < planStatements; i++) parts.push(`INSERT INTO app.readings (id, ts, value) VALUES (${i}, '2024-01-01T00:00:00Z'::timestamptz + ${i} * interval '1 second', ${i % 100});\n`)
    mkdirSync(planDir, { recursive: true })
    writeFileSync(path.join(planDir, '001_readings.sql'), 'CREATE SCHEMA IF NOT EXISTS app;\nCREATE TABLE IF NOT EXISTS app.readings (id BIGINT PRIMARY KEY, ts TIMESTAMPTZ NOT NULL, value INT);\n')
    writeFileSync(path.join(planDir, '002_seed.sql'), parts.join(''))
    t = performance.now()
    const c60 = process.cpuUsage()
    const ms2 = await new FileMigrationProvider(planDir).getMigrations()
    const plan: Record<string, unknown> = { statements: ms2[1]!.up.statements.length, bytes: Buffer.byteLength(parts.join('')), discoverMs: ms(t), discoverCpuMs: cpuMs(c60) }
    if (!process.argv.includes('--no-plan')) {
      const { startEngine } = await import('../harness/engines/target.ts')
      const { connect } = await import('../harness/runner/connect.ts')
      const { Migrator } = await import('../harness/runner/migrator.ts')
      const engine = await startEngine({ request: { name: arg('engine') ?? 'embedded', source: '--engine' }, log: () => {} })
      try {
        const db = await engine.createDatabase('split-bench')
        const client = await connect(db.url)
        try {
          t = performance.now()
          const cp = process.cpuUsage()
          const p = await new Migrator({ client, provider: new FileMigrationProvider(planDir) }).plan()
          if (p.error) throw p.error
          plan.planMs = ms(t)
          plan.planCpuMs = cpuMs(cp)
          plan.engine = engine.describe()
          plan.steps = p.steps.map((s) => `${s.file}: ${s.statements} statements`)
        } finally {
          await client.end()
          await db.drop()
        }
      } finally {
        await engine.stop()
      }
    }
    figures.sixtyK = plan
  } finally {
    rmSync(planDir, { recursive: true, force: true })
  }
  figures.loadAverageAtEnd = os.loadavg().map((x) => Math.round(x * 10) / 10)
  mkdirSync(path.join(ROOT, 'reports'), { recursive: true })
  const out = path.join(ROOT, 'reports', quick ? 'sql-split-quick.json' : 'sql-split.json')
  writeFileSync(out, JSON.stringify(figures, null, 2) + '\n')
  process.stdout.write(`${JSON.stringify(figures, null, 2)}\nwritten to ${path.relative(process.cwd(), out)}\n`)
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('bench/sql-split.ts')) await main()
