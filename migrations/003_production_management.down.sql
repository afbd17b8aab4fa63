-- 003_production_management (down): removes the production management tables and
-- context.current_job_id, dependants first (job_assignments before schedules before
-- product_types/users).

SET LOCAL lock_timeout = '10s';

ALTER TABLE IF EXISTS factory_telemetry.context DROP COLUMN IF EXISTS current_job_id;

DROP TABLE IF EXISTS factory_telemetry.downtime_events;
DROP TABLE IF EXISTS factory_telemetry.oee_calculations;
DROP TABLE IF EXISTS factory_telemetry.job_assignments;
DROP TABLE IF EXISTS factory_telemetry.production_schedules;
DROP TABLE IF EXISTS factory_telemetry.shifts;
DROP TABLE IF EXISTS factory_telemetry.users;
DROP TABLE IF EXISTS factory_telemetry.product_types;
