/**
 * Save and put back a session's settings around work that may `SET` things (a migration file, a
 * restore script). Not RESET ALL: that returns to server defaults, not to this session's state
 * (on the embedded engine it even empties search_path to pg_catalog).
 *
 * Both ends are one round trip, and neither reads the pg_settings view, which builds every
 * column of every setting (~1.7 ms on native, against ~0.8 ms for current_setting() over the
 * names): the names a session may set are read from it once per connection. The runner does this
 * around every file, so it is on the path of every migration a verify run applies.
 */
import type pg from 'pg'

/** Per connection: the settings a session may change (context user or superuser). A custom setting first defined later is not among them. */
const names = new WeakMap<pg.ClientBase, string[]>()

async function settable(client: pg.ClientBase): Promise<string[]> {
  let list = names.get(client)
  if (!list) {
    const r = await client.query<{ names: string[] | null }>(`SELECT array_agg(name ORDER BY name) AS names FROM pg_settings WHERE context IN ('user', 'superuser')`)
    list = r.rows[0]?.names ?? []
    names.set(client, list)
  }
  return list
}

export async function sessionSettings(client: pg.ClientBase): Promise<Map<string, string>> {
  const list = await settable(client)
  const r = await client.query<{ settings: (string | null)[] | null }>(`SELECT array_agg(current_setting(n, true) ORDER BY i) AS settings FROM unnest($1::text[]) WITH ORDINALITY AS s(n, i)`, [list])
  const settings = r.rows[0]?.settings ?? []
  const out = new Map<string, string>()
  list.forEach((n, i) => settings[i] != null && out.set(n, settings[i]!))
  return out
}

/** Puts back every setting that changed; one that cannot be set is skipped, the rest still are. Outside a transaction (callers end theirs first). */
export async function restoreSessionSettings(client: pg.ClientBase, before: Map<string, string>): Promise<void> {
  const names = [...before.keys()]
  const values = [...before.values()]
  try {
    await client.query(
      `SELECT set_config(s.name, s.value, false) FROM unnest($1::text[], $2::text[]) AS s(name, value) WHERE current_setting(s.name, true) IS DISTINCT FROM s.value`,
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
