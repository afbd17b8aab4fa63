/** The machine and commit a benchmark run was measured on (bench.json's `machine` and `git`). */
import { execFile } from 'node:child_process'
import os from 'node:os'
import { promisify } from 'node:util'
import type { BenchRun } from '../harness/measure/figures.ts'
import { readEnvironment } from '../harness/config/environment.ts'

export async function machine(): Promise<BenchRun['machine']> {
  const cpus = os.cpus()
  return { cores: cpus.length, memoryBytes: os.totalmem(), cpu: cpus[0]?.model?.trim() ?? 'unknown', platform: `${os.platform()} ${os.release()} ${os.arch()}`, node: process.version }
}

export async function gitCommit(cwd: string): Promise<string | null> {
  try {
    const { stdout } = await promisify(execFile)('git', ['rev-parse', 'HEAD'], { cwd, timeout: 5000 })
    return stdout.trim() || null
  } catch {
    return readEnvironment().githubSha ?? null
  }
}
