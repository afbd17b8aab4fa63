-- 001_init_telemetry (down): removes everything 001 created, dependants first.
-- Leaves the timescaledb extension, the factory_telemetry schema and migration_log alone:
-- they belong to the runner's bootstrap ("version 0"). DROP TABLE on a hypertable also
-- drops its chunks.

DROP FUNCTION IF EXISTS factory_telemetry.fn_record_metric(UUID, TIMESTAMPTZ, BOOLEAN, BIGINT, DOUBLE PRECISION, TEXT, JSONB);

DROP TABLE IF EXISTS factory_telemetry.context;
DROP TABLE IF EXISTS factory_telemetry.fault_event;
DROP TABLE IF EXISTS factory_telemetry.fault_active;
DROP TABLE IF EXISTS factory_telemetry.fault_catalog;
DROP TABLE IF EXISTS factory_telemetry.metric_hist;
DROP TABLE IF EXISTS factory_telemetry.metric_latest;
DROP TABLE IF EXISTS factory_telemetry.metric_binding;
DROP TABLE IF EXISTS factory_telemetry.metric_def;

DROP FUNCTION IF EXISTS factory_telemetry.fn_set_updated_at();
