-- 005_andon_escalation_system: andon calls, their escalation, and notifications.
--
-- What: escalation_rules (who is told after how many minutes, per priority), andon_events
-- (a call for help on a line), andon_escalations (each escalation step taken),
-- notifications (what was sent to whom), fn_andon_due_escalation_level(), and the default
-- escalation rules.
-- Why: an unanswered andon call must reach a supervisor and then a manager automatically.
-- The default rules are inserted with ON CONFLICT DO NOTHING, so a re-run changes nothing
-- and rules edited on site are kept.

SET LOCAL lock_timeout = '10s';

CREATE TABLE IF NOT EXISTS factory_telemetry.escalation_rules (
  id                    UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  priority              TEXT NOT NULL CHECK (priority IN ('low', 'medium', 'high', 'critical')),
  escalation_level      SMALLINT NOT NULL CHECK (escalation_level BETWEEN 1 AND 5),
  delay_minutes         INTEGER NOT NULL CHECK (delay_minutes >= 0),
  notify_roles          TEXT[] NOT NULL DEFAULT '{}',
  notify_user_ids       UUID[] NOT NULL DEFAULT '{}',
  notification_channels TEXT[] NOT NULL DEFAULT '{in_app}',
  is_active             BOOLEAN NOT NULL DEFAULT TRUE,
  created_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
  CONSTRAINT uq_escalation_rules_priority_level UNIQUE (priority, escalation_level)
);

CREATE TABLE IF NOT EXISTS factory_telemetry.andon_events (
  id               UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  line_id          UUID NOT NULL REFERENCES factory_telemetry.production_lines (id) ON DELETE CASCADE,
  equipment_code   TEXT NOT NULL,
  event_type       TEXT NOT NULL CHECK (event_type IN ('stop', 'quality', 'maintenance', 'material', 'safety', 'help')),
  priority         TEXT NOT NULL DEFAULT 'medium' CHECK (priority IN ('low', 'medium', 'high', 'critical')),
  description      TEXT NOT NULL,
  status           TEXT NOT NULL DEFAULT 'open'
                   CHECK (status IN ('open', 'acknowledged', 'in_progress', 'escalated', 'resolved', 'cancelled')),
  escalation_level SMALLINT NOT NULL DEFAULT 0 CHECK (escalation_level BETWEEN 0 AND 5),
  reported_by      UUID REFERENCES factory_telemetry.users (id) ON DELETE SET NULL,
  acknowledged_by  UUID REFERENCES factory_telemetry.users (id) ON DELETE SET NULL,
  acknowledged_at  TIMESTAMPTZ,
  resolved_by      UUID REFERENCES factory_telemetry.users (id) ON DELETE SET NULL,
  resolved_at      TIMESTAMPTZ,
  resolution_notes TEXT,
  created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS factory_telemetry.andon_escalations (
  id                 UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  andon_event_id     UUID NOT NULL REFERENCES factory_telemetry.andon_events (id) ON DELETE CASCADE,
  escalation_level   SMALLINT NOT NULL CHECK (escalation_level BETWEEN 1 AND 5),
  escalated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
  escalated_to_roles TEXT[] NOT NULL DEFAULT '{}',
  acknowledged_by    UUID REFERENCES factory_telemetry.users (id) ON DELETE SET NULL,
  acknowledged_at    TIMESTAMPTZ,
  notes              TEXT,
  CONSTRAINT uq_andon_escalations_event_level UNIQUE (andon_event_id, escalation_level)
);

CREATE TABLE IF NOT EXISTS factory_telemetry.notifications (
  id                UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id           UUID NOT NULL REFERENCES factory_telemetry.users (id) ON DELETE CASCADE,
  andon_event_id    UUID REFERENCES factory_telemetry.andon_events (id) ON DELETE SET NULL,
  notification_type TEXT NOT NULL CHECK (notification_type IN ('andon', 'escalation', 'maintenance', 'quality', 'report', 'system')),
  channel           TEXT NOT NULL DEFAULT 'in_app' CHECK (channel IN ('in_app', 'email', 'sms', 'push', 'websocket')),
  title             TEXT NOT NULL,
  message           TEXT NOT NULL,
  payload           JSONB NOT NULL DEFAULT '{}',
  status            TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'delivered', 'read', 'failed')),
  sent_at           TIMESTAMPTZ,
  read_at           TIMESTAMPTZ,
  created_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE OR REPLACE TRIGGER trg_andon_events_updated_at
  BEFORE UPDATE ON factory_telemetry.andon_events
  FOR EACH ROW EXECUTE FUNCTION factory_telemetry.fn_set_updated_at();

CREATE INDEX IF NOT EXISTS idx_andon_events_line_status ON factory_telemetry.andon_events (line_id, status);
CREATE INDEX IF NOT EXISTS idx_andon_events_open ON factory_telemetry.andon_events (created_at)
  WHERE status IN ('open', 'acknowledged', 'in_progress', 'escalated');
CREATE INDEX IF NOT EXISTS idx_andon_escalations_event ON factory_telemetry.andon_escalations (andon_event_id);
CREATE INDEX IF NOT EXISTS idx_notifications_user_unread ON factory_telemetry.notifications (user_id, created_at DESC)
  WHERE read_at IS NULL;

-- Highest escalation level whose delay has passed for a call of this priority and age (0 = none yet).
CREATE OR REPLACE FUNCTION factory_telemetry.fn_andon_due_escalation_level(p_priority TEXT, p_age INTERVAL)
RETURNS SMALLINT
LANGUAGE sql
STABLE
AS $$
  SELECT COALESCE(max(r.escalation_level), 0)::smallint
    FROM factory_telemetry.escalation_rules r
   WHERE r.is_active
     AND r.priority = p_priority
     AND make_interval(mins => r.delay_minutes) <= p_age
$$;

INSERT INTO factory_telemetry.escalation_rules (priority, escalation_level, delay_minutes, notify_roles, notification_channels)
VALUES
  ('critical', 1, 0,  '{shift_manager,maintenance}', '{in_app,sms}'),
  ('critical', 2, 5,  '{production_manager}',        '{in_app,sms,email}'),
  ('high',     1, 5,  '{shift_manager}',             '{in_app}'),
  ('high',     2, 15, '{production_manager}',        '{in_app,email}'),
  ('medium',   1, 15, '{shift_manager}',             '{in_app}'),
  ('medium',   2, 60, '{production_manager}',        '{email}'),
  ('low',      1, 60, '{shift_manager}',             '{in_app}')
ON CONFLICT (priority, escalation_level) DO NOTHING;
