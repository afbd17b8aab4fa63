/** Hypertables with their dimensions, compression settings and registered jobs, as the snapshot holds them. */
import type pg from 'pg'
import { configWithoutIds, readJobs } from '../../catalog/jobs.ts'
import { readCompressionSettings, readDimensions, readHypertables } from '../../catalog/timescale.ts'
import { byName, canonicalJson, cmp, q, sortKeys } from './canonical.ts'
import type { CompressionSettingsSnapshot, HypertableSnapshot, JobSnapshot } from './types.ts'

export interface TimescaleSnapshots {
  hypertables: HypertableSnapshot[]
  compression: CompressionSettingsSnapshot[]
  jobs: JobSnapshot[]
}

export async function timescaleSnapshots(client: pg.ClientBase, schemas: string[]): Promise<TimescaleSnapshots> {
  const dims = await readDimensions(client, schemas)
  const hypertables = byName(
    (await readHypertables(client, schemas)).map((h) => ({
      name: q(h.schema, h.name),
      compressionEnabled: h.compressionEnabled,
      dimensions: dims
        .filter((d) => d.schema === h.schema && d.name === h.name)
        .sort((a, b) => a.num - b.num)
        .map((d) => ({
          column: d.column,
          columnType: d.columnType,
          dimensionType: d.dimensionType,
          timeInterval: d.timeInterval,
          integerInterval: d.integerInterval,
          integerNowFunc: d.integerNowFunc,
          numPartitions: d.numPartitions,
        })),
    })),
  )
  return { hypertables, compression: await compressionSnapshots(client, schemas, hypertables), jobs: await jobSnapshots(client, schemas) }
}

async function compressionSnapshots(client: pg.ClientBase, schemas: string[], hypertables: HypertableSnapshot[]): Promise<CompressionSettingsSnapshot[]> {
  const cs = await readCompressionSettings(client, schemas)
  const compressed = new Map<string, CompressionSettingsSnapshot>()
  for (const h of hypertables.filter((h) => h.compressionEnabled)) compressed.set(h.name, { name: h.name, segmentBy: [], orderBy: [] })
  const segs = [...cs].filter((r) => r.segmentbyIndex !== null).sort((a, b) => a.segmentbyIndex! - b.segmentbyIndex!)
  const ords = [...cs].filter((r) => r.orderbyIndex !== null).sort((a, b) => a.orderbyIndex! - b.orderbyIndex!)
  for (const r of segs) compressed.get(q(r.schema, r.name))?.segmentBy.push(r.attname)
  for (const r of ords)
    compressed
      .get(q(r.schema, r.name))
      ?.orderBy.push(`${r.attname} ${r.asc ? 'ASC' : 'DESC'} ${r.nullsFirst ? 'NULLS FIRST' : 'NULLS LAST'}`)
  return byName([...compressed.values()])
}

/** Jobs on hypertables of `schemas`; several of one kind on one table are told apart by content, not by job id. */
export async function jobSnapshots(client: pg.ClientBase, schemas: string[]): Promise<JobSnapshot[]> {
  const jobs0 = (await readJobs(client, true))
    .filter((j) => j.hypertableSchema !== null && j.hypertableName !== null && schemas.includes(j.hypertableSchema))
    .map((j) => ({
      name: `${q(j.hypertableSchema!, j.hypertableName!)} ${j.procName}`,
      hypertable: q(j.hypertableSchema!, j.hypertableName!),
      procName: j.procName,
      scheduleInterval: j.scheduleInterval,
      scheduled: j.scheduled,
      config: sortKeys(configWithoutIds(j)),
    }))
  const counts = new Map<string, number>()
  for (const j of jobs0) counts.set(j.name, (counts.get(j.name) ?? 0) + 1)
  return jobs0
    .map((j) => ((counts.get(j.name) ?? 0) > 1 ? { ...j, name: `${j.name} ${canonicalJson(j.config)} ${j.scheduleInterval}` } : j))
    .sort((a, b) => cmp(a.name, b.name) || cmp(canonicalJson(a), canonicalJson(b)))
}
