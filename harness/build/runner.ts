/**
 * `pnpm build:runner`: emits the production runner as a self-contained artifact:
 *
 *   dist/runner/pgverify-runner.mjs   one ESM file, platform node, target node20, with every
 *                                     dependency inside (pg, zx, …): runs with plain `node`
 *   dist/runner/migrations/           the migrations, manifest.json and released.json
 *   dist/runner/README.txt            how to run it
 *
 * PostgreSQL's parser (libpg-query's WebAssembly) is inside the file too: its loader is given the
 * bytes instead of reading libpg-query.wasm from beside it.
 *
 * Built from harness/cli/runner-entry.ts: the same verb modules the suites test. The engine
 * selector is replaced by a stub (the runner works against DATABASE_URL only), and the build
 * fails if the WASM engine or testcontainers would end up in the bundle.
 */
import { cp, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { build, type Plugin } from 'esbuild'

const ROOT = path.resolve(import.meta.dirname, '../..')
export const OUT_DIR = path.join(ROOT, 'dist/runner')
export const OUT_FILE = path.join(OUT_DIR, 'pgverify-runner.mjs')

/** What engines/select.ts becomes in the runner: no engines but DATABASE_URL. */
const SELECT_STUB = `
import { HarnessError } from '../errors.ts'
export const ENGINES = {}
export const ENGINE_NAMES = []
export async function chooseEngine(request) {
  const name = request?.name
  throw new HarnessError('ENGINE_UNAVAILABLE', \`engine "\${name}": the production runner works against DATABASE_URL only\`, {
    hint: 'Set DATABASE_URL (and unset VERIFY_ENGINE). Disposable engines (embedded, native, container) belong to the development tool: pnpm migrate --engine NAME.',
  })
}
`

const FORBIDDEN = /^(@electric-sql\/|@unni-craftsman\/|testcontainers$|testcontainers\/|@testcontainers\/)/

const productionOnly: Plugin = {
  name: 'pgverify-production-runner',
  setup(b) {
    // Matched on the resolved file, whatever the importer calls it ('./select.ts' from engines/target.ts).
    b.onResolve({ filter: /(^|\/)select\.ts$/ }, (args) =>
      path.resolve(args.resolveDir, args.path) === path.join(ROOT, 'harness/engines/select.ts') ? { path: 'engines/select.ts', namespace: 'runner-stub' } : undefined,
    )
    b.onLoad({ filter: /.*/, namespace: 'runner-stub' }, () => ({ contents: SELECT_STUB, loader: 'ts', resolveDir: path.join(ROOT, 'harness/engines') }))
    // libpg-query's Emscripten loader reads libpg-query.wasm from its own directory: hand it the bytes.
    b.onLoad({ filter: /libpg-query[\\/]wasm[\\/]libpg-query\.js$/ }, async (args) => {
      const js = await readFile(args.path, 'utf8')
      const hook = 'async function getWasmBinary(binaryFile){'
      if (!js.includes(hook)) return { errors: [{ text: `${args.path}: the WebAssembly loader changed (no "${hook}"): update harness/build/runner.ts` }] }
      const wasm = await readFile(path.join(path.dirname(args.path), 'libpg-query.wasm'))
      return { contents: `const __pgvParserWasm = Buffer.from(${JSON.stringify(wasm.toString('base64'))}, 'base64');\n${js.replace(hook, `${hook}return new Uint8Array(__pgvParserWasm);`)}`, loader: 'js' }
    })
    b.onResolve({ filter: FORBIDDEN }, (args) => ({ errors: [{ text: `${args.path} must not be bundled into the production runner (imported by ${path.relative(ROOT, args.importer)})` }] }))
  },
}

export async function buildRunner(): Promise<{ file: string; bytes: number; ms: number }> {
  const t0 = performance.now()
  await rm(OUT_DIR, { recursive: true, force: true })
  await mkdir(OUT_DIR, { recursive: true })
  const version = (JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version
  const result = await build({
    entryPoints: [path.join(ROOT, 'harness/cli/runner-entry.ts')],
    outfile: OUT_FILE,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    // CommonJS dependencies (pg) call require() for Node built-ins: give the ESM bundle one.
    // libpg-query's Emscripten loader refers to __dirname and __filename (CommonJS): give the ESM bundle both.
    banner: {
      js: "import { createRequire as __pgvCreateRequire } from 'node:module';\nimport { fileURLToPath as __pgvFileURLToPath } from 'node:url';\nconst require = __pgvCreateRequire(import.meta.url);\nconst __filename = __pgvFileURLToPath(import.meta.url);\nconst __dirname = __pgvFileURLToPath(new URL('.', import.meta.url));",
    },
    // pg's optional native binding is only loaded when asked for (never by us).
    external: ['pg-native'],
    plugins: [productionOnly],
    // cli/version.ts: no package.json travels with the one file.
    define: { PGVERIFY_VERSION: JSON.stringify(version) },
    logLevel: 'warning',
    legalComments: 'eof',
    metafile: true,
  })
  const inputs = Object.keys(result.metafile!.inputs)
  const leaked = inputs.filter((i) => /pglite|testcontainers|engines\/(embedded|container|native)\.ts/.test(i))
  if (leaked.length) throw new Error(`the production runner bundle contains engine code it must not: ${leaked.join(', ')}`)
  await cp(path.join(ROOT, 'migrations'), path.join(OUT_DIR, 'migrations'), { recursive: true })
  await writeFile(
    path.join(OUT_DIR, 'README.txt'),
    `pgverify production runner ${version} (built ${new Date().toISOString()})

Needs Node 20 and nothing else (no npm install). Against DATABASE_URL:

  export DATABASE_URL=postgres://user@host:5432/factory_telemetry   # password: in the URL or PGPASSWORD
  node pgverify-runner.mjs migrate status
  node pgverify-runner.mjs execute --dry-run
  node pgverify-runner.mjs execute --yes    # checks, backup, up, validation, automatic rollback

migrations/ next to this file is used unless --dir is given. backup, restore and execute also
need pg_dump, pg_restore and psql of the server's major version (postgresql-client-NN).
`,
  )
  const bytes = (await stat(OUT_FILE)).size
  return { file: OUT_FILE, bytes, ms: performance.now() - t0 }
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('harness/build/runner.ts')) {
  const r = await buildRunner()
  process.stdout.write(`built ${path.relative(process.cwd(), r.file)} (${(r.bytes / 1024).toFixed(0)} KiB) with migrations/ in ${Math.round(r.ms)} ms\n`)
}
