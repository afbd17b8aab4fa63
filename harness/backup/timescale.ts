/**
 * TimescaleDB around a logical backup and restore.
 *
 * Restore (TimescaleDB's documented procedure): the same TimescaleDB version on both sides;
 * `CREATE EXTENSION timescaledb` first, `timescaledb_pre_restore()` (stops background workers,
 * sets timescaledb.restoring), the dump, `timescaledb_post_restore()`; never a parallel restore of
 * the catalog. Two additions that make a plain-SQL dump replayable: the catalog rows the dump
 * carries are deleted first (exactly those the extension marks for dumping, by its own
 * `pg_extension.extcondition`; a fresh CREATE EXTENSION already wrote some, e.g. metadata), and
 * foreign keys are not enforced while loading (`session_replication_role = replica`, where the
 * role may set it) because the dump orders catalog rows by table, not by reference.
 *
 * Schema-only: `pg_dump --schema-only` carries no catalog rows, so hypertables come back as
 * plain tables. The backup therefore also writes `schema_timescaledb.sql`, generated from the
 * catalog: create_hypertable, compression settings and policies, replayed after the schema.
 */
import { literal as lit, quoteIdent } from '../util/sql.ts'
import type pg from 'pg'
import type { SchemaSnapshot } from '../validation/fingerprint/index.ts'
import type { JobState } from './state.ts'

const simpleIdent = (s: string) => (/^[a-z_][a-z0-9_$]*$/.test(s) ? s : quoteIdent(s))
const regclass = (qualified: string) => {
  const i = qualified.indexOf('.')
  return `${lit(`${quoteIdent(qualified.slice(0, i))}.${quoteIdent(qualified.slice(i + 1))}`)}::regclass`
}

/** Where the extension's functions live (usually public), or undefined without TimescaleDB. */
export async function timescaleSchema(client: pg.ClientBase): Promise<string | undefined> {
  const r = await client.query<{ s: string }>(`SELECT n.nspname AS s FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'timescaledb'`)
  return r.rows[0]?.s
}

/** SQL that turns the plain tables of a schema-only restore back into what the catalog said. */
export function timescaleSchemaSql(fp: SchemaSnapshot, jobs: JobState[], extSchema: string): string {
  const f = (name: string) => `${quoteIdent(extSchema)}.${name}`
  const lines: string[] = [
    '-- TimescaleDB objects of the backed-up schemas, generated from the catalog at backup time.',
    '-- Replayed after schema_only: pg_dump --schema-only carries no TimescaleDB catalog rows.',
    '',
  ]
  for (const h of fp.hypertables) {
    const [first, ...rest] = h.dimensions
    if (!first) continue
    // pg_dump --schema-only keeps the hypertable's insert-blocker trigger; create_hypertable adds it again.
    lines.push(`DROP TRIGGER IF EXISTS ts_insert_blocker ON ${h.name.split('.').map(quoteIdent).join('.')};`)
    const interval = first.timeInterval !== null ? `INTERVAL ${lit(first.timeInterval)}` : first.integerInterval !== null ? first.integerInterval : 'NULL'
    lines.push(`SELECT ${f('create_hypertable')}(${regclass(h.name)}, ${lit(first.column)}, chunk_time_interval => ${interval}, create_default_indexes => false);`)
    if (first.integerNowFunc) lines.push(`SELECT ${f('set_integer_now_func')}(${regclass(h.name)}, ${lit(first.integerNowFunc)}::regproc);`)
    for (const d of rest) {
      if (d.numPartitions !== null) lines.push(`SELECT ${f('add_dimension')}(${regclass(h.name)}, ${lit(d.column)}, number_partitions => ${d.numPartitions});`)
      else lines.push(`SELECT ${f('add_dimension')}(${regclass(h.name)}, ${lit(d.column)}, chunk_time_interval => ${d.timeInterval !== null ? `INTERVAL ${lit(d.timeInterval)}` : d.integerInterval});`)
    }
  }
  for (const c of fp.compression) {
    const h = fp.hypertables.find((x) => x.name === c.name)
    if (!h?.compressionEnabled) continue
    const seg = c.segmentBy.map(simpleIdent).join(', ')
    const ord = c.orderBy
      .map((o) => {
        const m = /^(.*) (ASC|DESC) (NULLS FIRST|NULLS LAST)$/.exec(o)
        return m ? `${simpleIdent(m[1]!)} ${m[2]} ${m[3]}` : o
      })
      .join(', ')
    const [schema, table] = [c.name.slice(0, c.name.indexOf('.')), c.name.slice(c.name.indexOf('.') + 1)]
    lines.push(`ALTER TABLE ${quoteIdent(schema)}.${quoteIdent(table)} SET (timescaledb.compress, timescaledb.compress_segmentby = ${lit(seg)}, timescaledb.compress_orderby = ${lit(ord)});`)
  }
  for (const j of jobs) {
    if (!j.hypertable) {
      lines.push(`-- job ${j.name} (no hypertable): re-created with add_job`)
      lines.push(`SELECT ${f('alter_job')}(${f('add_job')}(${lit(j.proc)}::regproc, INTERVAL ${lit(j.scheduleInterval)}, config => ${lit(JSON.stringify(j.config))}::jsonb), ${alterArgs(j)});`)
      continue
    }
    const cfg = (j.config ?? {}) as Record<string, unknown>
    const rel = regclass(j.hypertable)
    const val = (v: unknown) => (typeof v === 'number' ? String(v) : `INTERVAL ${lit(String(v))}`)
    const procName = j.proc.slice(j.proc.lastIndexOf('.') + 1)
    let add: string | undefined
    if (procName === 'policy_compression' && cfg.compress_after !== undefined) add = `${f('add_compression_policy')}(${rel}, compress_after => ${val(cfg.compress_after)})`
    else if (procName === 'policy_compression' && cfg.compress_created_before !== undefined) add = `${f('add_compression_policy')}(${rel}, compress_created_before => ${val(cfg.compress_created_before)})`
    else if (procName === 'policy_retention' && cfg.drop_after !== undefined) add = `${f('add_retention_policy')}(${rel}, drop_after => ${val(cfg.drop_after)})`
    else if (procName === 'policy_retention' && cfg.drop_created_before !== undefined) add = `${f('add_retention_policy')}(${rel}, drop_created_before => ${val(cfg.drop_created_before)})`
    else if (procName === 'policy_reorder' && typeof cfg.index_name === 'string') add = `${f('add_reorder_policy')}(${rel}, ${lit(cfg.index_name)})`
    if (add) lines.push(`SELECT ${f('alter_job')}(${add}, ${alterArgs(j)});`)
    else lines.push(`-- job ${j.name}: ${JSON.stringify(j.config)} cannot be re-created from a schema-only backup (unknown policy); restore the full backup instead`)
  }
  return lines.join('\n') + '\n'
}

