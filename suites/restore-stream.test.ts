/**
 * Restores stream their files (issue #15, 5): `runScriptFile` reads a SQL file in chunks and never
 * holds it whole, so a data-only backup larger than a JavaScript string (about 512 MiB) restores.
 * Here the chunks are made tiny (1 byte to 4 KiB) so that every cut falls inside strings with `;`
 * and newlines, E'' escapes, dollar quotes, quoted identifiers and comments with apostrophes: the
 * rows that arrive must be exactly the rows written, and an error must name the file's real line.
 * (The large-file figure is in the report, measured once: not a timed test.)
 */
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { runScriptFile } from '../harness/backup/sql-script.ts'
import type { StartedEngine } from '../harness/engines/types.ts'
import { connect } from '../harness/runner/connect.ts'
import { emptyDir } from './support/dirs.ts'
import { availableEngines, useEngine } from './support/engines.ts'

const VALUES = ["plain", "semi;colon", "two\nlines;\n", "quote ' inside", "back\\slash ;", "dollar $$ ; $$", "-- not a comment ;", "/* nor ; this */", "é ünïcödé ;"]

function script(rows: number): { sql: string; expected: string[] } {
  const expected: string[] = []
  const out: string[] = ["-- a header with an apostrophe: the table's rows ;", 'CREATE TABLE "we;ird" (id int PRIMARY KEY, s text);']
  for (let i = 0; i < rows; i++) {
    const v = `${VALUES[i % VALUES.length]}#${i}`
    expected.push(v)
    const lit = v.includes('\\') ? `E'${v.replace(/\\/g, '\\\\').replace(/'/g, "''")}'` : i % 3 === 0 ? `$q$${v}$q$` : `'${v.replace(/'/g, "''")}'`
    out.push(`/* row ${i}; */ INSERT INTO "we;ird" (id, s) VALUES (${i}, ${lit}); -- it's row ${i}`)
  }
  return { sql: out.join('\n') + '\n', expected }
}

const cases = await availableEngines()

describe.each(cases)('streamed SQL scripts on the $name engine', (c) => {
  const started = useEngine(c)
  let engine: StartedEngine
  beforeAll(() => {
    engine = started()
  })

  it.for([1, 7, 64, 4096])('chunks of %i bytes: every row arrives as written', { timeout: 300_000 }, async (chunkBytes) => {
    const db = await engine.createDatabase(`stream${chunkBytes}`)
    const file = path.join(emptyDir('pgverify-stream-'), 'data.sql')
    const { sql, expected } = script(chunkBytes === 1 ? 40 : 300)
    writeFileSync(file, sql)
    const client = await connect(db.url)
    try {
      await client.query('BEGIN')
      const r = await runScriptFile(client, file, 'data.sql', { chunkBytes })
      await client.query('COMMIT')
      expect(r.statements).toBe(expected.length + 1)
      const rows = (await client.query<{ s: string }>('SELECT s FROM "we;ird" ORDER BY id')).rows.map((x) => x.s)
      expect(rows).toEqual(expected)
    } finally {
      await client.end()
      await db.drop()
    }
  })

  it('a failing statement is named by its line in the file, across chunks', async () => {
    const db = await engine.createDatabase('streamerr')
    const file = path.join(emptyDir('pgverify-stream-'), 'bad.sql')
    const { sql } = script(200)
    const lines = sql.split('\n')
    lines.splice(150, 0, 'INSERT INTO "we;ird" (id, s) VALUES (1, \'duplicate\');')
    writeFileSync(file, lines.join('\n'))
    const client = await connect(db.url)
    try {
      await client.query('BEGIN')
      await expect(runScriptFile(client, file, 'bad.sql', { chunkBytes: 512 })).rejects.toThrow(/^bad\.sql:151: \[SQLSTATE 23505\]/)
      await client.query('ROLLBACK')
    } finally {
      await client.end()
      await db.drop()
    }
  }, 300_000)
})
