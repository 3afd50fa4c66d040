-- Fraud labels (topic fraud-labels): what became known about a transaction after its decision.
-- depends: 0005.api-key-notify

-- One row per (tx_id, source): a later report from the same source replaces an earlier one
-- (a chargeback reversed), an older one changes nothing, the same one again is idempotent.
-- tx_id is not a foreign key: a label may arrive before (or without) the transaction's row.
CREATE TABLE labels (
    tx_id       text NOT NULL,
    source      text NOT NULL CHECK (source IN ('CHARGEBACK', 'ANALYST', 'CUSTOMER_REPORT', 'REVIEW')),
    is_fraud    boolean NOT NULL,
    reported_at timestamptz NOT NULL,
    note        text,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tx_id, source)
);
-- Training and evaluation read the labels known within a period.
CREATE INDEX labels_reported_at ON labels (reported_at);
