-- 008_fix_critical_schema_issues: the integrity fixes the schema assessment asked for.
--
-- What:
--   0. Existing rows that would break the new constraints are brought into line first, so the
--      migration stands on its own on a production database with years of data: every such row
--      is copied to factory_telemetry.migration_quarantine (table, reason, 'fixed' or 'deleted',
--      the whole row as JSON), then fixed where a safe fix exists (a time that ends before it
--      starts ends when it starts, good parts are capped at total parts, a zero scale factor
--      becomes 1.0, a dangling reference becomes NULL, a duplicate user e-mail is cleared on the
--      newer user, bindings of a duplicate PLC tag move to the kept tag) and deleted where none
--      does (fault rows whose bit cannot have a catalog entry, duplicate PLC tags). Each step
--      touches only rows that still break the rule, so a re-run changes nothing.
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
-- Order, and why: a statement's locks are held until COMMIT, so the statements that take ACCESS
-- EXCLUSIVE on tables the dashboards read (the CHECK constraints on the hypertables, SET NOT NULL on
-- production_lines) come last: written in section order, a dashboard query on production_lines
-- waited ~0.25-0.57 s behind SET NOT NULL for the rest of the transaction (pgverify rehearse, one
-- day of data, the seeds' workload); in this order no statement of 008 breaks the seeds' limits.
-- Why: these were missing in the original schema and let inconsistent rows in.
-- ADD CONSTRAINT has no IF NOT EXISTS, so constraints are added from a guarded block that
-- checks pg_constraint first. The changes to existing rows are declared in manifest.json
-- (migrations["008_fix_critical_schema_issues"].dataChanges) and checked by verify's
-- data-properties stage; to see what a run quarantined:
--   SELECT source_table, action, reason, count(*) FROM factory_telemetry.migration_quarantine
--    WHERE migration = '008_fix_critical_schema_issues' GROUP BY 1, 2, 3;

SET LOCAL lock_timeout = '10s';

-- 0. Rows that would break the new constraints: quarantined, then fixed or deleted -------------

CREATE TABLE IF NOT EXISTS factory_telemetry.migration_quarantine (
  id             UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  migration      TEXT NOT NULL,
  source_table   TEXT NOT NULL,
  reason         TEXT NOT NULL,
  action         TEXT NOT NULL CHECK (action IN ('fixed', 'deleted')),
  row_data       JSONB NOT NULL,
  quarantined_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Each step below copies the rows it changes to the quarantine and changes them in one statement
-- (all parts of a WITH see the rows as they were when the statement started).

-- fk_fault_event_catalog / fk_fault_active_catalog: the catalog only holds bits 0-1023.
WITH gone AS (DELETE FROM factory_telemetry.fault_event WHERE bit_index NOT BETWEEN 0 AND 1023 RETURNING *)
INSERT INTO factory_telemetry.migration_quarantine (migration, source_table, reason, action, row_data)
SELECT '008_fix_critical_schema_issues', 'factory_telemetry.fault_event', 'bit_index outside 0-1023: no fault_catalog entry can exist (fk_fault_event_catalog)', 'deleted', to_jsonb(gone) FROM gone;

WITH gone AS (DELETE FROM factory_telemetry.fault_active WHERE bit_index NOT BETWEEN 0 AND 1023 RETURNING *)
INSERT INTO factory_telemetry.migration_quarantine (migration, source_table, reason, action, row_data)
SELECT '008_fix_critical_schema_issues', 'factory_telemetry.fault_active', 'bit_index outside 0-1023: no fault_catalog entry can exist (fk_fault_active_catalog)', 'deleted', to_jsonb(gone) FROM gone;

-- chk_fault_event_off_after_on: a fault that ends before it starts ends when it starts.
WITH old AS (SELECT * FROM factory_telemetry.fault_event WHERE ts_off < ts_on),
     fix AS (UPDATE factory_telemetry.fault_event SET ts_off = ts_on WHERE ts_off < ts_on)
INSERT INTO factory_telemetry.migration_quarantine (migration, source_table, reason, action, row_data)
SELECT '008_fix_critical_schema_issues', 'factory_telemetry.fault_event', 'ts_off before ts_on (chk_fault_event_off_after_on): ts_off set to ts_on', 'fixed', to_jsonb(old) FROM old;

-- chk_downtime_events_end_after_start
WITH old AS (SELECT * FROM factory_telemetry.downtime_events WHERE end_time < start_time),
     fix AS (UPDATE factory_telemetry.downtime_events SET end_time = start_time WHERE end_time < start_time)
INSERT INTO factory_telemetry.migration_quarantine (migration, source_table, reason, action, row_data)
SELECT '008_fix_critical_schema_issues', 'factory_telemetry.downtime_events', 'end_time before start_time (chk_downtime_events_end_after_start): end_time set to start_time', 'fixed', to_jsonb(old) FROM old;

-- chk_oee_calculations_parts
WITH old AS (SELECT * FROM factory_telemetry.oee_calculations WHERE good_parts > total_parts),
     fix AS (UPDATE factory_telemetry.oee_calculations SET good_parts = total_parts WHERE good_parts > total_parts)
INSERT INTO factory_telemetry.migration_quarantine (migration, source_table, reason, action, row_data)
SELECT '008_fix_critical_schema_issues', 'factory_telemetry.oee_calculations', 'good_parts above total_parts (chk_oee_calculations_parts): good_parts set to total_parts', 'fixed', to_jsonb(old) FROM old;

-- chk_job_assignments_completion
WITH old AS (SELECT * FROM factory_telemetry.job_assignments WHERE completed_at < started_at),
     fix AS (UPDATE factory_telemetry.job_assignments SET completed_at = started_at WHERE completed_at < started_at)
INSERT INTO factory_telemetry.migration_quarantine (migration, source_table, reason, action, row_data)
SELECT '008_fix_critical_schema_issues', 'factory_telemetry.job_assignments', 'completed_at before started_at (chk_job_assignments_completion): completed_at set to started_at', 'fixed', to_jsonb(old) FROM old;

-- chk_metric_binding_scale_nonzero: a zero scale maps every value to 0; 1.0 passes values through.
WITH old AS (SELECT * FROM factory_telemetry.metric_binding WHERE scale_factor = 0),
     fix AS (UPDATE factory_telemetry.metric_binding SET scale_factor = 1.0 WHERE scale_factor = 0)
INSERT INTO factory_telemetry.migration_quarantine (migration, source_table, reason, action, row_data)
SELECT '008_fix_critical_schema_issues', 'factory_telemetry.metric_binding', 'scale_factor 0 (chk_metric_binding_scale_nonzero): set to 1.0', 'fixed', to_jsonb(old) FROM old;

-- fk_context_production_line / fk_context_current_job: a dangling reference becomes NULL
-- (what ON DELETE SET NULL would have done); the line is backfilled from equipment codes below.
WITH old AS (SELECT * FROM factory_telemetry.context WHERE (production_line_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM factory_telemetry.production_lines pl WHERE pl.id = production_line_id)) OR (current_job_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM factory_telemetry.job_assignments ja WHERE ja.id = current_job_id))),
     fix AS (
       UPDATE factory_telemetry.context
          SET production_line_id = CASE WHEN (production_line_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM factory_telemetry.production_lines pl WHERE pl.id = production_line_id)) THEN NULL ELSE production_line_id END,
              current_job_id = CASE WHEN (current_job_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM factory_telemetry.job_assignments ja WHERE ja.id = current_job_id)) THEN NULL ELSE current_job_id END
        WHERE (production_line_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM factory_telemetry.production_lines pl WHERE pl.id = production_line_id)) OR (current_job_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM factory_telemetry.job_assignments ja WHERE ja.id = current_job_id)))
