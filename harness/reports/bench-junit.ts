/**
 * The benchmark run as JUnit XML (bench-junit.xml): per engine, one testcase per benchmark
 * group (a step: failed when a figure is over its seed threshold or the group failed), one for
 * an engine that could not run (skipped, with the reason), and one per confirmed regression.
 */
import type { BenchRun } from '../measure/figures.ts'
import { formatValue } from '../measure/figures.ts'
import { attrs, junitCase, junitDocument, stepCase, type JunitCase } from './junit.ts'
import { xmlText } from './text.ts'

export function renderBenchJunit(run: BenchRun): string {
  const cases: JunitCase[] = []
  for (const e of run.engines) {
    if (e.error) {
      cases.push(junitCase({ classname: `bench.${e.engine}`, name: 'engine', time: '0.000' }, `\n      <skipped${attrs({ message: e.error })}/>`, { skipped: true }))
      continue
    }
    for (const s of e.steps ?? []) cases.push(stepCase(s, { classname: `bench.${e.engine}`, failureType: 'THRESHOLD' }))
  }
  for (const c of run.comparison?.changes.filter((x) => x.status === 'regression') ?? []) {
    const message = `${c.label}: ${formatValue(c.old, c.unit)} → ${formatValue(c.new, c.unit)} (confirmed by a repeat)`
    cases.push(junitCase({ classname: `bench.${c.engine}.regression`, name: c.id, time: '0.000' }, `\n      <failure${attrs({ message, type: 'REGRESSION' })}>${xmlText(message)}</failure>`, { failure: true }))
  }
  return junitDocument({
    name: 'pgverify bench',
    timestamp: run.startedAt,
    durationMs: run.durationMs,
    properties: [
      ['engines', run.options.engines.join(',')],
      ['scale', String(run.options.scale)],
      ['seed', String(run.options.seed)],
      ['quick', String(run.options.quick)],
      ['machine', `${run.machine.cores} cores, ${run.machine.cpu}, ${run.machine.platform}`],
      ['commit', run.git.commit ?? undefined],
      ...run.failures.map((f, i): [string, string] => [`failure.${i + 1}`, f]),
    ],
    cases,
  })
}
