//! The authorize agent's triage of a batch (agents/authorizer.py `triage`) for the transactions
//! that are plainly valid: decoded, checked, fingerprinted and built into the agent's
//! `Valid(event, Transaction, body_hash)` here, with no Python code per field. In Python that
//! was ~5.5 µs a transaction (decode 2.2, validate 1.2, fingerprint 0.8; 2026-12-06).
//!
//! This is an accelerator, not a second judge: it answers "valid" only when every rule of
//! streams/validation.py plainly holds, and None otherwise (another schema version, a PAYOUT
//! whose rate is not a plain decimal, an address std does not parse, any rule broken); the
//! Python triage then decides that transaction and words its dead letter. So it may refuse what
//! Python accepts, never the reverse (tests/unit/test_triage_native.py holds both to that).

use crate::{decode_framed, kafka_partition, Schema};
use blake2::digest::{Update, VariableOutput};
use blake2::Blake2bVar;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};
use rustc_hash::{FxHashMap, FxHashSet};
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use std::fmt;
use std::net::IpAddr;

#[derive(Deserialize)]
struct PayoutIn {
    send_partner: String,
    receive_partner: String,
    beneficiary: String,
    payout_amount: i64,
    payout_currency: String,
    fx_rate: String,
    quote_id: String,
}

/// An Avro map<string> in the order it was written (a dict keeps that order, and so does the
/// fingerprint's MessagePack).
struct Metadata(Vec<(String, String)>);

impl<'de> Deserialize<'de> for Metadata {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> Visitor<'de> for Entries {
            type Value = Metadata;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of strings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Metadata, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, String>()? {
                    entries.push(entry);
                }
                Ok(Metadata(entries))
            }
        }
        d.deserialize_map(Entries)
    }
}

/// A transaction as the newest schema (transaction.v3) reads, fields in its order.
#[derive(Deserialize)]
struct TxIn {
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
    device_id: Option<String>,
    ip: Option<String>,
    metadata: Metadata,
    auth_method: Option<String>,
    payout: Option<PayoutIn>,
}

const SYSTEM_PREFIX: &str = "sys:";

/// streams/validation.py's ID_PATTERN, `^[A-Za-z0-9._:-]{1,64}$`, without the newline `$` lets
/// through at the end (Python decides those).
fn plain_id(value: &str) -> bool {
    (1..=64).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// A decimal Python's Decimal reads as finite and positive, in its plainest form only
/// (digits, at most one point with digits after it, a non-zero digit somewhere).
fn plain_positive_decimal(value: &str) -> bool {
    let (whole, fraction) = value.split_once('.').unwrap_or((value, "1"));
    !whole.is_empty()
        && !fraction.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit())
        && value.bytes().any(|b| (b'1'..=b'9').contains(&b))
}

/// MessagePack as msgspec's encoder writes it (streams/msgpacking.py), for the fingerprint.
struct Pack(Vec<u8>);

impl Pack {
    fn map(&mut self, len: usize) {
        match len {
            0..=15 => self.0.push(0x80 | len as u8),
            16..=0xffff => {
                self.0.push(0xde);
                self.0.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                self.0.push(0xdf);
                self.0.extend_from_slice(&(len as u32).to_be_bytes());
            }
        }
    }

    fn str(&mut self, value: &str) {
        let len = value.len();
        match len {
            0..=31 => self.0.push(0xa0 | len as u8),
            32..=0xff => self.0.extend_from_slice(&[0xd9, len as u8]),
            0x100..=0xffff => {
                self.0.push(0xda);
                self.0.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                self.0.push(0xdb);
                self.0.extend_from_slice(&(len as u32).to_be_bytes());
            }
        }
        self.0.extend_from_slice(value.as_bytes());
    }

    fn opt_str(&mut self, value: &Option<String>) {
        match value {
            Some(text) => self.str(text),
            None => self.0.push(0xc0),
        }
    }

