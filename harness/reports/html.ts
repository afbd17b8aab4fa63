/**
 * The verify report as one self-contained HTML page, the first thing a person reads: the
 * verdict, the engine, what failed and exactly where (file:line:column, SQLSTATE, snippet,
 * hint), fingerprint differences as a diff, lint findings. Inline CSS, no external assets;
 * readable and printable without JavaScript. Every value from the report is escaped.
 */
import { formatLocated, type LocatedError } from '../runner/locate.ts'
import type { StageResult, VerifyReport } from '../verify/pipeline.ts'
import { cleanText, isBlocking, lintOf, type LintFinding, type LintSummary } from './junit.ts'

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

/** Escapes text for element content and quoted attribute values. */
export const esc = (s: string | number | undefined): string => cleanText(String(s ?? '')).replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!)

/** A fingerprint diff line: `+ ` only after, `- ` only before, `~ ` changed. */
export const isDiffLine = (l: string): boolean => /^[+\-~] /.test(l)

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`
  const s = Math.round(ms / 1000)
  return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`
}

const formatDate = (iso: string): string => {
  const d = new Date(iso)
  return Number.isNaN(d.getTime()) ? iso : d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC')
}

const slug = (id: string): string => `stage-${id.replace(/[^A-Za-z0-9_-]/g, '-')}`

const VERDICT_LABEL: Record<StageResult['verdict'], string> = { passed: 'passed', failed: 'FAILED', skipped: 'skipped', planned: 'planned' }
const badge = (kind: string, label: string): string => `<span class="badge ${kind}">${esc(label)}</span>`

const CSS = `
:root{--fg:#1f2328;--muted:#57606a;--line:#d0d7de;--bg:#fff;--code:#f6f8fa;
--pass:#116329;--pass-bg:#dafbe1;--fail:#a40e26;--fail-bg:#ffebe9;--skip:#7d4e00;--skip-bg:#fff8c5;--neutral:#424a53;--neutral-bg:#eaeef2}
*{box-sizing:border-box}
html{color-scheme:light}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",Helvetica,Arial,sans-serif}
main,.banner-inner,footer{max-width:1200px;margin:0 auto;padding:0 24px}
.banner{color:#fff;padding:22px 0 18px;border-bottom:6px solid rgba(0,0,0,.25)}
.banner.passed{background:#116329}.banner.failed{background:#a40e26}
.banner h1{margin:0;font-size:34px;line-height:1.15;font-weight:700;letter-spacing:.2px}
.banner h1 .mark{display:inline-block;margin-right:.35em}
.banner .sub{margin:4px 0 14px;font-size:16px;opacity:.95}
.facts{display:grid;grid-template-columns:repeat(auto-fill,minmax(190px,1fr));gap:10px 24px;margin:0}
.facts div{min-width:0}.facts div.wide{grid-column:span 2}.facts dt{font-size:12px;text-transform:uppercase;letter-spacing:.06em;opacity:.9}
.facts dd{margin:0;font-weight:600;overflow-wrap:anywhere}
h2{font-size:22px;margin:32px 0 10px;padding-bottom:6px;border-bottom:1px solid var(--line)}
h3{font-size:17px;margin:22px 0 6px}
p{margin:6px 0}
code,pre,.mono{font-family:ui-monospace,SFMono-Regular,"SF Mono",Menlo,Consolas,"Liberation Mono",monospace;font-size:13.5px}
table{border-collapse:collapse;width:100%;margin:0}
.scroll{overflow-x:auto;margin:8px 0}
.scroll table{min-width:640px}
caption{text-align:left;color:var(--muted);padding:0 0 6px}
th,td{border:1px solid var(--line);padding:7px 10px;text-align:left;vertical-align:top}
thead th{background:var(--neutral-bg);font-weight:600}
tbody tr:nth-child(even){background:#f6f8fa}
td.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
td.summary{overflow-wrap:anywhere}
tr.failed td{background:#fff5f5}
.badge{display:inline-block;border:1px solid currentColor;border-radius:999px;padding:0 9px;font-size:12.5px;font-weight:700;white-space:nowrap}
.badge.passed{color:var(--pass);background:var(--pass-bg)}.badge.failed,.badge.error{color:var(--fail);background:var(--fail-bg)}
.badge.skipped,.badge.warning{color:var(--skip);background:var(--skip-bg)}.badge.allowed{color:var(--neutral);background:var(--neutral-bg)}
.failure{border:1px solid var(--line);border-left:6px solid var(--fail);border-radius:6px;padding:4px 18px 14px;margin:16px 0}
.failure h3{margin-top:12px}
.where{font-size:18px;font-weight:700;margin:10px 0 4px;overflow-wrap:anywhere}
.where .mono{font-size:inherit}.where .loc{color:var(--fail)}.where .state{color:var(--muted);margin-left:.6em}
.errmsg{font-weight:600}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:4px 14px;margin:10px 0}
dl.kv dt{color:var(--muted);font-weight:600}dl.kv dd{margin:0;overflow-wrap:anywhere}
.hint{background:#ddf4ff;border:1px solid #54aeff;border-radius:6px;padding:8px 12px;margin:10px 0}
pre{background:var(--code);border:1px solid var(--line);border-radius:6px;padding:10px 12px;overflow-x:auto;margin:8px 0;line-height:1.45}
pre span{display:block;min-height:1.45em}
pre .hit{background:#ffebe9;font-weight:700}pre .caret{color:var(--fail);font-weight:700}
pre.diff .add{background:#dafbe1;color:#0f4d22}pre.diff .del{background:#ffebe9;color:#82071e}pre.diff .chg{background:#fff8c5;color:#5c3b00}
.legend{color:var(--muted);font-size:13.5px}
.legend code{padding:0 4px;border-radius:4px}
.legend .add{background:#dafbe1;color:#0f4d22}.legend .del{background:#ffebe9;color:#82071e}.legend .chg{background:#fff8c5;color:#5c3b00}
details{margin:6px 0}summary{cursor:pointer;color:var(--muted)}
.ok-note{color:var(--pass);font-weight:600}
a{color:#0550ae}
footer{color:var(--muted);font-size:13px;margin-top:36px;padding-bottom:28px;border-top:1px solid var(--line);padding-top:10px}
@media print{
 *{-webkit-print-color-adjust:exact;print-color-adjust:exact}
 body{font-size:11pt}
 main,.banner-inner,footer{max-width:none;padding:0 8mm}
 pre{white-space:pre-wrap;overflow-wrap:anywhere;overflow:visible}
 .scroll{overflow:visible}.scroll table{min-width:0}
 .failure,pre,tr{break-inside:avoid}
 h2,h3{break-after:avoid}
 a{color:inherit;text-decoration:none}
}
`

