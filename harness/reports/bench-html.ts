/**
 * reports/bench.html: one self-contained page (inline CSS and SVG, no script, no external
 * assets) that a person reads instead of the JSON: the verdict, the latest run against the
 * seeds' thresholds (headroom bars), a table per engine, the regression comparison, and one
 * line chart per figure across the stored history. Every value is escaped (text.ts, shared
 * with the other reports).
 */
import { formatValue, type BenchRun, type EngineRun, type Figure, type HistoryEntry } from '../measure/figures.ts'
import { headroom } from '../measure/thresholds.ts'
import { esc, formatDate as fmtDate } from './text.ts'
import { growthSection } from './growth-html.ts'

const CSS = `
:root{--fg:#1f2328;--muted:#57606a;--line:#d0d7de;--pass:#116329;--pass-bg:#dafbe1;--fail:#a40e26;--fail-bg:#ffebe9;--info:#424a53;--info-bg:#eaeef2;--skip:#7d4e00;--skip-bg:#fff8c5}
*{box-sizing:border-box}body{margin:0;color:var(--fg);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;background:#fff}
main,.inner{max-width:1250px;margin:0 auto;padding:0 24px}
.banner{color:#fff;padding:20px 0 16px}.banner.passed{background:#116329}.banner.failed{background:#a40e26}
.banner h1{margin:0;font-size:30px}.banner p{margin:4px 0 0;opacity:.95}
.facts{display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:8px 20px;margin:12px 0 0}
.facts dt{font-size:12px;text-transform:uppercase;letter-spacing:.05em;opacity:.85}.facts dd{margin:0;font-weight:600;overflow-wrap:anywhere}
h2{font-size:21px;margin:30px 0 8px;padding-bottom:5px;border-bottom:1px solid var(--line)}h3{font-size:17px;margin:20px 0 6px}
table{border-collapse:collapse;width:100%;margin:8px 0;font-size:14px}th,td{border:1px solid var(--line);padding:5px 8px;text-align:left;vertical-align:top}
thead th{background:var(--info-bg)}td.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}td:first-child{min-width:200px}
/* Twelve columns in a 1280 px window: the figures table is set a little tighter than prose tables. */
table.figures{font-size:13px}table.figures th,table.figures td{padding:4px 6px}
tr.fail td{background:#fff5f5}td.over{background:#ffebe9;color:#a40e26;font-weight:600}.note{color:var(--muted);font-size:13px}
.badge{display:inline-block;border:1px solid currentColor;border-radius:999px;padding:0 8px;font-size:12px;font-weight:700;white-space:nowrap}
.badge.passed{color:var(--pass);background:var(--pass-bg)}.badge.failed,.badge.regression{color:var(--fail);background:var(--fail-bg)}
.badge.info,.badge.unchanged,.badge.new,.badge.missing,.badge.incomparable{color:var(--info);background:var(--info-bg)}
.badge.skipped,.badge.noise,.badge.suspect{color:var(--skip);background:var(--skip-bg)}.badge.improvement{color:var(--pass);background:var(--pass-bg)}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(380px,1fr));gap:16px}
figure{margin:0;border:1px solid var(--line);border-radius:6px;padding:8px}figcaption{font-size:13.5px;font-weight:600;margin-bottom:4px}
svg text{font:11px system-ui,sans-serif;fill:#57606a}ul{margin:6px 0}
`

const badge = (kind: string, label = kind) => `<span class="badge ${esc(kind)}">${esc(label)}</span>`
const fmtBytes = (b: number) => (b >= 1e9 ? `${(b / 1e9).toFixed(1)} GB` : `${(b / 1e6).toFixed(0)} MB`)
const PALETTE = ['#0969da', '#bf3989', '#1a7f37', '#9a6700', '#8250df', '#cf222e']

