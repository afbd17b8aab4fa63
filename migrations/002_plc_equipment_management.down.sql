-- 002_plc_equipment_management (down): removes the lines and equipment configuration and the
-- context.production_line_id column 002 added (its index goes with it).

SET LOCAL lock_timeout = '10s';

DROP INDEX IF EXISTS factory_telemetry.idx_context_production_line;
ALTER TABLE IF EXISTS factory_telemetry.context DROP COLUMN IF EXISTS production_line_id;

DROP TABLE IF EXISTS factory_telemetry.equipment_config;
DROP TABLE IF EXISTS factory_telemetry.production_lines;