/** Lines of `details` already shown elsewhere (the located error block, diff lines) are left out of the evidence. */
function evidence(stage: StageResult): string[] {
  const shown = new Set(stage.error?.located ? formatLocated(stage.error.located).split('\n') : [])
  return stage.details.filter((l) => !isDiffLine(l) && !shown.has(l))
}

function snippetPre(located: LocatedError): string {
  const lines = located.snippet.map((l) => {
    const cls = l.startsWith('>') ? 'hit' : /^\s+\d*\s*\|\s*\^\s*$/.test(l) ? 'caret' : ''
    return `<span${cls ? ` class="${cls}"` : ''}>${esc(l)}</span>`
  })
  return `<pre class="snippet" aria-label="source around the error, the caret marks the column">${lines.join('')}</pre>`
}

function failureSection(stage: StageResult): string {
  const e = stage.error
  const l = e?.located
  const parts = [`<article class="failure" id="${esc(slug(stage.id))}" aria-labelledby="${esc(slug(stage.id))}-h">`]
  parts.push(`<h3 id="${esc(slug(stage.id))}-h">${badge('failed', 'FAILED')} ${esc(stage.title)}</h3>`)
  parts.push(`<p>${esc(stage.summary)}</p>`)
  if (l) {
    parts.push(
      `<p class="where"><span class="loc mono">${esc(`${l.file}:${l.line}:${l.column}`)}</span>` +
        `${l.sqlstate ? `<span class="mono state">SQLSTATE ${esc(l.sqlstate)}</span>` : ''}</p>`,
    )
    parts.push(`<p class="errmsg">ERROR: ${esc(l.message)}</p>`)
    parts.push(snippetPre(l))
    const kv: [string, string | undefined][] = [
      ['Statement', `#${l.statement} in ${l.file}`],
      ['Detail', l.detail],
      ['Where', l.where],
      ['Error code', e?.code],
    ]
    parts.push(`<dl class="kv">${kv.filter(([, v]) => v).map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join('')}</dl>`)
    if (l.hint) parts.push(`<p class="hint"><strong>What to do:</strong> ${esc(l.hint)}</p>`)
  } else if (e) {
    parts.push(`<dl class="kv"><dt>Error code</dt><dd class="mono">${esc(e.code)}</dd><dt>Message</dt><dd>${esc(e.message)}</dd></dl>`)
  }
  const rest = evidence(stage)
  if (rest.length) parts.push(`<h4>Details</h4><pre class="details">${rest.map((x) => `<span>${esc(x)}</span>`).join('')}</pre>`)
  const diffs = stage.details.filter(isDiffLine).length
  if (diffs) parts.push(`<p><a href="#diff-${esc(slug(stage.id))}">${diffs} fingerprint difference${diffs === 1 ? '' : 's'}</a> (below).</p>`)
  parts.push('</article>')
  return parts.join('\n')
}

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
  return [
    '<section aria-labelledby="lint-h">',
    '<h2 id="lint-h">Lint</h2>',
    `<p>${blocking ? badge('failed', `${blocking} blocking`) : badge('passed', 'no blocking errors')} ${esc(`${lint.errors} errors, ${lint.warnings} warnings, ${lint.allowed} allowed`)}</p>`,
    rows.length
      ? `<div class="scroll" role="region" aria-labelledby="lint-h" tabindex="0"><table><caption>Lint findings, blocking errors first</caption><thead><tr><th scope="col">Severity</th><th scope="col">Rule</th><th scope="col">Location</th><th scope="col">Message</th><th scope="col">Fix</th><th scope="col">Allowed because</th></tr></thead><tbody>\n${rows.map(row).join('\n')}\n</tbody></table></div>`
      : '<p class="ok-note">No findings.</p>',
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
  ]

  const stageRow = (s: StageResult, i: number) => {
    const title = s.verdict === 'failed' ? `<a href="#${esc(slug(s.id))}">${esc(s.title)}</a>` : esc(s.title)
    return (
      `<tr class="${s.verdict}"><td class="num">${i + 1}</td><td>${title}</td><td>${badge(s.verdict, VERDICT_LABEL[s.verdict])}</td>` +
      `<td class="num">${s.verdict === 'skipped' ? '—' : esc(formatDuration(s.durationMs))}</td><td class="summary">${esc(s.summary)}</td></tr>`
    )
  }

  const evidenceOf = stages.filter((s) => s.verdict !== 'failed' && evidence(s).length)
  const body = [
    `<header class="banner ${ok ? 'passed' : 'failed'}"><div class="banner-inner">`,
    `<h1><span class="mark" aria-hidden="true">${ok ? '✔' : '✘'}</span>Migration verification ${verdict}</h1>`,
    `<p class="sub">${esc(ok ? (count('skipped') ? `${count('passed')} of ${stages.length} stages passed, ${count('skipped')} skipped (reason in the table)` : `All ${stages.length} stages passed`) : `${failed.length} of ${stages.length} stages failed`)}${blockingLint ? esc(`; ${blockingLint} blocking lint error${blockingLint === 1 ? '' : 's'}`) : ''} · <span class="mono">${esc(report.dir)}</span></p>`,
    `<dl class="facts">${facts.map(([k, v]) => `<div${k === 'Engine' ? ' class="wide"' : ''}><dt>${esc(k)}</dt><dd>${esc(v)}</dd></div>`).join('')}</dl>`,
    '</div></header>',
    '<main>',
    '<section aria-labelledby="stages-h">',
    '<h2 id="stages-h">Stages</h2>',
    '<div class="scroll" role="region" aria-labelledby="stages-h" tabindex="0"><table><caption>Every stage of <code>pnpm verify</code>, in order; a skipped stage says why.</caption>',
    '<thead><tr><th scope="col">#</th><th scope="col">Stage</th><th scope="col">Verdict</th><th scope="col">Duration</th><th scope="col">Summary</th></tr></thead>',
    `<tbody>\n${stages.map(stageRow).join('\n')}\n</tbody></table></div>`,
    '</section>',
    failed.length ? `<section aria-labelledby="fail-h">\n<h2 id="fail-h">What failed</h2>\n${failed.map(failureSection).join('\n')}\n</section>` : '',
    diffSection(stages),
    lint ? lintSection(lint) : '',
    evidenceOf.length
      ? `<section aria-labelledby="ev-h">\n<h2 id="ev-h">Evidence from the other stages</h2>\n` +
        evidenceOf
          .map((s) => `<details><summary>${badge(s.verdict, VERDICT_LABEL[s.verdict])} ${esc(s.title)} (${evidence(s).length} line${evidence(s).length === 1 ? '' : 's'})</summary><pre>${evidence(s).map((x) => `<span>${esc(x)}</span>`).join('')}</pre></details>`)
          .join('\n') +
        '\n</section>'
      : '',
    '</main>',
    `<footer>Generated by pgverify from the report of ${esc(formatDate(report.startedAt))}. Machine-readable: <a href="verify.json">verify.json</a>, <a href="junit.xml">junit.xml</a>.</footer>`,
  ]

  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="color-scheme" content="light">',
    '<meta name="generator" content="pgverify">',
    `<title>${esc(`pgverify ${verdict}: ${ok ? counts : `${failed.length} of ${stages.length} stages failed`} (${engine.name})`)}</title>`,
    `<style>${CSS}</style>`,
    '</head>',
    '<body>',
    ...body.filter(Boolean),
    // Printing opens the collapsed evidence; the page reads fine without this.
    `<script>addEventListener('beforeprint',()=>{for(const d of document.querySelectorAll('details'))d.open=true})</script>`,
    '</body>',
    '</html>',
    '',
  ].join('\n')
}
