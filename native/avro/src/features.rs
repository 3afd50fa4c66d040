//! The fraud features' profile walk (agents/fraud/features.py `extract`): for each payment of
//! a batch, in order, its features from the payer's profile and the profile after it.
//!
//! In numpy the batch went round by round (each payer's first payment, then each one's second,
//! ...), a dozen array operations per feature and round: 3.4 µs a payment in batches of 4,000
//! (2026-12-07, AMD EPYC), the worker's largest part after the model's trees. One payment at a
//! time in order is what the rounds computed, since only one payer's payments depend on each
//! other. The arithmetic is numpy's: float64 from the profile's float32 words, rounded to
//! float32 where it is stored, the same comparisons and first-index ties.
//!
//! The profile layout and every constant come from features.py (the constructor checks the
//! layout against the one written here), so that module stays the one description of both.

use pyo3::exceptions::PyValueError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};
use rustc_hash::FxHashMap;

// Profile layout in uint32 words (features.py): some words are float32 bits.
const LAST_S: usize = 0;
const N: usize = 1;
const MEAN: usize = 2;
const VAR: usize = 3;
const COUNT: usize = 4;
const SUM: usize = 7;
const DEVICE_SLOTS: usize = 6;
const COUNTRY_SLOTS: usize = 4;
const PAYEE_SLOTS: usize = 12;
const DEV_ID: usize = 10;
const CTRY_ID: usize = DEV_ID + 2 * DEVICE_SLOTS;
const CTRY_HITS: usize = CTRY_ID + 2 * COUNTRY_SLOTS;
const PAY_ID: usize = CTRY_HITS + COUNTRY_SLOTS;
const WORDS: usize = PAY_ID + 2 * PAYEE_SLOTS;

/// The feature columns made here: FEATURES up to has_device (fan_in_24h, column 18, left 0;
/// the label-risk columns after them are Python's). `column_names` names each, and the
/// constructor holds them to features.py's FEATURES.
const COLUMNS: usize = 29;
const LOG_AMOUNT: usize = 0;
const AMOUNT_Z: usize = 1;
const AMOUNT_VS_MEAN: usize = 2;
const COUNT_1M: usize = 3; // then 1h, 24h
const SUM_1M: usize = 6; // then 1h, 24h
const DISTINCT_COUNTRIES: usize = 9;
const DISTINCT_DEVICES: usize = 10;
const DISTINCT_PAYEES: usize = 11;
const LOG_SINCE_LAST: usize = 12;
const NEW_DEVICE: usize = 13;
const NEW_COUNTRY: usize = 14;
const NEW_PAYEE: usize = 15;
const ABROAD: usize = 16;
const NIGHT_HOME: usize = 17;
const FAN_IN: usize = 18;
const LOG_HISTORY: usize = 19;
const ONEHOT: usize = 20; // the types' three columns, then the channels' five
const HAS_DEVICE: usize = 28;

/// The feature each column above holds, by features.py's names.
fn column_names() -> [&'static str; COLUMNS] {
    let mut names = [""; COLUMNS];
    names[LOG_AMOUNT] = "log_amount";
    names[AMOUNT_Z] = "amount_z";
    names[AMOUNT_VS_MEAN] = "amount_vs_mean";
    names[COUNT_1M..COUNT_1M + 3].copy_from_slice(&["count_1m", "count_1h", "count_24h"]);
    names[SUM_1M..SUM_1M + 3]
        .copy_from_slice(&["sum_1m_vs_mean", "sum_1h_vs_mean", "sum_24h_vs_mean"]);
    names[DISTINCT_COUNTRIES] = "distinct_countries_24h";
    names[DISTINCT_DEVICES] = "distinct_devices_24h";
    names[DISTINCT_PAYEES] = "distinct_payees_24h";
    names[LOG_SINCE_LAST] = "log_seconds_since_last";
    names[NEW_DEVICE] = "new_device";
    names[NEW_COUNTRY] = "new_country";
    names[NEW_PAYEE] = "new_payee";
    names[ABROAD] = "abroad";
    names[NIGHT_HOME] = "night_home";
    names[FAN_IN] = "fan_in_24h";
    names[LOG_HISTORY] = "log_history";
    let onehot = ["is_transfer", "is_payment", "is_withdrawal", "channel_web", "channel_mobile",
                  "channel_pos", "channel_atm", "channel_api"];
    names[ONEHOT..ONEHOT + onehot.len()].copy_from_slice(&onehot);
    names[HAS_DEVICE] = "has_device";
    names
}

