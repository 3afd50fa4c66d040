"""Reports from the rollups (never the transactions table): volume, decisions, fraud."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from api import reads
from api.errors import invalid
from api.keys import Principal
from api.models import (
    Dimension,
    Latency,
    RecentQuery,
    Report,
    ReportQuery,
    TopMerchants,
    TopQuery,
)
from api.routes.common import RECENT_MAX, check_range
from api.security import analyst, services

router = APIRouter(tags=["reports"])


async def _report(request: Request, query: ReportQuery) -> Response:
    """The report as JSON put together from PostgreSQL's own, bucket by bucket (api.reportcache);
    its shape is the Report model's, which the schemathesis test checks."""
    svc = services(request)
    check_range(query, svc.settings.api_max_range_days, query.bucket)
    rows = await svc.reports.json(query.bucket, query.by, query.start, query.end)
    head = json.dumps({"bucket": query.bucket.value, "by": query.by.value})[:-1]
    return Response(f'{head}, "rows": {rows}}}', media_type="application/json")


def _by_default(request: Request, query: ReportQuery, by: Dimension) -> ReportQuery:
    """This report's own default dimension when the client named none."""
    return query if "by" in request.query_params else query.model_copy(update={"by": by})


@router.get("/reports/volume", response_model=Report)
async def volume(query: Annotated[ReportQuery, Query()], request: Request,
                 _: Principal = Depends(analyst)) -> Response:
    """Counts and amounts per time bucket and dimension (amounts always per currency)."""
    return await _report(request, query)


@router.get("/reports/decisions", response_model=Report)
async def decisions(query: Annotated[ReportQuery, Query()], request: Request,
                    _: Principal = Depends(analyst)) -> Response:
    """The same figures; read them by=outcome for the decision mix, its scores and latency."""
    return await _report(request, _by_default(request, query, Dimension.outcome))


@router.get("/reports/fraud", response_model=Report)
async def fraud(query: Annotated[ReportQuery, Query()], request: Request,
                _: Principal = Depends(analyst)) -> Response:
    """Declined and reviewed counts per bucket and dimension (by merchant category unless asked)."""
    return await _report(request, _by_default(request, query, Dimension.merchant_category))


@router.get("/reports/latency", response_model=Latency)
async def latency(query: Annotated[RecentQuery, Query()], request: Request,
                  _: Principal = Depends(analyst)) -> dict[str, Any]:
    """Produce-to-decision latency percentiles per minute, over at most the last 6 hours' range."""
    svc = services(request)
    check_range(query, svc.settings.api_max_range_days, longest=RECENT_MAX)
    return {"rows": [dict(r) for r in await reads.latency(svc.db, query.start, query.end)]}


@router.get("/reports/top-merchants", response_model=TopMerchants)
async def top_merchants(query: Annotated[TopQuery, Query()], request: Request,
                        _: Principal = Depends(analyst)) -> dict[str, Any]:
    """Merchants with the most declined (or held) transactions in a window of at most 6 hours."""
    svc = services(request)
    if query.outcome.value == "APPROVE":
        raise invalid("query", "outcome", "DECLINE or REVIEW (approvals are not ranked)")
    check_range(query, svc.settings.api_max_range_days, longest=RECENT_MAX)
    rows = await reads.top_merchants(svc.db, query.outcome.value, query.start, query.end, query.limit)
    return {"outcome": query.outcome, "rows": [dict(r) for r in rows]}
