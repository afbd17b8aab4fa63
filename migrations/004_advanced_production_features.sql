-- 004_advanced_production_features: energy, KPIs, quality and maintenance.
--
-- What: energy_consumption (hypertable, about one reading per meter per minute),
-- production_kpis (hypertable, summaries per line per shift/day/week/month),
-- defect_codes, quality_checks and maintenance_work_orders.
-- Why: the advanced dashboards (energy per unit, KPI trends, first-pass yield, maintenance
-- backlog) read these.
--
-- Chunk intervals (time column):
--   energy_consumption  1 day   (consumption_time)  1-minute readings per meter
--   production_kpis     7 days  (period_start)      a few rows per line per day
-- Primary keys include the time column; nothing refers to these hypertables.

SET LOCAL lock_timeout = '10s';

CREATE TABLE IF NOT EXISTS factory_telemetry.energy_consumption (
  equipment_code   TEXT NOT NULL,
  consumption_time TIMESTAMPTZ NOT NULL,
  line_id          UUID REFERENCES factory_telemetry.production_lines (id) ON DELETE SET NULL,
  power_kw         DOUBLE PRECISION CHECK (power_kw >= 0),
  energy_kwh       DOUBLE PRECISION CHECK (energy_kwh >= 0),
  voltage_v        DOUBLE PRECISION,
  current_a        DOUBLE PRECISION,
  power_factor     NUMERIC(4, 3) CHECK (power_factor BETWEEN 0 AND 1),
  created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
  CONSTRAINT energy_consumption_pkey PRIMARY KEY (equipment_code, consumption_time)
);

SELECT create_hypertable('factory_telemetry.energy_consumption', 'consumption_time',
  chunk_time_interval => INTERVAL '1 day', create_default_indexes => FALSE, if_not_exists => TRUE);

CREATE TABLE IF NOT EXISTS factory_telemetry.production_kpis (
  line_id              UUID NOT NULL REFERENCES factory_telemetry.production_lines (id) ON DELETE CASCADE,
  period_type          TEXT NOT NULL DEFAULT 'day' CHECK (period_type IN ('shift', 'day', 'week', 'month')),
  period_start         TIMESTAMPTZ NOT NULL,
  period_end           TIMESTAMPTZ NOT NULL,
  oee                  NUMERIC(5, 4) CHECK (oee BETWEEN 0 AND 1),
  availability         NUMERIC(5, 4) CHECK (availability BETWEEN 0 AND 1),
  performance          NUMERIC(5, 4) CHECK (performance BETWEEN 0 AND 1),
  quality              NUMERIC(5, 4) CHECK (quality BETWEEN 0 AND 1),
  planned_units        INTEGER CHECK (planned_units >= 0),
  produced_units       INTEGER CHECK (produced_units >= 0),
  good_units           INTEGER CHECK (good_units >= 0),
  scrap_units          INTEGER CHECK (scrap_units >= 0),
  downtime_minutes     NUMERIC(10, 2) CHECK (downtime_minutes >= 0),
  mtbf_minutes         NUMERIC(10, 2),
  mttr_minutes         NUMERIC(10, 2),
  energy_kwh           DOUBLE PRECISION,
  created_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
  CONSTRAINT production_kpis_pkey PRIMARY KEY (line_id, period_type, period_start),
  CONSTRAINT chk_production_kpis_period CHECK (period_end > period_start)
);

SELECT create_hypertable('factory_telemetry.production_kpis', 'period_start',
  chunk_time_interval => INTERVAL '7 days', create_default_indexes => FALSE, if_not_exists => TRUE);

CREATE TABLE IF NOT EXISTS factory_telemetry.defect_codes (
  code        TEXT PRIMARY KEY,
  description TEXT NOT NULL,
  category    TEXT NOT NULL DEFAULT 'other' CHECK (category IN ('dimensional', 'visual', 'functional', 'packaging', 'material', 'other')),
  severity    TEXT NOT NULL DEFAULT 'minor' CHECK (severity IN ('minor', 'major', 'critical')),
  is_active   BOOLEAN NOT NULL DEFAULT TRUE
);

