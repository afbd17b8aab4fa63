/**
 * Seeded, deterministic MS5.0 factory telemetry: the same generator feeds the benchmarks, the
 * compression and storage measurements and the backup round trip.
 *
 * What it makes (every row consistent with the foreign keys and CHECK constraints of
 * migrations 001…009): production lines, equipment (equipment_config, context), users, shifts,
 * product types, one production schedule and job assignment per line per day, PLC connections
 * and tags, metric definitions and bindings, then the time series:
 *   metric_hist         6 metrics per equipment: speed, temperature, motor current (smooth
 *                       analog values with noise), total and good part counters (monotonic),
 *                       running (a boolean that changes only on stops); ~0.05 % bad quality
 *   oee_calculations    one row per line per minute (the line's last machine), ratios 0..1
 *   energy_consumption  one reading per equipment per minute
 *   production_kpis     per line per completed shift (3 a day) and per completed day
 *   fault_catalog       16 fault bits per equipment
 *   fault_event         ~50 faults per equipment per day (Poisson), log-normal durations; a few
 *                       still on at the end, which are also in fault_active
 *   downtime_events     faults of 2 minutes or longer, plus planned stops per line (changeover
 *                       06:00, break 12:00, maintenance Wednesdays 14:00)
 *   metric_latest       the last value of each metric
 * Samples sit on multiples of the sample period counted from the epoch, and the OEE and energy
 * rows on whole minutes, so rows exist exactly on day (chunk) boundaries.
 *
 * ## What scale 1 means, and why
 * Seed 001 estimates ~86,400 records per day per piece of equipment (1 Hz), ~1,440 OEE rows per
 * line per day, 100–1,000 fault events a day and "~100,000+ records/day for a typical setup".
 * Scale 1 is 2 lines × 2 machines = 4 machines × 6 metrics = 24 metrics, over 7 days:
 *
 *   table                per day    7 days (scale 1)
 *   metric_hist          103,680    725,760   (24 metrics × one sample per 20 s: hz 0.05)
 *   oee_calculations       2,880     20,160   (2 lines × 1,440 minutes)
 *   energy_consumption     5,760     40,320   (4 machines × 1,440 minutes)
 *   fault_event             ~200     ~1,400   (4 × ~50)
 *   downtime_events          ~35       ~250
 *   production_kpis            8        ~50   (completed shifts and days only)
 *   total                ~112,600   ~788,000  plus ~200 rows of reference data
 *
 * So one day at scale 1 is the seed's typical volume (~100,000+ records a day). The trade-off:
 * the seed's rate is 1 Hz per signal; 24 signals at 1 Hz would be 2,073,600 metric_hist rows a
 * day, 14.5 M a week, which the embedded engine (one WASM backend, ~2 GB heap holding the whole
 * data directory in memory, ~30,000 rows/s through its socket) can neither hold nor load within
 * a benchmark's minutes. Scale 1 therefore keeps the typical *volume* and lowers the *sampling
 * rate* to one sample per 20 s (hz 0.05). `hz: 1` restores the seed's per-signal rate on engines
 * that can take it (container, native with TimescaleDB).
 *
 * `scale` multiplies equipment (lines = 2 × scale, machines = 4 × scale, rounded, at least 1)
 * and days (7 × scale unless `days` is given), so rows per day grow linearly with scale
 * (~112,600 × scale) and the whole set with scale² (~788,000 × scale²: scale 4, the nightly
 * run, is ~450,000 rows a day, 800 fault events a day, ~12.6 M rows over 28 days).
 * For the embedded engine's logical dump (WASM pg_dump fails above ~300,000 rows) use a small
 * set, e.g. `{ days: 1, hz: 0.02 }` (~45,000 rows).
 *
 * Determinism: every value comes from the seed through counter-based hashing (independent of
 * insertion order, batch size or engine); `created_at`-style columns are left to the database's
 * defaults and are the only values that differ between two loads.
 *
 * Files: options.ts, random.ts, plan.ts, rows.ts (one generator per table), load.ts.
 *
 * Loading: multi-row parameterised INSERTs in batches (the embedded engine's socket has no
 * COPY FROM STDIN: its wire-protocol server does not implement the CopyIn sub-protocol).
 */
export * from './options.ts'
export * from './random.ts'
export * from './plan.ts'
export * from './rows.ts'
export * from './load.ts'
