-- The payer's device of each decided transaction (Decision v3): `paystream train
-- --from-reporting` replays the reporting store through the feature code, and the device
-- features (new device, distinct devices) and the device label risk need it. NULL: no device
-- given, or decided before v3.
-- depends: 0009.labels-transaction

ALTER TABLE report_transactions ADD COLUMN device_id text;

-- And a label's device (FraudLabel v3), for a transaction paystream never decided.
ALTER TABLE labels ADD COLUMN device_id text;
