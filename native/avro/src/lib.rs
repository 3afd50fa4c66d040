//! Avro binary bodies for paystream's hot path (streams/codec.py says where they are used),
//! and Kafka's murmur2 partitioner hash (streams/partitioning.py): the workers check every
//! input's partition and group every credit by its destination's, ~2.5 µs a transaction per
//! worker in Python (py-spy, 2026-12-03).
//!
//! cavro (Cython) spends ~0.4 µs per long and ~1 µs per string field of a record given as a
//! dict: a decision took 14-23 µs to encode on the 2-core test machines, and every payment
//! encodes a decision and 3-4 postings and decodes a transaction and a credit. Here the schema
//! drives serde_avro_fast, and the Python objects go in and come out through serde, with no
//! Python code per field. What this module refuses, streams/codec.py hands to cavro and then
//! fastavro, which say what is wrong: errors here only need to be raised, not worded.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::ser::{Error as _, SerializeMap, SerializeSeq};
use serde::Deserializer;
use rustc_hash::FxHashMap;
use serde_avro_fast::schema::{RegularType, SchemaMut};
use std::fmt;
use std::io::BufRead;

mod features;
mod kafkabatch;
mod outputs;
mod pgcopy;
mod resp;
mod settle;
mod sinkrows;
mod triage;

/// A Python value to encode: dicts are records (or maps), lists and tuples arrays.
struct Value<'a, 'py>(&'a Bound<'py, PyAny>);

impl serde::Serialize for Value<'_, '_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        // Exact types, most frequent first: a str subclass (an enum member) is cavro's to judge.
        if let Ok(text) = v.downcast_exact::<PyString>() {
            return s.serialize_str(text.to_str().map_err(S::Error::custom)?);
        }
        if v.is_none() {
            return s.serialize_none();
        }
        // bool before int: True is an int to Python, never a long to Avro.
        if let Ok(b) = v.downcast_exact::<PyBool>() {
            return s.serialize_bool(b.is_true());
        }
        if let Ok(i) = v.downcast_exact::<PyInt>() {
            return s.serialize_i64(i.extract().map_err(S::Error::custom)?);
        }
        if let Ok(f) = v.downcast_exact::<PyFloat>() {
            return s.serialize_f64(f.value());
        }
        if let Ok(d) = v.downcast_exact::<PyDict>() {
            let mut map = s.serialize_map(Some(d.len()))?;
            for (k, item) in d.iter() {
                map.serialize_entry(&Value(&k), &Value(&item))?;
            }
            return map.end();
        }
        if let Ok(l) = v.downcast_exact::<PyList>() {
            let mut seq = s.serialize_seq(Some(l.len()))?;
            for item in l.iter() {
                seq.serialize_element(&Value(&item))?;
            }
            return seq.end();
        }
        if let Ok(t) = v.downcast_exact::<PyTuple>() {
            let mut seq = s.serialize_seq(Some(t.len()))?;
            for item in t.iter() {
                seq.serialize_element(&Value(&item))?;
            }
            return seq.end();
        }
        if let Ok(b) = v.downcast_exact::<PyBytes>() {
            return s.serialize_bytes(b.as_bytes());
        }
        Err(S::Error::custom(format!("cannot encode a {}", v.get_type())))
    }
}

/// Builds the Python object of one decoded value: records and maps as dicts, enums as their
/// symbol, unions as the branch's value. Record field names come from `names`, made once per
/// schema: a new key string per field, hashed again by the dict, was ~40% of a decode.
#[derive(Clone, Copy)]
struct Build<'a, 'py> {
    py: Python<'py>,
    names: &'a Names,
}

type Names = FxHashMap<Box<str>, Py<PyString>>;
type Built<'py> = Bound<'py, PyAny>;

impl<'de, 'py> DeserializeSeed<'de> for Build<'_, 'py> {
    type Value = Built<'py>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Built<'py>, D::Error> {
        d.deserialize_any(self)
    }
}

/// A record's field name or a map's key.
struct Key<'a, 'py>(Build<'a, 'py>);

impl<'de, 'py> DeserializeSeed<'de> for Key<'_, 'py> {
    type Value = Built<'py>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Built<'py>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de, 'py> Visitor<'de> for Key<'_, 'py> {
    type Value = Built<'py>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E>(self, v: &str) -> Result<Built<'py>, E> {
        Ok(match self.0.names.get(v) {
            Some(name) => name.bind(self.0.py).clone().into_any(),
            None => PyString::new(self.0.py, v).into_any(),
        })
    }
}

