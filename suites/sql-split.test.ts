/**
 * Statement splitting and locating with PostgreSQL's own parser (harness/sql/): exact boundaries
 * where a semicolon hides, syntax errors located without a database (UTF-8 offsets mapped to
 * columns), and a cost linear in the file size (issue #15 item 6: a 60k-statement file is read
 * in seconds; bench/sql-split.ts records the rate).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { seedFile } from '../bench/sql-split.ts'
import { FileMigrationProvider, firstInvalidUtf8 } from '../harness/runner/discover.ts'
import { loadParser, splitSql } from '../harness/sql/split.ts'

const temp: string[] = []
afterAll(() => {
  for (const d of temp) rmSync(d, { recursive: true, force: true })
})
beforeAll(() => loadParser())

const cpuMs = (f: () => void) => {
  const c = process.cpuUsage()
  f()
  const d = process.cpuUsage(c)
  return (d.user + d.system) / 1000
}

describe('splitting', () => {
  it('keeps statements whole where a semicolon hides, and says what each is', () => {
    const sql = "-- lead\nCREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT 1;\n  SELECT CASE WHEN true THEN 2 END;\nEND;\nSELECT 'a;b', E'c\\';d', $x$ ; $x$, \"we;ird\" FROM t /* ; */;\n;;\nSELECT 3 -- no final semicolon"
    const r = splitSql(sql)
    expect(r.statements.map((s) => [s.line, s.column, s.node])).toEqual([[2, 1, 'CreateFunctionStmt'], [7, 1, 'SelectStmt'], [9, 1, 'SelectStmt']])
    expect(r.statements[1]!.text).toBe("SELECT 'a;b', E'c\\';d', $x$ ; $x$, \"we;ird\" FROM t /* ; */")
    expect(r.statements[1]!.code).toBe("SELECT '   ', E'     ', $x$   $x$, \"we;ird\" FROM t        ")
    expect(r.statements[2]!.text).toBe('SELECT 3 -- no final semicolon')
    expect(r.syntaxErrors).toEqual([])
  })

  it('locates a syntax error without a database, in columns after multi-byte characters, and keeps the next statements', () => {
    // The parser counts characters in a syntax error's position, bytes in a tree's locations.
    const r = splitSql("SELECT 'é😀';\nSELECT '😀ü', a b c FROM t;\nSELECT 2;\n")
    expect(r.statements.map((s) => s.node)).toEqual(['SelectStmt', undefined, 'SelectStmt'])
    expect(r.syntaxErrors).toEqual([{ statement: 1, offset: 32, line: 2, column: 19, message: 'syntax error at or near "c"' }])
  })

  it('says where an unterminated literal starts', () => {
    const r = splitSql("SELECT 1;\nSELECT 'never closed;\nSELECT 2;\n")
    expect(r.unterminated).toEqual({ offset: 17, line: 2, column: 8 })
    expect(r.statements).toHaveLength(2)
  })

  it('finds the first byte that is not UTF-8 in one pass', () => {
    expect(firstInvalidUtf8(Buffer.from([0x53, 0x45, 0x4c, 0x45, 0x43, 0x54, 0x20, 0x27, 0xe9, 0x27, 0x3b]))).toBe(8)
    expect(firstInvalidUtf8(Buffer.from('ok é 😀', 'utf8'))).toBe(Buffer.byteLength('ok é 😀'))
    expect(firstInvalidUtf8(Buffer.from([0x61, 0xed, 0xa0, 0x80]))).toBe(1) // a UTF-16 surrogate
    expect(firstInvalidUtf8(Buffer.from([0x61, 0xe2, 0x82]))).toBe(1) // truncated at the end
  })
})

describe('cost', () => {
  it('is linear in the file size: twice the statements cost about twice the CPU time', () => {
    const a = seedFile(1024 * 1024).sql
    const b = seedFile(2 * 1024 * 1024).sql
    splitSql(a) // warm up
    const ta = Math.min(cpuMs(() => splitSql(a)), cpuMs(() => splitSql(a)))
    const tb = Math.min(cpuMs(() => splitSql(b)), cpuMs(() => splitSql(b)))
    console.log(`[sql-split] 1 MiB: ${ta.toFixed(0)} ms CPU, 2 MiB: ${tb.toFixed(0)} ms CPU`)
    expect(tb / ta).toBeLessThan(3)
  }, 120_000)

  it('reads a 60k-statement migration in under 10 s of CPU time (it took 261 s before)', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pgverify-60k-'))
    temp.push(dir)
    const parts = ['-- 60k statements\n']
    for (let i = 0; i < 60_000; i++) parts.push(`INSERT INTO app.readings (id, ts, value) VALUES (${i}, '2024-01-01T00:00:00Z'::timestamptz + ${i} * interval '1 second', ${i % 100});\n`)
    writeFileSync(path.join(dir, '001_seed.sql'), parts.join(''))
    const c = process.cpuUsage()
    const t0 = performance.now()
    const ms = await new FileMigrationProvider(dir).getMigrations()
    const d = process.cpuUsage(c)
    const cpu = (d.user + d.system) / 1000
    console.log(`[sql-split] 60k statements: ${cpu.toFixed(0)} ms CPU, ${(performance.now() - t0).toFixed(0)} ms wall`)
    expect(ms[0]!.up.statements).toHaveLength(60_000)
    expect(cpu).toBeLessThan(10_000)
  }, 300_000)
})
