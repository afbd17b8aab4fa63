/** The shape of a schema snapshot: one entry per object kind, every list sorted by name. */
import type { ColumnRow } from '../../catalog/columns.ts'
import type { SequenceRow } from '../../catalog/sequences.ts'

export const SNAPSHOT_FORMAT = 1

/** A column as the catalog reads it, without what differs between identical databases or only feeds generators. */
export type ColumnSnapshot = Pick<ColumnRow, 'name' | 'type' | 'notNull' | 'default' | 'identity' | 'generated' | 'collation' | 'comment'>

export interface TableSnapshot {
  name: string
  kind: 'table' | 'partitioned table' | 'foreign table'
  unlogged: boolean
  options: string[]
  rowSecurity: boolean
  partitionKey: string | null
  partitionOf: string | null
  partitionBound: string | null
  comment: string | null
  /** In ordinal (attnum) order, dropped columns left out. */
  columns: ColumnSnapshot[]
}

export interface ConstraintSnapshot {
  /** `schema.table.constraint` */
  name: string
  table: string
  type: string
  definition: string
}

export interface IndexSnapshot {
  name: string
  table: string
  definition: string
}

export interface ViewSnapshot {
  name: string
  kind: 'view' | 'materialized view'
  options: string[]
  definition: string
  comment: string | null
}

export interface FunctionSnapshot {
  /** `schema.name(identity arguments)` */
  name: string
  kind: 'function' | 'procedure' | 'aggregate' | 'window'
  arguments: string
  result: string | null
  language: string
  volatility: 'immutable' | 'stable' | 'volatile'
  strict: boolean
  securityDefiner: boolean
  config: string[]
  body: string
  comment: string | null
}

export interface TriggerSnapshot {
  /** `schema.table.trigger` */
  name: string
  table: string
  enabled: string
  definition: string
}

/** A sequence's definition as the catalog reads it; `name` is `schema.sequence`. */
export type SequenceSnapshot = Omit<SequenceRow, 'schema'>

export interface TypeSnapshot {
  name: string
  kind: 'enum' | 'domain' | 'composite' | 'range' | 'base' | 'multirange' | 'pseudo'
  definition: string
}

export interface HypertableDimensionSnapshot {
  column: string
  columnType: string
  dimensionType: string
  timeInterval: string | null
  integerInterval: string | null
  integerNowFunc: string | null
  numPartitions: number | null
}

export interface HypertableSnapshot {
  name: string
  compressionEnabled: boolean
  dimensions: HypertableDimensionSnapshot[]
}

export interface CompressionSettingsSnapshot {
  /** The hypertable. */
  name: string
  segmentBy: string[]
  /** e.g. `ts DESC NULLS FIRST`, in orderby order. */
  orderBy: string[]
}

export interface JobSnapshot {
  /** `schema.hypertable proc_name` plus a config digest when one table has several jobs of the same proc. */
  name: string
  hypertable: string
  procName: string
  scheduleInterval: string
  scheduled: boolean
  /** The job's config without `hypertable_id`, keys sorted. */
  config: unknown
}

export interface SchemaSnapshot {
  format: typeof SNAPSHOT_FORMAT
  schemas: string[]
  extensions: string[]
  types: TypeSnapshot[]
  tables: TableSnapshot[]
  constraints: ConstraintSnapshot[]
  indexes: IndexSnapshot[]
  views: ViewSnapshot[]
  functions: FunctionSnapshot[]
  triggers: TriggerSnapshot[]
  sequences: SequenceSnapshot[]
  hypertables: HypertableSnapshot[]
  compression: CompressionSettingsSnapshot[]
  jobs: JobSnapshot[]
}
