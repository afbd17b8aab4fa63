/**
 * The execution log (seed 000: `phase3-execution-YYYYMMDD-HHMMSS.log`): one timestamped line per
 * event, appended synchronously so an interrupted run still leaves everything up to the
 * interruption on disk. Every line passes through redact(): no password reaches the file.
 */
import { appendFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { stamp } from '../backup/layout.ts'
import { redact } from '../util/redact.ts'

export type Level = 'INFO' | 'WARN' | 'ERROR' | 'STEP'

export interface RunFiles {
  id: string
  log: string
  report: string
  json: string
}

/** Seed 000's names, made unique when two runs start in the same second. */
export function runFiles(logDir: string, at: Date): RunFiles {
  mkdirSync(logDir, { recursive: true })
  const base = stamp(at)
  for (let i = 1; ; i++) {
    const id = i === 1 ? base : `${base}-${i}`
    const files = {
      id,
      log: path.join(logDir, `phase3-execution-${id}.log`),
      report: path.join(logDir, `phase3-execution-report-${id}.txt`),
      json: path.join(logDir, `phase3-execution-report-${id}.json`),
    }
    if (!existsSync(files.log) && !existsSync(files.report)) return files
  }
}

export class ExecutionLog {
  readonly lines: string[] = []
  /** Set when the file could not be written (a full disk): the run goes on, the lines stay in memory and on the console. */
  lost?: string
  constructor(
    readonly file: string,
    private readonly echo?: (level: Level, line: string) => void,
  ) {
    writeFileSync(file, '')
  }

  write(level: Level, message: string): void {
    for (const part of redact(message).split('\n')) {
      const line = `[${new Date().toISOString()}] [${level}] ${part}`
      this.lines.push(line)
      if (!this.lost) {
        try {
          appendFileSync(this.file, line + '\n')
        } catch (e) {
          // A full disk must not stop a migration half-way: say it once and carry on.
          this.lost = `${this.file}: ${(e as Error).message}`
          process.stderr.write(`warning: the execution log can no longer be written (${this.lost}); it continues on the console only\n`)
        }
      }
      this.echo?.(level, part)
    }
  }

  info = (m: string) => this.write('INFO', m)
  warn = (m: string) => this.write('WARN', m)
  error = (m: string) => this.write('ERROR', m)
  step = (m: string) => this.write('STEP', m)
}
