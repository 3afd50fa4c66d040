//! The ledger's and the reporting sink's rows, from the Avro bodies of a batch straight to COPY
//! data (sinks/rows.py says when and why): no Python dict per record, no Python tuple per
//! row, no Python code per value. The ledger's hash chain is made here too, byte for byte as
//! streams/ledgerchain.py's `chain_hash` (a test holds them to each other), and the reporting
//! rollups' sums per minute as sinks/reporting.py describes them.

use crate::pgcopy::CopyData;
use crate::{decode_framed, Schema};
use pyo3::exceptions::{PyKeyError, PyOverflowError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};
use rustc_hash::FxHashMap;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::fmt::Write;

/// The hash before an account's first row (streams/ledgerchain.py's GENESIS).
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Bodies framed by `header` (all written with the reader's schema, as a batch from our own
/// workers is), decoded; None if any is framed otherwise or does not decode exactly, and the
/// caller decodes the batch record by record (streams/codec.py, which says what is wrong).
fn decode_all<T: DeserializeOwned>(
    schema: &Schema,
    header: &[u8],
    values: &Bound<'_, PyList>,
) -> Option<Vec<T>> {
    values
        .iter()
        .map(|value| decode_framed(schema, header, value.downcast::<PyBytes>().ok()?.as_bytes()))
        .collect()
}

fn required<'py, T: FromPyObject<'py>>(record: &Bound<'py, PyDict>, key: &str) -> PyResult<T> {
    match record.get_item(key)? {
        Some(value) => value.extract().map_err(|e| PyValueError::new_err(format!("{key}: {e}"))),
        None => Err(PyKeyError::new_err(key.to_string())),
    }
}

fn optional<'py, T: FromPyObject<'py>>(record: &Bound<'py, PyDict>, key: &str) -> PyResult<Option<T>> {
    match record.get_item(key)? {
        Some(value) if !value.is_none() => {
            Ok(Some(value.extract().map_err(|e| PyValueError::new_err(format!("{key}: {e}")))?))
        }
        _ => Ok(None),
    }
}

fn records<T>(records: &Bound<'_, PyList>, from: fn(&Bound<'_, PyDict>) -> PyResult<T>) -> PyResult<Vec<T>> {
    records.iter().map(|r| from(r.downcast::<PyDict>()?)).collect()
}

#[derive(Deserialize)]
struct Posting {
    posting_id: String,
    tx_id: String,
    account: String,
    currency: String,
    direction: String,
    amount: i64,
    balance_after: i64,
    account_seq: i64,
    event_time: i64,
    posted_at: i64,
}

impl Posting {
    fn from_dict(d: &Bound<'_, PyDict>) -> PyResult<Self> {
        Ok(Posting {
            posting_id: required(d, "posting_id")?,
            tx_id: required(d, "tx_id")?,
            account: required(d, "account")?,
            currency: required(d, "currency")?,
            direction: required(d, "direction")?,
            amount: required(d, "amount")?,
            balance_after: required(d, "balance_after")?,
            account_seq: required(d, "account_seq")?,
            event_time: required(d, "event_time")?,
            posted_at: required(d, "posted_at")?,
        })
    }
}

/// A batch of postings, decoded: `accounts()` to read the tips of, then `chain(tips)`.
#[pyclass(frozen, module = "paystream_avro")]
pub struct PostingRows {
    rows: Vec<Posting>,
}

#[pymethods]
impl PostingRows {
    /// The postings framed by `header` in `values`, decoded by `schema`; None if any is not.
    #[staticmethod]
    fn decode(schema: &Schema, header: &[u8], values: &Bound<'_, PyList>) -> Option<Self> {
        decode_all(schema, header, values).map(|rows| PostingRows { rows })
    }

    /// From posting dicts (records decoded by Python, tests).
    #[staticmethod]
    fn from_records(postings: &Bound<'_, PyList>) -> PyResult<Self> {
        Ok(PostingRows { rows: records(postings, Posting::from_dict)? })
    }

    fn __len__(&self) -> usize {
        self.rows.len()
    }

