/** One comparable, one-line rendering per object of a snapshot: what a diff compares and prints. */
import { canonicalJson } from './canonical.ts'
import type { ColumnSnapshot, SchemaSnapshot } from './types.ts'

/** One comparable line per object: kind, qualified name, and a one-line rendering. */
export interface Entry {
  kind: string
  name: string
  text: string
  /** Separator between name and text in `+`/`-` lines. */
  sep: string
}

const oneLine = (s: string) => s.replace(/\s+/g, ' ').trim()

function renderColumn(c: ColumnSnapshot): string {
  let s = c.type
  if (c.collation) s += ` COLLATE ${c.collation}`
  if (c.notNull) s += ' NOT NULL'
  if (c.default !== null) s += ` DEFAULT ${c.default}`
  if (c.identity) s += ` GENERATED ${c.identity === 'a' ? 'ALWAYS' : 'BY DEFAULT'} AS IDENTITY`
  if (c.generated) s += ` GENERATED ALWAYS AS (${c.default ?? ''}) STORED`
  if (c.comment !== null) s += ` COMMENT ${JSON.stringify(c.comment)}`
  return s
}

export function entries(s: SchemaSnapshot): Entry[] {
  const out: Entry[] = []
  const add = (kind: string, name: string, text: string, sep = ': ') => out.push({ kind, name, text: oneLine(text), sep })
  for (const e of s.extensions) add('extension', e, e)
  for (const t of s.types) add(t.kind === 'enum' ? 'enum' : t.kind === 'domain' ? 'domain' : 'type', t.name, t.definition)
  for (const t of s.tables) {
    const props = [
      t.kind,
      t.unlogged ? 'UNLOGGED' : '',
      t.options.length ? `WITH (${t.options.join(', ')})` : '',
      t.rowSecurity ? 'ROW LEVEL SECURITY' : '',
      t.partitionKey ? `PARTITION BY ${t.partitionKey}` : '',
      t.partitionOf ? `PARTITION OF ${t.partitionOf} ${t.partitionBound ?? ''}` : '',
      t.comment !== null ? `COMMENT ${JSON.stringify(t.comment)}` : '',
    ]
      .filter(Boolean)
      .join(' ')
    add('table', t.name, props)
    for (const c of t.columns) add('column', `${t.name}.${c.name}`, renderColumn(c), ' ')
    add('column order', t.name, t.columns.map((c) => c.name).join(', '))
  }
  for (const c of s.constraints) add('constraint', c.name, `${c.type} ${c.definition}`)
  for (const i of s.indexes) add('index', i.name, i.definition)
  for (const v of s.views)
    add(
      v.kind,
      v.name,
      [v.options.length ? `WITH (${v.options.join(', ')})` : '', v.definition, v.comment !== null ? `COMMENT ${JSON.stringify(v.comment)}` : '']
        .filter(Boolean)
        .join(' '),
    )
  for (const f of s.functions)
    add(
      f.kind,
      f.name,
      [
        f.result !== null ? `RETURNS ${f.result}` : '',
        `LANGUAGE ${f.language}`,
        f.volatility.toUpperCase(),
        f.strict ? 'STRICT' : '',
        f.securityDefiner ? 'SECURITY DEFINER' : '',
        f.config.length ? `SET ${f.config.join(', ')}` : '',
        f.comment !== null ? `COMMENT ${JSON.stringify(f.comment)}` : '',
        `AS ${JSON.stringify(f.body)}`,
      ]
        .filter(Boolean)
        .join(' '),
    )
  for (const t of s.triggers) add('trigger', t.name, `${t.definition}${t.enabled === 'O' ? '' : ` [enabled=${t.enabled}]`}`)
  for (const q of s.sequences)
    add(
      'sequence',
      q.name,
      `${q.type} START ${q.start} INCREMENT ${q.increment} MINVALUE ${q.min} MAXVALUE ${q.max} CACHE ${q.cache}${q.cycle ? ' CYCLE' : ''}${
        q.ownedBy ? ` OWNED BY ${q.ownedBy}` : ''
      }`,
    )
  for (const h of s.hypertables) {
    add(
      'hypertable',
      h.name,
      h.dimensions
        .map(
          (d) =>
            `${d.dimensionType} ${d.column} (${d.columnType})` +
            (d.timeInterval !== null ? ` interval ${d.timeInterval}` : '') +
            (d.integerInterval !== null ? ` interval ${d.integerInterval}` : '') +
            (d.numPartitions !== null ? ` partitions ${d.numPartitions}` : '') +
            (d.integerNowFunc !== null ? ` now ${d.integerNowFunc}` : ''),
        )
        .join('; '),
    )
    add('compression enabled', h.name, String(h.compressionEnabled))
  }
  for (const c of s.compression) add('compression', c.name, `segmentby [${c.segmentBy.join(', ')}] orderby [${c.orderBy.join(', ')}]`)
  for (const j of s.jobs)
    add('job', j.name, `${j.procName} every ${j.scheduleInterval}${j.scheduled ? '' : ' (unscheduled)'} config ${canonicalJson(j.config)}`)
  return out
}
