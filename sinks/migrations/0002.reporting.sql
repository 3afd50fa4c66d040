-- Reporting: one row per decided transaction, and rollups analysts query fast.
-- depends: 0001.ledger

CREATE TABLE report_transactions (
    tx_id                text PRIMARY KEY,
    type                 text NOT NULL,
    source_account       text NOT NULL,
    destination_account  text NOT NULL,
    amount               bigint NOT NULL,
    currency             char(3) NOT NULL,
    event_time           timestamptz NOT NULL,
    channel              text NOT NULL,
    merchant_id          text,
    merchant_category    text,
    country              char(2) NOT NULL,
    outcome              text NOT NULL,
    score                double precision NOT NULL,
    reasons              text[] NOT NULL,
    model_version        text,
    shadow_score         double precision,
    shadow_model_version text,
    decided_at           timestamptz NOT NULL,
    produced_at          timestamptz,
    latency_ms           integer,              -- decided_at - produced_at
    recorded_at          timestamptz NOT NULL DEFAULT now()
);
-- "what happened between t1 and t2": time range scans
CREATE INDEX report_tx_event_time ON report_transactions (event_time);
-- "an account's history": by payer and by payee, newest first
CREATE INDEX report_tx_source ON report_transactions (source_account, event_time DESC);
CREATE INDEX report_tx_destination ON report_transactions (destination_account, event_time DESC);
-- "what was declined / held": the few non-approved rows only
CREATE INDEX report_tx_flagged ON report_transactions (outcome, event_time) WHERE outcome <> 'APPROVE';
-- "a merchant's payments"
CREATE INDEX report_tx_merchant ON report_transactions (merchant_id, event_time) WHERE merchant_id IS NOT NULL;

-- Rollups by event time bucket x currency x decision x country x merchant category ('' = none).
CREATE TABLE report_rollup_minute (
    bucket            timestamptz NOT NULL,
    currency          char(3) NOT NULL,
    outcome           text NOT NULL,
    country           char(2) NOT NULL,
    merchant_category text NOT NULL,
    tx_count          bigint NOT NULL,
    amount_sum        bigint NOT NULL,
    score_sum         double precision NOT NULL,
    latency_ms_sum    bigint NOT NULL,
    PRIMARY KEY (bucket, currency, outcome, country, merchant_category)
);
CREATE TABLE report_rollup_hour (LIKE report_rollup_minute INCLUDING ALL);
