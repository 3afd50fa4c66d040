"""Fixed reference data the synthetic world is built from: countries, currencies, merchants, days.

Plain tables, no randomness: the seed decides who lives where, this file decides what exists.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Country:
    code: str  # ISO-3166-1 alpha-2
    currency: str  # ISO-4217 of accounts opened there
    home_weight: float  # share of customers living there; 0 for travel destinations only
    travel_weight: float  # how often trips (and takeover logins) come from there
    utc_offsets: tuple[int, ...]  # whole hours; several for wide countries
    ip_octets: tuple[int, ...]  # first octets of its (made-up) address blocks, disjoint per country


COUNTRIES: tuple[Country, ...] = (
    Country("DE", "EUR", 0.17, 0.08, (1,), (31, 84)),
    Country("FR", "EUR", 0.13, 0.09, (1,), (37, 90)),
    Country("GB", "GBP", 0.13, 0.07, (0,), (51, 86)),
    Country("US", "USD", 0.13, 0.07, (-5, -6, -8), (23, 73)),
    Country("ES", "EUR", 0.08, 0.10, (1,), (83, 88)),
    Country("IT", "EUR", 0.08, 0.08, (1,), (79, 93)),
    Country("NL", "EUR", 0.06, 0.04, (1,), (62, 145)),
    Country("PL", "PLN", 0.06, 0.03, (1,), (46, 178)),
    Country("SE", "SEK", 0.04, 0.02, (1,), (78, 155)),
    Country("IE", "EUR", 0.03, 0.02, (0,), (87, 109)),
    Country("BE", "EUR", 0.03, 0.02, (1,), (81, 91)),
    Country("AT", "EUR", 0.03, 0.04, (1,), (77, 212)),
    Country("PT", "EUR", 0.02, 0.05, (0,), (85, 188)),
    Country("CH", "CHF", 0.0, 0.04, (1,), (82, 213)),
    Country("GR", "EUR", 0.0, 0.05, (2,), (94, 150)),
    Country("HR", "EUR", 0.0, 0.03, (1,), (89, 161)),
    Country("TR", "TRY", 0.0, 0.04, (3,), (95, 176)),
    Country("MX", "MXN", 0.0, 0.02, (-6,), (187, 201)),
    Country("TH", "THB", 0.0, 0.02, (7,), (49, 171)),
    Country("JP", "JPY", 0.0, 0.01, (9,), (61, 126)),
    Country("AE", "AED", 0.0, 0.02, (4,), (5, 194)),
    Country("MA", "MAD", 0.0, 0.02, (0,), (41, 105)),
    Country("CA", "CAD", 0.0, 0.02, (-5,), (24, 99)),
)

COUNTRY_INDEX = {country.code: index for index, country in enumerate(COUNTRIES)}

#: Units of each account currency worth about one euro, so that amounts feel right in each.
PRICE_LEVEL = {"EUR": 1.0, "GBP": 0.85, "USD": 1.1, "PLN": 4.3, "SEK": 11.0}

#: Notes an ATM hands out, in units of the account currency.
ATM_UNITS = {
    "EUR": (20, 40, 50, 50, 60, 100, 100, 150, 200, 300),
    "GBP": (20, 30, 40, 50, 50, 100, 100, 150, 200, 250),
    "USD": (20, 40, 60, 60, 100, 100, 140, 200, 300, 400),
    "PLN": (50, 100, 100, 200, 200, 300, 400, 500, 800, 1000),
    "SEK": (200, 300, 500, 500, 1000, 1000, 1500, 2000, 3000, 4000),
}


@dataclass(frozen=True, slots=True)
class MerchantCategory:
    mcc: str  # ISO-18245
    weight: float  # share of merchants
    amount_factor: float  # typical ticket relative to the payer's own median payment
    online_share: float  # share of its merchants that sell online rather than at a till


CATEGORIES: tuple[MerchantCategory, ...] = (
    MerchantCategory("5411", 0.20, 1.0, 0.10),  # grocery
    MerchantCategory("5812", 0.11, 1.3, 0.05),  # restaurants
    MerchantCategory("5814", 0.09, 0.4, 0.20),  # fast food
    MerchantCategory("5541", 0.06, 1.6, 0.00),  # fuel
    MerchantCategory("4111", 0.07, 0.35, 0.40),  # local transport
    MerchantCategory("4121", 0.04, 0.8, 0.70),  # taxis and ride hailing
    MerchantCategory("5912", 0.05, 0.7, 0.20),  # pharmacies
    MerchantCategory("5311", 0.05, 2.0, 0.30),  # department stores
    MerchantCategory("5651", 0.06, 1.8, 0.50),  # clothing
    MerchantCategory("5732", 0.03, 5.0, 0.60),  # electronics
    MerchantCategory("5999", 0.08, 1.0, 0.50),  # miscellaneous retail
    MerchantCategory("5815", 0.05, 0.3, 1.00),  # digital goods
    MerchantCategory("4899", 0.03, 0.6, 1.00),  # subscriptions
    MerchantCategory("7995", 0.02, 1.5, 0.90),  # gambling
    MerchantCategory("4511", 0.01, 8.0, 0.90),  # airlines
    MerchantCategory("7011", 0.01, 6.0, 0.50),  # hotels
)

#: Where online shops are registered, beyond the customers' own countries.
ONLINE_HUBS = ("IE", "NL", "US", "GB", "DE")

#: Relative activity by local hour: quiet nights, a lunch peak and a bigger evening one.
HOUR_PROFILE = (
    0.12, 0.07, 0.05, 0.04, 0.05, 0.12, 0.35, 0.70, 1.00, 1.15, 1.25, 1.45,
    1.70, 1.55, 1.30, 1.25, 1.35, 1.55, 1.75, 1.80, 1.60, 1.25, 0.80, 0.35,
)
