"""Fraud features of a batch of transactions, from per-account profiles: the one feature code.

Training (agents.fraud.replay) and the authorize agent both call `extract`, so what the model
learnt from is computed exactly as what it scores (no training/serving skew).

A profile is a fixed 232-byte record per paying account (O(1) however active it is):
exponentially decayed counts and sums over 1 min / 1 h / 24 h (c <- c * exp(-dt / W) + 1: recent
transactions weigh ~1, ones a few W ago ~0), a running mean and spread of log(amount), and three
small most-recently-used sets (devices, countries, payees) of (id hash, last seen) slots, from
which "new" and "distinct in 24 h" are read. Countries also count hits: the most hit is home.

Vectorised with numpy: an account's transactions depend on each other, so a batch is processed
in rounds, round r holding every account's r-th transaction of the batch; within a round all
rows are independent and computed at once.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np

from agents.fraud import labelrisk
from localtime_numpy import country_numbers, local_hour
from streams.records import Channel, Transaction, TransactionType

WINDOWS_S = np.array([60.0, 3600.0, 86400.0])
DAY_S = 86_400
#: A first transaction's "seconds since the last one": about a month.
NO_HISTORY_S = 30 * DAY_S
#: Running mean/spread of log(amount) weigh a new amount at least this much (~the last 50).
EW_ALPHA_MIN = 0.02
#: Added to the variance of log(amount) so that an account with steady amounts does not turn
#: every small change into a huge z-score.
VAR_FLOOR = 0.1
NIGHT_HOURS_END = 6  # local 00:00-05:59 is night

# Profile layout: uint32 words, some read as float32 (same buffer, two views).
LAST_S, N, MEAN, VAR = 0, 1, 2, 3
COUNT, SUM = 4, 7  # 3 windows each
DEVICE_SLOTS, COUNTRY_SLOTS, PAYEE_SLOTS = 6, 4, 12
DEV_ID = 10
DEV_T = DEV_ID + DEVICE_SLOTS
CTRY_ID = DEV_T + DEVICE_SLOTS
CTRY_T = CTRY_ID + COUNTRY_SLOTS
CTRY_HITS = CTRY_T + COUNTRY_SLOTS
PAY_ID = CTRY_HITS + COUNTRY_SLOTS
PAY_T = PAY_ID + PAYEE_SLOTS
PROFILE_WORDS = PAY_T + PAYEE_SLOTS
PROFILE_BYTES = 4 * PROFILE_WORDS

FEATURES: tuple[str, ...] = (
    "log_amount", "amount_z", "amount_vs_mean",
    "count_1m", "count_1h", "count_24h",
    "sum_1m_vs_mean", "sum_1h_vs_mean", "sum_24h_vs_mean",
    "distinct_countries_24h", "distinct_devices_24h", "distinct_payees_24h",
    "log_seconds_since_last", "new_device", "new_country", "new_payee", "abroad",
    "night_home", "fan_in_24h", "log_history",
    "is_transfer", "is_payment", "is_withdrawal",
    "channel_web", "channel_mobile", "channel_pos", "channel_atm", "channel_api",
    "has_device",
    *labelrisk.FEATURES,
)
INDEX = {name: i for i, name in enumerate(FEATURES)}
_TYPES = (TransactionType.TRANSFER, TransactionType.PAYMENT, TransactionType.WITHDRAWAL)
_CHANNELS = (Channel.WEB, Channel.MOBILE, Channel.POS, Channel.ATM, Channel.API)


def id_hash(value: str) -> int:
    """Stable across processes (Python's hash() is salted per process; profiles outlive it)."""
    return zlib.crc32(value.encode())


class Columns:
    """The batch's transactions as arrays, one row each."""

    def __init__(self, txs: Sequence[Transaction]) -> None:
        n = len(txs)
        self.amount = np.fromiter((t.amount for t in txs), dtype=np.float64, count=n)
        self.time_s = np.fromiter((t.event_time // 1000 for t in txs), dtype=np.int64, count=n)
        self.country = country_numbers([t.country for t in txs])
        self.has_device = np.fromiter((t.device_id is not None for t in txs), dtype=bool, count=n)
        self.device = np.fromiter((id_hash(t.device_id) if t.device_id else 0 for t in txs),
                                  dtype=np.uint32, count=n)
        self.payee = np.fromiter((id_hash(t.destination_account) for t in txs), dtype=np.uint32,
                                 count=n)
        self.onehot = np.zeros((n, len(_TYPES) + len(_CHANNELS)), dtype=np.float32)
        for i, tx in enumerate(txs):
            # A payout leaves the platform to an outside party, as a withdrawal does: the model
            # has learnt withdrawals (to a system account whose fan-in is everyone), not payouts.
            kind = TransactionType.WITHDRAWAL if tx.type is TransactionType.PAYOUT else tx.type
            if kind in _TYPES:
                self.onehot[i, _TYPES.index(kind)] = 1.0
            if tx.channel in _CHANNELS:
                self.onehot[i, len(_TYPES) + _CHANNELS.index(tx.channel)] = 1.0


def extract(txs: Sequence[Transaction], profiles: dict[str, bytes], fan_in: np.ndarray,
            label_risk: dict[str, list[labelrisk.Entry]] | None = None,
            payment_days: dict[str, dict[int, int]] | None = None
            ) -> tuple[np.ndarray, dict[str, bytes]]:
    """Feature rows (len(txs) x len(FEATURES), float32), in order, and every payer's new profile.

    `profiles` holds the stored profile of each source account (missing or b"": none yet);
    `fan_in` the destination's distinct payers for each transaction (agents.fraud.fanin);
    `label_risk` the fraud labels held for the batch's payers and destinations
    (agents.fraud.labelrisk), `payment_days` those destinations' payments per day.
    """
    names = list(dict.fromkeys(t.source_account for t in txs))
    row_of = {name: i for i, name in enumerate(names)}
    table = np.zeros((len(names), PROFILE_WORDS), dtype=np.uint32)
    for name, i in row_of.items():
        blob = profiles.get(name)
        if blob:
            table[i] = np.frombuffer(blob, dtype=np.uint32, count=PROFILE_WORDS)
    rows = np.fromiter((row_of[t.source_account] for t in txs), dtype=np.int64, count=len(txs))
    cols = Columns(txs)
    out = np.zeros((len(txs), len(FEATURES)), dtype=np.float32)
    out[:, INDEX["fan_in_24h"]] = fan_in
    out[:, INDEX["is_transfer"]:INDEX["has_device"]] = cols.onehot
    out[:, INDEX["has_device"]] = cols.has_device
    out[:, INDEX[labelrisk.FEATURES[0]]:] = labelrisk.features(txs, label_risk or {}, payment_days)
    for picked in _rounds(rows):
        state = table[rows[picked]]
        out[picked] = _step(state, cols, picked, out[picked])
        table[rows[picked]] = state
    return out, {name: table[i].tobytes() for name, i in row_of.items()}


def _rounds(rows: np.ndarray) -> list[np.ndarray]:
    """Indices of each account's 1st, 2nd, ... transaction in the batch, round by round."""
    order = np.argsort(rows, kind="stable")
    sorted_rows = rows[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_rows)) + 1]
    rank = np.arange(len(rows)) - np.repeat(starts, np.diff(np.r_[starts, len(rows)]))
    by_rank = np.empty_like(rank)
    by_rank[order] = rank
    return [np.flatnonzero(by_rank == r) for r in range(int(rank.max(initial=-1)) + 1)]


def _step(state: np.ndarray, cols: Columns, picked: np.ndarray, feats: np.ndarray) -> np.ndarray:
    """Features of one round (one transaction per account) and the profiles after it, in place."""
    real = state.view(np.float32)
    k = len(picked)
    t = cols.time_s[picked]
    amount = cols.amount[picked]
    n = real[:, N].astype(np.float64)
    first = n == 0
    last = state[:, LAST_S].astype(np.int64)
    dt = np.where(first, NO_HISTORY_S, np.maximum(t - last, 0)).astype(np.float64)
    decay = np.exp(-dt[:, None] / WINDOWS_S[None, :])
    counts = real[:, COUNT:COUNT + 3] * decay + 1.0
    sums = real[:, SUM:SUM + 3] * decay + amount[:, None]
    log_amount = np.log(amount)
    mean = real[:, MEAN].astype(np.float64)
    var = real[:, VAR].astype(np.float64)
    deviation = np.where(first, 0.0, log_amount - mean)
    typical = np.where(first, amount, np.exp(mean))

    feats[:, INDEX["log_amount"]] = log_amount
    feats[:, INDEX["amount_z"]] = np.where(n >= 2, deviation / np.sqrt(var + VAR_FLOOR), 0.0)
    feats[:, INDEX["amount_vs_mean"]] = deviation
    feats[:, INDEX["count_1m"]:INDEX["count_24h"] + 1] = counts
    feats[:, INDEX["sum_1m_vs_mean"]:INDEX["sum_24h_vs_mean"] + 1] = sums / typical[:, None]
    feats[:, INDEX["log_seconds_since_last"]] = np.log1p(dt)
    feats[:, INDEX["log_history"]] = np.log1p(n)

    hits = real[:, CTRY_HITS:CTRY_HITS + COUNTRY_SLOTS]
    home = np.where(first, cols.country[picked],
                    state[np.arange(k), CTRY_ID + np.argmax(hits, axis=1)])
    feats[:, INDEX["abroad"]] = cols.country[picked] != home
    feats[:, INDEX["night_home"]] = local_hour(t, home) < NIGHT_HOURS_END

    since = t - DAY_S
    everyone = np.ones(k, dtype=bool)
    new, distinct = _remember(state, DEV_ID, DEVICE_SLOTS, cols.device[picked], t, since,
                              cols.has_device[picked])
    feats[:, INDEX["new_device"]] = new
    feats[:, INDEX["distinct_devices_24h"]] = distinct
    new, distinct = _remember(state, CTRY_ID, COUNTRY_SLOTS, cols.country[picked], t, since,
                              everyone, hits_at=CTRY_HITS)
    feats[:, INDEX["new_country"]] = new
    feats[:, INDEX["distinct_countries_24h"]] = distinct
    new, distinct = _remember(state, PAY_ID, PAYEE_SLOTS, cols.payee[picked], t, since, everyone)
    feats[:, INDEX["new_payee"]] = new
    feats[:, INDEX["distinct_payees_24h"]] = distinct

    alpha = np.maximum(1.0 / (n + 1.0), EW_ALPHA_MIN)
    new_mean = np.where(first, log_amount, mean + alpha * deviation)
    real[:, VAR] = np.where(first, 0.0, (1.0 - alpha) * (var + alpha * deviation ** 2))
    real[:, MEAN] = new_mean
    real[:, N] = n + 1.0
    real[:, COUNT:COUNT + 3] = counts
    real[:, SUM:SUM + 3] = sums
    state[:, LAST_S] = np.maximum(t, last)
    return feats


def _remember(state: np.ndarray, id_col: int, slots: int, ids: np.ndarray, t: np.ndarray,
              since: np.ndarray, active: np.ndarray,
              hits_at: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Record `ids` in a most-recently-used slot set; (was new, distinct seen since `since`).

    A known id refreshes its slot; a new one takes the empty or least recently seen slot.
    Rows where `active` is false (no device given) change nothing and count as not new.
    """
    seen_ids = state[:, id_col:id_col + slots]
    seen_t = state[:, id_col + slots:id_col + 2 * slots].astype(np.int64)
    match = (seen_ids == ids[:, None]) & (seen_t > 0)
    known = match.any(axis=1)
    slot = np.where(known, np.argmax(match, axis=1), np.argmin(seen_t, axis=1))
    rows = np.flatnonzero(active)
    cells = slot[rows]
    state[rows, id_col + cells] = ids[rows]
    state[rows, id_col + slots + cells] = t[rows]
    if hits_at is not None:
        real = state.view(np.float32)
        previous = np.where(known[rows], real[rows, hits_at + cells], 0.0)
        real[rows, hits_at + cells] = previous + 1.0
    after_t = state[:, id_col + slots:id_col + 2 * slots].astype(np.int64)
    distinct = ((after_t > 0) & (after_t >= since[:, None])).sum(axis=1)
    return active & ~known, distinct
