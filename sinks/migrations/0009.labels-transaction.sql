-- A label may carry its transaction's payer, destination and event time (FraudLabel v2): the
-- label of a payment paystream never decided (history from before it ran) then feeds the
-- label-risk sets without a reporting row. NULL: the reporting store's row says.
-- depends: 0008.api-key-truncate-notify

ALTER TABLE labels ADD COLUMN source_account text,
                   ADD COLUMN destination_account text,
                   ADD COLUMN event_time timestamptz;