/** The latest run against the thresholds: one bar per gated figure, its headroom on a log scale (1× = the limit). */
function headroomChart(engine: EngineRun): string {
  const rows = engine.figures.filter((f) => f.threshold)
  if (!rows.length) return '<p class="note">No figure of this engine has a seed threshold (see the skipped benchmarks).</p>'
  const W = 1100
  const labelW = 430
  const barH = 18
  const gap = 6
  const H = 26 + rows.length * (barH + gap)
  const lo = -1
  const hi = 4 // 0.1× … 10,000×
  const x = (h: number) => labelW + ((Math.min(hi, Math.max(lo, Math.log10(h))) - lo) / (hi - lo)) * (W - labelW - 190)
  const parts: string[] = []
  for (let d = lo; d <= hi; d++) {
    const px = x(10 ** d)
    parts.push(`<line x1="${px}" y1="14" x2="${px}" y2="${H}" stroke="${d === 0 ? '#1f2328' : '#d0d7de'}" stroke-width="${d === 0 ? 1.5 : 1}"/>`)
    parts.push(`<text x="${px}" y="10" text-anchor="middle">${d === 0 ? 'limit' : `${10 ** d}×`}</text>`)
  }
  rows.forEach((f, i) => {
    const t = f.threshold!
    const h = headroom(t.op, t.checked, t.limit)
    const y = 20 + i * (barH + gap)
    const color = t.verdict === 'passed' ? '#1a7f37' : '#cf222e'
    const x0 = x(1)
    const x1 = x(Number.isFinite(h) ? h : 10 ** hi)
    parts.push(`<text x="${labelW - 8}" y="${y + 13}" text-anchor="end">${esc(f.label.length > 64 ? f.label.slice(0, 62) + '…' : f.label)}</text>`)
    parts.push(`<rect x="${Math.min(x0, x1)}" y="${y}" width="${Math.max(2, Math.abs(x1 - x0))}" height="${barH}" fill="${color}" opacity=".8"><title>${esc(`${f.label}: ${formatValue(t.checked, f.unit)} (${t.text})`)}</title></rect>`)
    parts.push(`<text x="${W - 185}" y="${y + 13}">${esc(`${formatValue(t.checked, f.unit)} · ${Number.isFinite(h) ? h.toFixed(h >= 10 ? 0 : 1) : '∞'}× ${t.verdict === 'passed' ? 'headroom' : 'short'}`)}</text>`)
  })
  return `<svg viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="${esc(`${engine.engine}: headroom against the seed thresholds`)}">${parts.join('')}</svg>`
}

interface Point {
  at: string
  y: number
}

