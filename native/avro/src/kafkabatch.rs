//! Kafka record batches (format v2, magic 2) built in compiled code, for aiokafka's producer.
//!
//! aiokafka's `BatchBuilder.append` cost ~1 µs a record in Python and Cython (py-spy of the bench,
//! 2026-12-06): the workers send ~3 outputs a transaction and the load generator one. Here a whole
//! send's records are grouped by partition (Kafka's murmur2, as `partition_for`) and encoded in one
//! call; each group becomes a `RecordBatch`, which `AIOKafkaProducer.send_batch` takes as it takes
//! its own builder (closed, its records counted, its producer state set by the idempotent
//! producer when the batch is drained, then built once). Uncompressed, non-transactional, every
//! record stamped with its send's time (CreateTime) unless given its own.
//!
//! The bytes are those of aiokafka's own builder for the same records, times and producer state
//! (tests/unit/test_recordbatches.py holds them equal).

use std::collections::HashMap;
use std::io::Read;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};

use crate::kafka_partition;

/// baseOffset 8, batchLength 4, partitionLeaderEpoch 4, magic 1, crc 4, attributes 2,
/// lastOffsetDelta 4, baseTimestamp 8, maxTimestamp 8, producerId 8, producerEpoch 2,
/// baseSequence 4, records count 4.
const HEADER_SIZE: usize = 61;
/// Where the header's fields stand (the CRC-32C covers the attributes to the end).
const MAGIC_OFFSET: usize = 16;
const CRC_OFFSET: usize = 17;
const ATTRIBUTES_OFFSET: usize = 21;
const LAST_OFFSET_DELTA_OFFSET: usize = 23;
const FIRST_TIMESTAMP_OFFSET: usize = 27;
const MAX_TIMESTAMP_OFFSET: usize = 35;
const RECORDS_COUNT_OFFSET: usize = 57;
/// What a record costs besides its key, value and headers, at most (aiokafka's
/// MAX_RECORD_OVERHEAD): length 5, attributes 1, timestamp delta 10, offset delta 5.
const MAX_RECORD_OVERHEAD: usize = 21;
/// The LZ4 codec in a batch's attributes.
const LZ4: i16 = 3;

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn varint(out: &mut Vec<u8>, v: i64) {
    let mut z = zigzag(v);
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

fn varint_size(v: i64) -> usize {
    let mut z = zigzag(v);
    let mut n = 1;
    while z >= 0x80 {
        z >>= 7;
        n += 1;
    }
    n
}

/// A record's key, value or header value: its length as a varint, then its bytes; -1 for none.
fn put_bytes(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        Some(bytes) => {
            varint(out, bytes.len() as i64);
            out.extend_from_slice(bytes);
        }
        None => varint(out, -1),
    }
}

fn bytes_size(bytes: Option<&[u8]>) -> usize {
    bytes.map_or(1, |b| varint_size(b.len() as i64) + b.len())
}

/// One record's fields, borrowed from the Python objects for the time of the call.
struct Record<'a> {
    key: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
    timestamp_ms: i64,
    headers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

/// A record batch for `AIOKafkaProducer.send_batch`: closed, its records encoded; the header
/// (with the producer state the idempotent producer sets when it drains the batch) and the
/// CRC are written once, by `_build`.
#[pyclass(module = "paystream_avro")]
pub struct RecordBatch {
    records: Vec<u8>,
    count: i32,
    first_timestamp: i64,
    max_timestamp: i64,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    built: Option<Py<PyBytes>>,
}

impl RecordBatch {
    fn new() -> Self {
        RecordBatch {
            records: Vec::new(),
            count: 0,
            first_timestamp: 0,
            max_timestamp: 0,
            // aiokafka's BatchBuilder defaults: no producer id, its epoch, sequence 0
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: 0,
            built: None,
        }
    }

    fn record_size(record: &Record, offset_delta: i64, timestamp_delta: i64) -> usize {
        let mut size = 1 + varint_size(timestamp_delta) + varint_size(offset_delta);
        size += bytes_size(record.key) + bytes_size(record.value);
        size += varint_size(record.headers.len() as i64);
        for (name, value) in &record.headers {
            size += bytes_size(Some(name)) + bytes_size(value.as_deref());
        }
        size
    }

