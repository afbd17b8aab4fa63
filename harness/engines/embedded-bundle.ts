/**
 * The TimescaleDB bundle every embedded instance loads at boot, without the files no instance
 * can use.
 *
 * PGlite reads an extension's bundle (a tar.gz) at every boot, whether or not the database will
 * ever CREATE EXTENSION: it gunzips it, untars it and writes every file into the instance. The
 * package's TimescaleDB bundle is 2.7 MB compressed and 15 MB unpacked, 14 MB of which are 44
 * upgrade scripts (`timescaledb--2.9.0--2.23.0-dev.sql` …). They serve ALTER EXTENSION UPDATE
 * from an older installed version, which an embedded instance cannot have: this build installs
 * only its own default version (the bundle has no older install scripts). The libraries, the
 * control file and the install script are kept; the rest is left out, and the result is kept
 * between runs beside the cached data directory (written whole or not at all), keyed by the
 * package version.
 *
 * The extension handed to PGlite is the package's own (`setup` giving the bundle's path) pointing
 * at that file; the same description is made in worker threads from the path (embedded-thread.ts).
 */
import { access, readFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { gunzipSync, gzipSync } from 'node:zlib'
import { readTar, writeTar } from '../util/tar.ts'
import { writeAtomic } from '../util/write-atomic.ts'

/** An upgrade script: `<extension>--<from>--<to>.sql`. */
const UPGRADE_SCRIPT = /^share\/postgresql\/extension\/[^/]+--[^/]+--[^/]+\.sql$/

/**
 * The lean bundle's path, made from the package's bundle if not kept in `cacheDir` yet (the
 * package version is in its name). When it cannot be made, the package's own bundle: the same
 * extension, loaded as PGlite would.
 */
export async function leanTimescaleBundle(cacheDir: string, version: string): Promise<string> {
  const file = path.join(cacheDir, `timescaledb-bundle-${version.replace(/[^\w.-]/g, '_')}.tar.gz`)
  if (await access(file).then(() => true, () => false)) return file
  // Where the package's own extension description points (its `setup` gives this bundlePath).
  const source = fileURLToPath(new URL('../timescaledb.tar.gz', import.meta.resolve('@electric-sql/pglite/timescaledb')))
  try {
    // Files only: PGlite writes every entry as a file, a directory entry included (it then logs an error).
    const kept = (await readTar(gunzipSync(await readFile(source)))).filter((e) => e.header.type === 'file' && !UPGRADE_SCRIPT.test(e.header.name))
    await writeAtomic(file, gzipSync(await writeTar(kept)))
    return file
  } catch {
    return source
  }
}

/** PGlite's extension description for a bundle at `file` (the shape of the package's own). */
export const timescaleExtension = (file: string) => ({
  name: 'timescaledb',
  setup: async (_pg: unknown, emscriptenOpts: unknown) => ({ emscriptenOpts, bundlePath: pathToFileURL(file) }),
})
