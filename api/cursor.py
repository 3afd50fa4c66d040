"""Keyset pagination: a cursor is the last row's sort key, opaque to clients (base64 JSON).

Keyset rather than OFFSET: page n costs what page 1 costs, and rows added meanwhile never shift
a page.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from api.errors import invalid


def encode(*key: Any) -> str:
    plain = [v.isoformat() if isinstance(v, datetime) else v for v in key]
    return base64.urlsafe_b64encode(json.dumps(plain).encode()).decode().rstrip("=")


def decode(cursor: str | None, kinds: tuple[type, ...]) -> tuple[Any, ...] | None:
    """The key the cursor carries, each part converted to its kind; a 422 when it is not ours."""
    if cursor is None:
        return None
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(values, list) or len(values) != len(kinds):
            raise ValueError("wrong shape")
        return tuple(datetime.fromisoformat(v) if kind is datetime else kind(v)
                     for v, kind in zip(values, kinds, strict=True))
    except (ValueError, TypeError, UnicodeDecodeError, OverflowError) as exc:
        raise invalid("query", "cursor", "not a cursor this API gave out") from exc
