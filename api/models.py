"""The API's request parameters and response bodies, as pydantic models (they are its OpenAPI).

Query models forbid unknown parameters (a typo is a 422, not a silently ignored filter). Every
string a client sends is bounded and free of control characters, every number bounded to what
the database stores, so nothing a client sends reaches PostgreSQL as an error.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

INT64_MAX = 2**63 - 1
#: Ids as paystream writes them (tx ids, accounts, merchants): printable, bounded.
Ident = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")]
Note = Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=r"^[^\x00]+$")]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
Category = Annotated[str, StringConstraints(pattern=r"^[0-9]{4}$")]
Amount = Annotated[int, Field(ge=0, le=INT64_MAX)]
Score = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
PageSize = Annotated[int, Field(ge=1, le=500)]


#: What a moment may be: payments happen in this range, and converting year 1 or 9999 with an
#: offset to UTC leaves the calendar (Python and asyncpg raise: a 500 before this check).
MOMENT_MIN = datetime(1970, 1, 1, tzinfo=UTC)
MOMENT_MAX = datetime(9999, 1, 1, tzinfo=UTC)


def _aware(value: datetime) -> datetime:
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        inside = MOMENT_MIN <= aware <= MOMENT_MAX
    except OverflowError:
        inside = False
    if not inside:
        raise ValueError(f"must be between {MOMENT_MIN.isoformat()} and {MOMENT_MAX.isoformat()}")
    return aware


#: ISO-8601; without an offset, UTC.
Moment = Annotated[datetime, AfterValidator(_aware)]


class Outcome(str, Enum):
    APPROVE = "APPROVE"
    DECLINE = "DECLINE"
    REVIEW = "REVIEW"
    PENDING = "PENDING"  # a PAYOUT held until its receive partner answers


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TimeRange(Strict):
    start: Moment = Field(alias="from", description="Start of the event-time range (inclusive).")
    end: Moment = Field(alias="to", description="End of the event-time range (exclusive).")


class SearchFilters(TimeRange):
    account: Ident | None = Field(None, description="Payer or payee.")
    outcome: Outcome | None = None
    merchant_id: Ident | None = None
    merchant_category: Category | None = Field(None, description="ISO-18245 MCC, 4 digits.")
    country: Country | None = None
    currency: Currency | None = None
    amount_min: Amount | None = Field(None, description="Minor units, inclusive.")
    amount_max: Amount | None = Field(None, description="Minor units, inclusive.")
    score_min: Score | None = None
    score_max: Score | None = None


class SearchQuery(SearchFilters):
    limit: PageSize = 100
    cursor: Annotated[str, StringConstraints(max_length=512)] | None = None


class Page(Strict):
    limit: PageSize = 100
    cursor: Annotated[str, StringConstraints(max_length=512)] | None = None


class Bucket(str, Enum):
    minute = "minute"
    hour = "hour"
    day = "day"


class Dimension(str, Enum):
    currency = "currency"
    country = "country"
    merchant_category = "merchant_category"
    outcome = "outcome"


class ReportQuery(TimeRange):
    bucket: Bucket = Bucket.hour
    by: Dimension = Dimension.currency


class RecentQuery(TimeRange):
    """A short, recent window: these are read from the rows, not the rollups."""


class TopQuery(TimeRange):
    outcome: Outcome = Outcome.DECLINE
    limit: Annotated[int, Field(ge=1, le=100)] = 10


class AuditQuery(Page):
    action: Annotated[str, StringConstraints(max_length=64, pattern=r"^[a-z.]+$")] | None = None


class VerdictBody(Strict):
    note: Note = Field(description="Why; kept with the verdict and in the audit trail.")


class PartnerCallback(Strict):
    """A receive partner's answer about one payout."""

    callback_id: Ident = Field(description="The partner's id of this callback; a retry repeats it.")
    tx_id: Ident = Field(description="The payout, as the instruction named it.")
    status: Literal["SUCCESS", "FAILURE"]
    partner_reference: Ident | None = Field(None, description="The partner's own id of the payment.")
    reason: Note | None = Field(None, description="Why it failed.")


class CallbackAccepted(BaseModel):
    tx_id: str
    status: str
    accepted: bool


class KeyBody(Strict):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")]
    role: Annotated[str, StringConstraints(pattern=r"^(analyst|reviewer|admin)$")]


