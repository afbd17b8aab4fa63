import { createHash } from 'node:crypto'

/** SHA-256 hex of exactly the bytes on disk, so `sha256sum file` gives the same value. */
export const sha256 = (bytes: Uint8Array | string): string => createHash('sha256').update(bytes).digest('hex')
