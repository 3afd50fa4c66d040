-- Which labels the labels sink has applied to the account-state store's label-risk sets
-- (agents/fraud/labelrisk.py). A label whose transaction is not in the reporting store yet stays
-- unapplied until it is.
-- depends: 0006.labels

ALTER TABLE labels ADD COLUMN applied boolean NOT NULL DEFAULT false;
CREATE INDEX labels_unapplied ON labels (tx_id) WHERE NOT applied;
