/**
 * Lint findings as SARIF 2.1.0 (OASIS), the format GitHub code scanning shows inline in pull
 * requests (`github/codeql-action/upload-sarif`). One run, our rule table as the driver's rules,
 * one result per finding; a finding the allow-list accepts is kept with an external suppression
 * carrying its reason (code scanning shows it as dismissed, not as an alert).
 */
import type { Log, ReportingDescriptor, Result } from 'sarif'
import { RULES, type LintResult } from './rules.ts'

export interface SarifOptions {
  /** The tool's version (package.json). */
  version: string
  /** Where the migration files are, relative to the repository root, as forward slashes ("migrations"). */
  dir: string
}

const SCHEMA = 'https://json.schemastore.org/sarif-2.1.0.json'

export function toSarif(r: LintResult, options: SarifOptions): Log {
  const rules: ReportingDescriptor[] = RULES.map((rule) => ({
    id: rule.id,
    name: rule.id,
    shortDescription: { text: rule.description },
    help: { text: rule.fix },
    defaultConfiguration: { level: rule.severity },
  }))
  const index = new Map(RULES.map((rule, i) => [rule.id, i]))
  const prefix = options.dir === '' || options.dir === '.' ? '' : `${options.dir.replace(/\/+$/, '')}/`
  const results: Result[] = r.findings.map((f) => ({
    ruleId: f.rule,
    ...(index.has(f.rule) ? { ruleIndex: index.get(f.rule) } : {}),
    level: f.severity,
    message: { text: `${f.message}\nFix: ${f.fix}` },
    locations: [
      {
        physicalLocation: {
          artifactLocation: { uri: `${prefix}${f.file}`, uriBaseId: '%SRCROOT%' },
          region: { startLine: Math.max(1, f.line), startColumn: Math.max(1, f.column), ...(f.statement ? { snippet: { text: f.statement } } : {}) },
        },
      },
    ],
    ...(f.allowed ? { suppressions: [{ kind: 'external' as const, justification: f.allowed.reason }] } : {}),
  }))
  return {
    $schema: SCHEMA,
    version: '2.1.0',
    runs: [{ tool: { driver: { name: 'pgverify', version: options.version, rules } }, results }],
  }
}
