-- 008_fix_critical_schema_issues: the integrity fixes the schema assessment asked for.
--
-- What:
--   1. Backfills (each touches only rows that still need it, so a re-run changes nothing):
--      context.production_line_id and equipment_config.production_line_id from
--      production_lines.equipment_codes, fault_catalog entries for fault bits seen in
--      fault_active / fault_event but missing from the catalog, NULL timestamps on
--      production_lines, NULL metric_binding.scale_factor.
--   2. NOT NULL with defaults: production_lines.created_at / updated_at,
--      metric_binding.scale_factor (DEFAULT 1.0).
--   3. Missing columns and foreign keys: job_assignments.shift_id -> shifts,
--      context.production_line_id -> production_lines, context.current_job_id ->
--      job_assignments, fault_active and fault_event -> fault_catalog (a foreign key from a
--      hypertable to a plain table is allowed, the other direction is not before TSDB 2.16).
--   4. CHECK constraints on time order and part counts, and unique constraints on
--      users' e-mail (case-insensitive) and on a PLC tag's address per connection.
-- Why: these were missing in the original schema and let inconsistent rows in.
-- ADD CONSTRAINT has no IF NOT EXISTS, so constraints are added from a guarded block that
-- checks pg_constraint first.

SET LOCAL lock_timeout = '10s';

-- 1. Backfills --------------------------------------------------------------------------------

UPDATE factory_telemetry.context c
   SET production_line_id = pl.id
  FROM factory_telemetry.production_lines pl
 WHERE c.production_line_id IS NULL
   AND c.equipment_code = ANY (pl.equipment_codes);

UPDATE factory_telemetry.equipment_config e
   SET production_line_id = pl.id
  FROM factory_telemetry.production_lines pl
 WHERE e.production_line_id IS NULL
   AND e.equipment_code = ANY (pl.equipment_codes);

INSERT INTO factory_telemetry.fault_catalog (equipment_code, bit_index, name, description)
SELECT DISTINCT s.equipment_code, s.bit_index, 'Fault bit ' || s.bit_index, 'Added by migration 008: seen in fault data, missing from the catalog'
  FROM (
    SELECT equipment_code, bit_index FROM factory_telemetry.fault_active
    UNION
    SELECT equipment_code, bit_index FROM factory_telemetry.fault_event
  ) s
 WHERE s.bit_index BETWEEN 0 AND 1023
ON CONFLICT (equipment_code, bit_index) DO NOTHING;

UPDATE factory_telemetry.production_lines
   SET created_at = COALESCE(created_at, now()), updated_at = COALESCE(updated_at, created_at, now())
 WHERE created_at IS NULL OR updated_at IS NULL;

UPDATE factory_telemetry.metric_binding SET scale_factor = 1.0 WHERE scale_factor IS NULL;

-- 2. NOT NULL with defaults (SET NOT NULL / SET DEFAULT are no-ops when already so) -------------

ALTER TABLE factory_telemetry.production_lines ALTER COLUMN created_at SET NOT NULL;
ALTER TABLE factory_telemetry.production_lines ALTER COLUMN updated_at SET NOT NULL;
ALTER TABLE factory_telemetry.metric_binding ALTER COLUMN scale_factor SET DEFAULT 1.0;
ALTER TABLE factory_telemetry.metric_binding ALTER COLUMN scale_factor SET NOT NULL;

-- 3. Missing column ---------------------------------------------------------------------------

ALTER TABLE factory_telemetry.job_assignments ADD COLUMN IF NOT EXISTS shift_id UUID;

-- 3 and 4. Constraints, each added only when missing ---------------------------------------------

DO $$
DECLARE
  c RECORD;
BEGIN
  FOR c IN
    SELECT * FROM (VALUES
      ('factory_telemetry.context', 'fk_context_production_line',
       'FOREIGN KEY (production_line_id) REFERENCES factory_telemetry.production_lines (id) ON DELETE SET NULL'),
      ('factory_telemetry.context', 'fk_context_current_job',
       'FOREIGN KEY (current_job_id) REFERENCES factory_telemetry.job_assignments (id) ON DELETE SET NULL'),
      ('factory_telemetry.job_assignments', 'fk_job_assignments_shift',
       'FOREIGN KEY (shift_id) REFERENCES factory_telemetry.shifts (id) ON DELETE SET NULL'),
      ('factory_telemetry.fault_active', 'fk_fault_active_catalog',
       'FOREIGN KEY (equipment_code, bit_index) REFERENCES factory_telemetry.fault_catalog (equipment_code, bit_index) ON DELETE CASCADE'),
      ('factory_telemetry.fault_event', 'fk_fault_event_catalog',
       'FOREIGN KEY (equipment_code, bit_index) REFERENCES factory_telemetry.fault_catalog (equipment_code, bit_index)'),
      ('factory_telemetry.fault_event', 'chk_fault_event_off_after_on',
       'CHECK (ts_off IS NULL OR ts_off >= ts_on)'),
      ('factory_telemetry.downtime_events', 'chk_downtime_events_end_after_start',
       'CHECK (end_time IS NULL OR end_time >= start_time)'),
      ('factory_telemetry.oee_calculations', 'chk_oee_calculations_parts',
       'CHECK (good_parts IS NULL OR total_parts IS NULL OR good_parts <= total_parts)'),
      ('factory_telemetry.job_assignments', 'chk_job_assignments_completion',
       'CHECK (completed_at IS NULL OR started_at IS NULL OR completed_at >= started_at)'),
      ('factory_telemetry.metric_binding', 'chk_metric_binding_scale_nonzero',
       'CHECK (scale_factor <> 0)'),
      ('factory_telemetry.plc_tags', 'uq_plc_tags_connection_address',
       'UNIQUE (connection_id, address)')
    ) AS v (tbl, conname, def)
  LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = c.tbl::regclass AND conname = c.conname) THEN
      EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', c.tbl, c.conname, c.def);
    END IF;
  END LOOP;
END
$$;

CREATE UNIQUE INDEX IF NOT EXISTS uq_users_email_lower ON factory_telemetry.users (lower(email));
CREATE INDEX IF NOT EXISTS idx_job_assignments_shift ON factory_telemetry.job_assignments (shift_id);
CREATE INDEX IF NOT EXISTS idx_context_current_job ON factory_telemetry.context (current_job_id);