    /// Whether `record` would take the batch past `max_bytes` (a first record always fits).
    fn full(&self, record: &Record, max_bytes: usize) -> bool {
        if self.count == 0 {
            return false;
        }
        let estimate = record.key.map_or(0, |k| k.len())
            + record.value.map_or(0, |v| v.len())
            + record.headers.iter().map(|(n, v)| n.len() + v.as_ref().map_or(0, |v| v.len()) + 10).sum::<usize>()
            + MAX_RECORD_OVERHEAD;
        HEADER_SIZE + self.records.len() + estimate > max_bytes
    }

    fn push(&mut self, record: &Record) {
        if self.count == 0 {
            self.first_timestamp = record.timestamp_ms;
            self.max_timestamp = record.timestamp_ms;
        }
        let offset_delta = self.count as i64;
        let timestamp_delta = record.timestamp_ms - self.first_timestamp;
        self.max_timestamp = self.max_timestamp.max(record.timestamp_ms);
        let out = &mut self.records;
        varint(out, Self::record_size(record, offset_delta, timestamp_delta) as i64);
        out.push(0); // attributes: unused
        varint(out, timestamp_delta);
        varint(out, offset_delta);
        put_bytes(out, record.key);
        put_bytes(out, record.value);
        varint(out, record.headers.len() as i64);
        for (name, value) in &record.headers {
            put_bytes(out, Some(name));
            put_bytes(out, value.as_deref());
        }
        self.count += 1;
    }

    fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_SIZE + self.records.len());
        out.extend_from_slice(&0i64.to_be_bytes()); // base offset: the broker's to set
        out.extend_from_slice(&((HEADER_SIZE + self.records.len() - 12) as i32).to_be_bytes());
        out.extend_from_slice(&(-1i32).to_be_bytes()); // partition leader epoch: none
        out.push(2); // magic
        out.extend_from_slice(&[0; 4]); // CRC, below
        out.extend_from_slice(&0i16.to_be_bytes()); // attributes: no codec, CreateTime
        out.extend_from_slice(&(self.count - 1).to_be_bytes()); // last offset delta
        out.extend_from_slice(&self.first_timestamp.to_be_bytes());
        out.extend_from_slice(&self.max_timestamp.to_be_bytes());
        out.extend_from_slice(&self.producer_id.to_be_bytes());
        out.extend_from_slice(&self.producer_epoch.to_be_bytes());
        out.extend_from_slice(&self.base_sequence.to_be_bytes());
        out.extend_from_slice(&self.count.to_be_bytes());
        out.extend_from_slice(&self.records);
        let crc = crc32c::crc32c(&out[ATTRIBUTES_OFFSET..]);
        out[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
        out
    }
}

#[pymethods]
impl RecordBatch {
    fn record_count(&self) -> i32 {
        self.count
    }

    /// Always: a batch is complete when it is made.
    fn closed(&self) -> bool {
        true
    }

    fn close(&self) {}

    /// None, as aiokafka's builder answers once closed: nothing is appended to a made batch.
    #[pyo3(signature = (**_kwargs))]
    fn append(&self, _kwargs: Option<&Bound<'_, PyDict>>) -> Option<PyObject> {
        None
    }

    fn size(&self) -> usize {
        HEADER_SIZE + self.records.len()
    }

    #[pyo3(name = "_set_producer_state")]
    fn set_producer_state(&mut self, producer_id: i64, producer_epoch: i16, base_sequence: i32) -> PyResult<()> {
        if self.built.is_some() {
            return Err(PyValueError::new_err("the batch was built already"));
        }
        self.producer_id = producer_id;
        self.producer_epoch = producer_epoch;
        self.base_sequence = base_sequence;
        Ok(())
    }

    /// The batch's bytes, made once (a retried send re-sends the same bytes).
    #[pyo3(name = "_build")]
    fn build<'py>(&mut self, py: Python<'py>) -> Py<PyBytes> {
        if let Some(built) = &self.built {
            return built.clone_ref(py);
        }
        let built: Py<PyBytes> = PyBytes::new(py, &self.bytes()).unbind();
        self.built = Some(built.clone_ref(py));
        self.records = Vec::new();
        built
    }
}

