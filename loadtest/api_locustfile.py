"""Locust users of the analysts' API: a realistic mix of its endpoints (`make bench-api`).

The mix, by weight: a transaction by id 25, an account's month of history 20, a day's declines
or holds 10, a merchant's week 5, an account 10, a statement page 10, reports 14 (a day by hour
and country, a month by day, the last hour by minute, a day by hour and merchant category), the
latency and top-merchants panels 5, the review queue 4, a month's CSV export of an account 1.
Report windows are what a dashboard shows (a day by hour, a month by day); a week by hour and
country is ~15,000 rows (2.6 MB of JSON) and ~0.2-0.3 s of PostgreSQL alone, not a panel.

Each user asks at a constant rate (--rate-per-user, default 4/s); loadtest.api_bench starts
enough users for the rate it wants. Ids come from the samples file the store's loader wrote
(PAYSTREAM_API_BENCH_SAMPLES), so every id exists; requests are named by endpoint template.
"""

from __future__ import annotations

import json
import os
import random
from datetime import datetime, timedelta

from locust import constant_throughput, events, task
from locust.contrib.fasthttp import FastHttpUser


@events.init_command_line_parser.add_listener
def _options(parser) -> None:
    parser.add_argument("--rate-per-user", type=float, default=4.0, help="requests/s per user")


with open(os.environ["PAYSTREAM_API_BENCH_SAMPLES"]) as samples_file:
    SAMPLES = json.load(samples_file)
ANALYST = {"Authorization": f"Bearer {os.environ['PAYSTREAM_API_BENCH_KEY']}"}
END = datetime.fromisoformat(SAMPLES["end"])


def _window(hours: float) -> dict[str, str]:
    end = END - timedelta(hours=random.uniform(0, 24 * 20))
    return {"from": (end - timedelta(hours=hours)).isoformat(), "to": end.isoformat()}


class Analyst(FastHttpUser):
    def wait_time(self) -> float:  # constant_throughput with the command line's rate
        return constant_throughput(self.environment.parsed_options.rate_per_user)(self)

    def _get(self, path: str, name: str, **params: object) -> None:
        with self.client.get(path, params=params, headers=ANALYST, name=name,
                             catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}: {response.text[:200]}")

    @task(25)
    def transaction(self) -> None:
        self._get(f"/v1/transactions/{random.choice(SAMPLES['tx_ids'])}", "/v1/transactions/{tx_id}")

    @task(20)
    def account_history(self) -> None:
        self._get("/v1/transactions", "/v1/transactions?account", account=random.choice(SAMPLES["accounts"]),
                  limit=50, **_window(24 * 30))

    @task(10)
    def flagged_in_a_day(self) -> None:
        self._get("/v1/transactions", "/v1/transactions?outcome", outcome=random.choice(["DECLINE", "REVIEW"]),
                  limit=100, **_window(24))

    @task(5)
    def merchant_in_a_week(self) -> None:
        self._get("/v1/transactions", "/v1/transactions?merchant", merchant_id=random.choice(SAMPLES["merchants"]),
                  limit=100, **_window(24 * 7))

    @task(10)
    def account(self) -> None:
        self._get(f"/v1/accounts/{random.choice(SAMPLES['accounts'])}", "/v1/accounts/{account}")

    @task(10)
    def statement(self) -> None:
        self._get(f"/v1/accounts/{random.choice(SAMPLES['accounts'])}/statement",
                  "/v1/accounts/{account}/statement", limit=100)

    @task(4)
    def volume_by_hour(self) -> None:  # a day by hour and country (~15 KB a country)
        self._get("/v1/reports/volume", "/v1/reports/volume", bucket="hour", by="country", **_window(24))

    @task(2)
    def decisions_by_day(self) -> None:  # a month by day
        self._get("/v1/reports/decisions", "/v1/reports/decisions?bucket=day", bucket="day",
                  **_window(24 * 30))

    @task(2)
    def decisions_live(self) -> None:  # the console's live chart: the last hour by minute
        self._get("/v1/reports/decisions", "/v1/reports/decisions?bucket=minute", bucket="minute",
                  **_window(1))

    @task(3)
    def fraud_by_hour(self) -> None:  # a day by hour and merchant category
        self._get("/v1/reports/fraud", "/v1/reports/fraud", bucket="hour", **_window(24))

    @task(3)
    def latency(self) -> None:
        self._get("/v1/reports/latency", "/v1/reports/latency", **_window(1))

    @task(2)
    def top_merchants(self) -> None:
        self._get("/v1/reports/top-merchants", "/v1/reports/top-merchants", **_window(6))

    @task(4)
    def review_queue(self) -> None:
        self._get("/v1/reviews", "/v1/reviews", limit=50)

    @task(1)
    def export_an_account(self) -> None:
        self._get("/v1/exports/transactions.csv", "/v1/exports/transactions.csv?account",
                  account=random.choice(SAMPLES["accounts"]), **_window(24 * 30))