# --- responses ------------------------------------------------------------------------------


class Transaction(BaseModel):
    tx_id: str
    type: str
    source_account: str
    destination_account: str
    amount: int
    currency: str
    event_time: datetime
    channel: str
    merchant_id: str | None
    merchant_category: str | None
    country: str
    outcome: str
    score: float
    reasons: list[str]
    model_version: str | None
    shadow_score: float | None
    shadow_model_version: str | None
    decided_at: datetime
    produced_at: datetime | None
    latency_ms: int | None
    device_id: str | None = None


class StatementRow(BaseModel):
    """A ledger row as an account's statement shows it."""

    posting_id: str
    tx_id: str
    currency: str
    direction: str
    amount: int
    balance_after: int
    account_seq: int
    event_time: datetime
    posted_at: datetime


class Posting(StatementRow):
    """A ledger row of a transaction: whose account it is on, too."""

    account: str


class Delivery(BaseModel):
    notification_id: str
    kind: str
    account: str
    partner_id: str
    outcome: str           # delivered, dead, pending
    attempts: int | None = None
    detail: str | None = None


class Review(BaseModel):
    status: str | None = Field(description="HELD, REVIEW_APPROVED, REVIEW_DECLINED, EXPIRED, or "
                                           "null when the hold record is gone")
    verdict: dict[str, Any] | None = None


class Label(BaseModel):
    source: str = Field(description="CHARGEBACK, ANALYST, CUSTOMER_REPORT or REVIEW.")
    is_fraud: bool
    reported_at: datetime = Field(description="When it became known.")
    note: str | None


class TransactionDetail(BaseModel):
    transaction: Transaction
    postings: list[Posting]
    notifications: list[Delivery]
    review: Review | None
    labels: list[Label] = Field(description="What became known after the decision, one per "
                                            "source (the latest report), oldest first.")


class TransactionPage(BaseModel):
    items: list[Transaction]
    next_cursor: str | None


class Hold(BaseModel):
    tx_id: str
    destination: str
    amount: int
    currency: str
    expires_at: datetime


class Balance(BaseModel):
    currency: str
    balance: int
    held: int
    available: int


class Account(BaseModel):
    account: str
    balances: list[Balance]
    holds: list[Hold]
    postings: int = Field(description="Postings on the account so far (its ledger sequence).")


class Chain(BaseModel):
    verified: bool | None = Field(description="null: not checked (longer than the API checks)")
    rows_checked: int
    problem: str | None = None


class Statement(BaseModel):
    account: str
    items: list[StatementRow]
    next_cursor: str | None
    chain: Chain


class ReportRow(BaseModel):
    bucket: datetime
    key: str = Field(description="The value of the `by` dimension.")
    currency: str
    count: int
    amount: int
    declined: int
    reviewed: int
    avg_score: float | None
    avg_latency_ms: float | None


class LatencyRow(BaseModel):
    bucket: datetime
    count: int
    p50: float | None
    p95: float | None
    p99: float | None


class Latency(BaseModel):
    rows: list[LatencyRow]


class MerchantRow(BaseModel):
    merchant_id: str
    count: int
    amount: int
    currency: str


class TopMerchants(BaseModel):
    outcome: Outcome
    rows: list[MerchantRow]


class Report(BaseModel):
    bucket: Bucket
    by: Dimension
    rows: list[ReportRow]


class ReviewItem(BaseModel):
    tx_id: str
    account: str
    amount: int
    currency: str
    score: float
    reasons: list[str]
    event_time: datetime
    decided_at: datetime


class ReviewPage(BaseModel):
    items: list[ReviewItem]
    next_cursor: str | None


class VerdictResult(BaseModel):
    tx_id: str
    action: str
    note: str
    reviewer: str
    account: str
    decided_at: datetime


class Me(BaseModel):
    key_id: str
    name: str
    role: str


class Key(BaseModel):
    key_id: str
    name: str
    role: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None


class NewKey(Key):
    key: str = Field(description="Shown this once; only its hash is kept.")


class AuditRow(BaseModel):
    audit_id: int
    at: datetime
    actor: str
    role: str
    action: str
    target: str
    client_address: str | None
    request_id: str
    detail: dict[str, Any]


class AuditPage(BaseModel):
    items: list[AuditRow]
    next_cursor: str | None
