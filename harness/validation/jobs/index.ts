/**
 * The TimescaleDB jobs that migrations register (retention and compression policies, reorder
 * and refresh policies, `add_job`), made explicit:
 *
 *   - listJobs()          the registered user jobs (id ≥ 1000), kind and config;
 *   - attributeJobs()     attributes every job to the migration that registered it, from the
 *                         schema fingerprints replay recorded (or, for add_job, the file text);
 *                         harness/data/job-register.ts does it by migrating one version at a time;
 *   - runJob()            `CALL run_job(id)`: the same on every engine (background workers are
 *                         off for proofs, and the embedded engine has none);
 *   - runJobsMeasured()   every job in id order, the data measured before and after each one:
 *                         rows and chunks per hypertable (per time slice), compression state,
 *                         a content hash per table; the effect is checked against the job's own
 *                         config (a retention policy deletes whole chunks entirely older than
 *                         now() - drop_after and nothing else; a compression policy compresses
 *                         the chunks older than compress_after and changes no row);
 *   - spreadOverWindows() (harness/data/job-spread.ts): copies of a few template rows per hypertable
 *                         placed on both sides of
 *                         every policy window, exactly on chunk boundaries and 1 µs either side,
 *                         and beyond the oldest window: data that shows what each job does.
 *
 * Time dimensions of type timestamptz are measured per chunk; timestamp and date dimensions are
 * compared through the session time zone (exact under UTC); integer dimensions are measured by
 * row counts and content only.
 */
export * from './measure.ts'
export * from './registered.ts'
export * from './report.ts'
export * from './run.ts'
