/**
 * Does a Docker engine answer here? A `docker` client binary proves nothing (machines have
 * the CLI without a daemon), so ask the daemon itself: `GET /_ping` must return 200 "OK".
 *
 * Where to ask mirrors the docker CLI: DOCKER_HOST when set (and nothing else, as the CLI
 * does), otherwise the usual sockets (system, Docker Desktop, rootless). Cheap enough to run
 * at every engine selection: one small request, at most ~1.5 s per socket that hangs.
 */
import { existsSync, readFileSync } from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import os from 'node:os'
import path from 'node:path'

const TIMEOUT_MS = 1_500

interface Endpoint {
  /** As printed to users: unix:///var/run/docker.sock, tcp://host:2375 */
  label: string
  options: http.RequestOptions
  tls: boolean
  /** Unix socket that must exist before it is worth asking. */
  socketFile?: string
}

function fromDockerHost(value: string): Endpoint | string {
  if (value.startsWith('unix://')) {
    const socketPath = value.slice('unix://'.length)
    return { label: value, options: { socketPath }, tls: false, socketFile: socketPath }
  }
  if (value.startsWith('npipe://')) {
    // npipe:////./pipe/docker_engine → \\.\pipe\docker_engine
    return { label: value, options: { socketPath: value.slice('npipe://'.length).replaceAll('/', '\\') }, tls: false }
  }
  if (value.startsWith('tcp://')) {
    const u = new URL(value.replace(/^tcp:/, 'http:'))
    const tls = !!process.env.DOCKER_TLS_VERIFY && process.env.DOCKER_TLS_VERIFY !== '0'
    const options: https.RequestOptions = { host: u.hostname, port: Number(u.port || (tls ? 2376 : 2375)) }
    if (tls) {
      // Same files the docker CLI reads.
      const certDir = process.env.DOCKER_CERT_PATH ?? path.join(os.homedir(), '.docker')
      try {
        options.ca = readFileSync(path.join(certDir, 'ca.pem'))
        options.cert = readFileSync(path.join(certDir, 'cert.pem'))
        options.key = readFileSync(path.join(certDir, 'key.pem'))
      } catch (e) {
        return `DOCKER_HOST=${value} with DOCKER_TLS_VERIFY, but the TLS files in ${certDir} are unreadable: ${(e as Error).message}`
      }
    }
    return { label: value, options, tls }
  }
  return `DOCKER_HOST=${value} is not a unix://, tcp:// or npipe:// address`
}

function defaultSockets(): Endpoint[] {
  const runtimeDir = process.env.XDG_RUNTIME_DIR ?? (typeof process.getuid === 'function' ? `/run/user/${process.getuid()}` : undefined)
  const files = ['/var/run/docker.sock', path.join(os.homedir(), '.docker', 'run', 'docker.sock'), ...(runtimeDir ? [path.join(runtimeDir, 'docker.sock')] : [])]
  return [...new Set(files)].map((f) => ({ label: `unix://${f}`, options: { socketPath: f }, tls: false, socketFile: f }))
}

interface Ping {
  ok: boolean
  detail: string
  /** Podman's Docker-compatible API says so in its Server header ("Libpod/4.3.1 (linux)"). */
  podman?: boolean
}

function ping(ep: Endpoint): Promise<Ping> {
  return new Promise((resolve) => {
    let settled = false
    const done = (r: Ping) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve(r)
    }
    const get = ep.tls ? https.get : http.get
    const req = get({ ...ep.options, path: '/_ping', headers: { host: 'docker' } }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        body += chunk
      })
      res.on('error', (e: NodeJS.ErrnoException) => done({ ok: false, detail: e.code ?? e.message }))
      res.on('end', () => {
        const ok = res.statusCode === 200 && body.trim() === 'OK'
        const podman = /libpod/i.test(String(res.headers.server ?? '')) || 'libpod-api-version' in res.headers
        done({ ok, detail: ok ? 'OK' : `HTTP ${res.statusCode} ${JSON.stringify(body.slice(0, 80))}`, podman })
      })
    })
    // Caps the whole exchange (connect, headers and body), not just socket idleness.
    const timer = setTimeout(() => {
      done({ ok: false, detail: `no answer within ${TIMEOUT_MS} ms` })
      req.destroy()
    }, TIMEOUT_MS)
    req.on('error', (e: NodeJS.ErrnoException) => done({ ok: false, detail: e.code ?? e.message }))
  })
}

export interface DockerRuntime {
  ok: boolean
  reason: string
  /** The API is Podman's (no Ryuk there unless its socket is mounted: the harness reaps its own containers). */
  podman?: boolean
}

export async function dockerRuntime(): Promise<DockerRuntime> {
  const dockerHost = process.env.DOCKER_HOST
  let endpoints: Endpoint[]
  if (dockerHost) {
    const ep = fromDockerHost(dockerHost)
    if (typeof ep === 'string') return { ok: false, reason: `no Docker runtime: ${ep}` }
    endpoints = [ep]
  } else {
    endpoints = defaultSockets()
  }

  const present = endpoints.filter((ep) => !ep.socketFile || existsSync(ep.socketFile))
  if (present.length === 0) {
    const files = endpoints.map((ep) => ep.socketFile).join(', ')
    return { ok: false, reason: `no Docker runtime: ${endpoints.length === 1 ? `${files} does not exist` : `none of ${files} exists`}` }
  }
  const failures: string[] = []
  for (const ep of present) {
    const r = await ping(ep)
    if (r.ok) return { ok: true, podman: r.podman === true, reason: `${r.podman ? 'Podman\'s Docker-compatible API' : 'Docker runtime'} answered at ${ep.label}` }
    failures.push(`${ep.label} did not answer /_ping (${r.detail})`)
  }
  return { ok: false, reason: `no Docker runtime: ${failures.join('; ')}` }
}
