-- The analysts' API: its keys, its audit trail and the review verdicts it published.
-- depends: 0002.reporting

-- One row per API key. The key itself (psk_<key_id>_<secret>) is shown once, at creation; only
-- an argon2id hash of its secret is kept. Revoking sets revoked_at; rows are never deleted, so
-- the audit trail's actors stay resolvable.
CREATE TABLE api_keys (
    key_id      text PRIMARY KEY,
    name        text NOT NULL,
    role        text NOT NULL CHECK (role IN ('analyst', 'reviewer', 'admin')),
    secret_hash text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text NOT NULL,
    revoked_at  timestamptz
);

-- Who did what, append-only: review verdicts, exports and key changes.
CREATE TABLE audit (
    audit_id       bigserial PRIMARY KEY,
    at             timestamptz NOT NULL DEFAULT now(),
    actor          text NOT NULL,              -- key id (API) or cli:<user>
    role           text NOT NULL,
    action         text NOT NULL,              -- review.approve, export.transactions, key.create ...
    target         text NOT NULL,              -- tx_id, key id, the export's query
    client_address text,
    request_id     text NOT NULL,
    detail         jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_at ON audit (at, audit_id);

CREATE FUNCTION append_only_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'table % is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION append_only_refuse_change();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION append_only_refuse_change();

-- A verdict published by the API, one per held transaction: a second identical request answers
-- from here, a contradicting one is refused (409).
CREATE TABLE review_verdicts (
    tx_id      text PRIMARY KEY,
    action     text NOT NULL CHECK (action IN ('APPROVE', 'DECLINE')),
    note       text NOT NULL,
    reviewer   text NOT NULL,                  -- key id
    account    text NOT NULL,
    decided_at timestamptz NOT NULL,
    request_id text NOT NULL
);