fn optional_bytes<'a>(value: &'a Bound<'_, PyAny>, what: &str) -> PyResult<Option<&'a [u8]>> {
    if value.is_none() {
        return Ok(None);
    }
    value
        .downcast::<PyBytes>()
        .map(|b| Some(b.as_bytes()))
        .map_err(|_| PyTypeError::new_err(format!("a record's {what} must be bytes or None")))
}

/// A message's headers, copied (only dead letters carry any).
fn headers_of(headers: &Bound<'_, PyAny>) -> PyResult<Vec<(Vec<u8>, Option<Vec<u8>>)>> {
    if headers.is_none() {
        return Ok(Vec::new());
    }
    let list = headers
        .downcast::<PyList>()
        .map_err(|_| PyTypeError::new_err("a record's headers must be a list of (str, bytes)"))?;
    let mut out = Vec::with_capacity(list.len());
    for item in list.iter() {
        let (name, value): (String, Option<Vec<u8>>) = item
            .extract()
            .map_err(|_| PyTypeError::new_err("a header must be a (str, bytes) tuple"))?;
        out.push((name.into_bytes(), value));
    }
    Ok(out)
}

/// Groups of batches by (topic index, partition), in the order each group first appears; within
/// a group the records keep their order, as many batches as `max_bytes` requires.
struct Groups {
    index: HashMap<(usize, u32), usize>,
    groups: Vec<((usize, u32), Vec<RecordBatch>)>,
    max_bytes: usize,
}

impl Groups {
    fn new(max_bytes: usize) -> Self {
        Groups { index: HashMap::new(), groups: Vec::new(), max_bytes }
    }

    fn add(&mut self, topic: usize, partition: u32, record: &Record) {
        let at = *self.index.entry((topic, partition)).or_insert_with(|| {
            self.groups.push(((topic, partition), vec![RecordBatch::new()]));
            self.groups.len() - 1
        });
        let batches = &mut self.groups[at].1;
        if batches.last().is_some_and(|b| b.full(record, self.max_bytes)) {
            batches.push(RecordBatch::new());
        }
        batches.last_mut().expect("a group has a batch").push(record);
    }
}

/// `pairs` ((key, value) bytes each) as record batches by partition (murmur2 of the key, as
/// Kafka's default partitioner): [(partition, batch, records in it)], the partitions in the
/// order they first appear. Each record is stamped `timestamps[i]` if given, else `now_ms`.
#[pyfunction]
#[pyo3(signature = (pairs, partitions, now_ms, max_bytes, timestamps=None))]
pub fn record_batches<'py>(py: Python<'py>, pairs: &Bound<'py, PyList>, partitions: u32, now_ms: i64,
                           max_bytes: usize, timestamps: Option<Vec<i64>>)
                           -> PyResult<Vec<(u32, Py<RecordBatch>, i32)>> {
    if partitions == 0 {
        return Err(PyValueError::new_err("partitions must be positive"));
    }
    if let Some(stamps) = &timestamps {
        if stamps.len() != pairs.len() {
            return Err(PyValueError::new_err("one timestamp per record"));
        }
    }
    let mut groups = Groups::new(max_bytes);
    for (i, item) in pairs.iter().enumerate() {
        let pair = item
            .downcast_into::<PyTuple>()
            .map_err(|_| PyTypeError::new_err("each record must be a (key, value) tuple"))?;
        if pair.len() != 2 {
            return Err(PyTypeError::new_err("each record must be a (key, value) tuple"));
        }
        let key = pair.get_borrowed_item(0)?;
        let value = pair.get_borrowed_item(1)?;
        let key = key.downcast::<PyBytes>().map_err(|_| PyTypeError::new_err("a key must be bytes"))?.as_bytes();
        let value = optional_bytes(&value, "value")?;
        let record = Record {
            key: Some(key),
            value,
            timestamp_ms: timestamps.as_ref().map_or(now_ms, |t| t[i]),
            headers: Vec::new(),
        };
        groups.add(0, kafka_partition(key, partitions), &record);
    }
    let mut out = Vec::new();
    for ((_, partition), batches) in groups.groups {
        for batch in batches {
            let count = batch.count;
            out.push((partition, Py::new(py, batch)?, count));
        }
    }
    Ok(out)
}

