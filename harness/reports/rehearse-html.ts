/**
 * reports/rehearse.html: the rehearsal as a page people can read, self-contained like the verify
 * page (reports/html.ts: inline CSS, no external assets). Per migration: its verdict, the
 * findings (allowed ones marked, with the figure measured when they were allowed and why), the
 * timeline (rehearse-timeline.ts) and the per-statement figures.
 */
import type { MigrationRehearsal, RehearsalReport } from '../rehearse/report.ts'
import { describeFinding } from '../rehearse/verdict.ts'
import { badge, banner, htmlDocument } from './html.ts'
import { timelineSvg } from './rehearse-timeline.ts'
import { esc, formatDate, formatDuration } from './text.ts'

const n = (v: number | null) => (v === null ? '–' : `${v < 10 ? v.toFixed(1) : Math.round(v).toLocaleString('en-US')} ms`)

const LEGEND =
  'Dots: dashboard queries (blue circles) and metric_hist inserts (orange squares) at their start, their latency up the axis; red crosses failed. ' +
  'Dashed lines: the seeds\u2019 limits. Shaded: the migration, start to commit. Under it: a span per statement (the commit last, purple), ' +
  'the locks the migration held that block someone (yellow), and each workload session\u2019s wait (red). Hover a mark for its figures.'

function statementsTable(m: MigrationRehearsal, id: string): string {
  const rows = m.statements.map((s) => {
    const w = s.workload
    const locks = s.acquired.filter((l) => !/^(new relation|_timescaledb_|pg_toast\.)/.test(l.relation) && !/^(AccessShare|RowShare|RowExclusive)Lock$/.test(l.mode))
    return (
      `<tr><td class="mono wrap">${esc(s.where)}</td><td class="wrap">${esc(s.text)}</td><td class="num">${esc(n(s.durationMs))}</td><td class="num">${esc(n(w.dashboardP95Ms))}</td>` +
      `<td class="num">${esc(n(w.insertP95Ms))}</td><td class="num">${s.blockedSessions ? `${s.blockedSessions} / ${esc(n(s.longestWaitMs))}` : '–'}</td><td class="wrap">${esc(locks.map((l) => `${l.mode.replace(/Lock$/, '')} ${l.relation.replace(/^factory_telemetry\./, '')}`).join(', '))}</td></tr>`
    )
  })
  return (
    `<details><summary>Per statement (${m.statements.length})</summary><div class="scroll" role="region" aria-labelledby="${id}" tabindex="0"><table class="stmts"><caption>Workload figures while each statement ran (operations counted by their start), against the baseline's dashboard p95 ${esc(n(m.baseline.dashboardP95Ms))} and insert p95 ${esc(n(m.baseline.insertP95Ms))}</caption>` +
    '<thead><tr><th scope="col">Statement</th><th scope="col">Text</th><th scope="col">Duration</th><th scope="col">Dash p95</th><th scope="col">Ins p95</th><th scope="col">Blocked / wait</th><th scope="col">Blocking locks taken</th></tr></thead>' +
    `<tbody>${rows.join('\n')}</tbody></table></div></details>`
  )
}

