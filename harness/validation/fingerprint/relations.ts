/** Tables (with their columns), views, constraints, indexes and triggers, as the snapshot holds them. */
import type pg from 'pg'
import { columnsByRelation, readColumns, type ColumnRow } from '../../catalog/columns.ts'
import { readConstraints } from '../../catalog/constraints.ts'
import { readIndexes } from '../../catalog/indexes.ts'
import { readRelations } from '../../catalog/relations.ts'
import { isTimescaleInternal } from '../../catalog/common.ts'
import { readTriggers } from '../../catalog/routines.ts'
import { byName, cmp, q } from './canonical.ts'
import type { ColumnSnapshot, ConstraintSnapshot, IndexSnapshot, TableSnapshot, TriggerSnapshot, ViewSnapshot } from './types.ts'

/** References to TimescaleDB's internal relations inside view definitions (continuous aggregates), ids normalised. */
const TSDB_INTERNAL_REF = /\b(_(?:hyper|compressed_hypertable|materialized_hypertable|partial_view|direct_view))_\d+(_\d+)?/g

const normaliseInternalRefs = (s: string) => s.replace(TSDB_INTERNAL_REF, '$1_N')

const CONSTRAINT_TYPES: Record<string, string> = {
  p: 'PRIMARY KEY',
  u: 'UNIQUE',
  f: 'FOREIGN KEY',
  c: 'CHECK',
  x: 'EXCLUDE',
  t: 'TRIGGER',
  n: 'NOT NULL',
}

const columnSnapshot = (c: ColumnRow): ColumnSnapshot => ({
  name: c.name,
  type: c.type,
  notNull: c.notNull,
  default: c.default,
  identity: c.identity,
  generated: c.generated,
  collation: c.collation,
  comment: c.comment,
})

export interface RelationSnapshots {
  tables: TableSnapshot[]
  views: ViewSnapshot[]
  constraints: ConstraintSnapshot[]
  indexes: IndexSnapshot[]
  triggers: TriggerSnapshot[]
}

/** Chunks, TimescaleDB's internally named relations and extension members are left out. */
export async function relationSnapshots(client: pg.ClientBase, schemas: string[], timescale: boolean): Promise<RelationSnapshots> {
  const all = (await readRelations(client, schemas, ['r', 'p', 'f', 'v', 'm'], { timescale })).filter((r) => !r.internal)
  const rels = all.filter((r) => (r.relkind === 'r' || r.relkind === 'p' || r.relkind === 'f') && !r.chunk)
  const relKey = new Set(rels.map((r) => q(r.schema, r.name)))
  const cols = columnsByRelation(await readColumns(client, schemas, ['r', 'p', 'f'], { base: false }))

  const tables: TableSnapshot[] = byName(
    rels.map((r) => {
      const key = q(r.schema, r.name)
      return {
        name: key,
        kind: r.relkind === 'p' ? 'partitioned table' : r.relkind === 'f' ? 'foreign table' : 'table',
        unlogged: r.unlogged,
        options: [...(r.options ?? [])].sort(cmp),
        rowSecurity: r.rls,
        partitionKey: r.partkey,
        partitionOf: r.parent,
        partitionBound: r.bound,
        comment: r.comment,
        columns: (cols.get(key) ?? []).map(columnSnapshot),
      }
    }),
  )

  // Constraints on tables; domain constraints are part of the domain.
  const constraints: ConstraintSnapshot[] = byName(
    (await readConstraints(client, schemas, { keys: false }))
      .filter((r) => relKey.has(q(r.schema, r.rel)))
      .map((r) => ({
        name: `${r.schema}.${r.rel}.${r.name}`,
        table: q(r.schema, r.rel),
        type: CONSTRAINT_TYPES[r.type] ?? r.type,
        definition: r.definition!,
      })),
  )

  const indexes: IndexSnapshot[] = byName(
    (await readIndexes(client, schemas, { keys: false }))
      .filter((r) => !isTimescaleInternal(r.rel) && !isTimescaleInternal(r.name))
      .map((r) => ({ name: q(r.schema, r.name), table: q(r.schema, r.rel), definition: r.definition! })),
  )

  // View columns are implied by the definition; materialized views' too.
  const views: ViewSnapshot[] = byName(
    all
      .filter((r) => r.relkind === 'v' || r.relkind === 'm')
      .map((r) => ({
        name: q(r.schema, r.name),
        kind: r.relkind === 'm' ? 'materialized view' : 'view',
        options: [...(r.options ?? [])].sort(cmp),
        definition: normaliseInternalRefs(r.viewdef!),
        comment: r.comment,
      })),
  )

  const triggers: TriggerSnapshot[] = byName(
    (await readTriggers(client, schemas))
      .filter((r) => relKey.has(q(r.schema, r.rel)) || views.some((v) => v.name === q(r.schema, r.rel)))
      .map((r) => ({ name: `${r.schema}.${r.rel}.${r.name}`, table: q(r.schema, r.rel), enabled: r.enabled, definition: r.definition })),
  )

  return { tables, views, constraints, indexes, triggers }
}
