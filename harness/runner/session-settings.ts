/**
 * Save and put back a session's settings around work that may `SET` things (a migration file, a
 * restore script). Not RESET ALL: that returns to server defaults, not to this session's state
 * (on the embedded engine it even empties search_path to pg_catalog).
 *
 * Both ends are one round trip: the settings come back as one row of two arrays (not 300 rows),
 * and the server compares and sets back only what changed. The runner does this around every
 * file, so it is on the path of every migration a verify run applies.
 */
import type pg from 'pg'

export async function sessionSettings(client: pg.ClientBase): Promise<Map<string, string>> {
  const r = await client.query<{ names: string[] | null; settings: string[] | null }>(
    `SELECT array_agg(name ORDER BY name) AS names, array_agg(setting ORDER BY name) AS settings FROM pg_settings WHERE context IN ('user', 'superuser')`,
  )
  const { names, settings } = r.rows[0] ?? { names: null, settings: null }
  return new Map((names ?? []).map((n, i) => [n, settings![i]!]))
}

/** Puts back every setting that changed; one that cannot be set is skipped, the rest still are. Outside a transaction (callers end theirs first). */
export async function restoreSessionSettings(client: pg.ClientBase, before: Map<string, string>): Promise<void> {
  const names = [...before.keys()]
  const values = [...before.values()]
  try {
    await client.query(
      `SELECT set_config(s.name, s.value, false) FROM unnest($1::text[], $2::text[]) AS s(name, value) JOIN pg_settings p ON p.name = s.name WHERE p.setting IS DISTINCT FROM s.value`,
      [names, values],
    )
  } catch {
    // One setting refused (the whole statement failed, nothing was set): each on its own, skipping the refused.
    const after = await sessionSettings(client)
    for (const [name, value] of before) {
      if (after.get(name) !== value) await client.query(`SELECT set_config($1, $2, false)`, [name, value]).catch(() => {})
    }
  }
}
