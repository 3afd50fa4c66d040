"""UTC offsets of each country by month, for the night-time feature (the hour at home).

Each country gets the UTC offset of its first listed time zone (pytz's country_timezones, from
the IANA database) at mid-month of each month, so summer time is right to within the few days
around a change and a wide country uses its most populous zone. Computed once at import.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pycountry
import pytz

#: Every ISO-3166-1 alpha-2 code, sorted; a country's index + 1 is what account state stores
#: (0 means "none").
COUNTRY_CODES: tuple[str, ...] = tuple(sorted(c.alpha_2 for c in pycountry.countries))
COUNTRY_NUMBER = {code: i + 1 for i, code in enumerate(COUNTRY_CODES)}

_REFERENCE_YEAR = 2026


def _offsets_minutes() -> np.ndarray:
    """(countries + 1) x 12 UTC offsets in minutes; row 0 (no country) is UTC."""
    table = np.zeros((len(COUNTRY_CODES) + 1, 12), dtype=np.int32)
    for code, number in COUNTRY_NUMBER.items():
        zones = pytz.country_timezones.get(code)
        if not zones:
            continue
        zone = ZoneInfo(zones[0])
        for month in range(12):
            offset = datetime(_REFERENCE_YEAR, month + 1, 15, 12, tzinfo=zone).utcoffset()
            table[number, month] = int(offset.total_seconds() // 60) if offset else 0
    return table


OFFSETS_MINUTES = _offsets_minutes()