    /// The accounts the batch posts to, each once.
    fn accounts(&self) -> Vec<&str> {
        let mut seen = rustc_hash::FxHashSet::default();
        self.rows.iter().map(|p| p.account.as_str()).filter(|a| seen.insert(*a)).collect()
    }

    /// The ledger rows to append (COPY data of sinks/ledger.py's COLUMNS), each chained onto its
    /// account's tip in `tips` (account -> (sequence, hash); none: the genesis), which is moved
    /// to each new row; postings at or below their tip are replays and skipped. Returns the COPY
    /// data, its row count, and None; or, at a posting past its tip + 1, what was made before it
    /// and (posting_id, account, tip's sequence, posting's sequence): a gap, never chained over.
    fn chain<'py>(
        &self,
        py: Python<'py>,
        tips: &Bound<'py, PyDict>,
    ) -> PyResult<(Bound<'py, PyBytes>, usize, Option<(String, String, i64, i64)>)> {
        let mut data = CopyData::new(self.rows.len() * 360);
        let mut body = String::with_capacity(256);
        let mut gap = None;
        for p in &self.rows {
            let account = PyString::new(py, &p.account);
            let (seq, prev): (i64, String) = match tips.get_item(&account)? {
                Some(tip) => tip.extract()?,
                None => (0, GENESIS.to_string()),
            };
            if p.account_seq <= seq {
                continue; // a replay: that row is in the table already
            }
            if p.account_seq != seq + 1 {
                gap = Some((p.posting_id.clone(), p.account.clone(), seq, p.account_seq));
                break;
            }
            body.clear();
            write!(
                body,
                "{prev}|{}|{}|{}|{}|{}|{}|{}|{}|{}",
                p.posting_id, p.tx_id, p.account, p.currency, p.direction, p.amount,
                p.balance_after, p.account_seq, p.event_time
            )
            .expect("writing to a String");
            let hash = hex::encode(Sha256::digest(body.as_bytes()));
            data.row(12);
            data.text(&p.posting_id);
            data.text(&p.tx_id);
            data.text(&p.account);
            data.text(&p.currency);
            data.text(&p.direction);
            data.int8(p.amount);
            data.int8(p.balance_after);
            data.int8(p.account_seq);
            data.text(&prev);
            data.text(&hash);
            data.time_ms(p.event_time)?;
            data.time_ms(p.posted_at)?;
            tips.set_item(account, PyTuple::new(py, [p.account_seq.into_pyobject(py)?.into_any(),
                                                      PyString::new(py, &hash).into_any()])?)?;
        }
        let rows = data.rows;
        Ok((data.finish(py), rows, gap))
    }
}

#[derive(Deserialize)]
struct Decision {
    tx_id: String,
    #[serde(rename = "type")]
    kind: String,
    source_account: String,
    destination_account: String,
    amount: i64,
    currency: String,
    event_time: i64,
    channel: String,
    merchant_id: Option<String>,
    merchant_category: Option<String>,
    country: String,
    outcome: String,
    score: f64,
    reasons: Vec<String>,
    model_version: Option<String>,
    #[serde(default)]
    shadow_score: Option<f64>,
    #[serde(default)]
    shadow_model_version: Option<String>,
    decided_at: i64,
    #[serde(default)]
    produced_at: Option<i64>,
    #[serde(default)]
    device_id: Option<String>,
}

impl Decision {
    fn from_dict(d: &Bound<'_, PyDict>) -> PyResult<Self> {
        Ok(Decision {
            tx_id: required(d, "tx_id")?,
            kind: required(d, "type")?,
            source_account: required(d, "source_account")?,
            destination_account: required(d, "destination_account")?,
            amount: required(d, "amount")?,
            currency: required(d, "currency")?,
            event_time: required(d, "event_time")?,
            channel: required(d, "channel")?,
            merchant_id: optional(d, "merchant_id")?,
            merchant_category: optional(d, "merchant_category")?,
            country: required(d, "country")?,
            outcome: required(d, "outcome")?,
            score: required(d, "score")?,
            reasons: required(d, "reasons")?,
            model_version: optional(d, "model_version")?,
            shadow_score: optional(d, "shadow_score")?,
            shadow_model_version: optional(d, "shadow_model_version")?,
            decided_at: required(d, "decided_at")?,
            produced_at: optional(d, "produced_at")?,
            device_id: optional(d, "device_id")?,
        })
    }

