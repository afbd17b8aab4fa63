-- 003_production_management: products, people, shifts, schedules, jobs, OEE and downtime.
--
-- What: product_types, users, shifts, production_schedules, job_assignments, and two
-- hypertables: oee_calculations (per line and equipment, about one row per minute) and
-- downtime_events (irregular). Adds context.current_job_id.
-- Why: production management needs a plan (schedules), who does it (users, shifts, job
-- assignments) and what happened (OEE, downtime).
--
-- Chunk intervals (time column):
--   oee_calculations  7 days  (calculation_time)  about 1,440 rows per line per day
--   downtime_events   7 days  (start_time)        irregular, low volume
-- Their primary keys include the time column. Both refer to production_lines / users
-- (foreign keys from a hypertable to plain tables are fine), nothing refers to them.

SET LOCAL lock_timeout = '10s';

CREATE TABLE IF NOT EXISTS factory_telemetry.product_types (
  id                 UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  product_code       TEXT NOT NULL,
  name               TEXT NOT NULL,
  description        TEXT,
  target_speed       NUMERIC(10, 2) CHECK (target_speed >= 0),
  cycle_time_seconds NUMERIC(10, 3) CHECK (cycle_time_seconds > 0),
  quality_specs      JSONB NOT NULL DEFAULT '{}',
  enabled            BOOLEAN NOT NULL DEFAULT TRUE,
  created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
  CONSTRAINT uq_product_types_product_code UNIQUE (product_code)
);

CREATE TABLE IF NOT EXISTS factory_telemetry.users (
  id             UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  username       TEXT NOT NULL,
  email          TEXT,
  password_hash  TEXT,
  first_name     TEXT,
  last_name      TEXT,
  employee_id    TEXT,
  role           TEXT NOT NULL DEFAULT 'operator'
                 CHECK (role IN ('admin', 'production_manager', 'shift_manager', 'engineer', 'operator', 'maintenance', 'quality', 'viewer')),
  department     TEXT,
  skills         TEXT[] NOT NULL DEFAULT '{}',
  certifications TEXT[] NOT NULL DEFAULT '{}',
  is_active      BOOLEAN NOT NULL DEFAULT TRUE,
  last_login_at  TIMESTAMPTZ,
  created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
  CONSTRAINT uq_users_username UNIQUE (username),
  CONSTRAINT uq_users_employee_id UNIQUE (employee_id)
);

CREATE TABLE IF NOT EXISTS factory_telemetry.shifts (
  id         UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  name       TEXT NOT NULL,
  start_time TIME NOT NULL,
  end_time   TIME NOT NULL,
  is_active  BOOLEAN NOT NULL DEFAULT TRUE,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  CONSTRAINT uq_shifts_name UNIQUE (name)
);

CREATE TABLE IF NOT EXISTS factory_telemetry.production_schedules (
  id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  line_id         UUID NOT NULL REFERENCES factory_telemetry.production_lines (id) ON DELETE CASCADE,
  product_type_id UUID NOT NULL REFERENCES factory_telemetry.product_types (id),
  scheduled_start TIMESTAMPTZ NOT NULL,
  scheduled_end   TIMESTAMPTZ NOT NULL,
  target_quantity INTEGER NOT NULL CHECK (target_quantity > 0),
  actual_quantity INTEGER NOT NULL DEFAULT 0 CHECK (actual_quantity >= 0),
  priority        SMALLINT NOT NULL DEFAULT 3 CHECK (priority BETWEEN 1 AND 5),
  status          TEXT NOT NULL DEFAULT 'scheduled'
                  CHECK (status IN ('scheduled', 'in_progress', 'paused', 'completed', 'cancelled')),
  notes           TEXT,
  created_by      UUID REFERENCES factory_telemetry.users (id) ON DELETE SET NULL,
  created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
  CONSTRAINT chk_production_schedules_window CHECK (scheduled_end > scheduled_start)
);

CREATE TABLE IF NOT EXISTS factory_telemetry.job_assignments (
  id           UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  schedule_id  UUID NOT NULL REFERENCES factory_telemetry.production_schedules (id) ON DELETE CASCADE,
  user_id      UUID NOT NULL REFERENCES factory_telemetry.users (id),
  assigned_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
  accepted_at  TIMESTAMPTZ,
  started_at   TIMESTAMPTZ,
  completed_at TIMESTAMPTZ,
  status       TEXT NOT NULL DEFAULT 'assigned'
               CHECK (status IN ('assigned', 'accepted', 'in_progress', 'completed', 'cancelled')),
  notes        TEXT
);

