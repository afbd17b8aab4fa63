/**
 * Save and put back a session's settings around work that may `SET` things (a migration file, a
 * restore script). Not RESET ALL: that returns to server defaults, not to this session's state
 * (on the embedded engine it even empties search_path to pg_catalog).
 */
import type pg from 'pg'

export async function sessionSettings(client: pg.ClientBase): Promise<Map<string, string>> {
  const r = await client.query<{ name: string; setting: string }>(`SELECT name, setting FROM pg_settings WHERE context IN ('user', 'superuser')`)
  return new Map(r.rows.map((x) => [x.name, x.setting]))
}

/** Puts back every setting that changed; one that cannot be set is skipped, the rest still are. */
export async function restoreSessionSettings(client: pg.ClientBase, before: Map<string, string>): Promise<void> {
  const after = await sessionSettings(client)
  for (const [name, value] of before) {
    if (after.get(name) !== value) await client.query(`SELECT set_config($1, $2, false)`, [name, value]).catch(() => {})
  }
}
