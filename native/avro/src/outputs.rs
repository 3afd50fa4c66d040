//! The authorize and settle agents' decisions and postings, framed Avro made straight from the
//! Transaction and the posting's values (agents/authorizer.py, agents/postings.py say when): no
//! Python dict per record, and no dict walked field by field to encode it. Each was built as a
//! dict and then encoded: 1.3 µs a decision, 0.7 a posting, and a payment makes one decision and
//! two postings (2026-12-06). Encoded by the same schema-driven serializer as `Schema.encode`,
//! so the bytes are the same (tests/unit/test_outputs_native.py holds them equal).

use crate::{encode_framed, Schema};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString};
use serde::Serialize;

#[derive(Serialize)]
struct PostingOut<'a> {
    posting_id: &'a str,
    tx_id: &'a str,
    account: &'a str,
    currency: &'a str,
    direction: &'a str,
    amount: i64,
    balance_after: i64,
    account_seq: i64,
    event_time: i64,
    posted_at: i64,
}

#[derive(Serialize)]
struct PayoutOut<'a> {
    send_partner: &'a str,
    receive_partner: &'a str,
    beneficiary: &'a str,
    payout_amount: i64,
    payout_currency: &'a str,
    fx_rate: &'a str,
    quote_id: &'a str,
}

/// A decision, fields in the schema's order (decision.v3).
#[derive(Serialize)]
struct DecisionOut<'a> {
    tx_id: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    source_account: &'a str,
    destination_account: &'a str,
    amount: i64,
    currency: &'a str,
    event_time: i64,
    channel: &'a str,
    merchant_id: Option<&'a str>,
    merchant_category: Option<&'a str>,
    country: &'a str,
    outcome: &'a str,
    score: f64,
    reasons: Vec<&'a str>,
    model_version: Option<&'a str>,
    shadow_score: Option<f64>,
    shadow_model_version: Option<&'a str>,
    decided_at: i64,
    produced_at: Option<i64>,
    device_id: Option<&'a str>,
    payout: Option<PayoutOut<'a>>,
}

fn framed<'py, T: Serialize>(py: Python<'py>, schema: &Schema, header: &[u8], value: &T) -> PyResult<Bound<'py, PyBytes>> {
    Ok(PyBytes::new(py, &encode_framed(schema, header, value)?))
}

/// A str attribute (an enum member of a str enum reads as its value).
fn text<'py>(obj: &Bound<'py, PyAny>, name: &Bound<'py, PyString>) -> PyResult<Bound<'py, PyString>> {
    Ok(obj.getattr(name)?.downcast_into::<PyString>()?)
}

fn optional_text<'py>(obj: &Bound<'py, PyAny>, name: &Bound<'py, PyString>) -> PyResult<Option<Bound<'py, PyString>>> {
    let value = obj.getattr(name)?;
    if value.is_none() {
        return Ok(None);
    }
    Ok(Some(value.downcast_into::<PyString>()?))
}

fn as_str<'a>(value: &'a Option<Bound<'_, PyString>>) -> PyResult<Option<&'a str>> {
    value.as_ref().map(|v| v.to_str()).transpose()
}

/// Postings framed by `header` and encoded by `schema` (posting.avsc).
#[pyclass(frozen, module = "paystream_avro")]
pub struct PostingEncoder {
    schema: Py<Schema>,
    header: Vec<u8>,
}

#[pymethods]
impl PostingEncoder {
    #[new]
    fn new(schema: Py<Schema>, header: Vec<u8>) -> Self {
        PostingEncoder { schema, header }
    }

    /// A posting's framed value; its id is `<tx_id>:<leg>` (settle.rs calls it too).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn encode<'py>(
        &self,
        py: Python<'py>,
        leg: &str,
        tx_id: &str,
        account: &str,
        currency: &str,
        direction: &str,
        amount: i64,
        balance_after: i64,
        account_seq: i64,
        event_time: i64,
        posted_at: i64,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let posting_id = format!("{tx_id}:{leg}");
        let value = PostingOut {
            posting_id: &posting_id,
            tx_id,
            account,
            currency,
            direction,
            amount,
            balance_after,
            account_seq,
            event_time,
            posted_at,
        };
        framed(py, self.schema.get(), &self.header, &value)
    }
}