    /// decided_at - produced_at, the row's latency_ms: none without a produced_at, nor where it
    /// does not fit the column's integer (a producer's clock far off: one such row must not stop
    /// the sink). The rollups sum it as 0 then, as their SQL over the rows does.
    fn latency_ms(&self) -> Option<i32> {
        let latency = self.decided_at.checked_sub(self.produced_at?)?;
        i32::try_from(latency).ok()
    }
}

const MINUTE_MS: i64 = 60_000;

/// A rollup row's key: the bucket's start in epoch ms, currency, outcome, country, category.
type Group<'a> = (i64, &'a str, &'a str, &'a str, &'a str);
/// A rollup row: its key, count, amount, score and latency sums.
type Sums<'a> = (Group<'a>, i64, i64, f64, i64);

fn overflow() -> PyErr {
    PyOverflowError::new_err("a rollup's sum out of range")
}

/// Rollup rows by key, in the order the keys first came: each row's sums add what `add` is
/// given for its key, in the order given.
#[derive(Default)]
struct Totals<'a> {
    at: FxHashMap<Group<'a>, usize>,
    rows: Vec<Sums<'a>>,
}

impl<'a> Totals<'a> {
    fn add(&mut self, group: Group<'a>, n: i64, amount: i64, score: f64, latency: i64) -> PyResult<()> {
        let rows = &mut self.rows;
        let i = *self.at.entry(group).or_insert_with(|| {
            rows.push((group, 0, 0, 0.0, 0));
            rows.len() - 1
        });
        let total = &mut rows[i];
        total.1 += n;
        total.2 = total.2.checked_add(amount).ok_or_else(overflow)?;
        total.3 += score;
        total.4 = total.4.checked_add(latency).ok_or_else(overflow)?;
        Ok(())
    }
}

/// `sums` (per minute) regrouped by buckets `width_ms` wide, in the order the groups first came:
/// each total adds the minute sums in their order, as SQL's sum() over them did.
fn regroup<'a>(sums: &[Sums<'a>], width_ms: i64) -> PyResult<Vec<Sums<'a>>> {
    let mut totals = Totals::default();
    for &((minute, currency, outcome, country, category), n, amount, score, latency) in sums {
        let bucket = minute - minute.rem_euclid(width_ms);
        totals.add((bucket, currency, outcome, country, category), n, amount, score, latency)?;
    }
    Ok(totals.rows)
}

/// A batch of decisions, decoded, each tx_id once (the last one the batch holds: a re-sent
/// decision may repeat in a batch), in the order the ids first came.
#[pyclass(frozen, module = "paystream_avro")]
pub struct DecisionRows {
    rows: Vec<Decision>,
}

impl DecisionRows {
    /// The sums per minute bucket and key (sinks/reporting.py), in the order the groups first
    /// came: what the minute rollup appends, and what the hour and day rollups regroup.
    fn sums_per_minute(&self) -> PyResult<Vec<Sums<'_>>> {
        let mut totals = Totals::default();
        for d in &self.rows {
            let minute = d.event_time.checked_sub(d.event_time.rem_euclid(MINUTE_MS)).ok_or_else(overflow)?;
            let group = (
                minute,
                d.currency.as_str(),
                d.outcome.as_str(),
                d.country.as_str(),
                d.merchant_category.as_deref().unwrap_or(""),
            );
            totals.add(group, 1, d.amount, d.score, i64::from(d.latency_ms().unwrap_or(0)))?;
        }
        Ok(totals.rows)
    }

    fn unique(decisions: Vec<Decision>) -> Self {
        let mut at: FxHashMap<String, usize> = FxHashMap::default();
        let mut rows: Vec<Decision> = Vec::with_capacity(decisions.len());
        for d in decisions {
            match at.get(&d.tx_id) {
                Some(&i) => rows[i] = d,
                None => {
                    at.insert(d.tx_id.clone(), rows.len());
                    rows.push(d);
                }
            }
        }
        DecisionRows { rows }
    }
}

