-- 006_report_system (down): removes the report tables (with the standard templates).

SET LOCAL lock_timeout = '10s';

DROP TABLE IF EXISTS factory_telemetry.report_schedules;
DROP TABLE IF EXISTS factory_telemetry.reports;
DROP TABLE IF EXISTS factory_telemetry.report_templates;
