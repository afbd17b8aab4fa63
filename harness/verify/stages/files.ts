/**
 * The files stage: the directory is acceptable to the runner (names, gaps, encoding, directives:
 * what discovery checks), the manifest reads, and no migration listed in released.json changed
 * (drift caught in the pull request, before production would refuse it). When it fails, no
 * database is made and every later stage is skipped with that reason.
 */
import { HarnessError } from '../../errors.ts'
import { loadManifest } from '../../manifest/manifest.ts'
import { FileMigrationProvider } from '../../runner/discover.ts'
import { loadReleased, releasedDrift } from '../../runner/released.ts'
import type { FilesStage } from '../stage.ts'

export const filesStage: FilesStage = {
  id: 'files',
  title: 'Read and check the migration files',
  async run(ctx) {
    const manifest = await loadManifest(ctx.dir)
    ctx.manifest = manifest
    const migrations = await new FileMigrationProvider(ctx.dir).getMigrations()
    const released = await loadReleased(ctx.dir)
    const drift = released ? releasedDrift(released, migrations) : []
    if (drift.length) {
      throw new HarnessError('MIGRATION_DRIFT', `released migration${drift.length > 1 ? 's were' : ' was'} edited (drift): ${drift.join('; ')}`, {
        hint: 'Restore the released file(s) from the release and put the change in a new migration; production would refuse the edited file.',
        details: { drift },
      })
    }
    ctx.accepted = { manifest, migrations }
    return {
      verdict: 'passed',
      summary: `${migrations.length} migrations, ${migrations.filter((m) => m.down).length} with down files${manifest ? ', manifest found' : ', no manifest'}${released ? `, ${Object.keys(released.migrations).length} released unchanged` : ', no released.json'}`,
      details: migrations.map((m) => `${m.up.file} sha256 ${m.up.checksum}`),
    }
  },
}