/** One line chart: series per engine across runs, with the limit as a dashed line. */
function lineChart(title: string, unit: string, series: Map<string, Point[]>, limit?: number): string {
  const W = 380
  const H = 170
  const L = 58
  const R = 10
  const T = 10
  const B = 28
  const runs = [...new Set([...series.values()].flat().map((p) => p.at))].sort()
  const ys = [...series.values()].flat().map((p) => p.y).filter(Number.isFinite)
  if (limit !== undefined) ys.push(limit)
  if (!ys.length) return ''
  let y0 = Math.min(0, ...ys)
  let y1 = Math.max(...ys) * 1.1
  if (y1 === y0) y1 = y0 + 1
  const px = (at: string) => L + (runs.length <= 1 ? (W - L - R) / 2 : (runs.indexOf(at) / (runs.length - 1)) * (W - L - R))
  const py = (v: number) => T + (1 - (v - y0) / (y1 - y0)) * (H - T - B)
  const parts: string[] = [`<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="#d0d7de"/>`, `<line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="#d0d7de"/>`]
  for (const v of [y0, (y0 + y1) / 2, y1]) parts.push(`<text x="${L - 4}" y="${py(v) + 4}" text-anchor="end">${esc(formatValue(v, unit).replace(/ (rows\/s|GB\/month|B\/row)$/, ''))}</text>`)
  if (runs.length) {
    parts.push(`<text x="${L}" y="${H - 8}">${esc(runs[0]!.slice(5, 16).replace('T', ' '))}</text>`)
    if (runs.length > 1) parts.push(`<text x="${W - R}" y="${H - 8}" text-anchor="end">${esc(runs[runs.length - 1]!.slice(5, 16).replace('T', ' '))}</text>`)
  }
  if (limit !== undefined) parts.push(`<line x1="${L}" y1="${py(limit)}" x2="${W - R}" y2="${py(limit)}" stroke="#cf222e" stroke-dasharray="5 4"><title>${esc(`limit ${formatValue(limit, unit)}`)}</title></line>`)
  let i = 0
  for (const [name, pts] of series) {
    const color = PALETTE[i++ % PALETTE.length]!
    const sorted = pts.filter((p) => Number.isFinite(p.y)).sort((a, b) => a.at.localeCompare(b.at))
    if (sorted.length > 1) parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${sorted.map((p) => `${px(p.at).toFixed(1)},${py(p.y).toFixed(1)}`).join(' ')}"/>`)
    for (const p of sorted) parts.push(`<circle cx="${px(p.at).toFixed(1)}" cy="${py(p.y).toFixed(1)}" r="3" fill="${color}"><title>${esc(`${name} ${fmtDate(p.at)}: ${formatValue(p.y, unit)}`)}</title></circle>`)
  }
  const legend = [...series.keys()].map((n, j) => `<tspan fill="${PALETTE[j % PALETTE.length]}">■ ${esc(n)}</tspan>`).join(' ')
  parts.push(`<text x="${W - R}" y="${T + 4}" text-anchor="end">${legend}</text>`)
  return `<figure><figcaption>${esc(title)}</figcaption><svg viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="${esc(title)}">${parts.join('')}</svg></figure>`
}

function historyCharts(run: BenchRun, history: HistoryEntry[]): string {
  // The current run is always the last point, whether or not a history file was given.
  const entries = history.some((h) => h.at === run.startedAt) ? history : [...history, { at: run.startedAt, figures: run.engines.flatMap((e) => e.figures.map((f) => ({ engine: e.engine, id: f.id, label: f.label, unit: f.unit, value: f.value, checked: f.threshold?.checked, limit: f.threshold?.limit, statistic: f.threshold?.statistic }))) } as unknown as HistoryEntry]
  const byId = new Map<string, { label: string; unit: string; limit?: number; statistic?: string; series: Map<string, Point[]> }>()
  for (const h of entries) {
    for (const f of h.figures) {
      let c = byId.get(f.id)
      if (!c) byId.set(f.id, (c = { label: f.label, unit: f.unit, series: new Map() }))
      c.label = f.label
      if (f.limit !== undefined) {
        c.limit = f.limit
        c.statistic = f.statistic
      }
      const pts = c.series.get(f.engine) ?? []
      pts.push({ at: h.at, y: f.checked ?? f.value })
      c.series.set(f.engine, pts)
    }
  }
  const charts = [...byId.entries()].map(([id, c]) => lineChart(`${c.label}${c.statistic && c.statistic !== 'value' ? ` (${c.statistic})` : ''} · ${id}`, c.unit, c.series, c.limit))
  return `<p class="note">${entries.length} run${entries.length === 1 ? '' : 's'} (${history.length ? 'from the history file' : 'this run only: pass --history FILE to keep runs'}); dashed red line: the seed threshold.</p><div class="charts">${charts.join('')}</div>`
}