    fn int(&mut self, value: i64) {
        if value >= 0 {
            let v = value as u64;
            if v < 0x80 {
                self.0.push(v as u8);
            } else if v <= 0xff {
                self.0.extend_from_slice(&[0xcc, v as u8]);
            } else if v <= 0xffff {
                self.0.push(0xcd);
                self.0.extend_from_slice(&(v as u16).to_be_bytes());
            } else if v <= 0xffff_ffff {
                self.0.push(0xce);
                self.0.extend_from_slice(&(v as u32).to_be_bytes());
            } else {
                self.0.push(0xcf);
                self.0.extend_from_slice(&v.to_be_bytes());
            }
        } else if value >= -32 {
            self.0.push(value as i8 as u8);
        } else if value >= i64::from(i8::MIN) {
            self.0.extend_from_slice(&[0xd0, value as i8 as u8]);
        } else if value >= i64::from(i16::MIN) {
            self.0.push(0xd1);
            self.0.extend_from_slice(&(value as i16).to_be_bytes());
        } else if value >= i64::from(i32::MIN) {
            self.0.push(0xd2);
            self.0.extend_from_slice(&(value as i32).to_be_bytes());
        } else {
            self.0.push(0xd3);
            self.0.extend_from_slice(&value.to_be_bytes());
        }
    }

    fn field_str(&mut self, name: &str, value: &str) {
        self.str(name);
        self.str(value);
    }
}

/// agents/authorizer.py `body_hash`: BLAKE2b (12 bytes, hex) of the record's MessagePack, its
/// fields in the schema's order, without payout when it has none.
fn body_hash(tx: &TxIn) -> String {
    let mut p = Pack(Vec::with_capacity(384));
    p.map(if tx.payout.is_some() { 16 } else { 15 });
    p.field_str("tx_id", &tx.tx_id);
    p.field_str("type", &tx.kind);
    p.field_str("source_account", &tx.source_account);
    p.field_str("destination_account", &tx.destination_account);
    p.str("amount");
    p.int(tx.amount);
    p.field_str("currency", &tx.currency);
    p.str("event_time");
    p.int(tx.event_time);
    p.field_str("channel", &tx.channel);
    p.str("merchant_id");
    p.opt_str(&tx.merchant_id);
    p.str("merchant_category");
    p.opt_str(&tx.merchant_category);
    p.field_str("country", &tx.country);
    p.str("device_id");
    p.opt_str(&tx.device_id);
    p.str("ip");
    p.opt_str(&tx.ip);
    p.str("metadata");
    p.map(tx.metadata.0.len());
    for (key, value) in &tx.metadata.0 {
        p.field_str(key, value);
    }
    p.str("auth_method");
    p.opt_str(&tx.auth_method);
    if let Some(payout) = &tx.payout {
        p.str("payout");
        p.map(7);
        p.field_str("send_partner", &payout.send_partner);
        p.field_str("receive_partner", &payout.receive_partner);
        p.field_str("beneficiary", &payout.beneficiary);
        p.str("payout_amount");
        p.int(payout.payout_amount);
        p.field_str("payout_currency", &payout.payout_currency);
        p.field_str("fx_rate", &payout.fx_rate);
        p.field_str("quote_id", &payout.quote_id);
    }
    let mut hasher = Blake2bVar::new(12).expect("12 is a valid BLAKE2b length");
    hasher.update(&p.0);
    let mut digest = [0u8; 12];
    hasher.finalize_variable(&mut digest).expect("the buffer is the digest's length");
    hex::encode(digest)
}

/// The rules and the Python types `Triage` builds; see the module docstring.
#[pyclass(frozen, module = "paystream_avro")]
pub struct Triage {
    schema: Py<Schema>,
    header: Vec<u8>,
    transaction: Py<PyAny>,
    payout: Py<PyAny>,
    valid: Py<PyAny>,
    types: FxHashMap<String, Py<PyAny>>,
    channels: FxHashMap<String, Py<PyAny>>,
    currencies: FxHashSet<String>,
    countries: FxHashSet<String>,
    auth_methods: FxHashSet<String>,
    amount_max: i64,
    event_time_min_ms: i64,
    /// Low-cardinality values (currencies, countries, categories...) as one Python string each.
    interned: std::sync::Mutex<FxHashMap<String, Py<PyString>>>,
}

