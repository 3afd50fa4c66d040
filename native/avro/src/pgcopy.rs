//! PostgreSQL's binary COPY format ("Binary Format" in the COPY reference): a header, then per
//! row its field count and each field as a length and the type's binary send form, then a
//! trailer. The sinks build their COPY data here from the decoded records instead of handing
//! asyncpg Python tuples to encode value by value (sinks/db.py, sinks/rows.py).

use pyo3::exceptions::{PyOverflowError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};

/// The signature, no flags, no header extension.
const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// 2000-01-01T00:00:00Z, PostgreSQL's timestamp epoch, in Unix milliseconds.
const PG_EPOCH_MS: i64 = 946_684_800_000;
/// pg_type's oid of `text`: the element type of a text[] value.
const TEXT_OID: i32 = 25;

pub struct CopyData {
    out: Vec<u8>,
    pub rows: usize,
}

impl CopyData {
    pub fn new(capacity: usize) -> Self {
        let mut out = Vec::with_capacity(capacity + HEADER.len() + 2);
        out.extend_from_slice(HEADER);
        CopyData { out, rows: 0 }
    }

    pub fn row(&mut self, fields: i16) {
        self.out.extend_from_slice(&fields.to_be_bytes());
        self.rows += 1;
    }

    fn len(&mut self, n: usize) {
        self.out.extend_from_slice(&(n as i32).to_be_bytes());
    }

    pub fn null(&mut self) {
        self.out.extend_from_slice(&(-1i32).to_be_bytes());
    }

    /// text, char(n), varchar: UTF-8 bytes as they are.
    pub fn text(&mut self, value: &str) {
        self.len(value.len());
        self.out.extend_from_slice(value.as_bytes());
    }

    pub fn opt_text(&mut self, value: Option<&str>) {
        match value {
            Some(v) => self.text(v),
            None => self.null(),
        }
    }

    pub fn int8(&mut self, value: i64) {
        self.len(8);
        self.out.extend_from_slice(&value.to_be_bytes());
    }

    pub fn int4(&mut self, value: i32) {
        self.len(4);
        self.out.extend_from_slice(&value.to_be_bytes());
    }

    pub fn float8(&mut self, value: f64) {
        self.len(8);
        self.out.extend_from_slice(&value.to_bits().to_be_bytes());
    }

    /// timestamptz from Unix milliseconds: microseconds from 2000-01-01 UTC. A time whose
    /// microseconds do not fit 64 bits is an error, never a wrapped value (a ledger row would
    /// keep a time its hash does not cover); PostgreSQL refuses the ones past its own range.
    pub fn time_ms(&mut self, ms: i64) -> PyResult<()> {
        let us = ms.checked_sub(PG_EPOCH_MS).and_then(|v| v.checked_mul(1000));
        self.int8(us.ok_or_else(|| PyOverflowError::new_err(format!("time {ms} ms out of range")))?);
        Ok(())
    }

    /// text[] of one dimension (none when empty), no NULL elements.
    pub fn text_array<S: AsRef<str>>(&mut self, items: &[S]) {
        let body: usize = items.iter().map(|s| 4 + s.as_ref().len()).sum();
        let dims = if items.is_empty() { 0 } else { 1 };
        self.len(12 + 8 * dims + body);
        for word in [dims as i32, 0, TEXT_OID] {
            self.out.extend_from_slice(&word.to_be_bytes());
        }
        if dims == 1 {
            self.out.extend_from_slice(&(items.len() as i32).to_be_bytes());
            self.out.extend_from_slice(&1i32.to_be_bytes()); // lower bound
        }
        for item in items {
            self.text(item.as_ref());
        }
    }

    pub fn finish<'py>(mut self, py: Python<'py>) -> Bound<'py, PyBytes> {
        self.out.extend_from_slice(&(-1i16).to_be_bytes());
        PyBytes::new(py, &self.out)
    }
}

/// The COPY data of `records` (dicts): per record the values of `keys`, each written as its
/// letter in `kinds` says: t text, i bigint, n integer, f double precision, m timestamptz from
/// epoch milliseconds, a text[] from a list of str. A missing key or None is NULL.
#[pyfunction]
pub fn copy_records<'py>(
    py: Python<'py>,
    records: &Bound<'py, PyList>,
    keys: Vec<Bound<'py, PyString>>,
    kinds: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    let kinds: Vec<char> = kinds.chars().collect();
    if kinds.len() != keys.len() {
        return Err(PyValueError::new_err("one kind per key"));
    }
    let mut data = CopyData::new(records.len() * 32 * keys.len());
    for record in records.iter() {
        let record = record.downcast::<PyDict>()?;
        data.row(keys.len() as i16);
        for (key, kind) in keys.iter().zip(&kinds) {
            let value = match record.get_item(key)? {
                Some(v) if !v.is_none() => v,
                _ => {
                    data.null();
                    continue;
                }
            };
            let bad = |e: PyErr| PyValueError::new_err(format!("{key}: {e}"));
            match kind {
                't' => data.text(value.downcast::<PyString>().map_err(PyErr::from).map_err(bad)?.to_str()?),
                'i' => data.int8(value.extract().map_err(bad)?),
                'n' => data.int4(value.extract().map_err(bad)?),
                'f' => data.float8(value.extract().map_err(bad)?),
                'm' => data.time_ms(value.extract().map_err(bad)?)?,
                'a' => data.text_array(&value.extract::<Vec<String>>().map_err(bad)?),
                other => return Err(PyValueError::new_err(format!("unknown kind {other:?}"))),
            }
        }
    }
    Ok(data.finish(py))
}
