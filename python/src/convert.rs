//! Python values to what the library's calls take: names as `&str` without a
//! copy, tags as `(key, value)` pairs, seconds or `timedelta` as durations.

use std::os::raw::c_char;
use std::time::Duration;

use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use smallvec::SmallVec;

use crate::errors::config_error;

extern "C" {
    // In the stable ABI from CPython 3.10, and exported (as public C API) by
    // 3.9 as well; PyO3 hides it under abi3-py39, whose only alternative
    // allocates a bytes object for every name. It returns the UTF-8 form the
    // str object caches, valid for as long as the object lives.
    fn PyUnicode_AsUTF8AndSize(
        unicode: *mut ffi::PyObject,
        size: *mut ffi::Py_ssize_t,
    ) -> *const c_char;
}

/// The text of a `str`, borrowed from the object: no copy, no allocation
/// after the first call on an object (CPython caches the UTF-8 form; for an
/// ASCII string it is the string's own buffer).
///
/// # Errors
/// `TypeError` when `object` is not a `str`; `UnicodeEncodeError` for a lone
/// surrogate.
#[inline]
pub(crate) fn text<'a>(object: &'a Bound<'_, PyAny>) -> PyResult<&'a str> {
    let Ok(string) = object.cast::<PyString>() else {
        return Err(PyTypeError::new_err(format!(
            "expected a str, got {}",
            type_name(object)
        )));
    };
    let mut size: ffi::Py_ssize_t = 0;
    // SAFETY: `string` is a live str (checked above) and we hold the GIL
    // (we have a `Bound`); the function writes the size and returns a
    // pointer to `size` bytes of UTF-8 or NULL with an exception set.
    let data = unsafe { PyUnicode_AsUTF8AndSize(string.as_ptr(), &mut size) };
    if data.is_null() {
        return Err(PyErr::fetch(object.py()));
    }
    // SAFETY: CPython guarantees valid UTF-8 of `size` bytes, owned by the
    // str object, which outlives 'a because `object` is borrowed for 'a.
    Ok(unsafe {
        std::str::from_utf8_unchecked(std::slice::from_raw_parts(data.cast::<u8>(), size as usize))
    })
}

fn type_name(object: &Bound<'_, PyAny>) -> String {
    object
        .get_type()
        .name()
        .map(|name| name.to_string())
        .unwrap_or_else(|_| "?".into())
}

/// Tag objects kept alive while their text is borrowed for one call.
///
/// A call fills it from `tags=` (a dict, or a list or tuple of `"k:v"` and
/// `"k"` strings as datadogpy takes them), then borrows the pairs. Up to
/// four tags live on the stack (small enough to move cheaply).
/// Borrowed `(key, value)` tag pairs; up to four on the stack.
pub(crate) type Pairs<'a> = SmallVec<[(&'a str, &'a str); 4]>;

#[derive(Default)]
pub(crate) struct Tags<'py> {
    /// For a dict: key, value, key, value ...; for a list: the strings.
    objects: SmallVec<[Bound<'py, PyAny>; 8]>,
    from_dict: bool,
}

impl<'py> Tags<'py> {
    /// The objects of `tags` (None: no tags).
    pub(crate) fn collect(tags: Option<&Bound<'py, PyAny>>) -> PyResult<Tags<'py>> {
        let mut collected = Tags::default();
        collected.fill(tags)?;
        Ok(collected)
    }

    /// Collects the objects of `tags` into `self` (in place: the call's
    /// stack frame holds it, nothing is moved).
    pub(crate) fn fill(&mut self, tags: Option<&Bound<'py, PyAny>>) -> PyResult<()> {
        let collected = self;
        let Some(tags) = tags else {
            return Ok(());
        };
        if tags.is_none() {
            return Ok(());
        }
        if let Ok(dict) = tags.cast::<PyDict>() {
            collected.from_dict = true;
            for (key, value) in dict.iter() {
                collected.objects.push(key);
                // Values that are not text (numbers, enums) are written as
                // str() writes them; keys must be text.
                if value.is_instance_of::<PyString>() {
                    collected.objects.push(value);
                } else if value.is_none() {
                    collected
                        .objects
                        .push(PyString::new(tags.py(), "").into_any());
                } else {
                    collected.objects.push(value.str()?.into_any());
                }
            }
            return Ok(());
        }
        // The common containers first, read by index (no iterator object).
        if let Ok(list) = tags.cast::<PyList>() {
            collected.objects.extend(list.iter());
            return Ok(());
        }
        if let Ok(tuple) = tags.cast::<PyTuple>() {
            collected.objects.extend(tuple.iter());
            return Ok(());
        }
        if tags.is_instance_of::<PyString>() {
            return Err(PyTypeError::new_err(
                "tags must be a dict or a list of \"key:value\" strings, not a str",
            ));
        }
        for item in tags.try_iter().map_err(|_| {
            PyTypeError::new_err(format!(
                "tags must be a dict or a list of \"key:value\" strings, got {}",
                type_name(tags)
            ))
        })? {
            collected.objects.push(item?);
        }
        Ok(())
    }

    /// The `(key, value)` pairs; an empty value is a bare tag.
    pub(crate) fn pairs(&self) -> PyResult<Pairs<'_>> {
        let mut pairs = Pairs::new();
        self.pairs_into(&mut pairs)?;
        Ok(pairs)
    }

    /// [`pairs`](Self::pairs), written into `pairs` (in place).
    pub(crate) fn pairs_into<'s>(&'s self, pairs: &mut Pairs<'s>) -> PyResult<()> {
        if self.from_dict {
            for pair in self.objects.chunks_exact(2) {
                pairs.push((text(&pair[0])?, text(&pair[1])?));
            }
        } else {
            for item in &self.objects {
                let tag = text(item)?;
                pairs.push(match tag.split_once(':') {
                    // "k:" keeps its colon in the key, so that the library
                    // refuses it rather than sending a bare "k".
                    Some((key, value)) if !value.is_empty() => (key, value),
                    Some(_) => (tag, ""),
                    None => (tag, ""),
                });
            }
        }
        Ok(())
    }
}

/// Seconds from a float, an int or a `datetime.timedelta`.
pub(crate) fn seconds(value: &Bound<'_, PyAny>) -> PyResult<f64> {
    if let Ok(float) = value.cast::<PyFloat>() {
        return Ok(float.value());
    }
    if value.is_instance_of::<PyInt>() {
        return value.extract::<f64>();
    }
    if let Ok(total) = value.call_method0("total_seconds") {
        return total.extract::<f64>();
    }
    Err(PyTypeError::new_err(format!(
        "expected seconds as a float or a datetime.timedelta, got {}",
        type_name(value)
    )))
}

/// A configuration duration: seconds (float, int) or a `timedelta`, finite
/// and not negative.
pub(crate) fn duration(setting: &str, value: &Bound<'_, PyAny>) -> PyResult<Duration> {
    let secs = seconds(value)?;
    Duration::try_from_secs_f64(secs).map_err(|_| {
        config_error(
            setting,
            &secs.to_string(),
            "expected a finite number of seconds, not negative",
        )
    })
}
