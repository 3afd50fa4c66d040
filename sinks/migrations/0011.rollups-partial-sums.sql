-- The rollups hold partial sums: a batch appends its groups' sums as rows (`compacted` false),
-- and every few seconds the reporting sink compacts them, one statement per table deleting a
-- bucket's partial rows and adding their sums per key into that key's one compacted row
-- (sinks/reporting.py), the way a summing merge tree does. Every reader already sums (the
-- API's reports, reconcile), so the answers do not change; what goes is an upsert per group
-- and table in every batch, which cost PostgreSQL more than the decision's own row with its six
-- indexes (docs/benchmarks.md, 2026-12-03). SQL against these tables must sum(tx_count, ...)
-- GROUP BY the key, never take a row as the whole bucket.
-- depends: 0010.reporting-device

ALTER TABLE report_rollup_minute DROP CONSTRAINT report_rollup_minute_pkey;
ALTER TABLE report_rollup_hour DROP CONSTRAINT report_rollup_hour_pkey;
ALTER TABLE report_rollup_day DROP CONSTRAINT report_rollup_day_pkey;
-- The rows already there are one per key: compacted. New rows are partial until compacted.
ALTER TABLE report_rollup_minute ADD COLUMN compacted boolean NOT NULL DEFAULT true;
ALTER TABLE report_rollup_hour ADD COLUMN compacted boolean NOT NULL DEFAULT true;
ALTER TABLE report_rollup_day ADD COLUMN compacted boolean NOT NULL DEFAULT true;
ALTER TABLE report_rollup_minute ALTER COLUMN compacted SET DEFAULT false;
ALTER TABLE report_rollup_hour ALTER COLUMN compacted SET DEFAULT false;
ALTER TABLE report_rollup_day ALTER COLUMN compacted SET DEFAULT false;
-- One compacted row per key: what the compaction's upsert finds (a partial row has no entry).
CREATE UNIQUE INDEX report_rollup_minute_key ON report_rollup_minute
    (bucket, currency, outcome, country, merchant_category) WHERE compacted;
CREATE UNIQUE INDEX report_rollup_hour_key ON report_rollup_hour
    (bucket, currency, outcome, country, merchant_category) WHERE compacted;
CREATE UNIQUE INDEX report_rollup_day_key ON report_rollup_day
    (bucket, currency, outcome, country, merchant_category) WHERE compacted;
-- The reports' range scans over both kinds of row, and the compaction's bucket lookups.
CREATE INDEX report_rollup_minute_bucket ON report_rollup_minute (bucket);
CREATE INDEX report_rollup_hour_bucket ON report_rollup_hour (bucket);
CREATE INDEX report_rollup_day_bucket ON report_rollup_day (bucket);
