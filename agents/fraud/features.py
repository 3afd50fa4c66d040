"""Fraud features of a batch of transactions, from per-account profiles: the one feature code.

Training (agents.fraud.replay) and the authorize agent both call `extract`, so what the model
learnt from is computed exactly as what it scores (no training/serving skew).

A profile is a fixed 232-byte record per paying account (O(1) however active it is):
exponentially decayed counts and sums over 1 min / 1 h / 24 h (c <- c * exp(-dt / W) + 1: recent
transactions weigh ~1, ones a few W ago ~0), a running mean and spread of log(amount), and three
small most-recently-used sets (devices, countries, payees) of (id hash, last seen) slots, from
which "new" and "distinct in 24 h" are read. Countries also count hits: the most hit is home.

The walk over the profiles is compiled (native/avro/src/features.rs); `extract` says what it
computes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import paystream_avro

from agents.fraud import labelrisk
from agents.fraud.localtime import COUNTRY_NUMBER, OFFSETS_MINUTES
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


_TYPE_COLUMNS = {kind.value: _TYPES.index(kind) for kind in _TYPES}
# A payout leaves the platform to an outside party, as a withdrawal does: the model has learnt
# withdrawals (to a system account whose fan-in is everyone), not payouts.
_TYPE_COLUMNS[TransactionType.PAYOUT.value] = _TYPES.index(TransactionType.WITHDRAWAL)
_WALKED = INDEX["has_device"] + 1  # the columns the walk fills (fan_in_24h left to `extract`)
#: The profile walk, compiled (native/avro/src/features.rs): made once, with this module's
#: layout and feature columns (which it checks against its own) and constants.
_WALK = paystream_avro.ProfileFeatures(
    [PROFILE_WORDS, LAST_S, N, MEAN, VAR, COUNT, SUM, DEVICE_SLOTS, COUNTRY_SLOTS, PAYEE_SLOTS,
     DEV_ID, CTRY_ID, CTRY_HITS, PAY_ID], list(FEATURES[:_WALKED]),
    tuple(WINDOWS_S.tolist()), float(NO_HISTORY_S), EW_ALPHA_MIN, VAR_FLOOR, NIGHT_HOURS_END,
    DAY_S, COUNTRY_NUMBER, OFFSETS_MINUTES.tolist(), _TYPE_COLUMNS,
    {channel.value: i for i, channel in enumerate(_CHANNELS)})


def extract(txs: Sequence[Transaction], profiles: dict[str, bytes], fan_in: np.ndarray,
            label_risk: dict[str, list[labelrisk.Entry]] | None = None,
            payment_days: dict[str, dict[int, int]] | None = None
            ) -> tuple[np.ndarray, dict[str, bytes]]:
    """Feature rows (len(txs) x len(FEATURES), float32), in order, and every payer's new profile.

    `profiles` holds the stored profile of each source account (missing or b"": none yet);
    `fan_in` the destination's distinct payers for each transaction (agents.fraud.fanin);
    `label_risk` the fraud labels held for the batch's payers and destinations
    (agents.fraud.labelrisk), `payment_days` those destinations' payments per day.

    The profiles are walked one payment at a time, in order (each payer's payments depend on
    each other), in compiled code: float64 arithmetic on the profile's float32 words, rounded
    to float32 where it is stored, as the numpy rounds before it computed (3.1-3.6 -> 0.9-1.1 µs
    a payment in batches of 4,000, 2026-12-07: loadtest/results/features-2026-12-07/equiv.txt). Per payment, with n the payer's payments so far and dt the seconds
    since the last (NO_HISTORY_S for a first):
    - counts and sums per window W: c <- c * exp(-dt / W) + 1 (s: + amount); sums are read
      against the typical amount, exp(mean of log amount);
    - amount_z: (log amount - mean) / sqrt(var + VAR_FLOOR) once n >= 2; the mean and variance
      then move by alpha = max(1 / (n + 1), EW_ALPHA_MIN);
    - devices, countries and payees: a known id refreshes its slot, a new one takes the empty or
      least recently seen slot (new = not held); distinct = slots seen since 24 h before;
    - home: the country slot with the most hits; night_home: local hour there (UTC offset of
      the payment's month, agents.fraud.localtime) before NIGHT_HOURS_END.
    """
    txs = txs if isinstance(txs, list) else list(txs)
    walked, new_profiles = _WALK.extract(txs, profiles)
    out = np.zeros((len(txs), len(FEATURES)), dtype=np.float32)
    out[:, :_WALKED] = np.frombuffer(walked, dtype=np.float32).reshape(len(txs), _WALKED)
    out[:, INDEX["fan_in_24h"]] = fan_in
    out[:, INDEX[labelrisk.FEATURES[0]]:] = labelrisk.features(txs, label_risk or {}, payment_days)
    return out, new_profiles
