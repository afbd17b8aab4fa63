/**
 * COPY … FROM STDIN through `pg` without extra dependencies, `psql \copy` as an engine's own
 * reference, and a probe that tells whether an engine's server speaks the CopyIn sub-protocol.
 *
 * `pg` answers a CopyInResponse with CopyFail unless the active query handles it; a
 * "submittable" (what pg-copy-streams is) receives the response and streams CopyData itself.
 */
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { promisify } from 'node:util'
import type pg from 'pg'
import { readEnvironment, type Environment } from '../config/environment.ts'
import { connect } from '../runner/connect.ts'
import { redact } from '../util/redact.ts'

const execFileAsync = promisify(execFile)

interface PgConnection {
  query(text: string): void
  sendCopyFromChunk(chunk: Buffer): void
  endCopyFrom(): void
  sendCopyFail(message: string): void
}

/** A pg "submittable" running one COPY FROM STDIN with the given chunks. */
class CopyFrom {
  private readonly chunks: Iterable<Buffer | string>
  private readonly text: string
  private error: Error | undefined
  rowCount = 0
  readonly done: Promise<number>
  private resolve!: (n: number) => void
  private reject!: (e: Error) => void

  constructor(text: string, chunks: Iterable<Buffer | string>) {
    this.text = text
    this.chunks = chunks
    this.done = new Promise<number>((res, rej) => {
      this.resolve = res
      this.reject = rej
    })
  }

  submit(connection: PgConnection): void {
    connection.query(this.text)
  }

  handleCopyInResponse(connection: PgConnection): void {
    try {
      for (const c of this.chunks) connection.sendCopyFromChunk(typeof c === 'string' ? Buffer.from(c, 'utf8') : c)
      connection.endCopyFrom()
    } catch (e) {
      connection.sendCopyFail(String((e as Error).message ?? e))
    }
  }

  handleCommandComplete(msg: { text?: string }): void {
    const m = /COPY (\d+)/.exec(msg.text ?? '')
    if (m) this.rowCount = Number(m[1])
  }

  handleError(err: Error): void {
    this.error = err
  }

  handleReadyForQuery(): void {
    if (this.error) this.reject(this.error)
    else this.resolve(this.rowCount)
  }

  // Not expected during COPY FROM; present because pg may call them on any active query.
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
  handleCopyData(): void {}
}

/**
 * Runs `COPY table (columns) FROM STDIN` with CSV text; resolves to the rows copied. If the
 * server drops the connection instead (an engine without CopyIn), the promise rejects.
 */
export async function copyFrom(client: pg.ClientBase, table: string, columns: readonly string[], csvChunks: Iterable<Buffer | string>): Promise<number> {
  const sub = new CopyFrom(`COPY ${table} (${columns.join(', ')}) FROM STDIN WITH (FORMAT csv)`, csvChunks)
  const ended = new Promise<never>((_, reject) => {
    const onEnd = () => reject(new Error('connection closed by the server during COPY FROM STDIN'))
    ;(client as pg.Client).once('end', onEnd)
    void sub.done.finally(() => (client as pg.Client).off('end', onEnd)).catch(() => {})
  })
  ;(client as unknown as { query(s: unknown): unknown }).query(sub)
  return Promise.race([sub.done, ended])
}

/** CSV field: NULL is an empty unquoted field; text with separators is quoted. */
export function csvField(v: unknown): string {
  if (v === null || v === undefined) return ''
  if (v instanceof Date) return v.toISOString()
  if (typeof v === 'boolean') return v ? 't' : 'f'
  if (typeof v === 'number') return String(v)
  const s = typeof v === 'string' ? v : Array.isArray(v) ? `{${v.map((x) => `"${String(x).replace(/["\\]/g, '\\$&')}"`).join(',')}}` : JSON.stringify(v)
  return /[",\n\r]/.test(s) || s === '' ? `"${s.replaceAll('"', '""')}"` : s
}

