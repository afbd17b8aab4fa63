-- 005_andon_escalation_system (down): removes the andon tables (with their rows, including
-- the default escalation rules) and the escalation function.

SET LOCAL lock_timeout = '10s';

DROP FUNCTION IF EXISTS factory_telemetry.fn_andon_due_escalation_level(TEXT, INTERVAL);

DROP TABLE IF EXISTS factory_telemetry.notifications;
DROP TABLE IF EXISTS factory_telemetry.andon_escalations;
DROP TABLE IF EXISTS factory_telemetry.andon_events;
DROP TABLE IF EXISTS factory_telemetry.escalation_rules;
