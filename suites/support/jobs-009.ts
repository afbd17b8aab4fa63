/**
 * What the jobs stage must say of 009's policies after its pass over MS5.0: each retention and
 * compression policy run once, with what it did (rows and chunks deleted, chunks compressed) and
 * the cutoffs the server computed. Asserted on verify's one full run per engine
 * (suites/verify.test.ts), which runs this very stage on the nine migrations.
 */
import { expect } from 'vitest'
import type { StageResult } from '../../harness/verify/pipeline.ts'

const HYPERTABLES = ['metric_hist', 'fault_event', 'oee_calculations', 'downtime_events', 'energy_consumption', 'production_kpis']

export function expectJobsOf009(s: StageResult): void {
  expect(s.verdict, `${s.summary}\n${s.details.join('\n')}`).toBe('passed')
  const sum = /^12 jobs registered by 009_database_optimization\.sql, each run once with CALL run_job on generated data \((\d+) hypertable rows over (\d+) days, (\d+) on chunk boundaries\): retention deleted (\d+) rows in (\d+) chunks .*; compression compressed (\d+) chunks .*; no job failed, no effect contradicts its config$/.exec(s.summary)
  expect(sum, s.summary).not.toBeNull()
  const [rows, days, boundary, deleted, dropped, compressed] = sum!.slice(1).map(Number)
  expect(days).toBeGreaterThan(365) // beyond the longest window
  expect(boundary).toBeGreaterThan(0)
  expect(rows).toBeGreaterThan(1000)
  expect(rows).toBeLessThan(10_000) // a few thousand: fast on every engine
  const details = s.details.join('\n')
  let sumDeleted = 0
  let sumDropped = 0
  let sumCompressed = 0
  for (const t of HYPERTABLES) {
    const window = t === 'metric_hist' ? '90 days' : '365 days'
    const ret = new RegExp(
      `^ok {3}job \\d+ retention policy on factory_telemetry\\.${t} \\[009_database_optimization\\.sql\\]: drop_after ${window}; every 1 day\\n  deleted (\\d+) rows? in (\\d+) chunks? of factory_telemetry\\.${t}, cutoff (\\S+); kept (\\d+) rows? in (\\d+) chunks?`,
      'm',
    ).exec(details)
    expect(ret, `${t} retention line in\n${details}`).not.toBeNull()
    const [del, chunks] = [Number(ret![1]), Number(ret![2])]
    expect(del).toBeGreaterThan(0)
    expect(chunks).toBeGreaterThan(0)
    // The cutoff is now() - drop_after, as the server computed it during the run.
    const days = (Date.now() - Date.parse(ret![3]!)) / 86_400_000
    expect(Math.round(days)).toBe(t === 'metric_hist' ? 90 : 365)
    sumDeleted += del
    sumDropped += chunks
    const comp = new RegExp(
      `^ok {3}job \\d+ compression policy on factory_telemetry\\.${t} \\[009_database_optimization\\.sql\\]: compress_after 7 days; every 12:00:00\\n  compressed (\\d+) chunks? of factory_telemetry\\.${t}, cutoff \\S+ \\(\\d+ of \\d+ now compressed\\); rows and content unchanged \\((\\d+)\\)`,
      'm',
    ).exec(details)
    expect(comp, `${t} compression line in\n${details}`).not.toBeNull()
    expect(Number(comp![1])).toBeGreaterThan(0)
    sumCompressed += Number(comp![1])
  }
  expect([sumDeleted, sumDropped, sumCompressed]).toEqual([deleted, dropped, compressed])
  expect(details).toMatch(/^data: factory_telemetry\.metric_hist: 48 template row\(s\), \d+ copies spread over the windows (7 days, 90 days|90 days, 7 days)/m)
}
