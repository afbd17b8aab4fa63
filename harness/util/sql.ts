/** Quoting for SQL text the harness writes itself: the one place for identifiers and literals. */

/** "name" with embedded quotes doubled. */
export const quoteIdent = (name: string): string => `"${name.replaceAll('"', '""')}"`

/** "schema"."table" */
export const qualify = (schema: string, table: string): string => `${quoteIdent(schema)}.${quoteIdent(table)}`

/** Quoted `schema.table` from the unquoted `schema.table` form (names with dots need the catalog's own quoted name). */
export function quoteQualified(name: string): string {
  const i = name.indexOf('.')
  return i < 0 ? quoteIdent(name) : qualify(name.slice(0, i), name.slice(i + 1))
}

/** 'text' with embedded quotes doubled (standard_conforming_strings, as every supported server has it). */
export const literal = (s: string): string => `'${s.replaceAll("'", "''")}'`

/** literal(), or NULL. */
export const literalOrNull = (s: string | null): string => (s === null ? 'NULL' : literal(s))

/** `schema.table` split at its first dot (names as the manifest and catalog spell them, unquoted). */
export function splitQualified(name: string): { schema: string; table: string } {
  const i = name.indexOf('.')
  return { schema: name.slice(0, i), table: name.slice(i + 1) }
}
