-- 006_report_system: report templates, generated reports and report schedules.
--
-- What: report_templates (what a report contains and its output format), reports (one
-- generated report with its period, parameters and file), report_schedules (when a template
-- runs and who receives it), and the standard templates.
-- Why: production, OEE, downtime and energy reports are generated from stored templates.
-- The standard templates are inserted with ON CONFLICT (name) DO NOTHING: a re-run changes
-- nothing and templates edited on site are kept.

SET LOCAL lock_timeout = '10s';

CREATE TABLE IF NOT EXISTS factory_telemetry.report_templates (
  id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  name            TEXT NOT NULL,
  description     TEXT,
  report_type     TEXT NOT NULL
                  CHECK (report_type IN ('production', 'oee', 'downtime', 'quality', 'maintenance', 'energy', 'custom')),
  template_config JSONB NOT NULL DEFAULT '{}',
  output_format   TEXT NOT NULL DEFAULT 'pdf' CHECK (output_format IN ('pdf', 'xlsx', 'csv', 'html')),
  is_active       BOOLEAN NOT NULL DEFAULT TRUE,
  created_by      UUID REFERENCES factory_telemetry.users (id) ON DELETE SET NULL,
  created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
  CONSTRAINT uq_report_templates_name UNIQUE (name)
);

CREATE TABLE IF NOT EXISTS factory_telemetry.reports (
  id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  template_id     UUID REFERENCES factory_telemetry.report_templates (id) ON DELETE SET NULL,
  line_id         UUID REFERENCES factory_telemetry.production_lines (id) ON DELETE SET NULL,
  title           TEXT NOT NULL,
  report_type     TEXT NOT NULL
                  CHECK (report_type IN ('production', 'oee', 'downtime', 'quality', 'maintenance', 'energy', 'custom')),
  period_start    TIMESTAMPTZ,
  period_end      TIMESTAMPTZ,
  parameters      JSONB NOT NULL DEFAULT '{}',
  status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'generating', 'completed', 'failed')),
  file_path       TEXT,
  file_size_bytes BIGINT CHECK (file_size_bytes >= 0),
  generated_by    UUID REFERENCES factory_telemetry.users (id) ON DELETE SET NULL,
  generated_at    TIMESTAMPTZ,
  error_message   TEXT,
  created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
  CONSTRAINT chk_reports_period CHECK (period_end IS NULL OR period_start IS NULL OR period_end >= period_start)
);

CREATE TABLE IF NOT EXISTS factory_telemetry.report_schedules (
  id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  template_id     UUID NOT NULL REFERENCES factory_telemetry.report_templates (id) ON DELETE CASCADE,
  line_id         UUID REFERENCES factory_telemetry.production_lines (id) ON DELETE CASCADE,
  cron_expression TEXT NOT NULL,
  timezone        TEXT NOT NULL DEFAULT 'UTC',
  recipients      TEXT[] NOT NULL DEFAULT '{}',
  is_active       BOOLEAN NOT NULL DEFAULT TRUE,
  last_run_at     TIMESTAMPTZ,
  next_run_at     TIMESTAMPTZ,
  created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE OR REPLACE TRIGGER trg_report_templates_updated_at
  BEFORE UPDATE ON factory_telemetry.report_templates
  FOR EACH ROW EXECUTE FUNCTION factory_telemetry.fn_set_updated_at();

CREATE INDEX IF NOT EXISTS idx_reports_type_created ON factory_telemetry.reports (report_type, created_at DESC);
CREATE INDEX IF NOT EXISTS idx_reports_template ON factory_telemetry.reports (template_id);
CREATE INDEX IF NOT EXISTS idx_report_schedules_next_run ON factory_telemetry.report_schedules (next_run_at) WHERE is_active;

INSERT INTO factory_telemetry.report_templates (name, description, report_type, template_config, output_format)
VALUES
  ('Shift production summary', 'Units, scrap and OEE per line for one shift', 'production',
   '{"sections": ["summary", "oee", "downtime", "quality"], "period": "shift"}', 'pdf'),
  ('Daily OEE', 'Availability, performance, quality and OEE per line per day', 'oee',
   '{"sections": ["oee_trend", "losses"], "period": "day"}', 'pdf'),
  ('Weekly downtime Pareto', 'Downtime minutes by reason and category', 'downtime',
   '{"sections": ["pareto", "top_reasons"], "period": "week"}', 'xlsx'),
  ('Monthly energy', 'Energy per line and per unit produced', 'energy',
   '{"sections": ["energy_trend", "energy_per_unit"], "period": "month"}', 'csv')
ON CONFLICT (name) DO NOTHING;
