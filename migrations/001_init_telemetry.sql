-- 001_init_telemetry: the telemetry core of MS5.0.
--
-- What: metric definitions and their PLC bindings, the latest value per metric, the metric
-- history (hypertable), the fault catalog, active faults, the fault history (hypertable) and
-- the per-equipment context, plus the shared updated_at trigger function and a helper that
-- records one metric sample.
-- Why: every later migration (lines, production, andon, reports, PLC integration) hangs off
-- these tables. Idempotent: every statement is IF NOT EXISTS / OR REPLACE / if_not_exists.
--
-- The runner's bootstrap already creates the extension and the schema, so the two statements
-- below are no-ops there. They keep the file runnable on its own. No down file drops them.
--
-- Chunk intervals (time column):
--   metric_hist  1 day   (ts)     1-second samples, about 86,400 rows per metric per day
--   fault_event  7 days  (ts_on)  irregular, about 100-1,000 rows per day
-- Hypertables are created with create_default_indexes => FALSE: their time indexes are
-- created explicitly below, with stable names (idx_<table>_<time>_desc).
-- Primary keys on hypertables include the time column (TimescaleDB requires it), and no
-- foreign key refers to a hypertable (not supported before TimescaleDB 2.16).

CREATE EXTENSION IF NOT EXISTS timescaledb;
CREATE SCHEMA IF NOT EXISTS factory_telemetry;

-- Shared trigger function: keeps updated_at current on UPDATE.
CREATE OR REPLACE FUNCTION factory_telemetry.fn_set_updated_at()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END
$$;

-- Canonical metric definition per equipment.
CREATE TABLE IF NOT EXISTS factory_telemetry.metric_def (
  id             UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  equipment_code TEXT NOT NULL,
  metric_key     TEXT NOT NULL,
  value_type     TEXT NOT NULL CHECK (value_type IN ('BOOL', 'INT', 'REAL', 'TEXT', 'JSON')),
  unit           TEXT,
  description    TEXT NOT NULL,
  is_active      BOOLEAN NOT NULL DEFAULT TRUE,
  created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
  CONSTRAINT uq_metric_def_equipment_metric UNIQUE (equipment_code, metric_key)
);

-- Where a metric comes from on the PLC (address or tag name, optional bit, scaling).
CREATE TABLE IF NOT EXISTS factory_telemetry.metric_binding (
  id            UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  metric_def_id UUID NOT NULL REFERENCES factory_telemetry.metric_def (id) ON DELETE CASCADE,
  plc_kind      TEXT NOT NULL CHECK (plc_kind IN ('LOGIX', 'SLC')),
  address       TEXT NOT NULL,
  bit_index     SMALLINT CHECK (bit_index BETWEEN 0 AND 31),
  scale_factor  DOUBLE PRECISION,
  parse_hint    TEXT,
  CONSTRAINT uq_metric_binding_source UNIQUE (metric_def_id, plc_kind, address)
);

-- Latest value per metric (one row per metric, upserted by the poller).
CREATE TABLE IF NOT EXISTS factory_telemetry.metric_latest (
  metric_def_id UUID PRIMARY KEY REFERENCES factory_telemetry.metric_def (id) ON DELETE CASCADE,
  ts            TIMESTAMPTZ NOT NULL,
  value_bool    BOOLEAN,
  value_int     BIGINT,
  value_real    DOUBLE PRECISION,
  value_text    TEXT,
  value_json    JSONB
);

-- Metric history: the main time-series table.
CREATE TABLE IF NOT EXISTS factory_telemetry.metric_hist (
  metric_def_id UUID NOT NULL REFERENCES factory_telemetry.metric_def (id) ON DELETE CASCADE,
  ts            TIMESTAMPTZ NOT NULL,
  value_bool    BOOLEAN,
  value_int     BIGINT,
  value_real    DOUBLE PRECISION,
  value_text    TEXT,
  value_json    JSONB,
  quality       SMALLINT NOT NULL DEFAULT 192,
  CONSTRAINT metric_hist_pkey PRIMARY KEY (metric_def_id, ts)
);

SELECT create_hypertable('factory_telemetry.metric_hist', 'ts',
  chunk_time_interval => INTERVAL '1 day', create_default_indexes => FALSE, if_not_exists => TRUE);

-- Fault bits per equipment.
CREATE TABLE IF NOT EXISTS factory_telemetry.fault_catalog (
  id             UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  equipment_code TEXT NOT NULL,
  bit_index      INTEGER NOT NULL CHECK (bit_index BETWEEN 0 AND 1023),
  name           TEXT NOT NULL,
  description    TEXT,
  marker         TEXT NOT NULL DEFAULT 'INTERNAL' CHECK (marker IN ('INTERNAL', 'UPSTREAM', 'DOWNSTREAM')),
  severity       TEXT NOT NULL DEFAULT 'medium' CHECK (severity IN ('low', 'medium', 'high', 'critical')),
  is_active      BOOLEAN NOT NULL DEFAULT TRUE,
  created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
  CONSTRAINT uq_fault_catalog_equipment_bit UNIQUE (equipment_code, bit_index)
);

