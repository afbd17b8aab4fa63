import { containerEngine } from '../harness/engines/container.ts'
import pg from 'pg'
const t0=Date.now()
const e = await containerEngine.start()
console.log('started', Date.now()-t0, e.describe(), e.capabilities)
const db = await e.createDatabase('x')
const c = new pg.Client(db.url); await c.connect()
await c.query('create extension timescaledb')
await c.query(`create table m(t timestamptz not null, v int); select create_hypertable('m','t'); insert into m select now()-i*interval '1 hour', i from generate_series(1,2000) i`)
const tools = await e.dumpTools!()
console.log(tools.version, tools.where)
const r = await tools.run('pg_dump', ['-Fc', {out: '/tmp/x.dump', prefix: '--file='}], { connect: db.url })
console.log(r.code, r.stderr, (await import('node:fs')).statSync('/tmp/x.dump').size)
await c.end(); const t1=Date.now(); await e.stop(); console.log('stop', Date.now()-t1)
