/**
 * What the report's timeline draws for one migration, kept in rehearse.json: every workload
 * operation (start, latency, kind, outcome), the statements' spans (the runner's boundaries),
 * and intervals of the locks the migration held and of the sessions that waited, built from the
 * sampler's polls. Times are milliseconds from the migration's start (the baseline is negative).
 *
 * Locks drawn: per relation its strongest mode at each poll, from SHARE UPDATE EXCLUSIVE up (the
 * modes that block someone's reads or writes), plus any lock a session waited for; relations the
 * migration created (invisible to others) and TimescaleDB's internals are counted, not drawn.
 */
import { STRENGTH, type Span, type Sample, type OpRecord, type OpKind } from './types.ts'

export interface TimelineOp {
  t: number
  ms: number
  kind: OpKind
  ok: boolean
}

export interface Interval {
  fromMs: number
  toMs: number
}

export interface Timeline {
  fromMs: number
  toMs: number
  /** When the runner returned (the commit's end). */
  migrationEndMs: number
  ops: TimelineOp[]
  statements: (Interval & { where: string; text: string })[]
  held: (Interval & { relation: string; mode: string })[]
  waited: (Interval & { pid: number; relation: string; mode: string })[]
  /** Relation locks held but not drawn (weaker modes, new relations, internals). */
  heldNotShown: number
}

const BLOCKING = STRENGTH.indexOf('ShareUpdateExclusiveLock')
const hidden = (relation: string) => /^(new relation|_timescaledb_|pg_toast\.|timescaledb_information\.)/.test(relation) || relation.includes('._timescaledb_') || relation.includes('_hyper_')
const r1 = (x: number) => Math.round(x * 10) / 10

export function buildTimeline(o: { originMs: number; fromMs: number; endMs: number; toMs: number; records: OpRecord[]; spans: Span[]; samples: Sample[]; file: string }): Timeline {
  const at = (t: number) => r1(t - o.originMs)
  const ops = o.records.filter((r) => r.startMs >= o.fromMs).map((r) => ({ t: at(r.startMs), ms: r1(r.latencyMs), kind: r.kind, ok: r.ok }))
  const statements = o.spans.map((s, i) => ({ where: `${s.file}:${s.line}:${s.column}`, text: s.text, fromMs: at(s.startMs), toMs: at(Math.max(s.endMs, o.spans[i + 1]?.startMs ?? s.endMs)) }))
  const last = o.spans[o.spans.length - 1]
  if (last) statements.push({ where: `${o.file}: commit`, text: 'commit (log row, COMMIT)', fromMs: at(last.endMs), toMs: at(o.endMs) })
  const samples = o.samples.filter((s) => s.atMs >= o.originMs && s.atMs <= o.toMs).sort((a, b) => a.atMs - b.atMs)
  const wanted = new Set(samples.flatMap((s) => s.waiters.map((w) => w.wants.relation)))

  // Held: per poll the strongest mode per relation; an interval runs while consecutive polls show it.
  const held: Timeline['held'] = []
  const open = new Map<string, Timeline['held'][number]>()
  const notShown = new Set<string>()
  for (const s of samples) {
    const strongest = new Map<string, string>()
    for (const l of s.held) {
      const cur = strongest.get(l.relation)
      if (!cur || STRENGTH.indexOf(l.mode) > STRENGTH.indexOf(cur)) strongest.set(l.relation, l.mode)
    }
    const now = new Set<string>()
    for (const [relation, mode] of strongest) {
      if (hidden(relation) || (STRENGTH.indexOf(mode) < BLOCKING && !wanted.has(relation))) {
        notShown.add(relation)
        continue
      }
      const k = `${mode} ${relation}`
      now.add(k)
      const iv = open.get(k)
      if (iv) iv.toMs = at(s.atMs)
      else open.set(k, { relation, mode, fromMs: at(s.atMs), toMs: at(s.atMs) })
    }
    for (const [k, iv] of open) if (!now.has(k)) (held.push(iv), open.delete(k))
  }
  held.push(...open.values())

  // Waited: a session's wait started at its query's start (clock_timestamp() - query_start).
  const waited: Timeline['waited'] = []
  const waiting = new Map<number, Timeline['waited'][number]>()
  for (const s of samples) {
    const now = new Set<number>()
    for (const w of s.waiters) {
      now.add(w.pid)
      const iv = waiting.get(w.pid)
      if (iv && iv.relation === w.wants.relation) iv.toMs = at(s.atMs)
      else {
        if (iv) waited.push(iv)
        waiting.set(w.pid, { pid: w.pid, relation: w.wants.relation, mode: w.wants.mode, fromMs: at(s.atMs - w.waitedMs), toMs: at(s.atMs) })
      }
    }
    for (const [pid, iv] of waiting) if (!now.has(pid)) (waited.push(iv), waiting.delete(pid))
  }
  waited.push(...waiting.values())
  held.sort((a, b) => a.fromMs - b.fromMs || a.relation.localeCompare(b.relation))
  waited.sort((a, b) => a.fromMs - b.fromMs || a.pid - b.pid)
  return { fromMs: at(o.fromMs), toMs: at(o.toMs), migrationEndMs: at(o.endMs), ops, statements, held, waited, heldNotShown: notShown.size }
}
