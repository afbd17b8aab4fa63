/**
 * BACKUP_MANIFEST.json (for machines), BACKUP_MANIFEST.txt (for people) and the JSON's own
 * checksum file; and `verifyBackup`, which rechecks all of it. A flipped byte, a truncated
 * file or a missing file is named; restore refuses a backup that does not verify.
 */
import { createHash } from 'node:crypto'
import { createReadStream, existsSync } from 'node:fs'
import { readdir, readFile, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { HarnessError } from '../errors.ts'
import { MANIFEST_JSON, MANIFEST_SUM, MANIFEST_TXT } from './layout.ts'
import type { DatabaseState } from './state.ts'

export const MANIFEST_FORMAT = 'pgverify-backup/1'

export type FileRole = 'full' | 'schema' | 'schema-timescaledb' | 'data' | 'volume' | 'environment' | 'log' | 'manifest'

export interface ManifestFile {
  /** Relative to the backup directory, with `/`. */
  path: string
  role: FileRole
  bytes: number
  sha256: string
  /** How it was made, e.g. `pg_dump 15.14 -Fc --snapshot=…`. */
  tool?: string
  durationMs?: number
}

export type BackupKind = 'full' | 'schema' | 'data'

export interface BackupManifest {
  format: typeof MANIFEST_FORMAT
  name: string
  createdAt: string
  completedAt: string
  durationMs: number
  /** What the backup holds: the logical kinds written, plus 'volume' when a physical copy was taken. */
  kinds: (BackupKind | 'volume')[]
  /** The engine and its build (`versions.timescaledb` is what the engine offers, installed or not). */
  engine: { name: string; description: string; url: string; versions: { postgres: string; timescaledb: string; timescaledbLicense: string } }
  server: { postgres: string; postgresMajor: number; timescaledb: string; timescaledbLicense: string; timescaledbSchema: string | null; database: string }
  tool: { logical: string; physical: string | null; format: 'custom' | 'plain' }
  /** Schemas the backup stands for: restoring in place replaces exactly these (absent ones are made absent). */
  coveredSchemas: string[]
  /** Schemas the migrations manage that did not exist at backup time (restoring removes them). */
  absentSchemas: string[]
  /** Objects in `public` that belong to no extension (in-place restore refuses when there are any). */
  publicObjects: string[]
  migrationLog: { table: string | null; rows: number; version: number | null }
  state: DatabaseState
  files: ManifestFile[]
  notes: string[]
}

export function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256')
    createReadStream(file)
      .on('error', reject)
      .on('data', (d) => h.update(d))
      .on('end', () => resolve(h.digest('hex')))
  })
}

export async function describeFile(dir: string, rel: string, role: FileRole, extra: { tool?: string; durationMs?: number } = {}): Promise<ManifestFile> {
  const abs = path.join(dir, rel)
  const [s, sum] = await Promise.all([stat(abs), sha256File(abs)])
  return { path: rel, role, bytes: s.size, sha256: sum, ...extra }
}

