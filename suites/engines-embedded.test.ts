/**
 * The embedded engine's databases in threads of their own (`createDatabase(label, { parallel })`,
 * harness/engines/embedded-thread.ts): a query running in one does not hold up another
 * database's clients (in-process databases share one thread, and do), their physical access
 * works from the worker (WASM pg_dump, data-directory copy, a database booted from that copy),
 * and a dropped one ends its thread. Every database runs with the lean shared_buffers, and a
 * start boots from the caches the first start wrote.
 */
import { mkdirSync, readdirSync, readFileSync, statSync, truncateSync, utimesSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { gunzipSync, gzipSync } from 'node:zlib'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { DatabaseHandle, StartedEngine } from '../harness/engines/types.ts'
import { leanSharedBuffers } from '../harness/engines/embedded.ts'
import { readTar } from '../harness/util/tar.ts'
import { withOwnTmpdir } from './support/dirs.ts'
import { engineCases, useEngine } from './support/engines.ts'

const [embedded] = await engineCases(['embedded'])

async function open(db: DatabaseHandle): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: db.url })
  await c.connect()
  return c
}

/** Which of two queries answered first: a long one on `slow`'s database, a trivial one on `fast`'s, sent just after. */
async function firstToAnswer(slow: pg.Client, fast: pg.Client): Promise<string[]> {
  const order: string[] = []
  const long = slow.query('SELECT pg_sleep(1.5)').then(() => order.push('long query'))
  // Sent once the long one is surely running.
  await new Promise((r) => setTimeout(r, 200))
  const short = fast.query('SELECT 1').then(() => order.push('other database'))
  await Promise.all([long, short])
  return order
}