/// Decisions framed by `header` and encoded by `schema` (decision.v3).
#[pyclass(frozen, module = "paystream_avro")]
pub struct DecisionEncoder {
    schema: Py<Schema>,
    header: Vec<u8>,
}

#[pymethods]
impl DecisionEncoder {
    #[new]
    fn new(schema: Py<Schema>, header: Vec<u8>) -> Self {
        DecisionEncoder { schema, header }
    }

    /// The decision on `tx` (a streams/records.py Transaction), as agents/outputs.py
    /// `decision_record` makes it, framed and encoded.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (tx, produced_at, outcome, reasons, score, model_version, shadow_score, shadow_model_version, decided_at))]
    fn encode<'py>(
        &self,
        py: Python<'py>,
        tx: &Bound<'py, PyAny>,
        produced_at: Option<i64>,
        outcome: &str,
        reasons: &Bound<'py, PyList>,
        score: f64,
        model_version: Option<&str>,
        shadow_score: Option<f64>,
        shadow_model_version: Option<&str>,
        decided_at: i64,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let tx_id = text(tx, pyo3::intern!(py, "tx_id"))?;
        let kind = text(tx, pyo3::intern!(py, "type"))?;
        let source = text(tx, pyo3::intern!(py, "source_account"))?;
        let destination = text(tx, pyo3::intern!(py, "destination_account"))?;
        let currency = text(tx, pyo3::intern!(py, "currency"))?;
        let channel = text(tx, pyo3::intern!(py, "channel"))?;
        let country = text(tx, pyo3::intern!(py, "country"))?;
        let merchant_id = optional_text(tx, pyo3::intern!(py, "merchant_id"))?;
        let merchant_category = optional_text(tx, pyo3::intern!(py, "merchant_category"))?;
        let device_id = optional_text(tx, pyo3::intern!(py, "device_id"))?;
        let amount: i64 = tx.getattr(pyo3::intern!(py, "amount"))?.extract()?;
        let event_time: i64 = tx.getattr(pyo3::intern!(py, "event_time"))?.extract()?;
        let reason_texts: Vec<Bound<'py, PyString>> =
            reasons.iter().map(|r| r.downcast_into::<PyString>().map_err(PyErr::from)).collect::<PyResult<_>>()?;
        let payout = tx.getattr(pyo3::intern!(py, "payout"))?;
        let payout_texts = if payout.is_none() {
            None
        } else {
            Some((
                text(&payout, pyo3::intern!(py, "send_partner"))?,
                text(&payout, pyo3::intern!(py, "receive_partner"))?,
                text(&payout, pyo3::intern!(py, "beneficiary"))?,
                payout.getattr(pyo3::intern!(py, "payout_amount"))?.extract::<i64>()?,
                text(&payout, pyo3::intern!(py, "payout_currency"))?,
                text(&payout, pyo3::intern!(py, "fx_rate"))?,
                text(&payout, pyo3::intern!(py, "quote_id"))?,
            ))
        };
        let payout_out = match &payout_texts {
            None => None,
            Some((send, receive, beneficiary, paid, paid_currency, rate, quote)) => Some(PayoutOut {
                send_partner: send.to_str()?,
                receive_partner: receive.to_str()?,
                beneficiary: beneficiary.to_str()?,
                payout_amount: *paid,
                payout_currency: paid_currency.to_str()?,
                fx_rate: rate.to_str()?,
                quote_id: quote.to_str()?,
            }),
        };
        let value = DecisionOut {
            tx_id: tx_id.to_str()?,
            kind: kind.to_str()?,
            source_account: source.to_str()?,
            destination_account: destination.to_str()?,
            amount,
            currency: currency.to_str()?,
            event_time,
            channel: channel.to_str()?,
            merchant_id: as_str(&merchant_id)?,
            merchant_category: as_str(&merchant_category)?,
            country: country.to_str()?,
            outcome,
            score,
            reasons: reason_texts.iter().map(|r| r.to_str()).collect::<PyResult<_>>()?,
            model_version,
            shadow_score,
            shadow_model_version,
            decided_at,
            produced_at,
            device_id: as_str(&device_id)?,
            payout: payout_out,
        };
        framed(py, self.schema.get(), &self.header, &value)
    }
}
