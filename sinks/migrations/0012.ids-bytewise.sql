-- The ids compared as bytes (COLLATE "C"): transaction, posting and account ids, merchants and
-- devices, wherever a B-tree or a join compares them. Under the database's collation PostgreSQL
-- compares text through the locale (strcoll, and a lookup of the locale, per comparison), even
-- for C.UTF-8, whose order is the bytes' anyway: ~8% of its CPU in a bench run went to that
-- (docs/benchmarks.md, 2026-12-05 midday). Ids have no linguistic order to keep; for UTF-8 the
-- order of the bytes is that of the code points, so sorted results do not change on C.UTF-8
-- and change only for non-ASCII ids elsewhere. The columns compared with one another change
-- together (two different collations cannot be compared). The indexes on them are rebuilt
-- under an exclusive lock (minutes for a large store: the sinks wait meanwhile); the rows
-- themselves are not rewritten.
-- depends: 0011.rollups-partial-sums

ALTER TABLE ledger
    ALTER COLUMN posting_id TYPE text COLLATE "C",
    ALTER COLUMN tx_id TYPE text COLLATE "C",
    ALTER COLUMN account TYPE text COLLATE "C";
ALTER TABLE report_transactions
    ALTER COLUMN tx_id TYPE text COLLATE "C",
    ALTER COLUMN source_account TYPE text COLLATE "C",
    ALTER COLUMN destination_account TYPE text COLLATE "C",
    ALTER COLUMN merchant_id TYPE text COLLATE "C",
    ALTER COLUMN device_id TYPE text COLLATE "C";
ALTER TABLE labels
    ALTER COLUMN tx_id TYPE text COLLATE "C",
    ALTER COLUMN source_account TYPE text COLLATE "C",
    ALTER COLUMN destination_account TYPE text COLLATE "C",
    ALTER COLUMN device_id TYPE text COLLATE "C";
ALTER TABLE review_verdicts
    ALTER COLUMN tx_id TYPE text COLLATE "C",
    ALTER COLUMN account TYPE text COLLATE "C";