function migrationSection(m: MigrationRehearsal, r: RehearsalReport): string {
  const id = `m-${m.version}`
  const allowed = m.findings.filter((f) => f.allowed)
  const label = m.verdict === 'passed' && allowed.length ? 'passed (allowed findings)' : m.verdict === 'failed' ? 'FAILED' : m.verdict
  const o = m.sampler
  const findings = m.findings.map((f) =>
    f.allowed
      ? `<li class="allowed">${badge('allowed', 'allowed')} ${esc(describeFinding(f))}<br><span class="muted">rehearse-allow.json (${esc(`${f.allowed.file}:${f.allowed.line}`)}${f.allowed.upToMs ? `, up to ${esc(n(f.allowed.upToMs))}` : ''}): measured ${esc(f.allowed.measured)}. ${esc(f.allowed.reason)}</span></li>`
      : `<li>${badge('failed', 'finding')} ${esc(describeFinding(f))}</li>`,
  )
  return [
    `<section class="migration" aria-labelledby="${id}">`,
    `<h2 id="${id}">${badge(m.verdict === 'failed' ? 'failed' : m.verdict === 'skipped' ? 'skipped' : allowed.length ? 'allowed' : 'passed', label)} ${esc(m.file)}</h2>`,
    `<p>Applied in ${esc(n(m.migration.durationMs))} (${esc(m.migration.status)}); baseline dashboard p95 ${esc(n(m.baseline.dashboardP95Ms))}, insert p95 ${esc(n(m.baseline.insertP95Ms))}, ${m.baseline.throughput.toFixed(0)} operations/s from ${m.workload.sessions} sessions. ` +
      `Sampler: ${o.polls} polls every ${o.periodMs} ms, a poll ${esc(n(o.pollMeanMs))} mean / ${esc(n(o.pollP95Ms))} p95, longest gap ${esc(n(o.maxGapMs))}; dashboard p95 without / with it ${esc(n(o.dashboardP95WithoutMs))} / ${esc(n(o.dashboardP95WithMs))}.</p>`,
    findings.length ? `<ul class="findings">${findings.join('\n')}</ul>` : '<p>No finding: every statement kept the workload within the limits.</p>',
    m.timeline ? `<figure>${timelineSvg(m.timeline, r.limits, `Timeline of ${m.file}`)}<figcaption>${esc(LEGEND)}</figcaption></figure>` : '<p>No timeline recorded.</p>',
    m.statements.length ? statementsTable(m, id) : '',
    '</section>',
  ].join('\n')
}

const PAGE_CSS = `<style>.migration figure{margin:12px 0}.migration figcaption{color:var(--muted);font-size:13px}.findings li{margin:6px 0;overflow-wrap:anywhere}.muted{color:var(--muted);font-size:13.5px}
table.stmts{table-layout:fixed}table.stmts td.wrap{overflow-wrap:anywhere}table.stmts th:nth-child(1){width:15em}table.stmts th:nth-child(2){width:22%}table.stmts th:nth-child(3),table.stmts th:nth-child(4),table.stmts th:nth-child(5){width:6.5em}table.stmts th:nth-child(6){width:8em}</style>`

export function renderRehearseHtml(r: RehearsalReport): string {
  const failedN = r.migrations.filter((m) => m.verdict === 'failed').length
  const allowedN = r.migrations.reduce((k, m) => k + m.findings.filter((f) => f.allowed).length, 0)
  const headline = r.skipped ? 'Rehearsal skipped' : r.ok ? 'Rehearsal passed' : `Rehearsal failed: ${failedN} migration${failedN === 1 ? '' : 's'}`
  const sub = r.skipped
    ? esc(r.skipped)
    : `Each migration applied by the real runner while the seeds\u2019 workload ran; limits: dashboard p95 ${r.limits.dashboardMs} ms, inserts ${r.limits.insertMs} ms${allowedN ? `; ${allowedN} finding${allowedN === 1 ? '' : 's'} allowed by rehearse-allow.json` : ''}`
  const notSeen = r.allow?.notSeen ?? []
  return htmlDocument(`pgverify rehearse — ${r.ok ? 'passed' : 'failed'}`, [
    PAGE_CSS,
    banner({
      ok: r.ok,
      headline,
      sub,
      facts: [
        ['Engine', r.engine],
        ['Data at version k-1', r.data],
        ['Migrations', String(r.migrations.length)],
        ['Started', formatDate(r.startedAt)],
        ['Duration', formatDuration(r.durationMs)],
        ['Seed', String(r.seed)],
      ],
      wide: 'Data at version k-1',
    }),
    '<main>',
    ...r.migrations.map((m) => migrationSection(m, r)),
    notSeen.length ? `<section><h2>Allowed, not seen in this run</h2><ul>${notSeen.map((e) => `<li>${esc(`${e.file}:${e.line}`)}: ${esc(e.reason)}</li>`).join('')}</ul><p class="muted">Findings depend on timing: an entry stays until its statement is fixed.</p></section>` : '',
    '</main>',
  ])
}
