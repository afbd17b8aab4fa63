/**
 * The lint stage: static rules over every file, before any database work. It reads the
 * directory itself, so it reports on every file even when the directory is refused later or a
 * migration fails. Its verdict counts only errors the allow-list does not cover.
 */
import { readFile } from 'node:fs/promises'
import { parseAllowList } from '../../lint/allow.ts'
import { formatFinding, lintDirectory } from '../../lint/lint.ts'
import { HarnessError } from '../../errors.ts'
import type { FilesStage } from '../stage.ts'

async function allowFile(file: string) {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (e) {
    throw new HarnessError('USAGE', `lint allow-list ${file} (pgverify.config.json "lint.allowFile") cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, {
      hint: 'Fix the path in pgverify.config.json, or remove "lint.allowFile" to use <migrations>/lint-allow.json.',
    })
  }
  return parseAllowList(text, file)
}

export const lintStage: FilesStage = {
  id: 'lint',
  title: 'Lint the migration files (static, before any database work)',
  async run(ctx) {
    const allow = ctx.options.lintAllowFile ? await allowFile(ctx.options.lintAllowFile) : undefined
    const lint = await lintDirectory(ctx.dir, allow ? { allow } : {})
    ctx.lint = lint
    const details = lint.findings.map((f) => formatFinding(f))
    const summary = `${lint.errors} error${lint.errors === 1 ? '' : 's'}, ${lint.warnings} warning${lint.warnings === 1 ? '' : 's'}, ${lint.allowed} allowed by lint-allow.json`
    return { verdict: lint.errors > 0 ? 'failed' : 'passed', summary, details, ...(lint.errors > 0 ? { error: { code: 'LINT', message: summary } } : {}) }
  },
}