-- OEE per line and equipment (ratios 0..1).
CREATE TABLE IF NOT EXISTS factory_telemetry.oee_calculations (
  line_id                 UUID NOT NULL REFERENCES factory_telemetry.production_lines (id) ON DELETE CASCADE,
  equipment_code          TEXT NOT NULL,
  calculation_time        TIMESTAMPTZ NOT NULL,
  availability            NUMERIC(5, 4) CHECK (availability BETWEEN 0 AND 1),
  performance             NUMERIC(5, 4) CHECK (performance BETWEEN 0 AND 1),
  quality                 NUMERIC(5, 4) CHECK (quality BETWEEN 0 AND 1),
  oee                     NUMERIC(5, 4) CHECK (oee BETWEEN 0 AND 1),
  planned_production_time INTEGER CHECK (planned_production_time >= 0),
  actual_production_time  INTEGER CHECK (actual_production_time >= 0),
  ideal_cycle_time        NUMERIC(10, 3),
  actual_cycle_time       NUMERIC(10, 3),
  good_parts              INTEGER CHECK (good_parts >= 0),
  total_parts             INTEGER CHECK (total_parts >= 0),
  created_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
  CONSTRAINT oee_calculations_pkey PRIMARY KEY (line_id, equipment_code, calculation_time)
);

SELECT create_hypertable('factory_telemetry.oee_calculations', 'calculation_time',
  chunk_time_interval => INTERVAL '7 days', create_default_indexes => FALSE, if_not_exists => TRUE);

CREATE TABLE IF NOT EXISTS factory_telemetry.downtime_events (
  line_id            UUID NOT NULL REFERENCES factory_telemetry.production_lines (id) ON DELETE CASCADE,
  equipment_code     TEXT NOT NULL,
  start_time         TIMESTAMPTZ NOT NULL,
  end_time           TIMESTAMPTZ,
  duration_seconds   INTEGER CHECK (duration_seconds >= 0),
  reason_code        TEXT NOT NULL,
  reason_description TEXT,
  category           TEXT NOT NULL CHECK (category IN ('planned', 'unplanned', 'maintenance', 'changeover')),
  subcategory        TEXT,
  fault_bit_index    INTEGER,
  reported_by        UUID REFERENCES factory_telemetry.users (id) ON DELETE SET NULL,
  confirmed_by       UUID REFERENCES factory_telemetry.users (id) ON DELETE SET NULL,
  confirmed_at       TIMESTAMPTZ,
  notes              TEXT,
  created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
  CONSTRAINT downtime_events_pkey PRIMARY KEY (line_id, equipment_code, start_time)
);

SELECT create_hypertable('factory_telemetry.downtime_events', 'start_time',
  chunk_time_interval => INTERVAL '7 days', create_default_indexes => FALSE, if_not_exists => TRUE);

ALTER TABLE factory_telemetry.context ADD COLUMN IF NOT EXISTS current_job_id UUID;

CREATE OR REPLACE TRIGGER trg_product_types_updated_at
  BEFORE UPDATE ON factory_telemetry.product_types
  FOR EACH ROW EXECUTE FUNCTION factory_telemetry.fn_set_updated_at();

CREATE OR REPLACE TRIGGER trg_users_updated_at
  BEFORE UPDATE ON factory_telemetry.users
  FOR EACH ROW EXECUTE FUNCTION factory_telemetry.fn_set_updated_at();

CREATE OR REPLACE TRIGGER trg_production_schedules_updated_at
  BEFORE UPDATE ON factory_telemetry.production_schedules
  FOR EACH ROW EXECUTE FUNCTION factory_telemetry.fn_set_updated_at();

CREATE INDEX IF NOT EXISTS idx_oee_calculations_ts_desc ON factory_telemetry.oee_calculations (calculation_time DESC);
CREATE INDEX IF NOT EXISTS idx_downtime_events_start_desc ON factory_telemetry.downtime_events (start_time DESC);
CREATE INDEX IF NOT EXISTS idx_production_schedules_line_start ON factory_telemetry.production_schedules (line_id, scheduled_start);
CREATE INDEX IF NOT EXISTS idx_production_schedules_status ON factory_telemetry.production_schedules (status);
CREATE INDEX IF NOT EXISTS idx_job_assignments_user ON factory_telemetry.job_assignments (user_id);
CREATE INDEX IF NOT EXISTS idx_job_assignments_schedule ON factory_telemetry.job_assignments (schedule_id);
CREATE INDEX IF NOT EXISTS idx_downtime_events_category ON factory_telemetry.downtime_events (category, start_time DESC);

COMMENT ON TABLE factory_telemetry.oee_calculations IS 'OEE per line and equipment (TimescaleDB hypertable on calculation_time, 7-day chunks)';
COMMENT ON TABLE factory_telemetry.downtime_events IS 'Downtime events (TimescaleDB hypertable on start_time, 7-day chunks)';
