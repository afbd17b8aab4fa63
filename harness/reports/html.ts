/**
 * The HTML core of the reports: one self-contained page per report (inline CSS, no external
 * assets, readable and printable without JavaScript), built from steps (steps/step.ts): the
 * verdict banner with the facts, the table of steps, what failed and exactly where
 * (file:line:column, SQLSTATE, snippet, hint), and the evidence of the others. The verify page
 * and the execution page are made of these parts. Every value is escaped.
 */
import { formatLocated, type LocatedError } from '../runner/locate.ts'
import type { StepResult, Verdict } from '../steps/step.ts'
import { esc, formatDuration } from './text.ts'

/** A step whose error may point into a migration file (a verify stage, execute's migrate phase). */
export type ReportStep = StepResult<LocatedError>

/** A fingerprint diff line: `+ ` only after, `- ` only before, `~ ` changed. */
export const isDiffLine = (l: string): boolean => /^[+\-~] /.test(l)

export const slug = (id: string): string => `stage-${id.replace(/[^A-Za-z0-9_-]/g, '-')}`

export const VERDICT_LABEL: Record<Verdict, string> = { passed: 'passed', failed: 'FAILED', skipped: 'skipped', planned: 'planned' }
export const badge = (kind: string, label: string): string => `<span class="badge ${kind}">${esc(label)}</span>`

export const CSS = `
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
export function evidence(step: ReportStep): string[] {
  const shown = new Set(step.error?.located ? formatLocated(step.error.located).split('\n') : [])
  return step.details.filter((l) => !isDiffLine(l) && !shown.has(l))
}

function snippetPre(located: LocatedError): string {
  const lines = located.snippet.map((l) => {
    const cls = l.startsWith('>') ? 'hit' : /^\s+\d*\s*\|\s*\^\s*$/.test(l) ? 'caret' : ''
    return `<span${cls ? ` class="${cls}"` : ''}>${esc(l)}</span>`
  })
  return `<pre class="snippet" aria-label="source around the error, the caret marks the column">${lines.join('')}</pre>`
}

/** One failed step: where (file:line:column, SQLSTATE), the server's message, the snippet, what to do, the evidence. */
export function failureArticle(step: ReportStep): string {
  const e = step.error
  const l = e?.located
  const parts = [`<article class="failure" id="${esc(slug(step.id))}" aria-labelledby="${esc(slug(step.id))}-h">`]
  parts.push(`<h3 id="${esc(slug(step.id))}-h">${badge('failed', 'FAILED')} ${esc(step.title)}</h3>`)
  parts.push(`<p>${esc(step.summary)}</p>`)
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
  const rest = evidence(step)
  if (rest.length) parts.push(`<h4>Details</h4><pre class="details">${rest.map((x) => `<span>${esc(x)}</span>`).join('')}</pre>`)
  const diffs = step.details.filter(isDiffLine).length
  if (diffs) parts.push(`<p><a href="#diff-${esc(slug(step.id))}">${diffs} fingerprint difference${diffs === 1 ? '' : 's'}</a> (below).</p>`)
  parts.push('</article>')
  return parts.join('\n')
}

/** The verdict banner: headline, one line under it (HTML, already escaped), the facts. */
export function banner(o: { ok: boolean; headline: string; sub: string; facts: [string, string][]; wide?: string }): string {
  return [
    `<header class="banner ${o.ok ? 'passed' : 'failed'}"><div class="banner-inner">`,
    `<h1><span class="mark" aria-hidden="true">${o.ok ? '✔' : '✘'}</span>${esc(o.headline)}</h1>`,
    `<p class="sub">${o.sub}</p>`,
    `<dl class="facts">${o.facts.map(([k, v]) => `<div${k === o.wide ? ' class="wide"' : ''}><dt>${esc(k)}</dt><dd>${esc(v)}</dd></div>`).join('')}</dl>`,
    '</div></header>',
  ].join('\n')
}

/** Every step in order, with verdict, duration and summary; a failed one links to its article. */
export function stepsTable(steps: ReportStep[], o: { heading: string; noun: string; caption: string }): string {
  const row = (s: ReportStep, i: number) => {
    const title = s.verdict === 'failed' ? `<a href="#${esc(slug(s.id))}">${esc(s.title)}</a>` : esc(s.title)
    return (
      `<tr class="${s.verdict}"><td class="num">${i + 1}</td><td>${title}</td><td>${badge(s.verdict, VERDICT_LABEL[s.verdict])}</td>` +
      `<td class="num">${s.verdict === 'skipped' ? '—' : esc(formatDuration(s.durationMs))}</td><td class="summary">${esc(s.summary)}</td></tr>`
    )
  }
  return [
    '<section aria-labelledby="stages-h">',
    `<h2 id="stages-h">${esc(o.heading)}</h2>`,
    `<div class="scroll" role="region" aria-labelledby="stages-h" tabindex="0"><table><caption>${o.caption}</caption>`,
    `<thead><tr><th scope="col">#</th><th scope="col">${esc(o.noun)}</th><th scope="col">Verdict</th><th scope="col">Duration</th><th scope="col">Summary</th></tr></thead>`,
    `<tbody>\n${steps.map(row).join('\n')}\n</tbody></table></div>`,
    '</section>',
  ].join('\n')
}

/** "What failed": an article per failed step; empty when none failed. */
export function failuresSection(steps: ReportStep[]): string {
  const failed = steps.filter((s) => s.verdict === 'failed')
  return failed.length ? `<section aria-labelledby="fail-h">\n<h2 id="fail-h">What failed</h2>\n${failed.map(failureArticle).join('\n')}\n</section>` : ''
}

/** The evidence of the steps that did not fail, collapsed; empty when there is none. */
export function evidenceSection(steps: ReportStep[], heading: string): string {
  const of = steps.filter((s) => s.verdict !== 'failed' && evidence(s).length)
  if (!of.length) return ''
  return (
    `<section aria-labelledby="ev-h">\n<h2 id="ev-h">${esc(heading)}</h2>\n` +
    of.map((s) => `<details><summary>${badge(s.verdict, VERDICT_LABEL[s.verdict])} ${esc(s.title)} (${evidence(s).length} line${evidence(s).length === 1 ? '' : 's'})</summary><pre>${evidence(s).map((x) => `<span>${esc(x)}</span>`).join('')}</pre></details>`).join('\n') +
    '\n</section>'
  )
}

/** The whole document around a body. */
export function htmlDocument(title: string, body: string[]): string {
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="color-scheme" content="light">',
    '<meta name="generator" content="pgverify">',
    `<title>${esc(title)}</title>`,
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