impl Triage {
    /// Every rule of streams/validation.py `validate`, in the plainest reading of each.
    fn plainly_valid(&self, tx: &TxIn, now_ms: i64, max_skew_ms: i64) -> bool {
        let source_system = tx.source_account.starts_with(SYSTEM_PREFIX);
        let destination_system = tx.destination_account.starts_with(SYSTEM_PREFIX);
        let accounts_fit = match tx.kind.as_str() {
            "DEPOSIT" => source_system && !destination_system,
            "WITHDRAWAL" => destination_system && !source_system,
            "PAYOUT" => !source_system,
            _ => !source_system && !destination_system,
        };
        let payout_fits = match (&tx.payout, tx.kind.as_str()) {
            (None, kind) => kind != "PAYOUT",
            (Some(p), "PAYOUT") => {
                [&p.send_partner, &p.receive_partner, &p.beneficiary, &p.quote_id]
                    .iter()
                    .all(|id| plain_id(id))
                    && tx.destination_account.strip_prefix("sys:partner:") == Some(p.receive_partner.as_str())
                    && self.currencies.contains(&p.payout_currency)
                    && 0 < p.payout_amount
                    && p.payout_amount <= self.amount_max
                    && plain_positive_decimal(&p.fx_rate)
            }
            (Some(_), _) => false,
        };
        plain_id(&tx.tx_id)
            && plain_id(&tx.source_account)
            && plain_id(&tx.destination_account)
            && tx.source_account != tx.destination_account
            && 0 < tx.amount
            && tx.amount <= self.amount_max
            && self.currencies.contains(&tx.currency)
            && self.countries.contains(&tx.country)
            && tx.event_time >= self.event_time_min_ms
            && tx.event_time <= now_ms.saturating_add(max_skew_ms)
            && accounts_fit
            && payout_fits
            && tx.merchant_category.iter().all(|c| c.len() == 4 && c.bytes().all(|b| b.is_ascii_digit()))
            && tx.ip.iter().all(|ip| ip.parse::<IpAddr>().is_ok())
            && tx.auth_method.iter().all(|m| self.auth_methods.contains(m))
    }

    /// A message framed by the reader's header, decoded whole.
    fn decode(&self, data: &[u8]) -> Option<TxIn> {
        decode_framed(self.schema.get(), &self.header, data)
    }