#[pymethods]
impl DecisionRows {
    /// The decisions framed by `header` in `values`, decoded by `schema`; None if any is not.
    #[staticmethod]
    fn decode(schema: &Schema, header: &[u8], values: &Bound<'_, PyList>) -> Option<Self> {
        decode_all(schema, header, values).map(DecisionRows::unique)
    }

    /// From decision dicts (records decoded by Python, tests).
    #[staticmethod]
    fn from_records(decisions: &Bound<'_, PyList>) -> PyResult<Self> {
        Ok(DecisionRows::unique(records(decisions, Decision::from_dict)?))
    }

    fn __len__(&self) -> usize {
        self.rows.len()
    }

    /// The rows (COPY data of sinks/reporting.py's COLUMNS).
    fn copy<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let mut data = CopyData::new(self.rows.len() * 320);
        for d in &self.rows {
            data.row(21);
            data.text(&d.tx_id);
            data.text(&d.kind);
            data.text(&d.source_account);
            data.text(&d.destination_account);
            data.int8(d.amount);
            data.text(&d.currency);
            data.time_ms(d.event_time)?;
            data.text(&d.channel);
            data.opt_text(d.merchant_id.as_deref());
            data.opt_text(d.merchant_category.as_deref());
            data.text(&d.country);
            data.text(&d.outcome);
            data.float8(d.score);
            data.text_array(&d.reasons);
            data.opt_text(d.model_version.as_deref());
            match d.shadow_score {
                Some(s) => data.float8(s),
                None => data.null(),
            }
            data.opt_text(d.shadow_model_version.as_deref());
            data.time_ms(d.decided_at)?;
            match d.produced_at {
                Some(p) => data.time_ms(p)?,
                None => data.null(),
            }
            match d.latency_ms() {
                Some(l) => data.int4(l),
                None => data.null(),
            }
            data.opt_text(d.device_id.as_deref());
        }
        Ok(data.finish(py))
    }

    /// The batch's sums per minute x currency x outcome x country x merchant category ('' for
    /// none): (minute in epoch ms, currency, outcome, country, category, count, amount, score,
    /// latency, False), in the order the groups first came; the reporting writer counts its
    /// appends by them (the rows themselves go by `rollup_copies`).
    fn minute_sums<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let sums = self.sums_per_minute()?;
        let list = PyList::empty(py);
        for ((minute, currency, outcome, country, category), n, amount, score, latency) in sums {
            list.append((minute, currency, outcome, country, category, n, amount, score, latency, false))?;
        }
        Ok(list)
    }

    /// Per width in `widths_ms` (each a whole number of minutes), the batch's sums per bucket
    /// of that width and key as COPY data of the rollup tables' (bucket, currency, outcome,
    /// country, merchant_category, tx_count, amount_sum, score_sum, latency_ms_sum): what
    /// sinks/reporting.py appends to the minute, hour and day rollups.
    fn rollup_copies<'py>(&self, py: Python<'py>, widths_ms: Vec<i64>) -> PyResult<Vec<Bound<'py, PyBytes>>> {
        let minutes = self.sums_per_minute()?;
        let mut copies = Vec::with_capacity(widths_ms.len());
        for width in widths_ms {
            if width <= 0 || width % MINUTE_MS != 0 {
                return Err(PyValueError::new_err(format!("a rollup's width of {width} ms is not whole minutes")));
            }
            let regrouped;
            let sums = if width == MINUTE_MS {
                &minutes
            } else {
                regrouped = regroup(&minutes, width)?;
                &regrouped
            };
            let mut data = CopyData::new(sums.len() * 80);
            for &((bucket, currency, outcome, country, category), n, amount, score, latency) in sums {
                data.row(9);
                data.time_ms(bucket)?;
                data.text(currency);
                data.text(outcome);
                data.text(country);
                data.text(category);
                data.int8(n);
                data.int8(amount);
                data.float8(score);
                data.int8(latency);
            }
            copies.push(data.finish(py));
        }
        Ok(copies)
    }
}