function figureRow(f: Figure): string {
  const s = f.stats
  const cell = (v: number | undefined) => `<td class="num">${esc(formatValue(v, f.unit))}</td>`
  const verdict = f.threshold ? badge(f.threshold.verdict) : badge('info')
  const target = f.target ? `<span title="${esc(f.target.source)}">${badge(f.target.verdict, f.target.verdict === 'passed' ? 'met' : 'missed')} <span class="note">${esc(f.target.text)}</span></span>` : ''
  const ref = f.reference ? `<span title="${esc(f.reference.label)}">${esc(f.reference.ratio.toFixed(2))}× of ${esc(formatValue(f.reference.value, f.reference.unit))}</span>` : ''
  return `<tr class="${f.threshold?.verdict === 'failed' ? 'fail' : ''}"><td>${esc(f.label)}<br><span class="note">${esc(f.id)}${f.note ? ` · ${esc(f.note)}` : ''}</span></td>${cell(f.value)}${cell(s?.p50)}${cell(s?.p95)}${cell(s?.p99)}${cell(s?.mean)}<td class="num">${s ? esc(`${(s.spread * 100).toFixed(1)} %`) : '–'}</td><td class="num">${s ? esc(s.n) : 1}</td><td title="${esc(f.threshold?.source ?? '')}">${f.threshold ? esc(f.threshold.text) : '–'}</td><td>${verdict}</td><td>${target}</td><td>${ref}</td></tr>`
}

function engineSection(e: EngineRun): string {
  if (e.error) return `<h2>${esc(e.engine)}</h2><p>${badge('skipped')} ${esc(e.error)}</p>`
  const ds = e.dataset
  const dataset = ds
    ? `<p>Dataset: seed ${esc(ds.seed)}, scale ${esc(ds.scale)}, ${esc(ds.days)} days (${esc(fmtDate(ds.range.start))} – ${esc(fmtDate(ds.range.end))}), metric_hist at ${esc(ds.hz)} Hz; ${esc(Object.values(ds.rows).reduce((a, b) => a + b, 0).toLocaleString('en-US'))} rows (${esc(ds.rowsPerDay.toLocaleString('en-US'))} a day), loaded in ${esc((ds.loadMs / 1000).toFixed(1))} s; ${esc(ds.compressedChunks)} of ${esc(ds.totalChunks)} chunks compressed by the policy before the queries.</p>
<details><summary>Rows per table</summary><table><tbody>${Object.entries(ds.rows).map(([t, n]) => `<tr><td>${esc(t)}</td><td class="num">${esc(n.toLocaleString('en-US'))}</td></tr>`).join('')}</tbody></table></details>`
    : ''
  const skipped = e.skipped.length ? `<h3>Skipped</h3><ul>${e.skipped.map((s) => `<li>${badge(s.reason.startsWith('failed') ? 'failed' : 'skipped')} <b>${esc(s.id)}</b>: ${esc(s.reason)}</li>`).join('')}</ul>` : ''
  return `<h2>${esc(e.engine)}</h2>
<p>${esc(e.describe)} · ${esc((e.durationMs / 1000).toFixed(1))} s</p>${dataset}
<h3>Latest run against the seed thresholds</h3>${headroomChart(e)}
<h3>Figures</h3>
<table class="figures"><thead><tr><th>figure</th><th>value</th><th>p50</th><th>p95</th><th>p99</th><th>mean</th><th>spread</th><th>n</th><th title="hover a cell for its source">seed threshold</th><th>verdict</th><th>issue target</th><th>reference ratio</th></tr></thead>
<tbody>${e.figures.map(figureRow).join('')}</tbody></table>${skipped}`
}

