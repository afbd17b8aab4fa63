-- 004_advanced_production_features (down): removes energy, KPI, quality and maintenance tables.

SET LOCAL lock_timeout = '10s';

DROP TABLE IF EXISTS factory_telemetry.maintenance_work_orders;
DROP TABLE IF EXISTS factory_telemetry.quality_checks;
DROP TABLE IF EXISTS factory_telemetry.defect_codes;
DROP TABLE IF EXISTS factory_telemetry.production_kpis;
DROP TABLE IF EXISTS factory_telemetry.energy_consumption;
