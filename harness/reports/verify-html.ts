/**
 * The verify report as one self-contained HTML page, the first thing a person reads: the
 * verdict, the engine, what failed and exactly where (file:line:column, SQLSTATE, snippet,
 * hint), fingerprint differences as a diff, lint findings. Built from the HTML core (html.ts).
 */
import type { StageResult, VerifyReport } from '../verify/stage.ts'
import { badge, banner, evidenceSection, failuresSection, htmlDocument, isDiffLine, slug, stepsTable } from './html.ts'
import { esc, formatDate, formatDuration } from './text.ts'
import { isBlocking, lintOf, type LintFinding, type LintSummary } from './verify-junit.ts'

function diffSection(stages: StageResult[]): string {
  const withDiff = stages.filter((s) => s.details.some(isDiffLine))
  if (!withDiff.length) return ''
  const cls = (l: string) => (l.startsWith('+') ? 'add' : l.startsWith('-') ? 'del' : 'chg')
  const blocks = withDiff.map((s) => {
    const lines = s.details.filter(isDiffLine)
    return (
      `<h3 id="diff-${esc(slug(s.id))}">${esc(s.title)} <span class="legend">(${lines.length} difference${lines.length === 1 ? '' : 's'})</span></h3>\n` +
      `<pre class="diff">${lines.map((l) => `<span class="${cls(l)}">${esc(l)}</span>`).join('')}</pre>`
    )
  })
  return [
    '<section aria-labelledby="diffs-h">',
    '<h2 id="diffs-h">Fingerprint differences</h2>',
    '<p class="legend">Schema fingerprint compared before → after: <code class="add">+ only after</code> <code class="del">- only before</code> <code class="chg">~ changed (before → after)</code></p>',
    ...blocks,
    '</section>',
  ].join('\n')
}

function lintSection(lint: LintSummary): string {
  const rows = [...lint.findings].sort(
    (a, b) => Number(isBlocking(b)) - Number(isBlocking(a)) || (a.file < b.file ? -1 : a.file > b.file ? 1 : 0) || a.line - b.line || a.column - b.column,
  )
  const row = (f: LintFinding) =>
    `<tr class="${isBlocking(f) ? 'failed' : ''}">` +
    `<td>${badge(f.allowed ? 'allowed' : f.severity, f.allowed ? `${f.severity}, allowed` : f.severity)}</td>` +
    `<td class="mono">${esc(f.rule)}</td>` +
    `<td class="mono">${esc(`${f.file}:${f.line}:${f.column}`)}</td>` +
    `<td class="summary">${esc(f.message)}</td>` +
    `<td class="summary">${esc(f.fix)}</td>` +
    `<td class="summary">${f.allowed ? esc(f.allowed.reason) : ''}</td></tr>`
  const blocking = lint.findings.filter(isBlocking).length
  const head = '<thead><tr><th scope="col">Severity</th><th scope="col">Rule</th><th scope="col">Location</th><th scope="col">Message</th><th scope="col">Fix</th><th scope="col">Allowed because</th></tr></thead>'
  const table = (caption: string, list: LintFinding[]) => `<div class="scroll" role="region" aria-label="${esc(caption)}" tabindex="0"><table><caption>${esc(caption)}</caption>${head}<tbody>\n${list.map(row).join('\n')}\n</tbody></table></div>`
  // What needs doing first; findings accepted on purpose (with their reasons) folded away below.
  const real = rows.filter((f) => !f.allowed)
  const allowed = rows.filter((f) => f.allowed)
  return [
    '<section aria-labelledby="lint-h">',
    '<h2 id="lint-h">Lint</h2>',
    `<p>${blocking ? badge('failed', `${blocking} blocking`) : badge('passed', 'no blocking errors')} ${esc(`${lint.errors} errors, ${lint.warnings} warnings, ${lint.allowed} allowed`)}</p>`,
    real.length ? table('Lint findings, blocking errors first', real) : '<p class="ok-note">No findings to act on.</p>',
    allowed.length ? `<details><summary>${esc(`${allowed.length} finding${allowed.length === 1 ? '' : 's'} accepted in the allow-list, with the reasons`)}</summary>\n${table('Findings accepted in the allow-list', allowed)}\n</details>` : '',
    '</section>',
  ].join('\n')
}

