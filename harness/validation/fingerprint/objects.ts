/** Extensions, functions and procedures, sequences and user-defined types, as the snapshot holds them. */
import type pg from 'pg'
import { readFunctions } from '../../catalog/routines.ts'
import { readExtensions } from '../../catalog/schemas.ts'
import { readSequences } from '../../catalog/sequences.ts'
import { readTypes } from '../../catalog/types.ts'
import { byName, cmp, q } from './canonical.ts'
import type { FunctionSnapshot, SequenceSnapshot, TypeSnapshot } from './types.ts'

/** Extensions whose objects live in one of `schemas`, by name. */
export async function extensionSnapshots(client: pg.ClientBase, schemas: string[]): Promise<string[]> {
  return (await readExtensions(client))
    .filter((e) => schemas.includes(e.schema))
    .map((e) => e.name)
    .sort(cmp)
}

export async function functionSnapshots(client: pg.ClientBase, schemas: string[]): Promise<FunctionSnapshot[]> {
  return byName(
    (await readFunctions(client, schemas)).map((r) => ({
      name: `${r.schema}.${r.name}(${r.args})`,
      kind: ({ f: 'function', p: 'procedure', a: 'aggregate', w: 'window' } as const)[r.kind as 'f' | 'p' | 'a' | 'w'] ?? 'function',
      arguments: r.args,
      result: r.result,
      language: r.language,
      volatility: ({ i: 'immutable', s: 'stable', v: 'volatile' } as const)[r.volatility as 'i' | 's' | 'v'] ?? 'volatile',
      strict: r.strict,
      securityDefiner: r.secdef,
      config: [...(r.config ?? [])].sort(cmp),
      body: r.body ?? '',
      comment: r.comment,
    })),
  )
}

export async function sequenceSnapshots(client: pg.ClientBase, schemas: string[]): Promise<SequenceSnapshot[]> {
  return byName(
    (await readSequences(client, schemas)).map((r) => ({
      name: q(r.schema, r.name),
      type: r.type,
      start: r.start,
      increment: r.increment,
      min: r.min,
      max: r.max,
      cache: r.cache,
      cycle: r.cycle,
      ownedBy: r.ownedBy,
    })),
  )
}

const TYPE_KINDS = { e: 'enum', d: 'domain', c: 'composite', r: 'range', b: 'base', m: 'multirange', p: 'pseudo' } as const

/** User-defined types: not table row types, not array types. */
export async function typeSnapshots(client: pg.ClientBase, schemas: string[]): Promise<TypeSnapshot[]> {
  return byName(
    (await readTypes(client, schemas)).map((r) => ({
      name: q(r.schema, r.name),
      kind: TYPE_KINDS[r.typtype as keyof typeof TYPE_KINDS] ?? 'base',
      definition: r.definition ?? '',
    })),
  )
}
