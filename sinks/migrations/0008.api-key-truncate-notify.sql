-- A TRUNCATE of api_keys (every key removed by hand) is announced too, with '*' (no key id is
-- '*'), so each API process forgets every key it remembered (api/keys.py). Row triggers do not
-- fire on TRUNCATE: without this, removed keys stayed usable until their cache entry expired.
-- depends: 0007.labels-applied

CREATE FUNCTION api_keys_announce_all() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('paystream_api_keys', '*');
    RETURN NULL;
END
$$;

CREATE TRIGGER api_keys_truncated AFTER TRUNCATE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION api_keys_announce_all();
