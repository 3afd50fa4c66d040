-- The ledger: one append-only row per posting (a debit or a credit leg), chained per account.
-- depends:

CREATE TABLE ledger (
    posting_id    text PRIMARY KEY,            -- <tx_id>:D or <tx_id>:C, deterministic
    tx_id         text NOT NULL,
    account       text NOT NULL,
    currency      char(3) NOT NULL,
    direction     text NOT NULL CHECK (direction IN ('DEBIT', 'CREDIT')),
    amount        bigint NOT NULL CHECK (amount > 0),   -- minor units
    balance_after bigint NOT NULL,             -- the account's balance in `currency` after it
    account_seq   bigint NOT NULL CHECK (account_seq >= 1),
    prev_hash     char(64) NOT NULL,           -- the hash of the account's previous row
    hash          char(64) NOT NULL,           -- SHA-256 over prev_hash and this row's fields
    event_time    timestamptz NOT NULL,
    posted_at     timestamptz NOT NULL,        -- when the agent posted it
    recorded_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account, account_seq)              -- serves `ledger verify` and statements by account
);
CREATE INDEX ledger_tx_id ON ledger (tx_id);

-- Append-only in the database itself, whoever connects: no UPDATE, DELETE or TRUNCATE.
CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON ledger
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_no_truncate BEFORE TRUNCATE ON ledger
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