describe.skipIf(!embedded?.available)(`embedded databases in threads of their own${embedded?.available ? '' : ` (skipped: ${embedded?.reason})`}`, () => {
  const engine = embedded?.available ? useEngine(embedded) : () => undefined as unknown as StartedEngine
  let made: DatabaseHandle[] = []
  const create = async (label: string, options: Parameters<StartedEngine['createDatabase']>[1]) => {
    const db = await engine().createDatabase(label, options)
    made.push(db)
    return db
  }
  beforeAll(() => {
    made = []
  })
  afterAll(async () => {
    await Promise.all(made.map((d) => d.drop().catch(() => {})))
  })

  it('a long query in one thread database does not hold up another; in-process databases share one thread and do', async () => {
    const [a, b] = [await create('thread_a', { parallel: true }), await create('thread_b', { parallel: true })]
    const [ca, cb] = [await open(a), await open(b)]
    const [p, q] = [await create('inproc_a', {}), await create('inproc_b', {})]
    const [cp, cq] = [await open(p), await open(q)]
    try {
      expect(await firstToAnswer(ca, cb)).toEqual(['other database', 'long query'])
      // The reason threads exist: in one thread the other database's reply waits for the long query.
      expect(await firstToAnswer(cp, cq)).toEqual(['long query', 'other database'])
    } finally {
      await Promise.all([ca, cb, cp, cq].map((c) => c.end().catch(() => {})))
    }
  }, 60_000)

  it('physical access works from the worker: WASM pg_dump, the data directory, and a thread database booted from it', async () => {
    const db = await create('thread_physical', { parallel: true })
    const c = await open(db)
    try {
      await c.query(`CREATE TABLE kept (id int PRIMARY KEY, note text); INSERT INTO kept VALUES (1, 'from the worker'), (2, 'second')`)
      // pg_dump's own SETs do not stay behind for the next client (embedded-dump.ts).
      const before = (await c.query<{ s: string }>(`SHOW extra_float_digits`)).rows[0]!.s
      const sql = new TextDecoder().decode(await db.physical!.pgDump(['--inserts', '--schema-only']))
      expect(sql).toMatch(/CREATE TABLE public\.kept/)
      expect((await c.query<{ s: string }>(`SHOW extra_float_digits`)).rows[0]!.s).toBe(before)
      const tar = await db.physical!.dumpDataDir()
      expect(tar.byteLength).toBeGreaterThan(0)
      // As made, and gzip-compressed as a volume backup holds it: both boot.
      for (const [label, from] of [['thread_copy', tar], ['thread_copy_gz', gzipSync(tar, { level: 1 })]] as const) {
        const copy = await create(label, { parallel: true, from })
        const cc = await open(copy)
        try {
          expect((await cc.query<{ note: string }>(`SELECT note FROM kept ORDER BY id`)).rows.map((r) => r.note), label).toEqual(['from the worker', 'second'])
        } finally {
          await cc.end()
        }
      }
    } finally {
      await c.end().catch(() => {})
    }
  }, 120_000)

  it('every database, in-process, in a thread or booted from a snapshot, runs with the lean shared_buffers; a fresh one starts empty', async () => {
    let last: DatabaseHandle | undefined
    for (const [label, options] of [['lean_inproc', {}], ['lean_thread_1', { parallel: true }], ['lean_thread_2', { parallel: true }]] as const) {
      const db = await create(label, options)
      const c = await open(db)
      try {
        expect((await c.query<{ s: string }>(`SELECT current_setting('shared_buffers') AS s`)).rows[0]!.s, label).toBe('16MB')
        // Nothing of another database's work is in a fresh one.
        expect((await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_class WHERE relname = 'touched'`)).rows[0]!.n, label).toBe(0)
        await c.query(`CREATE TABLE touched (id int)`)
      } finally {
        await c.end()
      }
      last = db
    }
    const copy = await create('lean_copy', { parallel: true, from: await last!.physical!.dumpDataDir() })
    const cc = await open(copy)
    try {
      expect((await cc.query<{ s: string; n: number }>(`SELECT current_setting('shared_buffers') AS s, (SELECT count(*)::int FROM pg_class WHERE relname = 'touched') AS n`)).rows[0]).toEqual({ s: '16MB', n: 1 })
    } finally {
      await cc.end()
    }
  }, 120_000)

  it("a fresh database is the engine's empty cluster written into the instance, not a new initdb: in-process and in a thread, the same system identifier as the engine's own database", async () => {
    const identifier = async (url: string) => {
      const c = new pg.Client({ connectionString: url })
      await c.connect()
      try {
        return (await c.query<{ id: string }>(`SELECT system_identifier::text AS id FROM pg_control_system()`)).rows[0]!.id
      } finally {
        await c.end()
      }
    }
    const own = await identifier(engine().url)
    // PGlite would run initdb where it found no cluster (a moved PGDATA): a new identifier, from the clock.
    expect(await identifier((await create('same_cluster_inproc', {})).url)).toBe(own)
    expect(await identifier((await create('same_cluster_thread', { parallel: true })).url)).toBe(own)
  }, 120_000)

  it('a fresh database starts as after a clean shutdown (its last checkpoint is older than the request); one booted from a copy of a running database first recovers (a new checkpoint)', async () => {
    const lastCheckpoint = async (db: DatabaseHandle) => {
      const c = await open(db)
      try {
        return (await c.query<{ t: Date }>(`SELECT checkpoint_time AS t FROM pg_control_checkpoint()`)).rows[0]!.t.getTime()
      } finally {
        await c.end()
      }
    }
    const running = await create('clean_source', { parallel: true })
    const copy = await running.physical!.dumpDataDir()
    // checkpoint_time has whole seconds: a checkpoint written at the request is not older than this.
    await new Promise((r) => setTimeout(r, 1_100))
    const asked = Math.floor(Date.now() / 1000) * 1000
    for (const [label, options] of [['clean_inproc', {}], ['clean_thread', { parallel: true }]] as const) {
      expect(await lastCheckpoint(await create(label, options)), label).toBeLessThan(asked)
    }
    expect(await lastCheckpoint(await create('clean_from_copy', { parallel: true, from: copy }))).toBeGreaterThanOrEqual(asked)
  }, 120_000)

  it("the TimescaleDB bundle an instance loads holds the package's libraries, control file and install script, and none of its upgrade scripts", async () => {
    const { leanTimescaleBundle } = await import('../harness/engines/embedded-bundle.ts')
    await withOwnTmpdir('pgverify-bundle-', async (dir) => {
      const names = async (file: string) => (await readTar(gunzipSync(readFileSync(file)))).map((e) => `${e.header.type} ${e.header.name}`).sort()
      const lean = await leanTimescaleBundle(dir, 'test')
      expect(path.dirname(lean)).toBe(dir)
      const source = fileURLToPath(new URL('../timescaledb.tar.gz', import.meta.resolve('@electric-sql/pglite/timescaledb')))
      const all = await names(source)
      const kept = await names(lean)
      expect(all.filter((n) => /--[^/]+--[^/]+\.sql$/.test(n)).length).toBeGreaterThan(10)
      expect(kept).toEqual(all.filter((n) => !/--[^/]+--[^/]+\.sql$/.test(n)))
      expect(kept).toEqual(expect.arrayContaining([expect.stringMatching(/^file lib\/postgresql\/timescaledb-tsl-.*\.so$/), 'file share/postgresql/extension/timescaledb.control', expect.stringMatching(/^file share\/postgresql\/extension\/timescaledb--[^-]+(-dev)?\.sql$/)]))
      // Made once: a second call finds it.
      expect(await leanTimescaleBundle(dir, 'test')).toBe(lean)
    })
  })

  it('the patch is exact: one occurrence of the argument is rewritten to the same length, anything else is left alone', () => {
    const built = Buffer.from('\0\0prefix shared_buffers=128MB\0wal_buffers=4MB\0')
    const lean = leanSharedBuffers(built)
    expect(lean.sharedBuffers).toBe('16MB')
    expect(lean.wasm.length).toBe(built.length)
    expect(lean.wasm.toString('latin1')).toBe('\0\0prefix shared_buffers=16MB\0\0wal_buffers=4MB\0')
    // Not found, or found twice (a build we do not know): as built.
    expect(leanSharedBuffers(Buffer.from('shared_buffers=64MB\0')).sharedBuffers).toBe('as built')
    expect(leanSharedBuffers(Buffer.from('shared_buffers=128MB\0shared_buffers=128MB\0')).sharedBuffers).toBe('as built')
  })

  it("the socket server answers a parameterised query in one write (not one per protocol message), and every reply still arrives whole and in order", async () => {
    const db = await create('gathered', {})
    const port = Number(new URL(db.url).port)
    let serverWrites = 0
    const write = net.Socket.prototype.write
    // Installed before the connection: the server binds the socket's write when a client connects.
    net.Socket.prototype.write = function (this: net.Socket, ...args: unknown[]) {
      if (this.localPort === port) serverWrites++
      return (write as (...a: unknown[]) => boolean).apply(this, args)
    } as typeof write
    let c: pg.Client | undefined
    try {
      c = await open(db)
      const writes = async <T>(run: () => Promise<T>): Promise<[T, number]> => {
        const before = serverWrites
        const out = await run()
        return [out, serverWrites - before]
      }
      // Parse, Bind, Describe, Execute, Sync: five replies, one write.
      const [sum, n1] = await writes(() => c!.query<{ n: number }>('SELECT $1::int + 1 AS n', [41]))
      expect(sum.rows[0]!.n).toBe(42)
      expect(n1).toBe(1)
      // An error in the middle of the messages: the client gets it, and the connection goes on.
      const [failed, n2] = await writes(() => c!.query('SELECT $1::int AS n', ['not a number']).then(() => 'no error', (e: { code?: string }) => e.code))
      expect(failed).toBe('22P02')
      expect(n2).toBe(1)
      // A reply larger than a socket buffer arrives whole.
      const [big] = await writes(() => c!.query<{ n: number; pad: string }>(`SELECT g AS n, repeat('x', 100) AS pad FROM generate_series(1, 5000) g`))
      expect(big.rows.length).toBe(5000)
      expect(big.rows.at(-1)).toEqual({ n: 5000, pad: 'x'.repeat(100) })
      expect((await c.query<{ n: number }>('SELECT 7 AS n')).rows[0]!.n).toBe(7)
    } finally {
      net.Socket.prototype.write = write
      await c?.end().catch(() => {})
    }
  }, 60_000)

  it("a dropped thread database's worker boots the next one: nothing of the dropped database is in it, and the dropped handle reaches nothing", async () => {
    const first = await create('reused_1', { parallel: true })
    const c1 = await open(first)
    await c1.query(`CREATE TABLE left_behind (id int); INSERT INTO left_behind VALUES (1); SET application_name = 'first'`)
    await c1.end()
    await first.drop()
    await expect(first.physical!.dumpDataDir()).rejects.toThrow(/dropped/)
    await expect(first.physical!.pgDump(['--schema-only'])).rejects.toThrow(/dropped/)
    for (const label of ['reused_2', 'reused_3']) {
      const next = await create(label, { parallel: true })
      const c = await open(next)
      try {
        expect((await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_class WHERE relname = 'left_behind'`)).rows[0]!.n, label).toBe(0)
        expect((await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_extension WHERE extname = 'timescaledb'`)).rows[0]!.n, label).toBe(0)
        // Its own data directory answers, not the dropped one's.
        const sql = new TextDecoder().decode(await next.physical!.pgDump(['--schema-only']))
        expect(sql).not.toMatch(/left_behind/)
      } finally {
        await c.end()
      }
      await next.drop()
    }
  }, 120_000)

  it('a dropped thread database stops serving: its port refuses connections', async () => {
    const db = await create('thread_drop', { parallel: true })
    const c = await open(db)
    expect((await c.query<{ n: number }>('SELECT 41 + 1 AS n')).rows[0]!.n).toBe(42)
    await c.end()
    await db.drop()
    await expect(open(db)).rejects.toThrow(/ECONNREFUSED|terminated|closed/)
  }, 60_000)
})

describe.skipIf(!embedded?.available)(`the embedded engine's start-up caches${embedded?.available ? '' : ` (skipped: ${embedded?.reason})`}`, () => {
  it('a first start writes the empty template and the engine\'s own database with TimescaleDB; a second boots from them: the extension loaded, fresh databases still empty', async () => {
    await withOwnTmpdir('pgverify-cache-', async (dir) => {
      const { startEmbedded } = await import('../harness/engines/embedded.ts')
      const cached = () => readdirSync(path.join(dir, 'pgverify-embedded')).filter((f) => f.endsWith('.datadir')).sort()
      const damaged = 'third start (the empty cluster cut short, the other not of the format: both made again)'
      for (const [run, from] of [['first start (no cache)', /from initdb \(nothing cached yet\)$/], ['second start (from the cache)', /from its cached database with TimescaleDB$/], [damaged, /from initdb \(nothing cached yet\)$/]] as const) {
        if (run === damaged) {
          const [base, empty] = cached().map((f) => path.join(dir, 'pgverify-embedded', f))
          truncateSync(empty!, statSync(empty!).size - 1000)
          writeFileSync(base!, 'not a kept cluster')
        }
        const lines: string[] = []
        const engine = await startEmbedded({ log: (l) => lines.push(l) })
        try {
          expect(lines.join('\n'), run).toMatch(from)
          expect(engine.versions.timescaledbLicense, run).toBe('timescale')
          const c = new pg.Client({ connectionString: engine.url })
          await c.connect()
          try {
            // The library is loaded, not only the catalog rows: a hypertable with a compressed chunk reads back.
            await c.query(`CREATE TABLE m (ts timestamptz NOT NULL, v int); SELECT create_hypertable('m', 'ts'); INSERT INTO m VALUES ('2024-01-01', 1), ('2024-01-02', 2); ALTER TABLE m SET (timescaledb.compress); SELECT compress_chunk(c) FROM show_chunks('m') c`)
            expect((await c.query<{ n: number }>(`SELECT sum(v)::int AS n FROM m`)).rows[0]!.n, run).toBe(3)
          } finally {
            await c.end()
          }
          const fresh = await engine.createDatabase('cache_fresh')
          const f = new pg.Client({ connectionString: fresh.url })
          await f.connect()
          try {
            expect((await f.query(`SELECT extname FROM pg_extension WHERE extname = 'timescaledb'`)).rows, run).toEqual([])
          } finally {
            await f.end()
            await fresh.drop()
          }
        } finally {
          await engine.stop()
        }
        expect(cached(), run).toEqual([expect.stringMatching(/-timescaledb-base\.datadir$/), expect.stringMatching(/-timescaledb\.datadir$/)])
        for (const f of cached()) expect(readFileSync(path.join(dir, 'pgverify-embedded', f)).subarray(0, 19).toString(), `${run}: ${f}`).toBe('pgverify-datadir 1\n')
      }
    })
  }, 180_000)

  it("a build's first start removes the caches no run of it reads (other builds', the old formats, a killed write's temporary older than a day), and nothing else", async () => {
    await withOwnTmpdir('pgverify-prune-', async (dir) => {
      const cacheDir = path.join(dir, 'pgverify-embedded')
      mkdirSync(cacheDir)
      const stale = ['cluster-0.2.0-timescaledb.datadir', 'cluster-0.2.0-timescaledb-base.datadir', 'timescaledb-bundle-0.2.0.tar.gz', 'datadir-0.2.0-timescaledb', 'cluster-0.2.0-timescaledb.tar', '.cluster-0.2.0-plain.datadir.4242.0a0b0c0d.tmp']
      const kept = ['.cluster-0.2.0-plain.datadir.4343.0a0b0c0d.tmp', 'notes.txt', 'other-tool.cache']
      for (const f of [...stale, ...kept]) writeFileSync(path.join(cacheDir, f), 'x')
      const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000)
      utimesSync(path.join(cacheDir, stale.at(-1)!), twoDaysAgo, twoDaysAgo)
      const { startEmbedded } = await import('../harness/engines/embedded.ts')
      const engine = await startEmbedded()
      await engine.stop()
      const left = readdirSync(cacheDir).sort()
      for (const f of stale) expect(left).not.toContain(f)
      for (const f of kept) expect(left).toContain(f)
      // This build's own files: the bundle, the empty cluster and the one with TimescaleDB.
      expect(left.filter((f) => !kept.includes(f))).toEqual([expect.stringMatching(/^cluster-.*-timescaledb-base\.datadir$/), expect.stringMatching(/^cluster-.*-timescaledb\.datadir$/), expect.stringMatching(/^timescaledb-bundle-.*\.tar\.gz$/)])
    })
  }, 180_000)
})

describe.skipIf(!embedded?.available)(`the embedded engine started for verify (threadAhead)${embedded?.available ? '' : ` (skipped: ${embedded?.reason})`}`, () => {
  it('boots its first thread database while it starts: booted before it is asked for, empty like any fresh one; a database from a snapshot does not take it, and the next one is booted on request', async () => {
    const { startEmbedded } = await import('../harness/engines/embedded.ts')
    const engine = await startEmbedded({ log: () => {}, threadAhead: true })
    const made: DatabaseHandle[] = []
    const state = async (db: DatabaseHandle) => {
      const c = await open(db)
      try {
        return (await c.query<{ booted: Date; tables: string[] }>(`SELECT pg_postmaster_start_time() AS booted, array(SELECT relname::text FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' ORDER BY 1) AS tables`)).rows[0]!
      } finally {
        await c.end()
      }
    }
    const ask = async (label: string, options: Parameters<StartedEngine['createDatabase']>[1]) => {
      const asked = new Date()
      const db = await engine.createDatabase(label, options)
      made.push(db)
      return { asked, ...(await state(db)) }
    }
    try {
      const source = await engine.createDatabase('ahead_source')
      made.push(source)
      const c = await open(source)
      await c.query('CREATE TABLE kept (id int)')
      await c.end()
      const snapshot = await source.physical!.dumpDataDir()

      const fromSnapshot = await ask('ahead_snapshot', { parallel: true, from: snapshot })
      expect(fromSnapshot.tables).toEqual(['kept'])
      expect(fromSnapshot.booted.getTime()).toBeGreaterThanOrEqual(fromSnapshot.asked.getTime())

      const first = await ask('ahead_first', { parallel: true })
      expect(first.tables).toEqual([])
      expect(first.booted.getTime()).toBeLessThan(first.asked.getTime())

      const second = await ask('ahead_second', { parallel: true })
      expect(second.tables).toEqual([])
      expect(second.booted.getTime()).toBeGreaterThanOrEqual(second.asked.getTime())
    } finally {
      await Promise.all(made.map((d) => d.drop().catch(() => {})))
      await engine.stop()
    }
  }, 120_000)
})
