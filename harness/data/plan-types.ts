/** The shapes of a generation plan and of the raw datasets its arbitrary produces (arbitraries.ts). */
import type { CheckInfo, ColumnInfo, ForeignKeyInfo, TableInfo, UniqueInfo } from '../catalog/tables.ts'

/** A cell: text input form, NULL, or DEFAULT (undefined). */
export type Cell = string | null | undefined

export interface RawRow {
  values: Cell[]
  /** One per TablePlan.fks: an index into the parent's inserted rows, or null (no reference). */
  refs: (number | null)[]
}

/** Aligned with GenerationPlan.tables. */
export type RawDataset = RawRow[][]

export interface Bound {
  value: string
  inclusive: boolean
}

export interface ColumnRule {
  min?: Bound
  max?: Bound
  in?: string[]
  notIn: string[]
  minLength?: number
  maxLength?: number
  notNull?: boolean
}

/** `a >= b` or `a > b` between two columns of one row (after normalising `<`, `<=`). */
export interface Repair {
  check: string
  greater: number
  lesser: number
  strict: boolean
}

export interface FkPlan {
  fk: ForeignKeyInfo
  /** Indexes into TablePlan.columns. */
  columns: number[]
  /** Every column of the key is nullable: the slot may be null. */
  nullable: boolean
  self: boolean
}

export interface UniquePlan {
  unique: UniqueInfo
  /** Indexes into TablePlan.columns for a plain key; null for an expression or partial index (evaluated by query). */
  columns: number[] | null
}

export interface TablePlan {
  table: TableInfo
  /** The columns an INSERT names: every column but stored generated ones. */
  columns: ColumnInfo[]
  /** Serial and identity columns: always DEFAULT, so sequences stay consistent and runs deterministic. */
  alwaysDefault: boolean[]
  fks: FkPlan[]
  repairs: Repair[]
  /** CHECKs not honoured by construction: evaluated by query on the candidate rows before insert. */
  filterChecks: CheckInfo[]
  uniques: UniquePlan[]
  rules: Map<string, ColumnRule>
  /** Column name → how its values are made (for reports). */
  generators: Map<string, string>
  maxRows: number
}

export interface GenerationPlan {
  tables: TablePlan[]
  skipped: { table: string; reason: string }[]
  /** Foreign keys that close a cycle: their children reference nothing (NULL) or are dropped. */
  cut: { table: string; fk: string }[]
}

export interface GenerationOptions {
  /** Upper bound of rows per plain table (default 6). */
  maxRows?: number
  /** Upper bound of rows per hypertable (default 12). */
  maxHypertableRows?: number
  /** Instant the generated time ranges are centred on (default 2024-01-15T00:00:00Z). */
  anchor?: Date
}

export const DEFAULT_ANCHOR_US = Date.UTC(2024, 0, 15) * 1000