function comparisonSection(run: BenchRun): string {
  const c = run.comparison
  if (!c) return ''
  const pct = (v: number) => (Number.isFinite(v) ? `${v >= 0 ? '+' : ''}${(v * 100).toFixed(1)} %` : '–')
  const rows = c.changes
    .map((x) => `<tr class="${x.status === 'regression' ? 'fail' : ''}"><td>${esc(x.engine)}</td><td>${esc(x.label)}</td><td class="num">${esc(formatValue(x.old, x.unit))}</td><td class="num">${esc(formatValue(x.new, x.unit))}</td><td class="num">${esc(pct(x.change))}</td><td class="num">${Number.isFinite(x.allowed) ? esc(`±${(x.allowed * 100).toFixed(0)} %`) : '–'}</td><td class="num">${x.p !== undefined ? esc(x.p.toFixed(3)) : '–'}</td><td>${badge(x.status)}${x.repeat ? ` <span class="note">repeat ${esc(pct(x.repeat.change))}</span>` : ''}</td></tr>`)
    .join('')
  return `<h2>Compared with the baseline</h2>
<p>Baseline of ${esc(fmtDate(c.baseline.startedAt))}${c.baseline.commit ? ` (commit ${esc(c.baseline.commit.slice(0, 10))})` : ''}: <b>${esc(c.regressions)}</b> confirmed regression${c.regressions === 1 ? '' : 's'}. A change counts only beyond the noise (the larger of ${esc((c.options.minEffect * 100).toFixed(0))} % and ${esc(c.options.noiseK)}× the samples' combined spread, with a rank test at p &lt; ${esc(c.options.alpha)}), and only when a repeat of the benchmark confirms it.${c.note ? ` ${esc(c.note)}` : ''}</p>
<table><thead><tr><th>engine</th><th>figure</th><th>old</th><th>new</th><th>change</th><th>noise</th><th>p</th><th>status</th></tr></thead><tbody>${rows}</tbody></table>`
}

export function renderBenchHtml(run: BenchRun, history: HistoryEntry[] = []): string {
  const engines = run.engines.filter((e) => !e.error)
  const versions = engines.map((e) => `${e.engine}: PostgreSQL ${e.versions.postgres}, TimescaleDB ${e.versions.timescaledb}`).join('; ') || 'none ran'
  const gated = run.engines.flatMap((e) => e.figures.filter((f) => f.threshold))
  const passed = gated.filter((f) => f.threshold!.verdict === 'passed').length
  const title = run.verdict === 'passed' ? `Benchmarks passed: ${passed} of ${gated.length} threshold checks` : `Benchmarks FAILED: ${run.failures.length} failure${run.failures.length === 1 ? '' : 's'}${run.comparison?.regressions ? `, ${run.comparison.regressions} regression${run.comparison.regressions === 1 ? '' : 's'}` : ''}`
  const failures = run.failures.length ? `<h2>What failed</h2><ul>${run.failures.map((f) => `<li>${esc(f)}</li>`).join('')}</ul>` : ''
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(title)}</title><style>${CSS}</style></head>
<body>
<div class="banner ${run.verdict}"><div class="inner"><h1>${run.verdict === 'passed' ? '✔' : '✘'} ${esc(title)}</h1>
<p>MS5.0 telemetry on ${esc(run.engines.map((e) => e.engine).join(', '))} · ${run.options.quick ? 'quick run' : `scale ${esc(run.options.scale)}`}, seed ${esc(run.options.seed)}</p>
<dl class="facts"><div><dt>Started</dt><dd>${esc(fmtDate(run.startedAt))}</dd></div><div><dt>Duration</dt><dd>${esc((run.durationMs / 1000).toFixed(1))} s</dd></div>
<div><dt>Versions</dt><dd>${esc(versions)}</dd></div><div><dt>Machine</dt><dd>${esc(`${run.machine.cores} cores, ${fmtBytes(run.machine.memoryBytes)}, ${run.machine.cpu}`)}</dd></div>
<div><dt>Node</dt><dd>${esc(run.machine.node)}</dd></div><div><dt>Commit</dt><dd>${esc(run.git.commit ? run.git.commit.slice(0, 12) : 'unknown')}</dd></div></dl></div></div>
<main>${failures}${run.growth ? growthSection(run.growth) : ''}${comparisonSection(run)}${run.engines.map(engineSection).join('\n')}
<h2>History</h2>${historyCharts(run, history)}
<p class="note">Written by <code>pnpm bench</code>; the same figures are in bench.json.</p>
</main></body></html>
`
}
