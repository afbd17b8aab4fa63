/**
 * The lint stage: static rules over every file, before any database work. It reads the
 * directory itself, so it reports on every file even when the directory is refused later or a
 * migration fails. Its verdict counts only errors the allow-list does not cover.
 */
import { readAllowFile } from '../../lint/allow.ts'
import { formatFinding, lintDirectory } from '../../lint/lint.ts'
import type { FilesStage } from '../stage.ts'

export const lintStage: FilesStage = {
  id: 'lint',
  title: 'Lint the migration files (static, before any database work)',
  async run(ctx) {
    const allow = ctx.options.lintAllowFile ? await readAllowFile(ctx.options.lintAllowFile) : undefined
    const lint = await lintDirectory(ctx.dir, allow ? { allow } : {})
    ctx.lint = lint
    // Findings to act on first, the accepted ones after them.
    const details = [...lint.findings.filter((f) => !f.allowed), ...lint.findings.filter((f) => f.allowed)].map((f) => formatFinding(f))
    const summary = `${lint.errors} error${lint.errors === 1 ? '' : 's'}, ${lint.warnings} warning${lint.warnings === 1 ? '' : 's'}, ${lint.allowed} allowed by lint-allow.json`
    return { verdict: lint.errors > 0 ? 'failed' : 'passed', summary, details, ...(lint.errors > 0 ? { error: { code: 'LINT', message: summary } } : {}) }
  },
}