type Profile = [u32; WORDS];

fn real(word: u32) -> f64 {
    f64::from(f32::from_bits(word))
}

fn store(value: f64) -> u32 {
    (value as f32).to_bits()
}

/// One payment's inputs, read from its Transaction.
struct Payment {
    amount: f64,
    time_s: i64,
    country: u32,
    device: Option<u32>,
    payee: u32,
    type_column: Option<usize>,
    channel_column: Option<usize>,
}

#[pyclass(frozen)]
pub struct ProfileFeatures {
    windows_s: [f64; 3],
    no_history_s: f64,
    ew_alpha_min: f64,
    var_floor: f64,
    night_end: i64,
    day_s: i64,
    countries: FxHashMap<String, u32>,
    /// UTC offset in minutes per country number and month (localtime.py's OFFSETS_MINUTES).
    offsets: Vec<[i64; 12]>,
    types: FxHashMap<String, usize>,
    channels: FxHashMap<String, usize>,
}

#[pymethods]
impl ProfileFeatures {
    /// `layout`: features.py's (PROFILE_WORDS, LAST_S, N, MEAN, VAR, COUNT, SUM, DEVICE_SLOTS,
    /// COUNTRY_SLOTS, PAYEE_SLOTS, DEV_ID, CTRY_ID, CTRY_HITS, PAY_ID); `columns` its FEATURES
    /// as far as the walk fills them; `types` and `channels` map an enum value to its one-hot
    /// column among the types' and the channels' (a value not there has none).
    #[new]
    #[allow(clippy::too_many_arguments)]
    fn new(layout: [usize; 14], columns: Vec<String>,
           windows_s: [f64; 3], no_history_s: f64, ew_alpha_min: f64, var_floor: f64,
           night_end: i64, day_s: i64, countries: FxHashMap<String, u32>,
           offsets_minutes: Vec<[i64; 12]>, types: FxHashMap<String, usize>,
           channels: FxHashMap<String, usize>) -> PyResult<Self> {
        let here = [WORDS, LAST_S, N, MEAN, VAR, COUNT, SUM, DEVICE_SLOTS, COUNTRY_SLOTS,
                    PAYEE_SLOTS, DEV_ID, CTRY_ID, CTRY_HITS, PAY_ID];
        if layout != here {
            return Err(PyValueError::new_err(format!(
                "the profile layout {layout:?} is not the compiled one {here:?}: \
                 change native/avro/src/features.rs with agents/fraud/features.py")));
        }
        let names = column_names();
        if columns != names {
            return Err(PyValueError::new_err(format!(
                "the feature columns {columns:?} are not the compiled ones {names:?}: \
                 change native/avro/src/features.rs with agents/fraud/features.py")));
        }
        if countries.values().any(|&number| number as usize >= offsets_minutes.len()) {
            return Err(PyValueError::new_err("a country number has no row of offsets"));
        }
        Ok(ProfileFeatures { windows_s, no_history_s, ew_alpha_min, var_floor, night_end, day_s,
                             countries, offsets: offsets_minutes, types, channels })
    }