function alterArgs(j: JobState): string {
  return [
    `schedule_interval => INTERVAL ${lit(j.scheduleInterval)}`,
    `max_runtime => INTERVAL ${lit(j.maxRuntime)}`,
    `max_retries => ${j.maxRetries}`,
    `retry_period => INTERVAL ${lit(j.retryPeriod)}`,
    `scheduled => ${j.scheduled}`,
  ].join(', ')
}

/**
 * Statements run before a dump that carries TimescaleDB's catalog is replayed into a database
 * that has the extension: pre_restore, then delete the catalog rows the dump will insert again.
 */
export async function preRestoreSql(client: pg.ClientBase, extSchema: string, canReplica: boolean): Promise<string[]> {
  const cfg = (
    await client.query<{ rel: string; cond: string }>(
      `SELECT c.rel::regclass::text AS rel, coalesce(e.extcondition[c.i], '') AS cond
         FROM pg_extension e, unnest(e.extconfig) WITH ORDINALITY c(rel, i)
        WHERE e.extname = 'timescaledb' AND (SELECT relkind FROM pg_class WHERE oid = c.rel) = 'r'`,
    )
  ).rows
  return [
    `SELECT ${quoteIdent(extSchema)}.timescaledb_pre_restore()`,
    ...(canReplica ? ['SET LOCAL session_replication_role = replica'] : []),
    ...cfg.map((c) => `DELETE FROM ${c.rel} ${c.cond}`.trim()),
  ]
}

export function postRestoreSql(extSchema: string, canReplica: boolean): string[] {
  return [...(canReplica ? ['SET LOCAL session_replication_role = DEFAULT'] : []), `SELECT ${quoteIdent(extSchema)}.timescaledb_post_restore()`]
}

/** Whether this role may turn off foreign-key and trigger enforcement for a load. */
export async function canSetReplicaRole(client: pg.ClientBase): Promise<boolean> {
  const r = await client.query<{ ok: boolean }>(
    `SELECT CASE WHEN current_setting('server_version_num')::int >= 150000
                 THEN has_parameter_privilege('session_replication_role', 'SET')
                 ELSE (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) END AS ok`,
  )
  return r.rows[0]?.ok === true
}
