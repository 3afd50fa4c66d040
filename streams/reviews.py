"""A reviewer's verdict on a held transaction, published to the reviews topic.

Shared by `paystream review` and the analysts' API. The verdict is keyed by the held
transaction's source account, so it reaches the worker that owns the hold; that worker posts the
transaction (APPROVE) or releases the hold (DECLINE). A verdict for a hold that is gone changes
nothing, so publishing the same verdict twice is harmless.
"""

from __future__ import annotations

from typing import Any

from streams.errors import ValidationError
from streams.producer import AckedPublisher
from streams.settings import Settings

ACTIONS = ("APPROVE", "DECLINE")


def verdict(tx_id: str, account: str, action: str, reviewer: str, decided_at_ms: int) -> dict[str, Any]:
    if action not in ACTIONS:
        raise ValidationError("action", action, f"expected one of {', '.join(ACTIONS)}")
    return {"review_id": f"{tx_id}:{action}", "tx_id": tx_id, "source_account": account,
            "action": action, "reviewer": reviewer, "decided_at": decided_at_ms}


class VerdictPublisher(AckedPublisher):
    """One idempotent producer for verdicts; `publish` returns once Kafka has acknowledged."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, "reviews", "review")
