/** Bad migration directories are refused with a precise error before any database is touched. */
import { chmodSync, rmSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { HarnessError } from '../harness/errors.ts'
import { discover, FileMigrationProvider } from '../harness/runner/discover.ts'
import { copyDir, edit, emptyDir, MIGRATIONS, PLAIN, write } from './support/dirs.ts'
import { skipWith } from './support/skip.ts'

async function refused(dir: string): Promise<HarnessError> {
  const e = await new FileMigrationProvider(dir).getMigrations().then(
    () => undefined,
    (x: unknown) => x,
  )
  expect(e).toBeInstanceOf(HarnessError)
  return e as HarnessError
}

describe('migration discovery', () => {
  it('reads the nine MS5.0 migrations in order, each with a down file and a sha256', async () => {
    const ms = await new FileMigrationProvider(MIGRATIONS).getMigrations()
    expect(ms.map((m) => m.name)).toEqual([
      '001_init_telemetry',
      '002_plc_equipment_management',
      '003_production_management',
      '004_advanced_production_features',
      '005_andon_escalation_system',
      '006_report_system',
      '007_plc_integration_phase1',
      '008_fix_critical_schema_issues',
      '009_database_optimization',
    ])
    for (const m of ms) {
      expect(m.down, m.name).toBeDefined()
      expect(m.up.checksum).toMatch(/^[0-9a-f]{64}$/)
      expect(m.up.statements.length).toBeGreaterThan(0)
    }
  })

  it('reads the no-transaction directive', async () => {
    const ms = await new FileMigrationProvider(PLAIN).getMigrations()
    expect(ms.map((m) => m.up.noTransaction)).toEqual([false, false, true])
  })

  const cases: Array<[string, (dir: string) => void, string, RegExp]> = [
    ['a gap in numbering', (d) => rmSync(path.join(d, '002_orders.sql')) ?? rmSync(path.join(d, '002_orders.down.sql')), 'MIGRATION_GAP', /migration 002 is missing.*003_orders_placed_idx\.sql/],
    ['a duplicate number', (d) => write(d, '002_other.sql', 'SELECT 1;'), 'MIGRATION_DUPLICATE', /two migrations with number 002: 002_orders\.sql and 002_other\.sql/],
    ['a down file without an up file', (d) => write(d, '004_nothing.down.sql', 'SELECT 1;'), 'MIGRATION_ORPHAN_DOWN', /004_nothing\.down\.sql: down file without a matching up file/],
    ['a badly named file', (d) => write(d, 'add_users.sql', 'SELECT 1;'), 'MIGRATION_BAD_NAME', /add_users\.sql: not a migration file name/],
    ['an empty file', (d) => write(d, '004_empty.sql', '-- nothing here\n\n'), 'MIGRATION_EMPTY', /004_empty\.sql: contains no SQL statement/],
    ['a file that is not UTF-8', (d) => write(d, '004_latin1.sql', Buffer.from([0x53, 0x45, 0x4c, 0x45, 0x43, 0x54, 0x20, 0x27, 0xe9, 0x27, 0x3b])), 'MIGRATION_NOT_UTF8', /004_latin1\.sql: not valid UTF-8 \(first bad byte at offset 8\)/],
    ['BEGIN/COMMIT inside a file', (d) => write(d, '004_tx.sql', 'SELECT 1;\nBEGIN;\nSELECT 2;\nCOMMIT;\n'), 'MIGRATION_TRANSACTION_CONTROL', /004_tx\.sql:2:1: transaction control/],
    ['CONCURRENTLY without the directive', (d) => write(d, '004_idx.sql', '\nCREATE INDEX CONCURRENTLY IF NOT EXISTS x ON app.orders (total);\n'), 'MIGRATION_NEEDS_NO_TRANSACTION', /004_idx\.sql:2:1: CONCURRENTLY cannot run inside a transaction block/],
    ['an unknown directive', (d) => write(d, '004_dir.sql', '--! no-transactoin\nSELECT 1;\n'), 'MIGRATION_DIRECTIVE', /004_dir\.sql:1: unknown directive `--! no-transactoin`/],
    ['a directive after SQL', (d) => write(d, '004_dir.sql', 'SELECT 1;\n--! no-transaction\nSELECT 2;\n'), 'MIGRATION_DIRECTIVE', /004_dir\.sql:2: directive `--! no-transaction` after the first statement/],
  ]
  for (const [what, breakIt, code, message] of cases) {
    it(`refuses ${what}`, async () => {
      const dir = copyDir(PLAIN)
      breakIt(dir)
      const e = await refused(dir)
      expect(e.code).toBe(code)
      expect(e.message).toMatch(message)
      expect(e.hint).toBeTruthy()
    })
  }

  it('reports every problem of a directory in one run, as diagnostics, and the provider refuses on the first error', async () => {
    const dir = copyDir(PLAIN)
    write(dir, 'add_users.sql', 'SELECT 1;')
    write(dir, '002_other.sql', 'SELECT 1;')
    write(dir, '004_tx.sql', 'SELECT 1;\nBEGIN;\nSELECT 2;\nCOMMIT;\n')
    write(dir, '005_empty.sql', '-- nothing here\n')
    write(dir, '006_latin1.sql', Buffer.from([0x53, 0x45, 0x4c, 0x45, 0x43, 0x54, 0x20, 0x27, 0xe9, 0x27, 0x3b]))
    write(dir, '007_dir.sql', '--! no-transactoin\nSELECT 1;\n')
    write(dir, '008_idx.sql', '\nCREATE INDEX CONCURRENTLY IF NOT EXISTS x ON app.orders (total);\n')
    write(dir, '009_syntax.sql', 'SELECT 1;\nCREATE TABLE app.t (id int name text);\n')
    write(dir, '011_after_gap.sql', 'SELECT 1;\n')
    write(dir, '012_nothing.down.sql', 'SELECT 1;')
    const d = await discover(dir)
    expect(d.diagnostics.map((x) => `${x.severity} ${x.code} ${x.file ?? ''}${x.line ? `:${x.line}:${x.column}` : ''}`)).toEqual([
      'error MIGRATION_DUPLICATE 002_other.sql',
      'error MIGRATION_BAD_NAME add_users.sql',
      'error MIGRATION_ORPHAN_DOWN 012_nothing.down.sql',
      'error MIGRATION_GAP 011_after_gap.sql',
      'error MIGRATION_TRANSACTION_CONTROL 004_tx.sql:2:1',
      'error MIGRATION_TRANSACTION_CONTROL 004_tx.sql:4:1',
      'error MIGRATION_EMPTY 005_empty.sql',
      'error MIGRATION_NOT_UTF8 006_latin1.sql',
      'error MIGRATION_DIRECTIVE 007_dir.sql:1:1',
      'error MIGRATION_NEEDS_NO_TRANSACTION 008_idx.sql:2:1',
      'warning MIGRATION_SYNTAX 009_syntax.sql:2:28',
    ])
    expect(d.diagnostics.find((x) => x.code === 'MIGRATION_SYNTAX')!.message).toBe('009_syntax.sql:2:28: syntax error: syntax error at or near "name"')
    // Files that could be read are there for lint and the diagnostic replay, problems and all.
    expect(d.migrations.map((m) => m.name)).toEqual(['001_accounts', '002_orders', '003_orders_placed_idx', '004_tx', '007_dir', '008_idx', '009_syntax', '011_after_gap'])
    expect(d.files.filter((f) => !f.script).map((f) => f.file)).toEqual(['005_empty.sql', '006_latin1.sql'])
    const e = await refused(dir)
    expect([e.code, e.message]).toEqual(['MIGRATION_DUPLICATE', `${d.dir}: two migrations with number 002: 002_orders.sql and 002_other.sql`])
  })

  it('does not refuse a syntax error: the server reports it when the statement runs', async () => {
    const dir = copyDir(PLAIN)
    write(dir, '004_syntax.sql', 'SELECT 1;\nSELECT a b c FROM;\n')
    const ms = await new FileMigrationProvider(dir).getMigrations()
    expect(ms[3]!.up.statements.map((s) => [s.line, s.node])).toEqual([[1, 'SelectStmt'], [2, undefined]])
    expect(ms[3]!.up.syntaxErrors).toEqual([{ statement: 1, offset: 21, line: 2, column: 12, message: 'syntax error at or near "c"' }])
  })

  it('does not mistake CONCURRENTLY in a comment or string for a statement', async () => {
    const dir = copyDir(PLAIN)
    write(dir, '004_note.sql', "-- CREATE INDEX CONCURRENTLY would need the directive\nCOMMENT ON TABLE app.orders IS 'no CREATE INDEX CONCURRENTLY here; BEGIN';\n")
    const ms = await new FileMigrationProvider(dir).getMigrations()
    expect(ms).toHaveLength(4)
  })

  it('refuses an unreadable file', async (ctx) => {
    if (process.getuid?.() === 0) skipWith(ctx, '"refuses an unreadable file" not exercised: tests run as root here, and chmod 000 does not stop root from reading (bad-input proves unreadable files with a dangling symlink and a directory)')
    const dir = copyDir(PLAIN)
    chmodSync(path.join(dir, '002_orders.sql'), 0o000)
    const e = await refused(dir)
    expect(e.code).toBe('MIGRATION_UNREADABLE')
    expect(e.message).toMatch(/002_orders\.sql: cannot be read: EACCES/)
  })

  it('refuses a missing directory', async () => {
    const e = await refused(path.join(emptyDir(), 'nope'))
    expect(e.code).toBe('MIGRATIONS_DIR_NOT_FOUND')
  })

  it('keeps line numbers exact after multi-line strings and dollar quotes', async () => {
    const dir = copyDir(PLAIN)
    edit(dir, '002_orders.sql', (s) => `DO $$\nBEGIN\n  PERFORM 1;\nEND $$;\n${s}`)
    const ms = await new FileMigrationProvider(dir).getMigrations()
    const st = ms[1]!.up.statements
    expect(st[0]!.line).toBe(1)
    expect(st[1]!.line).toBe(5)
    expect(st[1]!.text).toMatch(/^CREATE TABLE IF NOT EXISTS app\.orders/)
  })
})
