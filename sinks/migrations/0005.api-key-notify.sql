-- Every change to an API key (a revoke, or a row removed by hand) is announced on the channel
-- paystream_api_keys with the key id, so each API process drops the key from its cache of
-- authenticated keys at once (api/keys.py) instead of reading the row on every request.
-- depends: 0004.reporting-day

CREATE FUNCTION api_keys_announce() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('paystream_api_keys', OLD.key_id);
    RETURN NULL;
END
$$;

CREATE TRIGGER api_keys_changed AFTER UPDATE OR DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION api_keys_announce();
