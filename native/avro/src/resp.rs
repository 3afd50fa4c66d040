//! A Redis command in RESP, the protocol's request form: `*<n>\r\n` then each argument as
//! `$<length>\r\n<bytes>\r\n`. The workers send each batch's read and commit scripts with tens of
//! thousands of arguments; hiredis's pack_command took ~90-170 ns an argument (~6% of a worker's
//! CPU, py-spy of loadtest.worker_bench, 2026-12-04). It is the reference: the same arguments
//! give the same bytes (tests/unit/test_resp.py), and what it refuses is refused here too.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyFloat, PyInt, PyString, PyTuple};

fn decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

fn bulk(out: &mut Vec<u8>, data: &[u8]) {
    out.push(b'$');
    decimal(out, data.len() as u64);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// `parts` as one RESP command, as hiredis.pack_command packs them: a str as UTF-8, bytes as
/// they are, an int in decimal, a float as Python's repr; anything else is a TypeError.
#[pyfunction]
pub fn pack_command<'py>(py: Python<'py>, parts: &Bound<'py, PyTuple>) -> PyResult<Bound<'py, PyBytes>> {
    let mut out: Vec<u8> = Vec::with_capacity(16 + parts.len() * 48);
    out.push(b'*');
    decimal(&mut out, parts.len() as u64);
    out.extend_from_slice(b"\r\n");
    for part in parts.iter() {
        if let Ok(text) = part.downcast::<PyString>() {
            bulk(&mut out, text.to_str()?.as_bytes());
        } else if let Ok(data) = part.downcast::<PyBytes>() {
            bulk(&mut out, data.as_bytes());
        } else if let Ok(number) = part.downcast_exact::<PyInt>() {
            match number.extract::<i64>() {
                Ok(n) => {
                    let mut text = Vec::with_capacity(21);
                    if n < 0 {
                        text.push(b'-');
                    }
                    decimal(&mut text, n.unsigned_abs());
                    bulk(&mut out, &text);
                }
                Err(_) => bulk(&mut out, number.str()?.to_str()?.as_bytes()),
            }
        } else if let Ok(number) = part.downcast_exact::<PyFloat>() {
            bulk(&mut out, number.repr()?.to_str()?.as_bytes());
        } else {
            return Err(PyTypeError::new_err("A tuple item must be str, int, float or bytes."));
        }
    }
    Ok(PyBytes::new(py, &out))
}
