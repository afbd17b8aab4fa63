/**
 * bench.html's "as the data grows" section (`pnpm bench --scale year`): each query's p95
 * against metric_hist's rows, one line per query on log–log axes with the seeds' limits drawn
 * (dashboard 100 ms, any query 1,000 ms), then the same figures as a table with what it took to
 * build each size. Inline SVG, every value escaped (text.ts).
 */
import type { Growth } from '../measure/figures.ts'
import { esc } from './text.ts'

const PALETTE = ['#0969da', '#bf3989', '#1a7f37', '#9a6700', '#8250df', '#cf222e', '#1b7c83']
const LIMITS = [
  { ms: 100, label: 'dashboard limit 100 ms' },
  { ms: 1000, label: 'any query 1,000 ms' },
]

const fmtRows = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(n >= 1e7 ? 0 : 1)} M` : `${Math.round(n / 1e3)} k`)
const fmtMs = (ms: number) => (ms < 10 ? ms.toFixed(1) : Math.round(ms).toLocaleString('en-US'))

function chart(g: Growth): string {
  const pts = g.points.map((p) => ({ rows: Math.max(1, p.rows[g.metric] ?? 0), span: p.span, q: p.queries }))
  const ids = Object.keys(pts[0]?.q ?? {})
  if (!pts.length || !ids.length) return ''
  const W = 1100
  const H = 380
  const L = 70
  const R = 250
  const T = 16
  const B = 44
  const xs = pts.map((p) => Math.log10(p.rows))
  const x0 = Math.floor(Math.min(...xs))
  const x1 = Math.max(x0 + 1, Math.ceil(Math.max(...xs)))
  const all = pts.flatMap((p) => ids.map((id) => p.q[id]?.p95 ?? 1))
  const y0 = Math.min(0, Math.floor(Math.log10(Math.max(0.1, Math.min(...all)))))
  const y1 = Math.max(3, Math.ceil(Math.log10(Math.max(...all))))
  const x = (rows: number) => L + ((Math.log10(rows) - x0) / (x1 - x0)) * (W - L - R)
  const y = (ms: number) => T + (1 - (Math.log10(Math.max(ms, 10 ** y0)) - y0) / (y1 - y0)) * (H - T - B)
  const parts: string[] = []
  for (let d = x0; d <= x1; d++) parts.push(`<line x1="${x(10 ** d)}" y1="${T}" x2="${x(10 ** d)}" y2="${H - B}" stroke="#d0d7de"/><text x="${x(10 ** d)}" y="${H - B + 16}" text-anchor="middle">${esc(fmtRows(10 ** d))}</text>`)
  for (let d = y0; d <= y1; d++) parts.push(`<line x1="${L}" y1="${y(10 ** d)}" x2="${W - R}" y2="${y(10 ** d)}" stroke="#d0d7de"/><text x="${L - 6}" y="${y(10 ** d) + 4}" text-anchor="end">${esc(fmtMs(10 ** d))} ms</text>`)
  for (const l of LIMITS) if (Math.log10(l.ms) <= y1) parts.push(`<line x1="${L}" y1="${y(l.ms)}" x2="${W - R}" y2="${y(l.ms)}" stroke="#a40e26" stroke-dasharray="6 4"/><text x="${W - R - 4}" y="${y(l.ms) - 4}" text-anchor="end" style="fill:#a40e26">${esc(l.label)}</text>`)
  for (const p of pts) parts.push(`<text x="${x(p.rows)}" y="${H - 6}" text-anchor="middle">${esc(p.span)}</text>`)
  ids.forEach((id, i) => {
    const color = PALETTE[i % PALETTE.length]!
    const line = pts.filter((p) => p.q[id]).map((p) => `${x(p.rows).toFixed(1)},${y(p.q[id]!.p95).toFixed(1)}`)
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${line.join(' ')}"/>`)
    for (const p of pts) if (p.q[id]) parts.push(`<circle cx="${x(p.rows).toFixed(1)}" cy="${y(p.q[id]!.p95).toFixed(1)}" r="3.5" fill="${color}"><title>${esc(`${id} at ${p.span}: p95 ${fmtMs(p.q[id]!.p95)} ms`)}</title></circle>`)
    parts.push(`<rect x="${W - R + 14}" y="${T + i * 20}" width="12" height="12" fill="${color}"/><text x="${W - R + 32}" y="${T + i * 20 + 10}">${esc(id)}</text>`)
  })
  return `<svg viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="p95 of each query against metric_hist rows">${parts.join('')}</svg>`
}

export function growthSection(g: Growth): string {
  if (!g.points.length) return ''
  const ids = Object.keys(g.points[0]!.queries)
  const head = `<tr><th>query (p95, ms)</th>${g.points.map((p) => `<th>${esc(p.span)} (${esc(p.days)} d)</th>`).join('')}</tr>`
  const rows = ids.map((id) => {
    const q = g.points[0]!.queries[id]!
    const limit = q.kind === 'dashboard' ? 100 : 1000
    return `<tr><td>${esc(q.label)}</td>${g.points.map((p) => {
      const v = p.queries[id]?.p95
      return v === undefined ? '<td class="num">–</td>' : `<td class="num${v >= limit ? ' over' : ''}">${esc(fmtMs(v))}</td>`
    }).join('')}</tr>`
  })
  const facts = [
    `<tr><td>${esc(g.metric)} rows</td>${g.points.map((p) => `<td class="num">${esc((p.rows[g.metric] ?? 0).toLocaleString('en-US'))}</td>`).join('')}</tr>`,
    `<tr><td>all hypertables, rows</td>${g.points.map((p) => `<td class="num">${esc(Object.values(p.rows).reduce((a, b) => a + b, 0).toLocaleString('en-US'))}</td>`).join('')}</tr>`,
    `<tr><td>built for this size: rows/s</td>${g.points.map((p) => `<td class="num">${esc(Math.round((p.buildRows * 1000) / Math.max(1, p.buildMs)).toLocaleString('en-US'))}</td>`).join('')}</tr>`,
    `<tr><td>compressed chunks / s</td>${g.points.map((p) => `<td class="num">${esc(p.compressedChunks)} / ${esc((p.compressMs / 1000).toFixed(1))}</td>`).join('')}</tr>`,
  ]
  return `<h2>As the data grows: p95 against ${esc(g.metric)} rows</h2>
<p class="note">One database grown backwards in time (the newest day first); "now" is the end of the data, so dashboards read the same newest day at every size. Chunks older than 7 days compressed (the policy), ANALYZE after each step. Red: at or over the seed's limit.</p>
<figure>${chart(g)}</figure>
<table class="figures"><thead>${head}</thead><tbody>${rows.join('')}${facts.join('')}</tbody></table>`
}