/// The workers' outputs as record batches: each message's `role` names its topic's partition
/// count in `partitions` (role -> count), its `key` (bytes) picks the partition (murmur2), its
/// `value` and `headers` (None or [(str, bytes)]) are the record's; all stamped `now_ms`.
/// [(role, partition, batch)], in the order each role's partition first appears.
#[pyfunction]
pub fn output_batches<'py>(py: Python<'py>, messages: &Bound<'py, PyList>, partitions: &Bound<'py, PyDict>,
                           now_ms: i64, max_bytes: usize) -> PyResult<Vec<(PyObject, u32, Py<RecordBatch>)>> {
    let role_attr = pyo3::intern!(py, "role");
    let key_attr = pyo3::intern!(py, "key");
    let value_attr = pyo3::intern!(py, "value");
    let headers_attr = pyo3::intern!(py, "headers");
    let mut roles: Vec<(Bound<'py, PyAny>, u32)> = Vec::new();
    let mut groups = Groups::new(max_bytes);
    // Each message's fields, held for the call (the records borrow their bytes).
    let mut held = Vec::with_capacity(messages.len());
    for message in messages.iter() {
        let role = message.getattr(role_attr)?;
        let key = message.getattr(key_attr)?;
        let value = message.getattr(value_attr)?;
        let headers = message.getattr(headers_attr)?;
        held.push((role, key, value, headers));
    }
    for (role, key, value, headers) in &held {
        let topic = match roles.iter().position(|(r, _)| r.eq(role).unwrap_or(false)) {
            Some(at) => at,
            None => {
                let count: u32 = partitions
                    .get_item(role)?
                    .ok_or_else(|| PyValueError::new_err(format!("no partition count for role {role}")))?
                    .extract()?;
                if count == 0 {
                    return Err(PyValueError::new_err("partitions must be positive"));
                }
                roles.push((role.clone(), count));
                roles.len() - 1
            }
        };
        let key = key.downcast::<PyBytes>().map_err(|_| PyTypeError::new_err("a key must be bytes"))?.as_bytes();
        let record = Record {
            key: Some(key),
            value: optional_bytes(value, "value")?,
            timestamp_ms: now_ms,
            headers: headers_of(headers)?,
        };
        groups.add(topic, kafka_partition(key, roles[topic].1), &record);
    }
    let mut out = Vec::new();
    for ((topic, partition), batches) in groups.groups {
        for batch in batches {
            out.push((roles[topic].0.clone().unbind(), partition, Py::new(py, batch)?));
        }
    }
    Ok(out)
}

/// One record of a fetched batch, as the agents read it: no headers (the agents read none), no
/// ConsumerRecord of aiokafka's eleven fields.
#[pyclass(module = "paystream_avro", frozen)]
pub struct FetchedRecord {
    #[pyo3(get)]
    partition: i32,
    #[pyo3(get)]
    offset: i64,
    #[pyo3(get)]
    timestamp: i64,
    #[pyo3(get)]
    key: Option<Py<PyBytes>>,
    #[pyo3(get)]
    value: Option<Py<PyBytes>>,
}

struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Option<i64> {
        let mut z: u64 = 0;
        let mut shift = 0;
        loop {
            let byte = *self.data.get(self.at)?;
            self.at += 1;
            z |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(((z >> 1) as i64) ^ -((z & 1) as i64));
            }
            shift += 7;
            if shift > 63 {
                return None;
            }
        }
    }

    fn bytes(&mut self) -> Option<Option<&'a [u8]>> {
        let len = self.varint()?;
        if len < 0 {
            return Some(None);
        }
        let end = self.at.checked_add(len as usize)?;
        let out = self.data.get(self.at..end)?;
        self.at = end;
        Some(Some(out))
    }
}

fn be_i64(data: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(data[at..at + 8].try_into().expect("8 bytes"))
}

fn be_i32(data: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(data[at..at + 4].try_into().expect("4 bytes"))
}