const human = (n: number) => (n >= 1 << 30 ? `${(n / (1 << 30)).toFixed(2)} GiB` : n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`)
export { human as humanBytes }

export function manifestText(m: BackupManifest): string {
  const s = m.state
  const lines: string[] = []
  const w = (l = '') => lines.push(l)
  w(`BACKUP MANIFEST — ${m.name}`)
  w('='.repeat(60))
  w(`created:        ${m.createdAt} (UTC), ${Math.round(m.durationMs)} ms`)
  w(`kinds:          ${m.kinds.join(', ')}`)
  w(`engine:         ${m.engine.description}`)
  w(`database:       ${m.engine.url}`)
  w(`PostgreSQL:     ${m.server.postgres}`)
  w(`TimescaleDB:    ${m.server.timescaledb}${m.server.timescaledb !== 'none' ? ` (${m.server.timescaledbLicense} license, schema ${m.server.timescaledbSchema})` : ''}`)
  w(`logical tool:   ${m.tool.logical} (${m.tool.format} format)`)
  w(`physical copy:  ${m.tool.physical ?? 'none (engine has no physical snapshot)'}`)
  w(`schemas:        ${m.coveredSchemas.join(', ') || '(none)'}${m.absentSchemas.length ? `; absent at backup time: ${m.absentSchemas.join(', ')}` : ''}`)
  w(`schema hash:    ${s.fingerprintHash}`)
  w(`migration log:  ${m.migrationLog.table ?? 'none'}${m.migrationLog.table ? `, ${m.migrationLog.rows} rows, version ${m.migrationLog.version ?? 0}` : ''}`)
  w()
  w('FILES (size, sha256)')
  for (const f of m.files) w(`  ${f.path.padEnd(40)} ${human(f.bytes).padStart(10)}  ${f.sha256}${f.tool ? `\n  ${''.padEnd(40)} ${f.tool}` : ''}`)
  w(`  ${MANIFEST_JSON.padEnd(40)} checksum in ${MANIFEST_SUM}`)
  w()
  w('TABLES (rows, content hash)')
  for (const [t, v] of Object.entries(s.tables)) w(`  ${t.padEnd(50)} ${String(v.rows).padStart(10)}  ${v.hash.slice(0, 16)}`)
  if (Object.keys(s.hypertables).length) {
    w()
    w('HYPERTABLES (chunks, compressed)')
    for (const [h, v] of Object.entries(s.hypertables)) w(`  ${h.padEnd(50)} ${String(v.chunks).padStart(5)} chunks, ${v.compressedChunks} compressed${v.compressionEnabled ? '' : ' (compression off)'}`)
  }
  if (s.jobs.length) {
    w()
    w('JOBS')
    for (const j of s.jobs) w(`  ${j.name} every ${j.scheduleInterval}${j.scheduled ? '' : ' (paused)'} ${JSON.stringify(j.config)}`)
  }
  if (s.migrationLog) {
    w()
    w(`MIGRATION LOG (${s.migrationLog.table})`)
    for (const r of s.migrationLog.rows) w(`  ${(r.migration_name ?? '').padEnd(44)} ${(r.status ?? '').padEnd(10)} ${r.applied_at ?? ''}  ${r.checksum ? r.checksum.slice(0, 12) : ''}`)
  }
  if (m.notes.length) {
    w()
    w('NOTES')
    for (const n of m.notes) w(`  - ${n}`)
  }
  w()
  w('VERIFY:   pnpm backup verify <this directory>      (or: sha256sum -c on the checksums above)')
  w('RESTORE:  pnpm restore <this directory> --yes       (DATABASE_URL; replaces the schemas listed above)')
  w('          pnpm restore <this directory> --engine embedded|native|container   (into a fresh disposable database)')
  return lines.join('\n') + '\n'
}

/** Writes TXT, then JSON (listing TXT with its checksum), then the JSON's checksum file. */
export async function writeManifest(dir: string, m: BackupManifest): Promise<void> {
  await writeFile(path.join(dir, MANIFEST_TXT), manifestText(m))
  m.files.push(await describeFile(dir, MANIFEST_TXT, 'manifest'))
  const json = JSON.stringify(m, null, 2) + '\n'
  await writeFile(path.join(dir, MANIFEST_JSON), json)
  await writeFile(path.join(dir, MANIFEST_SUM), `${createHash('sha256').update(json).digest('hex')}  ${MANIFEST_JSON}\n`)
}

export interface VerifyProblem {
  file: string
  problem: string
}

export interface VerifyResult {
  ok: boolean
  dir: string
  manifest?: BackupManifest
  /** Each checked file with its verdict. */
  checked: { file: string; bytes: number; ok: boolean }[]
  problems: VerifyProblem[]
  /** Files present but not in the manifest (not an error; listed). */
  extra: string[]
}

async function listFiles(dir: string, base = ''): Promise<string[]> {
  const out: string[] = []
  for (const e of await readdir(path.join(dir, base), { withFileTypes: true })) {
    const rel = base ? `${base}/${e.name}` : e.name
    if (e.isDirectory()) out.push(...(await listFiles(dir, rel)))
    else out.push(rel)
  }
  return out
}

/** Rechecks the manifest's own checksum, then every file's presence, size and SHA-256. */
export async function verifyBackup(dir: string): Promise<VerifyResult> {
  const res: VerifyResult = { ok: false, dir, checked: [], problems: [], extra: [] }
  if (!existsSync(dir)) {
    res.problems.push({ file: dir, problem: 'no such directory' })
    return res
  }
  const jsonPath = path.join(dir, MANIFEST_JSON)
  let json: string
  try {
    json = await readFile(jsonPath, 'utf8')
  } catch {
    res.problems.push({ file: MANIFEST_JSON, problem: 'missing: not a complete backup (an interrupted backup never gets its manifest)' })
    return res
  }
  const sumText = await readFile(path.join(dir, MANIFEST_SUM), 'utf8').catch(() => undefined)
  const actualSum = createHash('sha256').update(json).digest('hex')
  if (sumText === undefined) res.problems.push({ file: MANIFEST_SUM, problem: 'missing: the manifest itself cannot be checked' })
  else if (sumText.trim().split(/\s+/)[0] !== actualSum) res.problems.push({ file: MANIFEST_JSON, problem: `changed since the backup: sha256 ${actualSum} ≠ recorded ${sumText.trim().split(/\s+/)[0]}` })
  let m: BackupManifest
  try {
    m = JSON.parse(json) as BackupManifest
    if (m.format !== MANIFEST_FORMAT || !Array.isArray(m.files)) throw new Error(`format is ${String(m.format)}, expected ${MANIFEST_FORMAT}`)
  } catch (e) {
    res.problems.push({ file: MANIFEST_JSON, problem: `unreadable: ${(e as Error).message}` })
    return res
  }
  res.manifest = m
  for (const f of m.files) {
    const abs = path.join(dir, f.path)
    let size: number
    try {
      size = (await stat(abs)).size
    } catch {
      res.problems.push({ file: f.path, problem: `missing (manifest lists ${f.bytes} bytes)` })
      res.checked.push({ file: f.path, bytes: 0, ok: false })
      continue
    }
    if (size !== f.bytes) {
      res.problems.push({ file: f.path, problem: size < f.bytes ? `truncated: ${size} bytes, manifest says ${f.bytes}` : `grown: ${size} bytes, manifest says ${f.bytes}` })
      res.checked.push({ file: f.path, bytes: size, ok: false })
      continue
    }
    const sum = await sha256File(abs)
    if (sum !== f.sha256) {
      res.problems.push({ file: f.path, problem: `content changed (same size): sha256 ${sum} ≠ recorded ${f.sha256}` })
      res.checked.push({ file: f.path, bytes: size, ok: false })
      continue
    }
    res.checked.push({ file: f.path, bytes: size, ok: true })
  }
  const listed = new Set([...m.files.map((f) => f.path), MANIFEST_JSON, MANIFEST_SUM])
  res.extra = (await listFiles(dir)).filter((f) => !listed.has(f)).sort()
  res.ok = res.problems.length === 0
  return res
}

/** verifyBackup, throwing BACKUP_CORRUPT naming every problem. */
export async function requireVerified(dir: string): Promise<BackupManifest> {
  const v = await verifyBackup(dir)
  if (!v.ok || !v.manifest) {
    throw new HarnessError('BACKUP_CORRUPT', `backup ${dir} does not verify; nothing was restored:\n${v.problems.map((p) => `  ${p.file}: ${p.problem}`).join('\n')}`, {
      hint: 'Use another backup (`ls backups/`), or re-create this one. `pnpm backup verify DIR` shows the same check.',
      details: { problems: v.problems },
    })
  }
  return v.manifest
}
