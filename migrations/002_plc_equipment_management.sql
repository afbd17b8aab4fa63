-- 002_plc_equipment_management: production lines and per-equipment configuration.
--
-- What: production_lines (which equipment makes up a line, its target speed), equipment_config
-- (equipment type, ideal cycle time, OEE targets, fault thresholds and andon settings per PLC
-- equipment code), and context.production_line_id so the live context knows its line.
-- Why: OEE, downtime, andon and reports (003-006) are all per line.
-- The foreign key from context.production_line_id is added by 008 (it was missing originally).

SET LOCAL lock_timeout = '10s';

CREATE TABLE IF NOT EXISTS factory_telemetry.production_lines (
  id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  line_code       TEXT NOT NULL,
  name            TEXT NOT NULL,
  description     TEXT,
  equipment_codes TEXT[] NOT NULL DEFAULT '{}',
  target_speed    NUMERIC(10, 2) CHECK (target_speed >= 0),
  enabled         BOOLEAN NOT NULL DEFAULT TRUE,
  created_at      TIMESTAMPTZ DEFAULT now(),
  updated_at      TIMESTAMPTZ DEFAULT now(),
  CONSTRAINT uq_production_lines_line_code UNIQUE (line_code)
);

CREATE TABLE IF NOT EXISTS factory_telemetry.equipment_config (
  equipment_code     TEXT PRIMARY KEY,
  production_line_id UUID REFERENCES factory_telemetry.production_lines (id) ON DELETE SET NULL,
  equipment_type     TEXT NOT NULL DEFAULT 'production'
                     CHECK (equipment_type IN ('production', 'packaging', 'conveyor', 'inspection', 'utility')),
  ideal_cycle_time_s NUMERIC(10, 3) CHECK (ideal_cycle_time_s > 0),
  target_speed       NUMERIC(10, 2) CHECK (target_speed >= 0),
  oee_targets        JSONB NOT NULL DEFAULT '{"availability": 0.90, "performance": 0.95, "quality": 0.99}',
  fault_thresholds   JSONB NOT NULL DEFAULT '{}',
  andon_settings     JSONB NOT NULL DEFAULT '{}',
  created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);

ALTER TABLE factory_telemetry.context ADD COLUMN IF NOT EXISTS production_line_id UUID;

CREATE OR REPLACE TRIGGER trg_production_lines_updated_at
  BEFORE UPDATE ON factory_telemetry.production_lines
  FOR EACH ROW EXECUTE FUNCTION factory_telemetry.fn_set_updated_at();

CREATE OR REPLACE TRIGGER trg_equipment_config_updated_at
  BEFORE UPDATE ON factory_telemetry.equipment_config
  FOR EACH ROW EXECUTE FUNCTION factory_telemetry.fn_set_updated_at();

CREATE INDEX IF NOT EXISTS idx_production_lines_equipment_codes ON factory_telemetry.production_lines USING gin (equipment_codes);
CREATE INDEX IF NOT EXISTS idx_equipment_config_line ON factory_telemetry.equipment_config (production_line_id);
CREATE INDEX IF NOT EXISTS idx_context_production_line ON factory_telemetry.context (production_line_id);