CREATE TABLE IF NOT EXISTS factory_telemetry.quality_checks (
  id               UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  line_id          UUID NOT NULL REFERENCES factory_telemetry.production_lines (id) ON DELETE CASCADE,
  product_type_id  UUID REFERENCES factory_telemetry.product_types (id),
  schedule_id      UUID REFERENCES factory_telemetry.production_schedules (id) ON DELETE SET NULL,
  check_time       TIMESTAMPTZ NOT NULL DEFAULT now(),
  check_type       TEXT NOT NULL CHECK (check_type IN ('incoming', 'in_process', 'final', 'audit')),
  result           TEXT NOT NULL CHECK (result IN ('pass', 'fail', 'conditional_pass')),
  quantity_checked INTEGER NOT NULL CHECK (quantity_checked >= 0),
  quantity_passed  INTEGER NOT NULL CHECK (quantity_passed >= 0),
  quantity_failed  INTEGER NOT NULL CHECK (quantity_failed >= 0),
  defect_codes     TEXT[] NOT NULL DEFAULT '{}',
  measurements     JSONB NOT NULL DEFAULT '{}',
  checked_by       UUID REFERENCES factory_telemetry.users (id) ON DELETE SET NULL,
  notes            TEXT,
  created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
  CONSTRAINT chk_quality_checks_quantities CHECK (quantity_passed + quantity_failed <= quantity_checked)
);

CREATE TABLE IF NOT EXISTS factory_telemetry.maintenance_work_orders (
  id                UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  work_order_number TEXT NOT NULL,
  equipment_code    TEXT NOT NULL,
  title             TEXT NOT NULL,
  description       TEXT,
  work_type         TEXT NOT NULL DEFAULT 'corrective' CHECK (work_type IN ('preventive', 'corrective', 'predictive', 'emergency')),
  priority          TEXT NOT NULL DEFAULT 'medium' CHECK (priority IN ('low', 'medium', 'high', 'critical')),
  status            TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'assigned', 'in_progress', 'completed', 'cancelled')),
  scheduled_date    DATE,
  due_date          DATE,
  assigned_to       UUID REFERENCES factory_telemetry.users (id) ON DELETE SET NULL,
  created_by        UUID REFERENCES factory_telemetry.users (id) ON DELETE SET NULL,
  started_at        TIMESTAMPTZ,
  completed_at      TIMESTAMPTZ,
  estimated_hours   NUMERIC(6, 2) CHECK (estimated_hours >= 0),
  actual_hours      NUMERIC(6, 2) CHECK (actual_hours >= 0),
  created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
  CONSTRAINT uq_maintenance_work_orders_number UNIQUE (work_order_number)
);

CREATE OR REPLACE TRIGGER trg_maintenance_work_orders_updated_at
  BEFORE UPDATE ON factory_telemetry.maintenance_work_orders
  FOR EACH ROW EXECUTE FUNCTION factory_telemetry.fn_set_updated_at();

CREATE INDEX IF NOT EXISTS idx_energy_consumption_time_desc ON factory_telemetry.energy_consumption (consumption_time DESC);
CREATE INDEX IF NOT EXISTS idx_production_kpis_period_start_desc ON factory_telemetry.production_kpis (period_start DESC);
CREATE INDEX IF NOT EXISTS idx_energy_consumption_line_time ON factory_telemetry.energy_consumption (line_id, consumption_time DESC);
CREATE INDEX IF NOT EXISTS idx_quality_checks_line_time ON factory_telemetry.quality_checks (line_id, check_time DESC);
CREATE INDEX IF NOT EXISTS idx_maintenance_work_orders_equipment_status ON factory_telemetry.maintenance_work_orders (equipment_code, status);

COMMENT ON TABLE factory_telemetry.energy_consumption IS 'Energy readings (TimescaleDB hypertable on consumption_time, 1-day chunks)';
COMMENT ON TABLE factory_telemetry.production_kpis IS 'KPI summaries per line and period (TimescaleDB hypertable on period_start, 7-day chunks)';