    fn interned<'py>(&self, py: Python<'py>, value: &str) -> Bound<'py, PyString> {
        let mut cache = self.interned.lock().expect("no panic holds the cache");
        if let Some(text) = cache.get(value) {
            return text.bind(py).clone();
        }
        let text = PyString::new(py, value);
        if cache.len() < 10_000 {
            cache.insert(value.to_owned(), text.clone().unbind());
        }
        text
    }

    fn opt<'py>(&self, py: Python<'py>, value: &Option<String>, intern: bool) -> PyObject {
        match value {
            Some(text) if intern => self.interned(py, text).into_any().unbind(),
            Some(text) => PyString::new(py, text).into_any().unbind(),
            None => py.None(),
        }
    }

    /// The `Valid` of one event, or None if Python must decide it.
    fn one<'py>(
        &self,
        py: Python<'py>,
        event: &Bound<'py, PyAny>,
        now_ms: i64,
        max_skew_ms: i64,
        partitions: u32,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let value = event.getattr(pyo3::intern!(py, "value"))?;
        let Ok(data) = value.downcast::<PyBytes>() else { return Ok(None) };
        let Some(tx) = self.decode(data.as_bytes()) else { return Ok(None) };
        if !self.plainly_valid(&tx, now_ms, max_skew_ms) {
            return Ok(None);
        }
        let partition_key = if tx.kind == "DEPOSIT" { &tx.destination_account } else { &tx.source_account };
        let key = event.getattr(pyo3::intern!(py, "key"))?;
        let Ok(key) = key.downcast::<PyBytes>() else { return Ok(None) };
        if key.as_bytes() != partition_key.as_bytes() {
            return Ok(None);
        }
        let partition: u32 = event.getattr(pyo3::intern!(py, "partition"))?.extract()?;
        if partitions == 0 || kafka_partition(key.as_bytes(), partitions) != partition {
            return Ok(None);
        }
        let (Some(kind), Some(channel)) = (self.types.get(&tx.kind), self.channels.get(&tx.channel)) else {
            return Ok(None);
        };
        let hash = body_hash(&tx);
        let metadata = PyDict::new(py);
        for (k, v) in &tx.metadata.0 {
            metadata.set_item(k, v)?;
        }
        let payout = match &tx.payout {
            None => py.None(),
            Some(p) => self
                .payout
                .bind(py)
                .call1((
                    &p.send_partner,
                    &p.receive_partner,
                    &p.beneficiary,
                    p.payout_amount,
                    self.interned(py, &p.payout_currency),
                    &p.fx_rate,
                    &p.quote_id,
                ))?
                .unbind(),
        };
        // streams/records.py Transaction's own field order (country before merchant_id).
        let args = PyTuple::new(
            py,
            [
                PyString::new(py, &tx.tx_id).into_any().unbind(),
                kind.clone_ref(py),
                PyString::new(py, &tx.source_account).into_any().unbind(),
                PyString::new(py, &tx.destination_account).into_any().unbind(),
                tx.amount.into_pyobject(py)?.into_any().unbind(),
                self.interned(py, &tx.currency).into_any().unbind(),
                tx.event_time.into_pyobject(py)?.into_any().unbind(),
                channel.clone_ref(py),
                self.interned(py, &tx.country).into_any().unbind(),
                self.opt(py, &tx.merchant_id, false),
                self.opt(py, &tx.merchant_category, true),
                self.opt(py, &tx.device_id, false),
                self.opt(py, &tx.ip, false),
                metadata.into_any().unbind(),
                self.opt(py, &tx.auth_method, true),
                payout,
            ],
        )?;
        let transaction = self.transaction.bind(py).call1(args)?;
        Ok(Some(self.valid.bind(py).call1((event, transaction, hash))?))
    }
}

#[pymethods]
impl Triage {
    #[new]
    #[allow(clippy::too_many_arguments)]
    fn new(
        schema: Py<Schema>,
        header: Vec<u8>,
        transaction: Py<PyAny>,
        payout: Py<PyAny>,
        valid: Py<PyAny>,
        types: FxHashMap<String, Py<PyAny>>,
        channels: FxHashMap<String, Py<PyAny>>,
        currencies: FxHashSet<String>,
        countries: FxHashSet<String>,
        auth_methods: FxHashSet<String>,
        amount_max: i64,
        event_time_min_ms: i64,
    ) -> Self {
        Triage {
            schema,
            header,
            transaction,
            payout,
            valid,
            types,
            channels,
            currencies,
            countries,
            auth_methods,
            amount_max,
            event_time_min_ms,
            interned: std::sync::Mutex::new(FxHashMap::default()),
        }
    }

    /// Per event, its `Valid` or None (Python's triage decides that one).
    fn check<'py>(
        &self,
        py: Python<'py>,
        events: &Bound<'py, PyList>,
        now_ms: i64,
        max_skew_ms: i64,
        partitions: u32,
    ) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        for event in events.iter() {
            match self.one(py, &event, now_ms, max_skew_ms, partitions)? {
                Some(valid) => out.append(valid)?,
                None => out.append(py.None())?,
            }
        }
        Ok(out)
    }

    /// The fingerprint of a transaction body (tests hold it to agents/authorizer.py body_hash).
    fn body_hash(&self, data: &[u8]) -> Option<String> {
        self.decode(data).map(|tx| body_hash(&tx))
    }
}
