/**
 * One migration's rehearsal as an inline SVG (no script, no external asset): workload latency
 * over time (a dot per operation at its start, its latency up the axis, the seeds' limits as
 * dashed lines), a lane with a span per statement (the runner's boundaries, the commit last), a
 * lane per lock the migration held that blocks someone (strongest mode per relation), and a lane
 * per workload session that waited, each bar from the wait's start to the last poll that saw it.
 * The migration's window is shaded. Every mark has a <title>, so hovering names it.
 *
 * Only the last part of the baseline is drawn (its figures are in the text): a two-second
 * baseline beside a 300 ms migration would squeeze the migration into a sliver.
 */
import type { Limits } from '../rehearse/verdict.ts'
import type { Timeline } from '../rehearse/timeline.ts'
import { STRENGTH } from '../rehearse/types.ts'
import { esc } from './text.ts'

const W = 1160
const LABEL = 220
const RIGHT = 12
const PLOT = W - LABEL - RIGHT
const LAT_H = 170
const LANE = 16
const MAX_LOCK_LANES = 16

const f1 = (n: number) => (Math.round(n * 10) / 10).toString()
const msText = (n: number) => `${n < 10 ? n.toFixed(1) : Math.round(n).toLocaleString('en-US')} ms`
const shortRel = (r: string) => r.replace(/^factory_telemetry\./, '')
const cut = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s)

function niceStep(span: number, target: number): number {
  const raw = span / target
  const p = 10 ** Math.floor(Math.log10(raw))
  return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? 10 * p
}

