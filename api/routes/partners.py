"""Receive partners' callbacks about payouts (docs/send-money.md): verified, then published.

`POST /v1/partners/{partner}/callbacks` authenticates the partner, not an API key: the body must
carry `Paystream-Signature` made with that partner's secret (streams/partners.py, the scheme
paystream signs its own webhooks with), from an allowed address when the partner has an allow
list. The payout must be one this partner was instructed to pay. Then the API publishes the
outcome to payout-outcomes, keyed by the sender, and does nothing else: the worker that holds the
money applies it (agents/payouts.py), once, however often the partner calls. The signature is
checked before the body is read as JSON, so a forger learns nothing of the format.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from api.errors import Forbidden, NotFound, Unauthorized, Unavailable
from api.models import CallbackAccepted, Ident, PartnerCallback
from api.security import client_address, services
from streams.accounts import TX_ACCOUNT, payout_details, read_tx_records
from streams.errors import KafkaError
from streams.partners import verify_signature

log = logging.getLogger(__name__)
router = APIRouter(tags=["partners"])


@router.post("/partners/{partner}/callbacks", response_model=CallbackAccepted, status_code=202,
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": PartnerCallback.model_json_schema()}}}})
async def callback(partner: Annotated[Ident, Path()], request: Request) -> dict[str, Any]:
    """A receive partner says how a payout went (SUCCESS or FAILURE); signed with its secret."""
    svc = services(request)
    known = svc.partners.get(partner)
    if known is None:
        raise NotFound(f"no partner {partner}")
    if not known.may_call_from(client_address(request)):
        raise Forbidden(f"partner {partner} may not call back from {client_address(request)}")
    body = await request.body()
    if not verify_signature(known.secret, request.headers.get("Paystream-Signature", ""), body):
        raise Unauthorized("Paystream-Signature is missing, wrong or older than 5 minutes")
    try:
        answer = PartnerCallback.model_validate_json(body)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None
    record = (await read_tx_records(svc.state, svc.settings.topic_prefix, [answer.tx_id],
                                     partitions=svc.settings.partitions)).get(answer.tx_id, {})
    details = payout_details(record)
    if details is None or details["receive_partner"] != partner or not record.get(TX_ACCOUNT):
        raise NotFound(f"no payout {answer.tx_id} was sent to partner {partner}")
    outcome = {"callback_id": answer.callback_id, "tx_id": answer.tx_id,
               "source_account": record[TX_ACCOUNT], "partner": partner, "status": answer.status,
               "partner_reference": answer.partner_reference, "reason": answer.reason,
               "received_at": time.time_ns() // 1_000_000}
    try:
        await asyncio.to_thread(svc.outcomes.publish, outcome)
    except KafkaError as exc:
        raise Unavailable(f"the callback could not be published, send it again: {exc}") from exc
    log.info("payout %s: %s from %s (callback %s)", answer.tx_id, answer.status, partner,
             answer.callback_id)
    return {"tx_id": answer.tx_id, "status": answer.status, "accepted": True}