impl<'de, 'py> Visitor<'de> for Build<'_, 'py> {
    type Value = Built<'py>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an Avro value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Built<'py>, E> {
        Ok(PyBool::new(self.py, v).to_owned().into_any())
    }
    fn visit_i64<E>(self, v: i64) -> Result<Built<'py>, E> {
        Ok(v.into_pyobject(self.py).unwrap().into_any())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Built<'py>, E> {
        Ok(v.into_pyobject(self.py).unwrap().into_any())
    }
    fn visit_f64<E>(self, v: f64) -> Result<Built<'py>, E> {
        Ok(PyFloat::new(self.py, v).into_any())
    }
    fn visit_str<E>(self, v: &str) -> Result<Built<'py>, E> {
        Ok(PyString::new(self.py, v).into_any())
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<Built<'py>, E> {
        Ok(PyBytes::new(self.py, v).into_any())
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Built<'py>, E> {
        Ok(self.py.None().into_bound(self.py))
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<Built<'py>, E> {
        self.visit_unit()
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Built<'py>, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Built<'py>, A::Error> {
        let list = PyList::empty(self.py);
        while let Some(item) = seq.next_element_seed(self)? {
            list.append(item).map_err(serde::de::Error::custom)?;
        }
        Ok(list.into_any())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Built<'py>, A::Error> {
        let dict = PyDict::new(self.py);
        while let Some(key) = map.next_key_seed(Key(self))? {
            let value = map.next_value_seed(self)?;
            dict.set_item(key, value).map_err(serde::de::Error::custom)?;
        }
        Ok(dict.into_any())
    }
}

fn field_names(py: Python<'_>, schema: &SchemaMut) -> Names {
    let mut names = Names::default();
    for node in schema.nodes() {
        if let RegularType::Record(record) = &node.type_ {
            for field in &record.fields {
                names.insert(field.name.as_str().into(), PyString::intern(py, &field.name).unbind());
            }
        }
    }
    names
}

/// One Avro schema, parsed once: `encode(record) -> bytes`, `decode(body) -> record`.
#[pyclass(frozen, module = "paystream_avro")]
struct Schema {
    schema: serde_avro_fast::Schema,
    /// The top-level record's fields that may hold an enum: serde_avro_fast takes an integer
    /// there as the symbol's index, which fastavro and cavro refuse, and so does `encode`.
    enum_fields: Vec<Py<PyString>>,
    names: Names,
}

fn enum_fields(py: Python<'_>, schema: &SchemaMut) -> Vec<Py<PyString>> {
    let is_enum = |key| matches!(schema.get(key).map(|n| &n.type_), Some(RegularType::Enum(_)));
    let RegularType::Record(record) = &schema.root().type_ else {
        return Vec::new();
    };
    record
        .fields
        .iter()
        .filter(|field| match schema.get(field.type_).map(|n| &n.type_) {
            Some(RegularType::Enum(_)) => true,
            Some(RegularType::Union(union)) => union.variants.iter().any(|&v| is_enum(v)),
            _ => false,
        })
        .map(|field| PyString::intern(py, &field.name).unbind())
        .collect()
}

#[pymethods]
impl Schema {
    #[new]
    fn new(py: Python<'_>, json: &str) -> PyResult<Self> {
        let invalid = |e: serde_avro_fast::schema::SchemaError| PyValueError::new_err(format!("{e}"));
        let parsed: SchemaMut = json.parse().map_err(invalid)?;
        let enum_fields = enum_fields(py, &parsed);
        let names = field_names(py, &parsed);
        Ok(Schema { schema: parsed.freeze().map_err(invalid)?, enum_fields, names })
    }

    /// The Avro binary body of `record` (no framing).
    fn encode<'py>(&self, py: Python<'py>, record: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
        if let Ok(fields) = record.downcast_exact::<PyDict>() {
            for name in &self.enum_fields {
                if let Some(value) = fields.get_item(name.bind(py))? {
                    if value.is_instance_of::<PyInt>() {
                        return Err(PyValueError::new_err("an integer for an enum symbol"));
                    }
                }
            }
        }
        Ok(PyBytes::new(py, &encode_framed(self, b"", &Value(record))?))
    }

    /// The record whose body is all of `body`: bytes left over are an error, as is a body that
    /// ends early.
    fn decode<'py>(&self, py: Python<'py>, body: &[u8]) -> PyResult<Bound<'py, PyAny>> {
        let (value, end) = self.decode_from(py, body, 0)?;
        if end != body.len() {
            return Err(PyValueError::new_err(format!("{} bytes left after the body", body.len() - end)));
        }
        Ok(value)
    }

    /// The record whose body starts at `offset` of `data`, and the offset where it ends (bodies
    /// back to back: a batch message).
    fn decode_from<'py>(&self, py: Python<'py>, data: &[u8], offset: usize) -> PyResult<(Bound<'py, PyAny>, usize)> {
        let body = data.get(offset..).ok_or_else(|| PyValueError::new_err("offset past the end"))?;
        let mut state = serde_avro_fast::de::DeserializerState::from_slice(body, &self.schema);
        let value = state
            .deserializer()
            .deserialize_any(Build { py, names: &self.names })
            .map_err(|e| PyValueError::new_err(format!("{e}")))?;
        let left = state.into_reader().fill_buf().map(|rest| rest.len()).unwrap_or(0);
        Ok((value, data.len() - left))
    }
}

