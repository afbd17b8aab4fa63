/** Runs the real command line in a child process, as a user would. */
import { spawn, type ChildProcess } from 'node:child_process'
import { ROOT } from './dirs.ts'

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs `cmd args` to its end and collects both streams; SIGKILL after `timeoutMs`. */
export function spawnRun(cmd: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: options.cwd ?? ROOT, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

export function cli(args: string[], env: Record<string, string | undefined> = {}, timeoutMs = 120_000): Promise<Run> {
  return spawnRun(process.execPath, ['--import', 'tsx', 'harness/cli/index.ts', ...args], {
    env: { ...process.env, DATABASE_URL: undefined, VERIFY_ENGINE: undefined, NO_COLOR: '1', ...env },
    timeoutMs,
  })
}

export interface Started {
  child: ChildProcess
  /** Both streams so far, in arrival order. */
  output(): string
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>
}

/** The CLI as a child the test can signal while it runs; SIGKILL after `timeoutMs`. */
export function startCli(args: string[], env: Record<string, string | undefined> = {}, timeoutMs = 120_000): Started {
  const child = spawn(process.execPath, ['--import', 'tsx', 'harness/cli/index.ts', ...args], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: undefined, VERIFY_ENGINE: undefined, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  let both = ''
  child.stdout!.on('data', (d) => ((stdout += d), (both += d)))
  child.stderr!.on('data', (d) => ((stderr += d), (both += d)))
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    }),
  )
  return { child, output: () => both, done }
}

/**
 * Polls `test` until it holds ('reached') or `run` ends first ('exited'). Past `ms` it throws with
 * what the process printed so far, so a slow start and a stall are told apart in CI's log.
 */
export async function reachedBeforeExit(what: string, ms: number, test: () => Promise<boolean> | boolean, run: Started): Promise<'reached' | 'exited'> {
  const t0 = Date.now()
  let exited = false
  void run.done.then(() => (exited = true))
  for (;;) {
    if (await test()) return 'reached'
    if (exited) return 'exited'
    if (Date.now() - t0 > ms) throw new Error(`waited ${ms} ms for ${what}; the process printed so far:\n${run.output() || '(nothing)'}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}
