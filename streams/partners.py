"""Partners: who they are, their secrets, what they want, and how messages to and from them are
signed. Shared by the webhook deliverer (sinks/webhooks.py), the API's partner callbacks and the
partner simulator, so the contract has one definition.

A partners file (TOML, PAYSTREAM_PARTNERS_PATH):

    [partners.mpesa-ke]
    url = "https://partner.example/paystream/events"   # notification events (kinds)
    payout_url = "https://partner.example/payouts"     # payout instructions (default: url)
    secret_env = "MPESA_KE_SECRET"                     # signs both ways; never in the file
    kinds = ["PAYOUT_INSTRUCTION"]                     # default: the customer events (not payouts)
    callback_allow = ["203.0.113.7"]                   # where its callbacks may come from (default: anywhere)
    status_url = "https://partner.example/payouts/status"  # GET ?tx_id=: how a payout stands (optional)
    payout_deadline_s = 900                            # its payouts' deadline (default: the rules')

Signature (both directions): header `Paystream-Signature: t=<unix seconds>,v1=<hex
HMAC-SHA256(secret, "<t>.<body>")>`, accepted within SIGNATURE_TOLERANCE_S of now.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streams.errors import ConfigError
from streams.notifications import DEFAULT_KINDS, KINDS

SIGNATURE_TOLERANCE_S = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    # hmac.digest: OpenSSL's one-shot HMAC, no HMAC object per call (one per webhook sent)
    digest = hmac.digest(secret.encode(), f"{timestamp}.".encode() + body, "sha256").hex()
    return f"t={timestamp},v1={digest}"


def verify_signature(secret: str, header: str, body: bytes, now_s: float | None = None,
                     tolerance_s: int = SIGNATURE_TOLERANCE_S) -> bool:
    """For receivers: the signature matches the body and is recent (replay protection)."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    now = time.time() if now_s is None else now_s
    if abs(now - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body).split("v1=")[1], parts.get("v1", ""))


@dataclass(frozen=True)
class Partner:
    partner_id: str
    url: str
    secret: str
    kinds: frozenset[str]
    timeout_s: float = 5.0
    max_attempts: int = 6
    payout_url: str = ""
    callback_allow: frozenset[str] = frozenset()
    #: Where paystream may ask how a payout stands when no callback came (empty: the partner
    #: offers no such query, and an unanswered payout expires at its deadline).
    status_url: str = ""
    #: How long a payout through this receive partner is held for its answer (None: the
    #: rules' payout_deadline_s).
    payout_deadline_s: int | None = None
    #: Webhook POSTs on the wire at once (and the kept-alive connections for them): a partner
    #: that admits fewer concurrent requests says so here; a distant one may need more.
    in_flight_max: int = 256

    def url_for(self, kind: str) -> str:
        return (self.payout_url or self.url) if kind == "PAYOUT_INSTRUCTION" else self.url

    def may_call_from(self, address: str | None) -> bool:
        return not self.callback_allow or (address or "") in self.callback_allow


def _secret(env: Any, name: str | None, where: str) -> str:
    """The variable's value, or the content of the file `<name>_FILE` names (how compose and
    Kubernetes hand over secrets: mounted files, never the environment)."""
    if name and env.get(name):
        return str(env[name])
    if name and env.get(f"{name}_FILE"):
        try:
            secret = Path(env[f"{name}_FILE"]).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"{where}.secret_env: {name}_FILE: {exc.strerror}") from None
        if secret:
            return secret
    raise ConfigError(f"{where}.secret_env: set the environment variable {name or '<name>'} "
                      f"(or {name or '<name>'}_FILE, a file holding it) to the partner's webhook secret")


def _bounded(entry: dict[str, Any], key: str, default: float, low: float, high: float,
             where: str) -> float:
    """entry[key] (or `default`), a number from `low` to `high`: whole when `default` is."""
    value = entry.get(key, default)
    whole = isinstance(default, int)
    if (isinstance(value, bool) or not isinstance(value, int if whole else (int, float))
            or not low <= value <= high):
        raise ConfigError(f"{where}.{key} must be {'a whole number' if whole else 'a number'} "
                          f"from {low:g} to {high:g}, got {value!r}")
    return value


def load_partners(path: Path, environ: dict[str, str] | None = None,
                  secrets: bool = True, kind: str | None = None) -> list[Partner]:
    """The partners' file; `secrets=False` for readers that only need who wants what
    (reconcile): their secrets are then neither required nor read. `kind`: only the partners
    subscribed to it, the only ones whose secrets are then needed (the API and payout-watch
    deal with receive partners alone: PAYOUT_INSTRUCTION)."""
    env = os.environ if environ is None else environ
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"partners file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"partners file {path}: not valid TOML: {exc}") from None
    partners = []
    for partner_id, entry in data.get("partners", {}).items():
        where = f"{path}: partners.{partner_id}"
        unknown = set(entry) - {"url", "secret_env", "kinds", "timeout_s", "max_attempts",
                                "payout_url", "callback_allow", "status_url", "payout_deadline_s",
                                "in_flight_max"}
        if unknown:
            raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]}")
        url = entry.get("url", "")
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"{where}.url must be http(s)://..., got {url!r}")
        kinds = frozenset(entry.get("kinds", DEFAULT_KINDS))
        if not kinds <= set(KINDS):
            raise ConfigError(f"{where}.kinds: unknown {sorted(kinds - set(KINDS))}; known {KINDS}")
        if kind is not None and kind not in kinds:
            continue
        secret_env = entry.get("secret_env")
        secret = _secret(env, secret_env, where) if secrets else ""
        payout_url, status_url = entry.get("payout_url", ""), entry.get("status_url", "")
        for name, value in (("payout_url", payout_url), ("status_url", status_url)):
            if value and not value.startswith(("http://", "https://")):
                raise ConfigError(f"{where}.{name} must be http(s)://..., got {value!r}")
        deadline = entry.get("payout_deadline_s")
        if deadline is not None and (not isinstance(deadline, int) or deadline < 1):
            raise ConfigError(f"{where}.payout_deadline_s must be a whole number of seconds >= 1")
        allow = entry.get("callback_allow", [])
        for address in allow:
            try:
                ipaddress.ip_address(address)
            except ValueError:
                raise ConfigError(f"{where}.callback_allow: {address!r} is not an IP address") from None
        partners.append(Partner(partner_id, url, secret, kinds,
                                float(_bounded(entry, "timeout_s", 5.0, 0.001, 600.0, where)),
                                int(_bounded(entry, "max_attempts", 6, 1, 100, where)),
                                payout_url, frozenset(allow), status_url, deadline,
                                int(_bounded(entry, "in_flight_max", 256, 1, 4096, where))))
    if not partners and kind is None:
        raise ConfigError(f"{path}: no [partners.<id>] table")
    return partners