/** Rows as CSV text in chunks of about `chunkRows` rows. */
export function* csvChunks(rows: Iterable<readonly unknown[]>, chunkRows = 5000): Generator<string> {
  let buf: string[] = []
  for (const r of rows) {
    buf.push(r.map(csvField).join(','))
    if (buf.length >= chunkRows) {
      yield buf.join('\n') + '\n'
      buf = []
    }
  }
  if (buf.length) yield buf.join('\n') + '\n'
}

export interface CopySupport {
  supported: boolean
  reason: string
}

/**
 * Whether COPY FROM STDIN works on the server at `url`: tried on a temporary table of a
 * throw-away database (the embedded engine's socket closes the connection, and the database
 * is unusable afterwards, so never probe a database that matters).
 */
export async function probeCopy(url: string): Promise<CopySupport> {
  let client: pg.Client | undefined
  try {
    client = await connect(url, { applicationName: 'pgverify-bench copy-probe' })
    await client.query('CREATE TEMP TABLE copy_probe (a int, b text)')
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no answer within 5 s')), 5000).unref())
    const n = await Promise.race([copyFrom(client, 'copy_probe', ['a', 'b'], ['1,x\n2,"y,z"\n']), timeout])
    const check = await client.query<{ n: string }>('SELECT count(*)::text AS n FROM copy_probe')
    if (n !== 2 || check.rows[0]?.n !== '2') return { supported: false, reason: `COPY FROM STDIN reported ${n} rows, table has ${check.rows[0]?.n}` }
    return { supported: true, reason: 'COPY FROM STDIN works' }
  } catch (e) {
    return { supported: false, reason: `COPY FROM STDIN is not available on this engine's connection: ${redact((e as Error).message ?? String(e))}` }
  } finally {
    await client?.end().catch(() => {})
  }
}

/** psql 15+ on this machine: PSQL, else /usr/bin/psql, else the one on PATH. */
export function findPsql(env: Environment = readEnvironment()): string | undefined {
  const candidates = [env.psql, '/usr/bin/psql', '/usr/lib/postgresql/17/bin/psql', '/usr/lib/postgresql/16/bin/psql', '/usr/lib/postgresql/15/bin/psql']
  for (const c of candidates) if (c && existsSync(c)) return c
  for (const dir of env.path) if (existsSync(`${dir}/psql`)) return `${dir}/psql`
  return undefined
}

/**
 * `psql -c "\copy table (columns) FROM 'file' csv"`: the reference ingest path for server
 * engines. Asynchronous on purpose: a synchronous spawn would stall an in-process server.
 * Returns the wall time in ms (including psql's start and connection, a few ms).
 */
export async function psqlCopy(psql: string, url: string, table: string, columns: readonly string[], file: string): Promise<{ ms: number; rows: number }> {
  const t0 = performance.now()
  const sql = `\\copy ${table} (${columns.join(', ')}) FROM '${file.replaceAll("'", "''")}' WITH (FORMAT csv)`
  // The password goes through the environment, not the command line other users can list.
  const env: NodeJS.ProcessEnv = { ...process.env, PGCONNECT_TIMEOUT: '10' }
  let target = url
  try {
    const u = new URL(url)
    if (u.password) {
      env.PGPASSWORD = decodeURIComponent(u.password)
      u.password = ''
      target = u.toString()
    }
  } catch {
    /* not a URL (a conninfo string): passed as it is */
  }
  try {
    const { stdout } = await execFileAsync(psql, ['-X', '-v', 'ON_ERROR_STOP=1', '-d', target, '-c', sql], {
      env,
      timeout: 600_000,
      maxBuffer: 1 << 20,
    })
    const ms = performance.now() - t0
    const m = /COPY (\d+)/.exec(stdout)
    return { ms, rows: m ? Number(m[1]) : NaN }
  } catch (e) {
    const err = e as { stderr?: string; message?: string }
    throw new Error(`psql \\copy failed: ${redact((err.stderr || err.message || String(e)).trim())}`)
  }
}
