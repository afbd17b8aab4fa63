-- 008_fix_critical_schema_issues (down): undoes 008's schema changes: drops the constraints,
-- unique index and indexes it added, drops job_assignments.shift_id, and makes
-- production_lines.created_at / updated_at and metric_binding.scale_factor nullable again
-- (scale_factor also loses its default). Backfilled and fixed values (line ids, catalog
-- entries for unknown fault bits, timestamps, scale factors, cleared e-mails) are data and
-- stay; rows 008 deleted (fault rows with bits outside 0-1023, duplicate PLC tags) are put back
-- from migration_quarantine, which is then dropped.

SET LOCAL lock_timeout = '10s';

DROP INDEX IF EXISTS factory_telemetry.idx_context_current_job;
DROP INDEX IF EXISTS factory_telemetry.idx_job_assignments_shift;
DROP INDEX IF EXISTS factory_telemetry.uq_users_email_lower;

ALTER TABLE IF EXISTS factory_telemetry.plc_tags DROP CONSTRAINT IF EXISTS uq_plc_tags_connection_address;
ALTER TABLE IF EXISTS factory_telemetry.metric_binding DROP CONSTRAINT IF EXISTS chk_metric_binding_scale_nonzero;
ALTER TABLE IF EXISTS factory_telemetry.job_assignments DROP CONSTRAINT IF EXISTS chk_job_assignments_completion;
ALTER TABLE IF EXISTS factory_telemetry.oee_calculations DROP CONSTRAINT IF EXISTS chk_oee_calculations_parts;
ALTER TABLE IF EXISTS factory_telemetry.downtime_events DROP CONSTRAINT IF EXISTS chk_downtime_events_end_after_start;
ALTER TABLE IF EXISTS factory_telemetry.fault_event DROP CONSTRAINT IF EXISTS chk_fault_event_off_after_on;
ALTER TABLE IF EXISTS factory_telemetry.fault_event DROP CONSTRAINT IF EXISTS fk_fault_event_catalog;
ALTER TABLE IF EXISTS factory_telemetry.fault_active DROP CONSTRAINT IF EXISTS fk_fault_active_catalog;
ALTER TABLE IF EXISTS factory_telemetry.job_assignments DROP CONSTRAINT IF EXISTS fk_job_assignments_shift;
ALTER TABLE IF EXISTS factory_telemetry.context DROP CONSTRAINT IF EXISTS fk_context_current_job;
ALTER TABLE IF EXISTS factory_telemetry.context DROP CONSTRAINT IF EXISTS fk_context_production_line;

ALTER TABLE IF EXISTS factory_telemetry.job_assignments DROP COLUMN IF EXISTS shift_id;

ALTER TABLE IF EXISTS factory_telemetry.metric_binding ALTER COLUMN scale_factor DROP NOT NULL;
ALTER TABLE IF EXISTS factory_telemetry.metric_binding ALTER COLUMN scale_factor DROP DEFAULT;
ALTER TABLE IF EXISTS factory_telemetry.production_lines ALTER COLUMN updated_at DROP NOT NULL;
ALTER TABLE IF EXISTS factory_telemetry.production_lines ALTER COLUMN created_at DROP NOT NULL;

-- Rows 008 quarantined and deleted go back where they were (the constraints they broke are
-- gone); then the quarantine table goes. Guarded, so the file can run again.
DO $$
DECLARE
  t TEXT;
BEGIN
  IF to_regclass('factory_telemetry.migration_quarantine') IS NULL THEN
    RETURN;
  END IF;
  FOREACH t IN ARRAY ARRAY['fault_event', 'fault_active', 'plc_tags'] LOOP
    EXECUTE format(
      'INSERT INTO factory_telemetry.%1$I SELECT (jsonb_populate_record(NULL::factory_telemetry.%1$I, q.row_data)).*
         FROM factory_telemetry.migration_quarantine q
        WHERE q.migration = %2$L AND q.action = %3$L AND q.source_table = %4$L
       ON CONFLICT DO NOTHING',
      t, '008_fix_critical_schema_issues', 'deleted', 'factory_telemetry.' || t);
  END LOOP;
END
$$;

DROP TABLE IF EXISTS factory_telemetry.migration_quarantine;