    /// (features, profiles): `txs`' feature columns 0-28 as float32 bytes, row by row, and
    /// every payer's profile after the batch (in order of first appearance), from `profiles`
    /// (a payer missing or b"": none yet).
    fn extract<'py>(&self, py: Python<'py>, txs: &Bound<'py, PyList>,
                    profiles: &Bound<'py, PyDict>)
                    -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyDict>)> {
        let mut names: Vec<Bound<'py, PyString>> = Vec::new();
        let mut row_of: FxHashMap<String, usize> = FxHashMap::default();
        let mut table: Vec<Profile> = Vec::new();
        let mut out = vec![0f32; txs.len() * COLUMNS];
        for (tx, feats) in txs.iter().zip(out.chunks_exact_mut(COLUMNS)) {
            let source = tx.getattr(intern!(py, "source_account"))?.downcast_into::<PyString>()?;
            let row = match row_of.get(source.to_str()?) {
                Some(&row) => row,
                None => {
                    let mut profile = [0u32; WORDS];
                    if let Some(blob) = profiles.get_item(&source)? {
                        let blob = blob.downcast_into::<PyBytes>()?;
                        let bytes = blob.as_bytes();
                        if !bytes.is_empty() {
                            if bytes.len() < 4 * WORDS {
                                return Err(PyValueError::new_err(format!(
                                    "the profile of {source} is {} bytes, not {}",
                                    bytes.len(), 4 * WORDS)));
                            }
                            for (word, chunk) in profile.iter_mut().zip(bytes.chunks_exact(4)) {
                                *word = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
                            }
                        }
                    }
                    row_of.insert(source.to_str()?.to_owned(), table.len());
                    table.push(profile);
                    names.push(source);
                    table.len() - 1
                }
            };
            let payment = self.payment(py, &tx)?;
            self.step(&mut table[row], &payment, feats);
        }
        let result = PyDict::new(py);
        for (name, profile) in names.iter().zip(&table) {
            let mut bytes = Vec::with_capacity(4 * WORDS);
            for word in profile {
                bytes.extend_from_slice(&word.to_le_bytes());
            }
            result.set_item(name, PyBytes::new(py, &bytes))?;
        }
        let mut block = Vec::with_capacity(4 * out.len());
        for value in &out {
            block.extend_from_slice(&value.to_le_bytes());
        }
        Ok((PyBytes::new(py, &block), result))
    }
}

impl ProfileFeatures {
    fn payment(&self, py: Python<'_>, tx: &Bound<'_, PyAny>) -> PyResult<Payment> {
        let device = tx.getattr(intern!(py, "device_id"))?;
        let device = if device.is_none() {
            None
        } else {
            // an empty id is a device with hash 0, as `id_hash(...) if device_id else 0`
            let id = device.downcast_into::<PyString>()?;
            Some(if id.to_str()?.is_empty() { 0 } else { id_hash(id.to_str()?) })
        };
        let event_time: i64 = tx.getattr(intern!(py, "event_time"))?.extract()?;
        let amount: i64 = tx.getattr(intern!(py, "amount"))?.extract()?;
        let country = tx.getattr(intern!(py, "country"))?.downcast_into::<PyString>()?;
        let payee = tx.getattr(intern!(py, "destination_account"))?.downcast_into::<PyString>()?;
        let kind = tx.getattr(intern!(py, "type"))?.downcast_into::<PyString>()?;
        let channel = tx.getattr(intern!(py, "channel"))?.downcast_into::<PyString>()?;
        Ok(Payment {
            amount: amount as f64,
            time_s: event_time.div_euclid(1000),
            country: self.countries.get(country.to_str()?).copied().unwrap_or(0),
            device,
            payee: id_hash(payee.to_str()?),
            type_column: self.types.get(kind.to_str()?).copied(),
            channel_column: self.channels.get(channel.to_str()?).copied(),
        })
    }

