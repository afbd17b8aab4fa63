/**
 * The constraint probes data properties and post-validation evaluate by query, many counts to a
 * statement (harness/util/counts.ts): a violation is found in any table of the statement, a probe
 * the engine cannot evaluate is reported on its own while the others of the same statement are
 * still evaluated, and rows a migration let in with their foreign-key triggers off are found as
 * orphans. Each situation is made on a real database (rows in place before a NOT VALID
 * constraint, triggers disabled), on every engine present.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import { readCatalog } from '../harness/catalog/tables.ts'
import { constraints } from '../harness/data/properties/constraints.ts'
import type { StartedEngine } from '../harness/engines/types.ts'
import { connect } from '../harness/runner/connect.ts'
import { countAll } from '../harness/util/counts.ts'
import { foreignKeyOrphans } from '../harness/validation/orphans.ts'
import { availableEngines, useEngine } from './support/engines.ts'

const cases = await availableEngines()

describe.each(cases)('constraint probes on the $name engine', (c) => {
  const started = useEngine(c)
  let engine: StartedEngine
  beforeAll(() => {
    engine = started()
  })

  it('finds violations in any table of the statement, reports a probe it cannot evaluate on its own, and finds foreign-key orphans', async () => {
    const db = await engine.createDatabase('probes')
    const client = await connect(db.url)
    try {
      await client.query(`CREATE SCHEMA app;
        CREATE TABLE app.parents (id integer PRIMARY KEY);
        CREATE TABLE app.children (id integer PRIMARY KEY, parent_id integer REFERENCES app.parents (id), qty integer, per integer);
        CREATE TABLE app.quiet (id integer PRIMARY KEY, note text NOT NULL);
        INSERT INTO app.parents VALUES (1);
        INSERT INTO app.quiet VALUES (1, 'fine');
        INSERT INTO app.children VALUES (1, 1, 5, 1), (2, 1, -3, 0);
        ALTER TABLE app.children ADD CONSTRAINT qty_positive CHECK (qty > 0) NOT VALID;
        ALTER TABLE app.children ADD CONSTRAINT qty_per CHECK (qty / per > 0) NOT VALID;
        ALTER TABLE app.children DISABLE TRIGGER ALL;
        INSERT INTO app.children VALUES (3, 42, 7, 1);
        ALTER TABLE app.children ENABLE TRIGGER ALL;`)
      const cat = await readCatalog(client, ['app'])
      const found = await constraints(client, ['app'], cat)
      const by = (check: string) => found.filter((v) => v.check === check).map((v) => v.message)

      // Row 2 violates qty_positive; its qty / per divides by zero: that probe fails on its own.
      expect(by('check')).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^app\.children: 1 row\(s\) violate CHECK qty_positive \(.*\) \[the constraint is NOT VALID\]$/),
          expect.stringMatching(/^app\.children: evaluating a constraint failed: division by zero$/),
        ]),
      )
      expect(by('foreign-key')).toEqual([expect.stringMatching(/^app\.children\.children_parent_id_fkey: 1 row reference missing app\.parents rows$/)])
      expect(found.filter((v) => v.table === 'app.quiet')).toEqual([])

      // Narrowed to the tables a step touched: the others are not probed; foreign keys still are, everywhere.
      const narrowed = await constraints(client, ['app'], cat, { probe: new Set(['app.quiet']) })
      expect(narrowed.map((v) => v.check)).toEqual(['foreign-key'])
      expect(await foreignKeyOrphans(client, ['app'])).toHaveLength(1)
    } finally {
      await client.end()
      await db.drop()
    }
  })

  it('evaluates more probes than one statement holds: every value in its place, a failing probe only fails its own', async () => {
    const db = await engine.createDatabase('probes')
    const client = await connect(db.url)
    try {
      // 130 probes go as three statements; the one that divides by zero sits in the second.
      const queries = [...Array(130).keys()].map((i) => (i === 75 ? `SELECT count(*) FROM generate_series(1, 3) g WHERE 1 / (g - g) = 0` : `SELECT count(*) FROM generate_series(1, ${i})`))
      const values = await countAll(client, queries)
      expect(values).toHaveLength(130)
      values.forEach((v, i) => {
        if (i === 75) expect(v).toBeInstanceOf(Error)
        else expect(v).toBe(i)
      })
      expect((values[75] as Error).message).toMatch(/division by zero/)
    } finally {
      await client.end()
      await db.drop()
    }
  })
})
