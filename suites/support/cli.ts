/** Runs the real command line in a child process, as a user would. */
import { spawn } from 'node:child_process'
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
