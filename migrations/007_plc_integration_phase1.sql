-- 007_plc_integration_phase1: PLC connections and tags.
--
-- What: plc_connections (one PLC on the network: address, driver, poll rate, status),
-- plc_tags (the tags read from each PLC, their type and scaling, and the metric they feed),
-- and metric_binding.plc_tag_id linking the older address-based bindings to a tag.
-- Why: phase 1 of the PLC integration moves polling configuration from files into the
-- database. The foreign key on metric_binding.plc_tag_id is added in a guarded block
-- (ADD CONSTRAINT has no IF NOT EXISTS).

SET LOCAL lock_timeout = '10s';

CREATE TABLE IF NOT EXISTS factory_telemetry.plc_connections (
  id                UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  name              TEXT NOT NULL,
  ip_address        INET NOT NULL,
  port              INTEGER NOT NULL DEFAULT 44818 CHECK (port BETWEEN 1 AND 65535),
  plc_type          TEXT NOT NULL CHECK (plc_type IN ('LOGIX', 'SLC', 'MICRO800', 'MODBUS_TCP', 'OPC_UA')),
  slot              SMALLINT NOT NULL DEFAULT 0 CHECK (slot >= 0),
  line_id           UUID REFERENCES factory_telemetry.production_lines (id) ON DELETE SET NULL,
  poll_interval_ms  INTEGER NOT NULL DEFAULT 1000 CHECK (poll_interval_ms > 0),
  timeout_ms        INTEGER NOT NULL DEFAULT 5000 CHECK (timeout_ms > 0),
  enabled           BOOLEAN NOT NULL DEFAULT TRUE,
  connection_config JSONB NOT NULL DEFAULT '{}',
  status            TEXT NOT NULL DEFAULT 'unknown' CHECK (status IN ('unknown', 'connected', 'disconnected', 'error')),
  last_connected_at TIMESTAMPTZ,
  last_error        TEXT,
  created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
  CONSTRAINT uq_plc_connections_name UNIQUE (name)
);

CREATE TABLE IF NOT EXISTS factory_telemetry.plc_tags (
  id            UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  connection_id UUID NOT NULL REFERENCES factory_telemetry.plc_connections (id) ON DELETE CASCADE,
  tag_name      TEXT NOT NULL,
  address       TEXT NOT NULL,
  data_type     TEXT NOT NULL CHECK (data_type IN ('BOOL', 'SINT', 'INT', 'DINT', 'LINT', 'REAL', 'LREAL', 'STRING', 'UDT')),
  metric_def_id UUID REFERENCES factory_telemetry.metric_def (id) ON DELETE SET NULL,
  scan_rate_ms  INTEGER CHECK (scan_rate_ms > 0),
  scale_factor  DOUBLE PRECISION NOT NULL DEFAULT 1.0,
  offset_value  DOUBLE PRECISION NOT NULL DEFAULT 0.0,
  is_writable   BOOLEAN NOT NULL DEFAULT FALSE,
  enabled       BOOLEAN NOT NULL DEFAULT TRUE,
  description   TEXT,
  created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
  CONSTRAINT uq_plc_tags_connection_tag UNIQUE (connection_id, tag_name)
);

ALTER TABLE factory_telemetry.metric_binding ADD COLUMN IF NOT EXISTS plc_tag_id UUID;

DO $$
BEGIN
  IF NOT EXISTS (
    SELECT 1 FROM pg_constraint
     WHERE conrelid = 'factory_telemetry.metric_binding'::regclass AND conname = 'fk_metric_binding_plc_tag'
  ) THEN
    ALTER TABLE factory_telemetry.metric_binding
      ADD CONSTRAINT fk_metric_binding_plc_tag FOREIGN KEY (plc_tag_id)
      REFERENCES factory_telemetry.plc_tags (id) ON DELETE SET NULL;
  END IF;
END
$$;

CREATE OR REPLACE TRIGGER trg_plc_connections_updated_at
  BEFORE UPDATE ON factory_telemetry.plc_connections
  FOR EACH ROW EXECUTE FUNCTION factory_telemetry.fn_set_updated_at();

CREATE OR REPLACE TRIGGER trg_plc_tags_updated_at
  BEFORE UPDATE ON factory_telemetry.plc_tags
  FOR EACH ROW EXECUTE FUNCTION factory_telemetry.fn_set_updated_at();

CREATE INDEX IF NOT EXISTS idx_plc_connections_line ON factory_telemetry.plc_connections (line_id);
CREATE INDEX IF NOT EXISTS idx_plc_tags_metric_def ON factory_telemetry.plc_tags (metric_def_id);
CREATE INDEX IF NOT EXISTS idx_plc_tags_enabled ON factory_telemetry.plc_tags (connection_id) WHERE enabled;
CREATE INDEX IF NOT EXISTS idx_metric_binding_plc_tag ON factory_telemetry.metric_binding (plc_tag_id);