INSERT INTO factory_telemetry.migration_quarantine (migration, source_table, reason, action, row_data)
SELECT '008_fix_critical_schema_issues', 'factory_telemetry.context', 'production_line_id or current_job_id refers to no row (fk_context_production_line, fk_context_current_job): set to NULL', 'fixed', to_jsonb(old) FROM old;

-- uq_users_email_lower: the oldest user (smallest id) keeps a shared e-mail, the others lose it.
WITH d AS (SELECT id, first_value(id) OVER (PARTITION BY lower(email) ORDER BY id) AS keep FROM factory_telemetry.users WHERE email IS NOT NULL),
     old AS (SELECT u.*, d.keep FROM factory_telemetry.users u JOIN d ON d.id = u.id WHERE d.id <> d.keep),
     fix AS (UPDATE factory_telemetry.users u SET email = NULL FROM d WHERE u.id = d.id AND d.id <> d.keep)
INSERT INTO factory_telemetry.migration_quarantine (migration, source_table, reason, action, row_data)
SELECT '008_fix_critical_schema_issues', 'factory_telemetry.users', 'e-mail already used by user ' || old.keep || ' (uq_users_email_lower): email set to NULL', 'fixed', to_jsonb(old) - 'keep' FROM old;

-- uq_plc_tags_connection_address: the oldest tag (smallest id) of an address stays, the bindings
-- of its duplicates move to it, then the duplicates are deleted.
UPDATE factory_telemetry.metric_binding b SET plc_tag_id = d.keep
  FROM (SELECT id, first_value(id) OVER (PARTITION BY connection_id, address ORDER BY id) AS keep FROM factory_telemetry.plc_tags) d
 WHERE b.plc_tag_id = d.id AND d.id <> d.keep;