export function timelineSvg(t: Timeline, limits: Limits, title: string): string {
  const from = Math.max(t.fromMs, -Math.max(250, 0.3 * t.toMs))
  const to = Math.max(t.toMs, from + 1)
  const x = (ms: number) => LABEL + ((Math.min(Math.max(ms, from), to) - from) / (to - from)) * PLOT
  const ops = t.ops.filter((o) => o.t >= from)
  // Up to the slowest operation, never below 1.5 × the dashboard limit (so that line is always drawn).
  const yMax = Math.max(limits.dashboardMs * 1.5, ...ops.map((o) => o.ms)) * 1.08
  const top = 18
  const y = (ms: number) => top + LAT_H - (Math.min(ms, yMax) / yMax) * LAT_H
  const lanes: string[] = []
  let yy = top + LAT_H + 30

  // Statement spans.
  const stmtY = yy
  lanes.push(`<text x="${LABEL - 8}" y="${stmtY + 12}" class="lab" text-anchor="end">statements (${t.statements.length})</text>`)
  t.statements.forEach((s, i) => {
    const x0 = x(s.fromMs)
    const w = Math.max(1.5, x(s.toMs) - x0)
    const commit = s.where.endsWith(': commit')
    lanes.push(`<rect class="stmt${commit ? ' commit' : ''}" data-where="${esc(s.where)}" x="${f1(x0)}" y="${stmtY}" width="${f1(w)}" height="${LANE}" fill="${commit ? '#8250df' : i % 2 ? '#0969da' : '#54aeff'}"><title>${esc(`${s.where} — ${s.text} — ${msText(s.toMs - s.fromMs)}`)}</title></rect>`)
  })
  yy += LANE + 14

  // Locks held, then waits.
  // The locks someone waited for first, then the strongest, then the earliest: those are the story.
  const wanted = new Set(t.waited.map((w) => w.relation))
  const rank = (h: Timeline['held'][number]) => (wanted.has(h.relation) ? 100 : 0) + STRENGTH.indexOf(h.mode)
  const heldKeys = [...new Set([...t.held].sort((a, b) => rank(b) - rank(a) || a.fromMs - b.fromMs).map((h) => `${h.mode}|${h.relation}`))].slice(0, MAX_LOCK_LANES)
  const held = t.held.filter((h) => heldKeys.includes(`${h.mode}|${h.relation}`))
  heldKeys.sort((a, b) => Math.min(...held.filter((h) => `${h.mode}|${h.relation}` === a).map((h) => h.fromMs)) - Math.min(...held.filter((h) => `${h.mode}|${h.relation}` === b).map((h) => h.fromMs)))
  if (heldKeys.length) lanes.push(`<text x="4" y="${yy + 10}" class="sec">locks held by the migration</text>`)
  yy += heldKeys.length ? 16 : 0
  for (const k of heldKeys) {
    const [mode, relation] = k.split('|') as [string, string]
    lanes.push(`<text x="${LABEL - 8}" y="${yy + 11}" class="lab" text-anchor="end">${esc(cut(`${mode.replace(/Lock$/, '')} ${shortRel(relation)}`, 33))}</text>`)
    for (const h of held.filter((h) => h.mode === mode && h.relation === relation)) {
      const x0 = x(h.fromMs)
      lanes.push(`<rect class="held" x="${f1(x0)}" y="${yy + 2}" width="${f1(Math.max(2, x(h.toMs) - x0))}" height="${LANE - 4}" fill="#bf8700"><title>${esc(`${mode} on ${relation}, held ${msText(h.toMs - h.fromMs)} (from ${msText(h.fromMs)})`)}</title></rect>`)
    }
    yy += LANE
  }
  const moreHeld = new Set(t.held.map((h) => `${h.mode}|${h.relation}`)).size - heldKeys.length + t.heldNotShown
  const pids = [...new Set(t.waited.map((w) => w.pid))]
  if (pids.length) lanes.push(`<text x="4" y="${yy + 14}" class="sec">workload sessions waiting</text>`)
  yy += pids.length ? 20 : 0
  pids.forEach((pid, n) => {
    const mine = t.waited.filter((w) => w.pid === pid)
    lanes.push(`<text x="${LABEL - 8}" y="${yy + 11}" class="lab" text-anchor="end">${esc(cut(`session ${n + 1}: ${mine[0]!.mode.replace(/Lock$/, '')} ${shortRel(mine[0]!.relation)}`, 33))}</text>`)
    for (const w of mine) {
      const x0 = x(w.fromMs)
      lanes.push(`<rect class="wait" x="${f1(x0)}" y="${yy + 2}" width="${f1(Math.max(2, x(w.toMs) - x0))}" height="${LANE - 4}" fill="#cf222e"><title>${esc(`backend ${pid} waited ${msText(w.toMs - w.fromMs)} for ${w.mode} on ${w.relation}`)}</title></rect>`)
    }
    yy += LANE
  })
  const axisY = yy + 8
  const H = axisY + 34

  // Axis and grid.
  const step = niceStep(to - from, 10)
  const ticks: string[] = []
  for (let v = Math.ceil(from / step) * step; v <= to; v += step) ticks.push(`<line x1="${f1(x(v))}" x2="${f1(x(v))}" y1="${top}" y2="${axisY}" class="grid"/><text x="${f1(x(v))}" y="${axisY + 14}" class="tick" text-anchor="middle">${Math.round(v)}</text>`)
  const latTicks = [0, limits.dashboardMs, limits.insertMs].filter((v) => v <= yMax)
  const yAxis = latTicks.map((v) => `<text x="${LABEL - 8}" y="${f1(y(v) + 4)}" class="tick" text-anchor="end">${Math.round(v)} ms</text>`).join('')
  const limitLine = (v: number, what: string, colour: string) => (v <= yMax ? `<line x1="${LABEL}" x2="${LABEL + PLOT}" y1="${f1(y(v))}" y2="${f1(y(v))}" stroke="${colour}" stroke-dasharray="5 4"><title>${esc(what)}</title></line>` : '')
  const dots = ops.map((o) => {
    const cx = f1(x(o.t))
    const cy = f1(y(o.ms))
    const tip = `<title>${esc(`${o.kind} ${o.ok ? '' : 'FAILED '}at ${msText(o.t)}: ${msText(o.ms)}`)}</title>`
    if (!o.ok) return `<path class="op err" d="M${cx} ${cy}m-4 -4l8 8m0 -8l-8 8" stroke="#cf222e" stroke-width="2">${tip}</path>`
    return o.kind === 'insert' ? `<rect class="op ins" x="${f1(x(o.t) - 2.5)}" y="${f1(y(o.ms) - 2.5)}" width="5" height="5" fill="#bc4c00">${tip}</rect>` : `<circle class="op dash" cx="${cx}" cy="${cy}" r="2.5" fill="#0969da">${tip}</circle>`
  })
  const win = `<rect x="${f1(x(0))}" y="${top}" width="${f1(Math.max(1, x(t.migrationEndMs) - x(0)))}" height="${axisY - top}" fill="#ddf4ff" opacity="0.6"><title>the migration (start to commit): ${msText(t.migrationEndMs)}</title></rect>`
  return [
    `<svg class="timeline" role="img" aria-label="${esc(title)}" viewBox="0 0 ${W} ${H}" width="100%" style="max-width:${W}px" xmlns="http://www.w3.org/2000/svg">`,
    '<style>.lab,.tick,.sec{font:11px system-ui,sans-serif;fill:#57606a}.sec{font-weight:600;fill:#1f2328}.grid{stroke:#eaeef2}</style>',
    win,
    ...ticks,
    `<line x1="${LABEL}" x2="${LABEL}" y1="${top}" y2="${top + LAT_H}" stroke="#8c959f"/><line x1="${LABEL}" x2="${LABEL + PLOT}" y1="${top + LAT_H}" y2="${top + LAT_H}" stroke="#8c959f"/>`,
    `<text x="4" y="${top + 10}" class="sec">workload latency</text>`,
    yAxis,
    limitLine(limits.dashboardMs, `dashboard limit ${limits.dashboardMs} ms (${limits.dashboardSource})`, '#0969da'),
    limitLine(limits.insertMs, `insert limit ${limits.insertMs} ms (${limits.insertSource})`, '#bc4c00'),
    ...dots,
    ...lanes,
    moreHeld > 0 ? `<text x="${LABEL}" y="${axisY + 28}" class="tick">${moreHeld} more lock(s) not drawn (weaker modes, relations the migration created, internals): see rehearse.json</text>` : '',
    `<text x="${LABEL + PLOT}" y="${axisY + 28}" class="tick" text-anchor="end">ms from the migration's start</text>`,
    '</svg>',
  ].join('\n')
}