    /// features.py's `_step` for one payment: its features into `feats`, its profile updated.
    fn step(&self, state: &mut Profile, p: &Payment, feats: &mut [f32]) {
        let t = p.time_s;
        let n = real(state[N]);
        let first = n == 0.0;
        let last = i64::from(state[LAST_S]);
        let dt = if first { self.no_history_s } else { (t - last).max(0) as f64 };
        let mut counts = [0f64; 3];
        let mut sums = [0f64; 3];
        for w in 0..3 {
            let decay = (-dt / self.windows_s[w]).exp();
            counts[w] = real(state[COUNT + w]) * decay + 1.0;
            sums[w] = real(state[SUM + w]) * decay + p.amount;
        }
        let log_amount = p.amount.ln();
        let mean = real(state[MEAN]);
        let var = real(state[VAR]);
        let deviation = if first { 0.0 } else { log_amount - mean };
        let typical = if first { p.amount } else { mean.exp() };

        feats[LOG_AMOUNT] = log_amount as f32;
        feats[AMOUNT_Z] = if n >= 2.0 { (deviation / (var + self.var_floor).sqrt()) as f32 } else { 0.0 };
        feats[AMOUNT_VS_MEAN] = deviation as f32;
        for w in 0..3 {
            feats[COUNT_1M + w] = counts[w] as f32;
            feats[SUM_1M + w] = (sums[w] / typical) as f32;
        }
        feats[LOG_SINCE_LAST] = dt.ln_1p() as f32;
        feats[LOG_HISTORY] = n.ln_1p() as f32;

        let home = if first {
            p.country
        } else {
            state[CTRY_ID + first_max(&state[CTRY_HITS..CTRY_HITS + COUNTRY_SLOTS])]
        };
        feats[ABROAD] = flag(p.country != home);
        feats[NIGHT_HOME] = flag(self.local_hour(t, home) < self.night_end);

        let since = t - self.day_s;
        let (new, distinct) = remember(state, DEV_ID, DEVICE_SLOTS, p.device, t, since, None);
        feats[NEW_DEVICE] = flag(new);
        feats[DISTINCT_DEVICES] = distinct as f32;
        let (new, distinct) =
            remember(state, CTRY_ID, COUNTRY_SLOTS, Some(p.country), t, since, Some(CTRY_HITS));
        feats[NEW_COUNTRY] = flag(new);
        feats[DISTINCT_COUNTRIES] = distinct as f32;
        let (new, distinct) = remember(state, PAY_ID, PAYEE_SLOTS, Some(p.payee), t, since, None);
        feats[NEW_PAYEE] = flag(new);
        feats[DISTINCT_PAYEES] = distinct as f32;

        if let Some(column) = p.type_column {
            feats[ONEHOT + column] = 1.0;
        }
        if let Some(column) = p.channel_column {
            feats[ONEHOT + 3 + column] = 1.0;
        }
        feats[HAS_DEVICE] = flag(p.device.is_some());

        let alpha = (1.0 / (n + 1.0)).max(self.ew_alpha_min);
        state[VAR] = store(if first { 0.0 } else { (1.0 - alpha) * (var + alpha * deviation * deviation) });
        state[MEAN] = store(if first { log_amount } else { mean + alpha * deviation });
        state[N] = store(n + 1.0);
        for w in 0..3 {
            state[COUNT + w] = store(counts[w]);
            state[SUM + w] = store(sums[w]);
        }
        state[LAST_S] = t.max(last) as u32;
    }

    /// localtime.py's `local_hour`: the hour at `t` in country `number`, by the UTC offset of
    /// t's month (numpy's datetime64[M] of t).
    fn local_hour(&self, t: i64, number: u32) -> i64 {
        let month = civil_month(t.div_euclid(86_400));
        let offset = self.offsets.get(number as usize).map_or(0, |row| row[month]);
        (t + offset * 60).div_euclid(3600).rem_euclid(24)
    }
}

fn flag(value: bool) -> f32 {
    if value { 1.0 } else { 0.0 }
}

/// numpy's argmax over float32 words: the first of the largest.
fn first_max(words: &[u32]) -> usize {
    let mut best = 0;
    for (i, &word) in words.iter().enumerate() {
        if f32::from_bits(word) > f32::from_bits(words[best]) {
            best = i;
        }
    }
    best
}

/// features.py's `_remember`: record `id` (None: no device, nothing changes and it is not new)
/// in a most-recently-used slot set; (was new, distinct seen since `since`).
fn remember(state: &mut Profile, id_col: usize, slots: usize, id: Option<u32>, t: i64,
            since: i64, hits_at: Option<usize>) -> (bool, usize) {
    let times = id_col + slots;
    let known = (0..slots).find(|&j| state[id_col + j] == id.unwrap_or(0) && state[times + j] > 0);
    if let Some(id) = id {
        // numpy's argmin: the first of the oldest
        let slot = known.unwrap_or_else(|| {
            (0..slots).fold(0, |oldest, j| if state[times + j] < state[times + oldest] { j } else { oldest })
        });
        state[id_col + slot] = id;
        state[times + slot] = t as u32;
        if let Some(hits) = hits_at {
            let previous = if known.is_some() { real(state[hits + slot]) } else { 0.0 };
            state[hits + slot] = store(previous + 1.0);
        }
    }
    let distinct = (0..slots)
        .filter(|&j| state[times + j] > 0 && i64::from(state[times + j]) >= since)
        .count();
    (id.is_some() && known.is_none(), distinct)
}

/// The month (0-11) of the day `days` after 1970-01-01 (Howard Hinnant's civil_from_days).
fn civil_month(days: i64) -> usize {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    (if mp < 10 { mp + 2 } else { mp - 10 }) as usize
}

/// features.py's `id_hash`: zlib.crc32 of the id's UTF-8.
fn id_hash(value: &str) -> u32 {
    crc32fast::hash(value.as_bytes())
}
