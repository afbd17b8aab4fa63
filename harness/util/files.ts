/** Reading the optional JSON files that live beside the migrations. */
import { readFile } from 'node:fs/promises'
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
    throw new HarnessError('MANIFEST_INVALID', `${path}: cannot be read: ${(e as Error).message}`, { hint: 'Check its permissions.', details: { file: path } })
  }
}
