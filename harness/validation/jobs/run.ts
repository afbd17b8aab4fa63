/** `CALL run_job(id)`: the same on every engine (background workers are off for proofs, and the embedded engine has none). */
import type pg from 'pg'
import { isConnectionLoss } from '../../sqlstate.ts'

export interface JobError {
  message: string
  sqlstate?: string
  detail?: string
  hint?: string
  /** WARNINGs the job raised before failing: policies report each chunk's real error this way. */
  warnings?: string[]
}

/** `CALL run_job(id)` outside any transaction (policies commit per chunk). Never throws for a job's own error. */
export async function runJob(client: pg.ClientBase, id: number): Promise<{ ok: boolean; durationMs: number; error?: JobError; warnings: string[] }> {
  const t0 = performance.now()
  const warnings: string[] = []
  const onNotice = (n: { severity?: string; message?: string; detail?: string }) => {
    if (n.severity === 'WARNING' || n.severity === 'ERROR') warnings.push(`${n.message ?? ''}${n.detail ? ` (${n.detail})` : ''}`)
  }
  client.on('notice', onNotice)
  try {
    await client.query(`CALL run_job(${Number(id)})`)
    return { ok: true, durationMs: performance.now() - t0, warnings }
  } catch (e) {
    const x = e as { message: string; code?: string; detail?: string; hint?: string }
    if (isConnectionLoss(x)) throw e
    return {
      ok: false,
      durationMs: performance.now() - t0,
      error: { message: x.message, ...(x.code ? { sqlstate: x.code } : {}), ...(x.detail ? { detail: x.detail } : {}), ...(x.hint ? { hint: x.hint } : {}), ...(warnings.length ? { warnings } : {}) },
      warnings,
    }
  } finally {
    client.off('notice', onNotice)
  }
}

/** "ERROR 22000: columnstore policy failure (detail); warnings: …" */
export const formatJobError = (e: JobError): string =>
  `${e.sqlstate ? `ERROR ${e.sqlstate}: ` : ''}${e.message}${e.detail ? ` (${e.detail})` : ''}${e.warnings?.length ? `; it warned: ${e.warnings.join(' | ')}` : ''}`
