"""FX quotes for payouts: the versioned rate table a PAYOUT names its quote from (docs/send-money.md).

A TOML file (`PAYSTREAM_QUOTES_PATH`):

    version = "2026-12-01.1"
    [[quote]]
    id = "q-eur-kes-0001"
    sell = "EUR"                        # the currency the sender is debited in
    buy = "KES"                         # the currency the beneficiary is paid in
    rate = "140.25"                     # units of `buy` per unit of `sell`, a decimal string
    expires_at = "2026-12-01T12:00:00Z"

A payout must state exactly what its quote gives: the debited amount at the rate, in the payout
currency's minor units (ISO 4217 digits, from CLDR through babel), rounded half-even. Pure:
parsing and arithmetic, no I/O beyond reading the file.
"""

from __future__ import annotations

import logging
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path

from babel.numbers import get_currency_precision

from streams.errors import ConfigError, ValidationError
from streams.labels import parse_time_ms
from streams.records import Payout
from streams.validation import CURRENCIES

log = logging.getLogger(__name__)

#: Why a payout's quote does not hold: its decision's reason.
QUOTE_UNKNOWN, QUOTE_EXPIRED, QUOTE_MISMATCH = ("payout:quote_unknown", "payout:quote_expired",
                                                "payout:quote_mismatch")


def minor_digits(currency: str) -> int:
    """Digits after the decimal point of `currency`'s minor unit (EUR 2, JPY 0, KWD 3)."""
    return int(get_currency_precision(currency))


@dataclass(frozen=True)
class Quote:
    quote_id: str
    sell: str
    buy: str
    rate: Decimal
    expires_at_ms: int

    def pays(self, amount: int) -> int:
        """What `amount` (minor units of sell) pays out, in minor units of buy."""
        major = Decimal(amount).scaleb(-minor_digits(self.sell)) * self.rate
        return int(major.scaleb(minor_digits(self.buy)).quantize(Decimal(1), ROUND_HALF_EVEN))


@dataclass(frozen=True)
class QuoteTable:
    version: str
    quotes: dict[str, Quote]

    def refusal(self, payout: Payout, amount: int, currency: str, event_time_ms: int) -> str | None:
        """Why this payout's quote does not hold at its event time, or None when it does."""
        quote = self.quotes.get(payout.quote_id)
        if quote is None:
            return QUOTE_UNKNOWN
        if event_time_ms >= quote.expires_at_ms:
            return QUOTE_EXPIRED
        if (quote.sell, quote.buy) != (currency, payout.payout_currency) \
                or Decimal(payout.fx_rate) != quote.rate or quote.pays(amount) != payout.payout_amount:
            return QUOTE_MISMATCH
        return None

    def table(self) -> QuoteTable:
        return self


EMPTY = QuoteTable("none", {})


class QuoteFile:
    """The table in a file, read again when the file changes (looked at every `check_s` at
    most): quotes live for minutes, so a new table must reach running workers. A new version
    that does not parse is logged and the previous table kept; at start, a bad file stops the
    program (load_quotes' ConfigError)."""

    def __init__(self, path: str | Path, check_s: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._path = Path(path)
        self._check_s = check_s
        self._clock = clock
        self._seen = self._stamp()
        self._table = load_quotes(self._path)
        self._checked = clock()
        log.info("quotes %s loaded from %s (%d quotes)", self._table.version, self._path,
                 len(self._table.quotes))

    def _stamp(self) -> tuple[int, int]:
        try:
            stat = self._path.stat()
        except OSError:
            return (-1, -1)
        return (stat.st_mtime_ns, stat.st_size)

    def table(self) -> QuoteTable:
        now = self._clock()
        if now - self._checked >= self._check_s:
            self._checked = now
            stamp = self._stamp()
            if stamp != self._seen:
                self._seen = stamp
                try:
                    self._table = load_quotes(self._path)
                    log.info("quotes %s loaded from %s (%d quotes)", self._table.version,
                             self._path, len(self._table.quotes))
                except ConfigError as exc:
                    log.error("quotes: keeping version %s: %s", self._table.version, exc)
        return self._table


def quote_source(path: str | Path | None) -> QuoteTable | QuoteFile:
    """What a worker reads its quotes from: the file (followed), or no quotes at all."""
    return QuoteFile(path) if path else EMPTY


def load_quotes(path: str | Path | None) -> QuoteTable:
    """The table in `path` (none given: no quotes, every payout is declined), or a ConfigError
    naming the file, the quote and the field to fix."""
    if not path:
        return EMPTY
    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"quotes file {path}: {exc}") from None
    version = data.get("version")
    if not isinstance(version, str) or not version:
        raise ConfigError(f"quotes file {path}: needs a version = \"...\" line")
    quotes: dict[str, Quote] = {}
    for number, raw in enumerate(data.get("quote", []), 1):
        where = f"quotes file {path}, quote {number}"
        try:
            quote = Quote(str(raw["id"]), _currency(raw, "sell"), _currency(raw, "buy"),
                          _rate(raw.get("rate")), parse_time_ms(str(raw["expires_at"]), "expires_at"))
        except KeyError as exc:
            raise ConfigError(f"{where}: missing {exc.args[0]}") from None
        except ValidationError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        if quote.quote_id in quotes:
            raise ConfigError(f"{where}: id {quote.quote_id} is used twice")
        quotes[quote.quote_id] = quote
    return QuoteTable(version, quotes)


def _currency(raw: dict, name: str) -> str:
    value = str(raw[name])
    if value not in CURRENCIES:
        raise ValidationError(name, value, "not an ISO-4217 currency code")
    return value


def _rate(value: object) -> Decimal:
    try:
        rate = Decimal(str(value)) if isinstance(value, str) else Decimal("NaN")
    except InvalidOperation:
        rate = Decimal("NaN")
    if not rate.is_finite() or rate <= 0:
        raise ValidationError("rate", value, "must be a positive decimal string, e.g. \"140.25\"")
    return rate
