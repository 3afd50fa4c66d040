"""PostgreSQL roles of least privilege, one per kind of process, granted in a schema.

The schema's owner (who runs `paystream db migrate`) creates the tables; the processes connect
as these roles (created with passwords by `paystream access postgres`):
  paystream_sink      the ledger and reporting sinks: read and insert; the rollups' partial
                      sums are compacted (deleted and added into the key's one row), so only
                      they may be updated and lose rows
  paystream_api       the analysts' API: reads everything it serves; writes its audit trail, the
                      verdicts it published (their idempotency record) and, for its admins,
                      new keys and a key's revocation time (no other column)
  paystream_analyst   analysts' SQL: the reporting tables, read-only
Nobody is granted UPDATE, DELETE or TRUNCATE on the ledger or the audit trail, and their
triggers refuse those to the owner too (migrations 0001, 0003).
"""

from __future__ import annotations

SINK, API, ANALYST = "paystream_sink", "paystream_api", "paystream_analyst"
ROLES = (SINK, API, ANALYST)

_REPORTING = ("report_transactions", "report_rollup_minute", "report_rollup_hour",
              "report_rollup_day")
_ROLLUPS = _REPORTING[1:]
#: (role, privileges, tables): every grant a schema gets; what is not here is refused.
GRANTS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (SINK, "SELECT, INSERT", ("ledger", *_REPORTING, "_yoyo_migration")),
    (SINK, "SELECT, INSERT, UPDATE", ("labels",)),   # the latest report per source wins
    (SINK, "UPDATE, DELETE", _ROLLUPS),
    (API, "SELECT", ("ledger", *_REPORTING, "labels", "api_keys", "_yoyo_migration")),
    (API, "SELECT, INSERT", ("audit", "review_verdicts")),
    (API, "INSERT, UPDATE (revoked_at)", ("api_keys",)),
    (ANALYST, "SELECT", (*_REPORTING, "labels")),
)


def grant_statements(schema: str, roles: set[str], tables: set[str]) -> list[str]:
    """The GRANTs on `schema`'s existing `tables` to those of ROLES that exist (a deployment
    without them, such as one connecting everything as the owner, gets none). Idempotent: run
    after every migration."""
    statements: list[str] = []
    for role in (r for r in ROLES if r in roles):
        statements.append(f'GRANT USAGE ON SCHEMA "{schema}" TO {role}')
    for role, privileges, names in GRANTS:
        if role in roles:
            statements += [f'GRANT {privileges} ON "{schema}".{table} TO {role}'
                           for table in names if table in tables]
    if API in roles and "audit" in tables:  # audit_id is a bigserial
        statements.append(f'GRANT USAGE ON SEQUENCE "{schema}".audit_audit_id_seq TO {API}')
    return statements