WITH d AS (SELECT id, first_value(id) OVER (PARTITION BY connection_id, address ORDER BY id) AS keep FROM factory_telemetry.plc_tags),
     gone AS (DELETE FROM factory_telemetry.plc_tags t USING d WHERE t.id = d.id AND d.id <> d.keep RETURNING t.*, d.keep)
INSERT INTO factory_telemetry.migration_quarantine (migration, source_table, reason, action, row_data)
SELECT '008_fix_critical_schema_issues', 'factory_telemetry.plc_tags', 'same connection and address as tag ' || gone.keep || ' (uq_plc_tags_connection_address): bindings moved to it, tag deleted', 'deleted', to_jsonb(gone) - 'keep' FROM gone;

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

-- 3. Missing column ---------------------------------------------------------------------------

ALTER TABLE factory_telemetry.job_assignments ADD COLUMN IF NOT EXISTS shift_id UUID;

-- Indexes for the new column and constraints (plain tables of a few rows per line or user) ---

CREATE UNIQUE INDEX IF NOT EXISTS uq_users_email_lower ON factory_telemetry.users (lower(email));
CREATE INDEX IF NOT EXISTS idx_job_assignments_shift ON factory_telemetry.job_assignments (shift_id);
CREATE INDEX IF NOT EXISTS idx_context_current_job ON factory_telemetry.context (current_job_id);

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
      ('factory_telemetry.oee_calculations', 'chk_oee_calculations_parts',
       'CHECK (good_parts IS NULL OR total_parts IS NULL OR good_parts <= total_parts)'),
      ('factory_telemetry.job_assignments', 'chk_job_assignments_completion',
       'CHECK (completed_at IS NULL OR started_at IS NULL OR completed_at >= started_at)'),
      ('factory_telemetry.metric_binding', 'chk_metric_binding_scale_nonzero',
       'CHECK (scale_factor <> 0)'),
      ('factory_telemetry.plc_tags', 'uq_plc_tags_connection_address',
       'UNIQUE (connection_id, address)'),
      -- Last: its ACCESS EXCLUSIVE on downtime_events (read by the dashboards) is held until COMMIT.
      ('factory_telemetry.downtime_events', 'chk_downtime_events_end_after_start',
       'CHECK (end_time IS NULL OR end_time >= start_time)')
    ) AS v (tbl, conname, def)
  LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = c.tbl::regclass AND conname = c.conname) THEN
      EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', c.tbl, c.conname, c.def);
    END IF;
  END LOOP;
END
$$;

-- 2. NOT NULL with defaults, last (SET NOT NULL / SET DEFAULT are no-ops when already so) ---

ALTER TABLE factory_telemetry.production_lines ALTER COLUMN created_at SET NOT NULL;
ALTER TABLE factory_telemetry.production_lines ALTER COLUMN updated_at SET NOT NULL;
ALTER TABLE factory_telemetry.metric_binding ALTER COLUMN scale_factor SET DEFAULT 1.0;
ALTER TABLE factory_telemetry.metric_binding ALTER COLUMN scale_factor SET NOT NULL;
