/**
 * A synthetic migration set of N small migrations, for measuring how `pnpm verify` grows with
 * the number of migrations (bench/scaling.ts). Deterministic: the same N gives the same files.
 *
 * 001 creates the schema and a first table; then, in turn: a new table referencing the latest
 * one (every fifth migration), a nullable column, an index, a view over the latest table. Every
 * migration has a down file and is idempotent (IF NOT EXISTS, OR REPLACE), as the gate demands;
 * manifest.json lists every table, index and view, so post-validation checks them all.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'

export interface SyntheticSet {
  dir: string
  migrations: number
  tables: number
}

/** Writes N migrations (N ≥ 1) and their manifest into a fresh temporary directory. */
export function syntheticMigrations(n: number, dir = mkdtempSync(path.join(os.tmpdir(), `pgverify-synthetic-${n}-`))): SyntheticSet {
  const tables = ['app.t1']
  const indexes: string[] = []
  const views: string[] = []
  const name = (i: number, what: string) => `${String(i).padStart(3, '0')}_${what}`
  const write = (file: string, up: string, down: string) => {
    writeFileSync(path.join(dir, `${file}.sql`), up)
    writeFileSync(path.join(dir, `${file}.down.sql`), down)
  }
  write(
    name(1, 't1'),
    `CREATE SCHEMA IF NOT EXISTS app;\nCREATE TABLE IF NOT EXISTS app.t1 (\n  id integer PRIMARY KEY,\n  name text NOT NULL,\n  created_at timestamptz NOT NULL DEFAULT now()\n);\n`,
    `DROP TABLE IF EXISTS app.t1;\n`,
  )
  for (let i = 2; i <= n; i++) {
    const last = tables[tables.length - 1]!
    const short = last.split('.')[1]!
    if (i % 5 === 0) {
      const t = `t${i}`
      tables.push(`app.${t}`)
      write(name(i, t), `CREATE TABLE IF NOT EXISTS app.${t} (\n  id integer PRIMARY KEY,\n  parent_id integer REFERENCES ${last} (id),\n  name text NOT NULL,\n  qty integer CHECK (qty >= 0)\n);\n`, `DROP TABLE IF EXISTS app.${t};\n`)
    } else if (i % 5 === 1) {
      write(name(i, `${short}_c${i}`), `ALTER TABLE ${last} ADD COLUMN IF NOT EXISTS c${i} integer;\n`, `ALTER TABLE ${last} DROP COLUMN IF EXISTS c${i};\n`)
    } else if (i % 5 === 2 || i % 5 === 4) {
      indexes.push(`app.ix${i}`)
      write(name(i, `ix${i}`), `CREATE INDEX IF NOT EXISTS ix${i} ON ${last} (name, id);\n`, `DROP INDEX IF EXISTS app.ix${i};\n`)
    } else {
      views.push(`app.v${i}`)
      write(name(i, `v${i}`), `CREATE OR REPLACE VIEW app.v${i} AS SELECT count(*) AS n FROM ${last};\n`, `DROP VIEW IF EXISTS app.v${i};\n`)
    }
  }
  const manifest = { schema: 'app', tables: [...tables, 'app.migration_log'], indexes, views }
  writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n')
  return { dir, migrations: n, tables: tables.length }
}
