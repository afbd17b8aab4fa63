/**
 * `pgverify report merge DIR… [--out DIR]`: the reports of the shards of one verify run
 * (`verify --shard I/N`, one directory each) combined into one verdict, with the usual
 * index.html, verify.json and junit.xml. The combining and its refusals are verify/merge.ts.
 */
import { join, resolve } from 'node:path'
import { HarnessError } from '../errors.ts'
import { writeReports } from '../reports/write.ts'
import { isInternal } from '../steps/step.ts'
import { mergeShards, readShards } from '../verify/merge.ts'
import { EXIT } from './exit-codes.ts'
import { bold, dim, green, json, out, red, yellow } from './output.ts'
import { flag, type Args, type Verb, type VerbContext } from './verb.ts'

export const REPORT_HELP = `Usage: pgverify report merge DIR… [options]

Combines the reports of the shards of one verify run (\`pgverify verify --shard I/N --reports
DIR\`, one DIR per shard, I = 1…N) into the report of one full run: one verdict per stage, the
counts of the split stages summed (fault points, property chains and rows, down/up steps,
idempotent files: equal to one full run's), index.html, verify.json and junit.xml. Refused,
with nothing written, when a shard is missing or given twice, the shards are of different N,
or they disagree on the base schema fingerprint, the migrations, the settings or the server.

Options:
  --out DIR           where to write the merged reports (default: --reports of the
                      configuration, else reports)
  --json              print the merged report as JSON on stdout
  -h, --help          this help

In a CI matrix: each job runs \`pgverify verify --shard \${I}/\${N} --reports shard-\${I}\` and
uploads shard-\${I}/; a last job downloads them all and runs \`pgverify report merge shard-*\`.

Exit codes: 0 every stage passed · 1 a stage failed in some shard · 2 usage (no subcommand or
no DIR) · 11 the shards are not one run (missing, duplicated, other N, disagreeing fingerprint,
migrations or settings; nothing written) · 70 a stage hit a bug in pgverify (INTERNAL)`

export async function report(argv: Args, { config }: VerbContext): Promise<number> {
  const [sub, ...dirs] = argv._
  if (sub !== 'merge') throw new HarnessError('USAGE', sub === undefined ? 'report needs a subcommand: merge' : `report ${sub}: unknown subcommand (the one there is: merge)`, { hint: 'pgverify report merge DIR… [--out DIR]; see `pgverify report --help`.' })
  if (dirs.length === 0) throw new HarnessError('USAGE', 'report merge needs the report directory of every shard', { hint: 'e.g. pgverify report merge shard-1 shard-2 --out reports' })
  const outDir = resolve(flag(argv, 'out') ?? config.reports)
  const merged = mergeShards(await readShards(dirs.map((d) => resolve(d))))
  await writeReports(merged, outDir)
  if (argv.json) json(merged)
  else {
    for (const s of merged.stages) {
      const mark = s.verdict === 'passed' ? green('PASS') : s.verdict === 'failed' ? red('FAIL') : yellow('SKIP')
      out(`${mark}  ${s.title}`)
      out(`      ${s.summary}`)
      if (s.verdict === 'failed') for (const d of s.details.slice(0, 60)) out(`      ${d}`)
    }
    const m = merged.merged!
    out('')
    out(`${merged.ok ? green(bold('verify passed')) : red(bold('verify FAILED'))} (${m.count} shards merged, base schema ${m.baseFingerprint?.slice(0, 12) ?? 'not reached'}; longest shard ${(merged.durationMs / 1000).toFixed(1)} s) on ${merged.engine.description}`)
    out(dim(`reports: ${join(outDir, 'index.html')} · verify.json · junit.xml`))
  }
  return merged.stages.some(isInternal) ? EXIT.INTERNAL : merged.ok ? EXIT.OK : EXIT.FAILED
}

export const verb: Verb = { help: REPORT_HELP, options: { string: ['out'], boolean: ['json'], positionals: 1000 }, run: report }
