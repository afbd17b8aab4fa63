/** Reading the optional JSON files that live beside the migrations. */
import { readFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { HarnessError } from '../errors.ts'

/**
 * The text of an optional file beside the migrations (manifest.json, released.json,
 * lint-allow.json): undefined when it does not exist, MANIFEST_INVALID when it cannot be read.
 */
export async function readOptionalFile(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    // The directory given is a file: a usage error, not a bad manifest.
    if ((e as NodeJS.ErrnoException).code === 'ENOTDIR') throw notADirectory(dirname(path))
    throw new HarnessError('MANIFEST_INVALID', `${path}: cannot be read: ${(e as Error).message}`, { hint: 'Check its permissions.', details: { file: path } })
  }
}

/** `--dir` (or the configured migrations directory) names something that is not a directory. */
export function notADirectory(dir: string): HarnessError {
  return new HarnessError('USAGE', `${dir} is not a directory: --dir must name the migrations directory`, { hint: 'Pass the directory that holds the NNN_name.sql files, e.g. --dir migrations.', details: { dir } })
}