/// The records of a fetch's data for one partition (its record batches back to back, the last
/// possibly cut short by the fetch's size bound, as the broker sends it) at or after
/// `fetch_offset`, and the offset to fetch next; None if a batch is other than what this reads:
/// magic 2, uncompressed or LZ4 (the codec of paystream's own CLI producer and a common one of
/// other clients), not transactional, not a control batch (the caller then reads the whole
/// data aiokafka's way). A batch whose CRC-32C does not match raises ValueError, as aiokafka's
/// `check_crcs` does.
#[pyfunction]
pub fn fetched_records(py: Python<'_>, data: &[u8], fetch_offset: i64, partition: i32, check_crcs: bool)
                       -> PyResult<Option<(Vec<Py<FetchedRecord>>, i64)>> {
    let mut out = Vec::new();
    let mut next = fetch_offset;
    let mut at = 0;
    while data.len() - at >= HEADER_SIZE {
        let base_offset = be_i64(data, at);
        let length = be_i32(data, at + 8);
        if length < (HEADER_SIZE - 12) as i32 {
            return Err(PyValueError::new_err(format!("record batch at offset {base_offset}: length {length}")));
        }
        let end = at + 12 + length as usize;
        if end > data.len() {
            break; // cut short by the fetch's bound: fetched again from `next`
        }
        let batch = &data[at..end];
        if batch[MAGIC_OFFSET] != 2 {
            return Ok(None);
        }
        let attributes = i16::from_be_bytes([batch[ATTRIBUTES_OFFSET], batch[ATTRIBUTES_OFFSET + 1]]);
        // codec bits 0-2 (none or lz4 read here), transactional 4, control 5
        let codec = attributes & 0x07;
        if (codec != 0 && codec != LZ4) || attributes & 0x30 != 0 {
            return Ok(None);
        }
        if check_crcs {
            let crc = u32::from_be_bytes(batch[CRC_OFFSET..CRC_OFFSET + 4].try_into().expect("4 bytes"));
            if crc32c::crc32c(&batch[ATTRIBUTES_OFFSET..]) != crc {
                return Err(PyValueError::new_err(format!("record batch at offset {base_offset}: CRC mismatch")));
            }
        }
        let last_offset_delta = be_i32(batch, LAST_OFFSET_DELTA_OFFSET);
        let first_timestamp = be_i64(batch, FIRST_TIMESTAMP_OFFSET);
        let max_timestamp = be_i64(batch, MAX_TIMESTAMP_OFFSET);
        let log_append_time = attributes & 0x08 != 0;
        let count = be_i32(batch, RECORDS_COUNT_OFFSET);
        let inflated;
        let records: &[u8] = if codec == LZ4 {
            // An LZ4 frame, as Kafka's clients write it (librdkafka, Java, aiokafka's lz4.frame).
            let mut buffer = Vec::with_capacity(batch.len() * 4);
            lz4_flex::frame::FrameDecoder::new(&batch[HEADER_SIZE..])
                .read_to_end(&mut buffer)
                .map_err(|e| PyValueError::new_err(format!("record batch at offset {base_offset}: lz4: {e}")))?;
            inflated = buffer;
            &inflated
        } else {
            &batch[HEADER_SIZE..]
        };
        let mut reader = Reader { data: records, at: 0 };
        let corrupt = || PyValueError::new_err(format!("record batch at offset {base_offset}: a record is cut short"));
        for _ in 0..count {
            let length = reader.varint().ok_or_else(corrupt)?;
            let record_end = reader.at.checked_add(length as usize).filter(|&e| e <= records.len()).ok_or_else(corrupt)?;
            reader.at += 1; // attributes
            let timestamp_delta = reader.varint().ok_or_else(corrupt)?;
            let offset = base_offset + reader.varint().ok_or_else(corrupt)?;
            let key = reader.bytes().ok_or_else(corrupt)?;
            let value = reader.bytes().ok_or_else(corrupt)?;
            reader.at = record_end; // past the headers
            if offset < fetch_offset {
                continue; // fetched from inside this batch
            }
            out.push(Py::new(py, FetchedRecord {
                partition,
                offset,
                timestamp: if log_append_time { max_timestamp } else { first_timestamp + timestamp_delta },
                key: key.map(|k| PyBytes::new(py, k).unbind()),
                value: value.map(|v| PyBytes::new(py, v).unbind()),
            })?);
        }
        next = next.max(base_offset + i64::from(last_offset_delta) + 1);
        at = end;
    }
    Ok(Some((out, next)))
}
