/**
 * pg_dump, pg_restore and psql run inside the server's own container, so their version is
 * always the server's: a CI runner's pg_dump 16 never meets a PostgreSQL 15 server.
 *
 * Files cross the container boundary as tar streams (no buffering of whole dumps): inputs are
 * copied into a per-run work directory inside the container, the tool runs there over TCP on
 * the container's own port, outputs are streamed back to the local paths asked for, and the
 * work directory is removed whatever happened.
 */
import { randomBytes } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import path from 'node:path'
import { pipeline } from 'node:stream/promises'
import type { Readable } from 'node:stream'
import tar from 'tar-stream'
import type { DumpTools, ToolArg, ToolName, ToolRun } from './types.ts'

interface ContainerLike {
  exec(command: string[], opts?: { env?: Record<string, string>; user?: string }): Promise<{ exitCode: number; stdout: string; stderr: string; output: string }>
  copyFilesToContainer(files: { source: string; target: string; mode?: number }[]): Promise<void>
  copyArchiveFromContainer(path: string): Promise<NodeJS.ReadableStream>
}

const PG_PORT = 5432

/** The one file inside a tar stream written to `dest`. */
async function extractSingle(archive: NodeJS.ReadableStream, dest: string): Promise<void> {
  const extract = tar.extract()
  let found = false
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      if (header.type !== 'file' || found) {
        stream.on('end', next)
        stream.resume()
        return
      }
      found = true
      pipeline(stream, createWriteStream(dest, { mode: 0o600 })).then(() => next(), reject)
    })
    extract.on('finish', () => (found ? resolve() : reject(new Error(`no file in the archive for ${dest}`))))
    extract.on('error', reject)
  })
  await Promise.all([pipeline(archive as Readable, extract), done])
}

/** Where a database URL seen from the host points, seen from inside the container. */
function insideConnection(url: string): { dbname: string; password?: string } {
  const u = new URL(url)
  const password = u.password ? decodeURIComponent(u.password) : undefined
  const inner = new URL(`postgresql://localhost:${PG_PORT}/`)
  inner.hostname = '127.0.0.1'
  inner.username = u.username
  inner.pathname = u.pathname
  return { dbname: inner.toString(), ...(password ? { password } : {}) }
}

export async function containerDumpTools(container: ContainerLike, info: { url: string; where: string }): Promise<DumpTools> {
  const probe = await container.exec(['pg_dump', '--version'])
  const version = /\(PostgreSQL\)\s+(\d+(?:\.\d+)?)/.exec(probe.stdout)?.[1]
  if (probe.exitCode !== 0 || !version) throw new Error(`pg_dump --version inside the container failed: ${probe.output.trim()}`)

  async function run(tool: ToolName, args: readonly ToolArg[], options: { connect?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<ToolRun> {
    const t0 = performance.now()
    const work = `/tmp/pgverify-${randomBytes(6).toString('hex')}`
    const outputs: { inside: string; local: string }[] = []
    const inputs: { source: string; target: string }[] = []
    const argv: string[] = []
    args.forEach((a, i) => {
      if (typeof a === 'string') return argv.push(a)
      const local = (a.in ?? a.out)!
      const inside = `${work}/${i}-${path.basename(local)}`
      if (a.in) inputs.push({ source: local, target: inside })
      else outputs.push({ inside, local })
      argv.push(`${a.prefix ?? ''}${inside}`)
    })
    const env: Record<string, string> = { ...options.env }
    if (options.connect) {
      const c = insideConnection(options.connect)
      argv.push(`--dbname=${c.dbname}`)
      if (c.password) env.PGPASSWORD = c.password
    }
    try {
      const mk = await container.exec(['mkdir', '-m', '700', '-p', work])
      if (mk.exitCode !== 0) return { code: mk.exitCode, stdout: '', stderr: `cannot make ${work} inside the container: ${mk.output}`, durationMs: performance.now() - t0 }
      if (inputs.length) await container.copyFilesToContainer(inputs.map((f) => ({ ...f, mode: 0o600 })))
      const r = await container.exec([tool, ...argv], { env })
      if (r.exitCode === 0) for (const o of outputs) await extractSingle(await container.copyArchiveFromContainer(o.inside), o.local)
      return { code: r.exitCode, stdout: r.stdout, stderr: r.stderr, durationMs: performance.now() - t0 }
    } catch (e) {
      return { code: null, stdout: '', stderr: `${tool} inside the container: ${(e as Error).message}`, durationMs: performance.now() - t0 }
    } finally {
      await container.exec(['rm', '-rf', work]).catch(() => {})
    }
  }

  return { version, where: info.where, run }
}
