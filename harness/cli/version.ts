/**
 * The version `--version` prints: package.json's, read when asked. The production runner is one
 * file with no package.json beside it, so its build (harness/build/runner.ts) writes the version
 * in as PGVERIFY_VERSION.
 */
import { readFileSync } from 'node:fs'

declare const PGVERIFY_VERSION: string | undefined

export function version(): string {
  if (typeof PGVERIFY_VERSION === 'string') return PGVERIFY_VERSION
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { name: string; version: string }
  return pkg.version
}