-- Faults that are on right now.
CREATE TABLE IF NOT EXISTS factory_telemetry.fault_active (
  equipment_code TEXT NOT NULL,
  bit_index      INTEGER NOT NULL,
  since_ts       TIMESTAMPTZ NOT NULL,
  last_update_ts TIMESTAMPTZ NOT NULL DEFAULT now(),
  CONSTRAINT fault_active_pkey PRIMARY KEY (equipment_code, bit_index)
);

-- Fault history: one row per fault occurrence (ts_off is NULL while the fault is on).
CREATE TABLE IF NOT EXISTS factory_telemetry.fault_event (
  equipment_code TEXT NOT NULL,
  bit_index      INTEGER NOT NULL,
  ts_on          TIMESTAMPTZ NOT NULL,
  ts_off         TIMESTAMPTZ,
  duration_s     NUMERIC(12, 3),
  detail         JSONB,
  CONSTRAINT fault_event_pkey PRIMARY KEY (equipment_code, bit_index, ts_on)
);

SELECT create_hypertable('factory_telemetry.fault_event', 'ts_on',
  chunk_time_interval => INTERVAL '7 days', create_default_indexes => FALSE, if_not_exists => TRUE);

-- What each piece of equipment is doing (operator, shift, planned stop).
CREATE TABLE IF NOT EXISTS factory_telemetry.context (
  equipment_code      TEXT PRIMARY KEY,
  current_operator    TEXT,
  current_shift       TEXT,
  planned_stop        BOOLEAN NOT NULL DEFAULT FALSE,
  planned_stop_reason TEXT,
  updated_at          TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE OR REPLACE TRIGGER trg_context_updated_at
  BEFORE UPDATE ON factory_telemetry.context
  FOR EACH ROW EXECUTE FUNCTION factory_telemetry.fn_set_updated_at();

CREATE INDEX IF NOT EXISTS idx_metric_hist_ts_desc ON factory_telemetry.metric_hist (ts DESC);
CREATE INDEX IF NOT EXISTS idx_fault_event_ts_on_desc ON factory_telemetry.fault_event (ts_on DESC);
CREATE INDEX IF NOT EXISTS idx_metric_def_equipment ON factory_telemetry.metric_def (equipment_code);
CREATE INDEX IF NOT EXISTS idx_metric_binding_metric_def ON factory_telemetry.metric_binding (metric_def_id);
CREATE INDEX IF NOT EXISTS idx_fault_active_since ON factory_telemetry.fault_active (since_ts);
CREATE INDEX IF NOT EXISTS idx_fault_event_equipment_ts ON factory_telemetry.fault_event (equipment_code, ts_on DESC);

-- Records one sample: appends to metric_hist and upserts metric_latest (never moves it back in time).
CREATE OR REPLACE FUNCTION factory_telemetry.fn_record_metric(
  p_metric_def_id UUID,
  p_ts            TIMESTAMPTZ,
  p_value_bool    BOOLEAN DEFAULT NULL,
  p_value_int     BIGINT DEFAULT NULL,
  p_value_real    DOUBLE PRECISION DEFAULT NULL,
  p_value_text    TEXT DEFAULT NULL,
  p_value_json    JSONB DEFAULT NULL
)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
  INSERT INTO factory_telemetry.metric_hist (metric_def_id, ts, value_bool, value_int, value_real, value_text, value_json)
  VALUES (p_metric_def_id, p_ts, p_value_bool, p_value_int, p_value_real, p_value_text, p_value_json)
  ON CONFLICT (metric_def_id, ts) DO NOTHING;

  INSERT INTO factory_telemetry.metric_latest AS l (metric_def_id, ts, value_bool, value_int, value_real, value_text, value_json)
  VALUES (p_metric_def_id, p_ts, p_value_bool, p_value_int, p_value_real, p_value_text, p_value_json)
  ON CONFLICT (metric_def_id) DO UPDATE
    SET ts = EXCLUDED.ts, value_bool = EXCLUDED.value_bool, value_int = EXCLUDED.value_int,
        value_real = EXCLUDED.value_real, value_text = EXCLUDED.value_text, value_json = EXCLUDED.value_json
    WHERE l.ts <= EXCLUDED.ts;
END
$$;

COMMENT ON TABLE factory_telemetry.metric_hist IS 'Metric history (TimescaleDB hypertable on ts, 1-day chunks)';
COMMENT ON TABLE factory_telemetry.fault_event IS 'Fault history (TimescaleDB hypertable on ts_on, 7-day chunks)';
