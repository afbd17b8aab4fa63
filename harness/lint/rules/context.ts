/** What a rule sees for one statement, and how it reports. */
import type { Statement } from '../../sql/split.ts'
import type { Node, TableRef } from '../ast.ts'
import type { Facts } from '../facts.ts'
import type { LintInput, SetKnowledge } from '../knowledge.ts'
import type { RuleId } from '../rules.ts'
import type { Tok } from '../tokens.ts'

/** State carried through one file. */
export interface FileState {
  createdHere: TableRef[]
  indexesHere: Set<string>
  /** `table|constraint` dropped (IF EXISTS) earlier in this file. */
  droppedConstraints: Set<string>
  searchPath?: string
  lockTimeout: boolean
  lockTimeoutLocalOnly: boolean
  /** DDL on existing tables before any lock_timeout: reported once per file, at the first. */
  unguarded: Array<{ stmt: Statement; at: number; what: string }>
}

export interface StatementContext {
  input: LintInput
  up: boolean
  stmt: Statement
  /** The parse tree (undefined: the parser refuses the statement) and what it says. */
  tree?: Node
  f?: Facts
  /** The statement's tokens (always; the only view of a statement the parser refuses). */
  toks: Tok[]
  k: SetKnowledge
  file: FileState
  /** `at`: UTF-16 offset in the statement (undefined: its start). */
  report(rule: RuleId, at: number | undefined, message: string, fix?: string): void
  isHere(t: TableRef): boolean
  origin(t: TableRef): string
  needsLock(at: number, what: string): void
}