export function renderHtml(report: VerifyReport): string {
  const { engine, stages } = report
  const failed = stages.filter((s) => s.verdict === 'failed')
  const count = (v: StageResult['verdict']) => stages.filter((s) => s.verdict === v).length
  const lint = lintOf(report)
  const blockingLint = lint ? lint.findings.filter(isBlocking).length : 0
  const ok = report.ok && failed.length === 0
  const verdict = ok ? 'passed' : 'FAILED'
  const counts = `${count('passed')} passed, ${count('failed')} failed, ${count('skipped')} skipped`

  const facts: [string, string][] = [
    ['Engine', engine.description || engine.name],
    ['PostgreSQL', engine.postgres],
    ['TimescaleDB', `${engine.timescaledb}${engine.license ? ` (${engine.license})` : ''}`],
    ...(engine.differences?.length ? [['Unlike production', engine.differences.join('; ')] as [string, string]] : []),
    ['Started', formatDate(report.startedAt)],
    ['Duration', formatDuration(report.durationMs)],
    ['Stages', counts],
    ...(lint ? [['Lint', `${lint.errors} errors, ${lint.warnings} warnings, ${lint.allowed} allowed`] as [string, string]] : []),
    ...(report.depth
      ? [['Depth', `${report.depth.faultPoints} fault points, ${report.depth.propertyDatasets} property datasets (${report.depth.propertyRows} rows), ${report.depth.roundTripRestores} restores of ${report.depth.roundTripRows} rows (${report.depth.roundTripCompressedChunks} compressed chunks, ${report.depth.roundTripBoundaryRows} boundary rows), ${report.depth.downUpSteps} down/up steps, ${report.depth.idempotentFiles} files re-run`] as [string, string]]
      : []),
    ...(report.shard ? [['Shard', `${report.shard.index} of ${report.shard.count}: ${Object.entries(report.shard.units).map(([id, u]) => `${id} ${u.units.length} of ${u.total}`).join(', ') || 'no split work'}; base schema ${report.shard.baseFingerprint?.slice(0, 12) ?? 'not reached'}`] as [string, string]] : []),
    ...(report.merged ? [['Merged', `${report.merged.count} shards (${report.merged.shards.map((s) => `${s.index}: ${s.ok ? 'passed' : 'failed'}, ${(s.durationMs / 1000).toFixed(1)} s`).join('; ')}); base schema ${report.merged.baseFingerprint?.slice(0, 12) ?? 'not reached'}`] as [string, string]] : []),
    ...(report.scope ? [['Changed only', `full depth: ${report.scope.fullDepth.join(', ') || 'nothing'}; only replayed (${report.scope.base}): ${report.scope.replayedOnly.join(', ') || 'nothing'}`] as [string, string]] : []),
  ]
  const sub = `${esc(ok ? (count('skipped') ? `${count('passed')} of ${stages.length} stages passed, ${count('skipped')} skipped (reason in the table)` : `All ${stages.length} stages passed`) : `${failed.length} of ${stages.length} stages failed`)}${blockingLint ? esc(`; ${blockingLint} blocking lint error${blockingLint === 1 ? '' : 's'}`) : ''} · <span class="mono">${esc(report.dir)}</span>`

  return htmlDocument(`pgverify ${verdict}: ${ok ? counts : `${failed.length} of ${stages.length} stages failed`} (${engine.name})`, [
    banner({ ok, headline: `Migration verification ${verdict}`, sub, facts, wide: 'Engine' }),
    '<main>',
    stepsTable(stages, { heading: 'Stages', noun: 'Stage', caption: 'Every stage of <code>pnpm verify</code>, in order; a skipped stage says why.' }),
    failuresSection(stages),
    diffSection(stages),
    lint ? lintSection(lint) : '',
    evidenceSection(stages, 'Evidence from the other stages'),
    timeSection(stages),
    '</main>',
    `<footer>Generated by pgverify from the report of ${esc(formatDate(report.startedAt))}. Machine-readable: <a href="verify.json">verify.json</a>, <a href="junit.xml">junit.xml</a>.</footer>`,
  ])
}

/** Where each stage's time went, by part, and the work it counted (verify.json has the same). */
function timeSection(stages: StageResult[]): string {
  const rows = stages.filter((s) => s.breakdown?.length || s.counts)
  if (!rows.length) return ''
  const line = (s: StageResult) =>
    `<tr><td>${esc(s.id)}</td><td class="num">${esc(formatDuration(s.durationMs))}</td><td>${esc((s.breakdown ?? []).map((p) => `${p.label} ${formatDuration(p.ms)}`).join(' · '))}</td><td>${esc(Object.entries(s.counts ?? {}).map(([k, v]) => `${k} ${v}`).join(', '))}</td></tr>`
  return [
    '<section aria-labelledby="time-h">',
    '<h2 id="time-h">Where the time went</h2>',
    '<div class="scroll" role="region" aria-labelledby="time-h" tabindex="0"><table><caption>Each database stage by part, with the work it counted.</caption>',
    '<thead><tr><th scope="col">Stage</th><th scope="col">Duration</th><th scope="col">Parts</th><th scope="col">Counted</th></tr></thead>',
    `<tbody>\n${rows.map(line).join('\n')}\n</tbody></table></div>`,
    '</section>',
  ].join('\n')
}