/// `header` and then the Avro body of `value` by `schema`.
pub(crate) fn encode_framed<T: serde::Serialize>(schema: &Schema, header: &[u8], value: &T) -> PyResult<Vec<u8>> {
    let mut config = serde_avro_fast::ser::SerializerConfig::new(&schema.schema);
    let mut out = Vec::with_capacity(header.len() + 256);
    out.extend_from_slice(header);
    let mut state = serde_avro_fast::ser::SerializerState::from_writer(out, &mut config);
    value
        .serialize(state.serializer())
        .map_err(|e| PyValueError::new_err(format!("{e}")))?;
    Ok(state.into_writer())
}

/// The body framed by `header` in `data`, decoded by `schema` into a `T`; None if it is framed
/// otherwise, does not decode, or leaves bytes over (the caller's Python path says what is wrong).
pub(crate) fn decode_framed<T: serde::de::DeserializeOwned>(schema: &Schema, header: &[u8], data: &[u8]) -> Option<T> {
    let body = data.strip_prefix(header)?;
    let mut state = serde_avro_fast::de::DeserializerState::from_slice(body, &schema.schema);
    let item = T::deserialize(state.deserializer()).ok()?;
    if state.into_reader().fill_buf().map(|rest| rest.len()).unwrap_or(1) != 0 {
        return None;
    }
    Some(item)
}

/// Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2) of `data`, as an unsigned
/// 32-bit int: the hash the Java client's and librdkafka's `murmur2_random` partitioners use.
#[pyfunction]
fn murmur2(data: &[u8]) -> u32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    let mut h = SEED ^ (data.len() as u32);
    let mut words = data.chunks_exact(4);
    for word in &mut words {
        let mut k = u32::from_le_bytes([word[0], word[1], word[2], word[3]]).wrapping_mul(M);
        k ^= k >> 24;
        h = h.wrapping_mul(M) ^ k.wrapping_mul(M);
    }
    let rest = words.remainder();
    if rest.len() == 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h = (h ^ u32::from(rest[0])).wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^ (h >> 15)
}

/// Kafka's default partition for a record keyed `key`: toPositive(murmur2(key)) % partitions.
#[pyfunction]
fn partition_for(key: &[u8], partitions: u32) -> PyResult<u32> {
    if partitions == 0 {
        return Err(PyValueError::new_err("partitions must be positive"));
    }
    Ok(kafka_partition(key, partitions))
}

/// toPositive(murmur2(key)) % partitions, `partitions` known positive.
pub(crate) fn kafka_partition(key: &[u8], partitions: u32) -> u32 {
    (murmur2(key) & 0x7fff_ffff) % partitions
}

#[pymodule]
fn paystream_avro(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Schema>()?;
    m.add_function(wrap_pyfunction!(murmur2, m)?)?;
    m.add_function(wrap_pyfunction!(partition_for, m)?)?;
    m.add_function(wrap_pyfunction!(pgcopy::copy_records, m)?)?;
    m.add_function(wrap_pyfunction!(resp::pack_command, m)?)?;
    m.add_class::<sinkrows::PostingRows>()?;
    m.add_class::<sinkrows::DecisionRows>()?;
    m.add_class::<kafkabatch::RecordBatch>()?;
    m.add_function(wrap_pyfunction!(kafkabatch::record_batches, m)?)?;
    m.add_function(wrap_pyfunction!(kafkabatch::output_batches, m)?)?;
    m.add_class::<kafkabatch::FetchedRecord>()?;
    m.add_class::<triage::Triage>()?;
    m.add_class::<features::ProfileFeatures>()?;
    m.add_class::<outputs::PostingEncoder>()?;
    m.add_class::<outputs::DecisionEncoder>()?;
    m.add_class::<settle::Settle>()?;
    m.add_class::<settle::Credits>()?;
    m.add_function(wrap_pyfunction!(kafkabatch::fetched_records, m)?)?;
    Ok(())
}
