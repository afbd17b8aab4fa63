-- 009_database_optimization (down): removes 009's views, functions, policies, compression and
-- indexes. Compressed chunks are decompressed first (compression cannot be turned off while
-- any chunk is compressed); then ALTER TABLE ... SET (timescaledb.compress = false) for each
-- hypertable that still has compression enabled.

SET LOCAL lock_timeout = '10s';

DROP VIEW IF EXISTS factory_telemetry.v_plc_tag_overview;
DROP VIEW IF EXISTS factory_telemetry.v_maintenance_backlog;
DROP VIEW IF EXISTS factory_telemetry.v_equipment_status;
DROP VIEW IF EXISTS factory_telemetry.v_open_andon_events;
DROP VIEW IF EXISTS factory_telemetry.v_production_schedule_status;
DROP VIEW IF EXISTS factory_telemetry.v_energy_daily;
DROP VIEW IF EXISTS factory_telemetry.v_downtime_summary;
DROP VIEW IF EXISTS factory_telemetry.v_oee_daily;
DROP VIEW IF EXISTS factory_telemetry.v_fault_summary_daily;
DROP VIEW IF EXISTS factory_telemetry.v_active_faults;
DROP VIEW IF EXISTS factory_telemetry.v_metric_hist_hourly;
DROP VIEW IF EXISTS factory_telemetry.v_metric_latest;

DROP FUNCTION IF EXISTS factory_telemetry.fn_refresh_production_kpis(UUID, DATE);
DROP FUNCTION IF EXISTS factory_telemetry.fn_downtime_seconds(UUID, TIMESTAMPTZ, TIMESTAMPTZ);
DROP FUNCTION IF EXISTS factory_telemetry.fn_line_oee(UUID, TIMESTAMPTZ, TIMESTAMPTZ);
DROP FUNCTION IF EXISTS factory_telemetry.fn_calculate_oee(NUMERIC, NUMERIC, NUMERIC);

SELECT remove_retention_policy('factory_telemetry.metric_hist', if_exists => TRUE);
SELECT remove_retention_policy('factory_telemetry.fault_event', if_exists => TRUE);
SELECT remove_retention_policy('factory_telemetry.oee_calculations', if_exists => TRUE);
SELECT remove_retention_policy('factory_telemetry.downtime_events', if_exists => TRUE);
SELECT remove_retention_policy('factory_telemetry.energy_consumption', if_exists => TRUE);
SELECT remove_retention_policy('factory_telemetry.production_kpis', if_exists => TRUE);

SELECT remove_compression_policy('factory_telemetry.metric_hist', if_exists => TRUE);
SELECT remove_compression_policy('factory_telemetry.fault_event', if_exists => TRUE);
SELECT remove_compression_policy('factory_telemetry.oee_calculations', if_exists => TRUE);
SELECT remove_compression_policy('factory_telemetry.downtime_events', if_exists => TRUE);
SELECT remove_compression_policy('factory_telemetry.energy_consumption', if_exists => TRUE);
SELECT remove_compression_policy('factory_telemetry.production_kpis', if_exists => TRUE);

DO $$
DECLARE
  h RECORD;
  ch RECORD;
BEGIN
  FOR h IN
    SELECT hypertable_name FROM timescaledb_information.hypertables
     WHERE hypertable_schema = 'factory_telemetry'
       AND compression_enabled
       AND hypertable_name IN ('metric_hist', 'fault_event', 'oee_calculations', 'downtime_events', 'energy_consumption', 'production_kpis')
  LOOP
    FOR ch IN
      SELECT chunk_schema, chunk_name FROM timescaledb_information.chunks
       WHERE hypertable_schema = 'factory_telemetry' AND hypertable_name = h.hypertable_name AND is_compressed
    LOOP
      PERFORM decompress_chunk(format('%I.%I', ch.chunk_schema, ch.chunk_name)::regclass);
    END LOOP;
    EXECUTE format('ALTER TABLE factory_telemetry.%I SET (timescaledb.compress = false)', h.hypertable_name);
  END LOOP;
END
$$;

DROP INDEX IF EXISTS factory_telemetry.idx_reports_line_period;
DROP INDEX IF EXISTS factory_telemetry.idx_users_role_active;
DROP INDEX IF EXISTS factory_telemetry.idx_notifications_andon_event;
DROP INDEX IF EXISTS factory_telemetry.idx_andon_events_equipment_created;
DROP INDEX IF EXISTS factory_telemetry.idx_maintenance_work_orders_open;
DROP INDEX IF EXISTS factory_telemetry.idx_quality_checks_schedule;
DROP INDEX IF EXISTS factory_telemetry.idx_production_schedules_product_type;
DROP INDEX IF EXISTS factory_telemetry.idx_production_kpis_type_period;
DROP INDEX IF EXISTS factory_telemetry.idx_downtime_events_open;
DROP INDEX IF EXISTS factory_telemetry.idx_downtime_events_reason;
DROP INDEX IF EXISTS factory_telemetry.idx_oee_calculations_equipment_time;
DROP INDEX IF EXISTS factory_telemetry.idx_fault_event_open;
DROP INDEX IF EXISTS factory_telemetry.idx_metric_latest_ts;
DROP INDEX IF EXISTS factory_telemetry.idx_metric_hist_bad_quality;
