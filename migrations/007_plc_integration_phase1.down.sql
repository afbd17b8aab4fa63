-- 007_plc_integration_phase1 (down): removes metric_binding.plc_tag_id (with its foreign key
-- and index) and the PLC connection and tag tables.

SET LOCAL lock_timeout = '10s';

DROP INDEX IF EXISTS factory_telemetry.idx_metric_binding_plc_tag;
ALTER TABLE IF EXISTS factory_telemetry.metric_binding DROP CONSTRAINT IF EXISTS fk_metric_binding_plc_tag;
ALTER TABLE IF EXISTS factory_telemetry.metric_binding DROP COLUMN IF EXISTS plc_tag_id;

DROP TABLE IF EXISTS factory_telemetry.plc_tags;
DROP TABLE IF EXISTS factory_telemetry.plc_connections;
