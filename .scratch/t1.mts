import { startNative } from '../harness/engines/native.ts'
import pg from 'pg'
for (const bg of [false, true]) {
const e = await startNative({ backgroundJobs: bg })
console.log(e.describe(), e.capabilities)
const db = await e.createDatabase('x')
const c = new pg.Client(db.url); await c.connect()
await c.query('create extension timescaledb')
await c.query(`create table m(t timestamptz not null, v int); select create_hypertable('m','t', chunk_time_interval=>interval '1 day'); insert into m select now()-i*interval '1 hour', i from generate_series(1,2000) i; select add_retention_policy('m', interval '10 days')`)
await new Promise(r=>setTimeout(r,4000))
console.log(bg, (await c.query('select count(*) from m')).rows, (await c.query(`select application_name, backend_type from pg_stat_activity where backend_type not in ('client backend')`)).rows.map(r=>r.backend_type+':'+r.application_name).join(','))
await c.end(); await e.stop()
}
