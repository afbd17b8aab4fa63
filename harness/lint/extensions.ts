/**
 * Objects that belong to a well-known extension: using one in a migration needs that extension
 * created (by an earlier migration) or required (manifest.json → requirements.extensions).
 */

/** Relation (table/view) name → extension. */
export const EXTENSION_RELATIONS: Record<string, string> = {
  pg_stat_statements: 'pg_stat_statements',
  pg_stat_statements_info: 'pg_stat_statements',
  pg_buffercache: 'pg_buffercache',
  geometry_columns: 'postgis',
  spatial_ref_sys: 'postgis',
}

/** Function name (unqualified, lower case) → extension. `st_*` is PostGIS. */
export const EXTENSION_FUNCTIONS: Record<string, string> = {
  pg_stat_statements_reset: 'pg_stat_statements',
  crypt: 'pgcrypto', gen_salt: 'pgcrypto', digest: 'pgcrypto', hmac: 'pgcrypto', gen_random_bytes: 'pgcrypto',
  pgp_sym_encrypt: 'pgcrypto', pgp_sym_decrypt: 'pgcrypto', pgp_pub_encrypt: 'pgcrypto', pgp_pub_decrypt: 'pgcrypto', armor: 'pgcrypto', dearmor: 'pgcrypto',
  uuid_generate_v1: 'uuid-ossp', uuid_generate_v1mc: 'uuid-ossp', uuid_generate_v3: 'uuid-ossp', uuid_generate_v4: 'uuid-ossp', uuid_generate_v5: 'uuid-ossp', uuid_nil: 'uuid-ossp',
  similarity: 'pg_trgm', word_similarity: 'pg_trgm', strict_word_similarity: 'pg_trgm', show_trgm: 'pg_trgm', set_limit: 'pg_trgm', show_limit: 'pg_trgm',
  unaccent: 'unaccent',
  levenshtein: 'fuzzystrmatch', soundex: 'fuzzystrmatch', metaphone: 'fuzzystrmatch', dmetaphone: 'fuzzystrmatch', difference: 'fuzzystrmatch',
  crosstab: 'tablefunc', normal_rand: 'tablefunc', connectby: 'tablefunc',
  earth_distance: 'earthdistance', ll_to_earth: 'earthdistance',
  hstore_to_json: 'hstore', akeys: 'hstore', avals: 'hstore', skeys: 'hstore', svals: 'hstore',
  time_weight: 'timescaledb_toolkit', stats_agg: 'timescaledb_toolkit', percentile_agg: 'timescaledb_toolkit', uddsketch: 'timescaledb_toolkit', tdigest: 'timescaledb_toolkit', lttb: 'timescaledb_toolkit', asap_smooth: 'timescaledb_toolkit',
  pgstattuple: 'pgstattuple', pgstatindex: 'pgstattuple',
}

/** Schema-qualified functions of extensions that live in their own schema. */
export const EXTENSION_QUALIFIED: Record<string, string> = {
  'cron.schedule': 'pg_cron', 'cron.unschedule': 'pg_cron', 'cron.schedule_in_database': 'pg_cron',
  'partman.create_parent': 'pg_partman',
}

/** Type name (last part) → extension. */
export const EXTENSION_TYPES: Record<string, string> = {
  citext: 'citext', hstore: 'hstore', ltree: 'ltree', lquery: 'ltree', cube: 'cube', earth: 'earthdistance', geometry: 'postgis', geography: 'postgis', box2d: 'postgis', isbn: 'isn', ean13: 'isn',
}

/** Operator classes → extension. */
export const EXTENSION_OPCLASSES: Record<string, string> = {
  gin_trgm_ops: 'pg_trgm', gist_trgm_ops: 'pg_trgm', gist_ltree_ops: 'ltree', gist_hstore_ops: 'hstore', gin_hstore_ops: 'hstore',
}

/** Functions that are never IMMUTABLE (lower case), with their volatility. */
export const NOT_IMMUTABLE: Record<string, string> = {
  now: 'STABLE', statement_timestamp: 'STABLE', transaction_timestamp: 'STABLE', clock_timestamp: 'VOLATILE', timeofday: 'VOLATILE',
  random: 'VOLATILE', random_normal: 'VOLATILE', setseed: 'VOLATILE', nextval: 'VOLATILE', currval: 'VOLATILE', lastval: 'VOLATILE',
  gen_random_uuid: 'VOLATILE', uuid_generate_v1: 'VOLATILE', uuid_generate_v4: 'VOLATILE', txid_current: 'STABLE', pg_current_xact_id: 'STABLE',
  current_setting: 'STABLE', pg_backend_pid: 'STABLE', to_char: 'STABLE', to_date: 'STABLE', current_database: 'STABLE', current_schema: 'STABLE',
}
