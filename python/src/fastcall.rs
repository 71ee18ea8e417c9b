//! The metric calls through the vectorcall protocol (`METH_FASTCALL |
//! METH_KEYWORDS`).
//!
//! Built for the stable ABI of CPython 3.9, PyO3 gives methods the older
//! tuple-and-dict protocol: a call with a keyword (`tags=`, `sample_rate=`)
//! then makes a dict on every call, which cost more than the rest of a
//! tagged call together. Vectorcall methods are in the stable ABI from 3.10,
//! and CPython 3.9 runs them as well (it has used them internally since
//! 3.7), so the metric methods are replaced, once the class exists, by
//! method descriptors of that protocol whose arguments are parsed here.
//! They call the `#[pymethods]` of [`PyConnector`], whose signatures and
//! behaviour stay the reference (and which `statsd_connector._native`
//! documents).

use std::ffi::{c_int, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::exceptions::{PySystemError, PyTypeError};
use pyo3::ffi::{self, PyMethodDef, PyMethodDefPointer, PyObject, Py_ssize_t};
use pyo3::prelude::*;
use pyo3::types::{PyTuple, PyType};
use pyo3::Borrowed;

use crate::connector::PyConnector;
use crate::convert::text;

/// CPython's flag for the vectorcall method protocol (`Include/methodobject.h`).
const METH_FASTCALL: c_int = 0x0080;

/// A vectorcall method: self, the arguments, their count, the keyword names.
type FastWithKeywords = unsafe extern "C" fn(
    *mut PyObject,
    *const *mut PyObject,
    Py_ssize_t,
    *mut PyObject,
) -> *mut PyObject;

/// Up to five parameters; `None` where not given (or given as `None`).
type Arguments<'a, 'py> = [Option<Borrowed<'a, 'py, PyAny>>; 5];

/// One method's parameters: the first `positional` may be given by position,
/// the first `required` must be given.
struct Spec {
    method: &'static str,
    names: &'static [&'static str],
    positional: usize,
    required: usize,
}

/// Reads the vectorcall arguments into `out`, by the names of `spec`.
///
/// # Safety
/// `args` holds `nargs` positional values followed by one value per name in
/// `kwnames` (a tuple of str, or NULL), all live for 'a, as CPython passes
/// them to a `METH_FASTCALL | METH_KEYWORDS` function.
unsafe fn parse<'a, 'py>(
    py: Python<'py>,
    spec: &Spec,
    args: *const *mut PyObject,
    nargs: Py_ssize_t,
    kwnames: *mut PyObject,
) -> PyResult<Arguments<'a, 'py>> {
    let mut out: Arguments<'a, 'py> = [None; 5];
    let nargs = nargs as usize;
    if nargs > spec.positional {
        return Err(PyTypeError::new_err(format!(
            "{}() takes at most {} positional arguments ({} given)",
            spec.method, spec.positional, nargs
        )));
    }
    for (i, slot) in out.iter_mut().enumerate().take(nargs) {
        // SAFETY: i < nargs values are live (the function's contract).
        *slot = Some(unsafe { Borrowed::from_ptr(py, *args.add(i)) });
    }
    if !kwnames.is_null() {
        // SAFETY: kwnames is a live tuple (the function's contract).
        let names = unsafe { Borrowed::from_ptr(py, kwnames).cast_unchecked::<PyTuple>() };
        for (k, key) in names.iter().enumerate() {
            let key_text = text(&key)?;
            let Some(index) = spec.names.iter().position(|name| *name == key_text) else {
                return Err(PyTypeError::new_err(format!(
                    "{}() got an unexpected keyword argument '{}'",
                    spec.method, key_text
                )));
            };
            if out[index].is_some() {
                return Err(PyTypeError::new_err(format!(
                    "{}() got multiple values for argument '{}'",
                    spec.method, key_text
                )));
            }
            // SAFETY: the keyword values follow the positional ones.
            out[index] = Some(unsafe { Borrowed::from_ptr(py, *args.add(nargs + k)) });
        }
    }
    for (index, name) in spec.names.iter().enumerate().take(spec.required) {
        if out[index].is_none() {
            return Err(PyTypeError::new_err(format!(
                "{}() missing required argument '{}'",
                spec.method, name
            )));
        }
    }
    // `None` given for an optional parameter means "not given".
    for slot in out.iter_mut().skip(spec.required) {
        if slot.is_some_and(|value| value.is_none()) {
            *slot = None;
        }
    }
    Ok(out)
}

/// Runs `body` for a call from CPython: errors become the raised exception,
/// a panic a `SystemError`, success `None`.
///
/// # Safety
/// Only for CPython calling a method with the GIL held.
unsafe fn call(body: impl FnOnce(Python<'_>) -> PyResult<()>) -> *mut PyObject {
    // SAFETY: CPython called us, so this thread is attached.
    let py = unsafe { Python::assume_attached() };
    let outcome = catch_unwind(AssertUnwindSafe(|| body(py)));
    let error = match outcome {
        Ok(Ok(())) => return py.None().into_ptr(),
        Ok(Err(error)) => error,
        Err(_) => PySystemError::new_err("statsd_connector: panic in a metric call"),
    };
    error.restore(py);
    std::ptr::null_mut()
}

/// The connector behind `slf`.
fn connector<'a, 'py>(
    py: Python<'py>,
    slf: *mut PyObject,
) -> PyResult<Borrowed<'a, 'py, PyConnector>> {
    // SAFETY: CPython passes a live `self`; the cast checks its type.
    let object = unsafe { Borrowed::from_ptr(py, slf) };
    Ok(object.cast::<PyConnector>()?)
}

fn f64_of(value: Option<Borrowed<'_, '_, PyAny>>) -> PyResult<Option<f64>> {
    value.map(|v| v.extract::<f64>()).transpose()
}

const COUNTER: &[&str] = &["name", "value", "tags", "sample_rate"];
const VALUED: &[&str] = &["name", "value", "tags", "sample_rate"];
const TIMING: &[&str] = &["name", "seconds", "tags", "sample_rate"];
const SET: &[&str] = &["name", "member", "tags", "sample_rate"];
const GAUGE: &[&str] = &["name", "value", "delta", "tags", "sample_rate"];

macro_rules! counter_method {
    ($fn_name:ident, $method:literal, $call:ident) => {
        unsafe extern "C" fn $fn_name(
            slf: *mut PyObject,
            args: *const *mut PyObject,
            nargs: Py_ssize_t,
            kwnames: *mut PyObject,
        ) -> *mut PyObject {
            const SPEC: Spec = Spec {
                method: $method,
                names: COUNTER,
                positional: 2,
                required: 1,
            };
            // SAFETY: called by CPython as a vectorcall method.
            unsafe {
                call(|py| {
                    let this = connector(py, slf)?;
                    let [name, value, tags, rate, _] = parse(py, &SPEC, args, nargs, kwnames)?;
                    let value = match value {
                        Some(value) => value.extract::<i64>()?,
                        None => 1,
                    };
                    this.get().$call(
                        &name.expect("required"),
                        value,
                        tags.as_deref(),
                        f64_of(rate)?,
                    )
                })
            }
        }
    };
}

macro_rules! valued_method {
    ($fn_name:ident, $method:literal, $call:ident, $names:ident, |$value:ident| $arg:expr) => {
        unsafe extern "C" fn $fn_name(
            slf: *mut PyObject,
            args: *const *mut PyObject,
            nargs: Py_ssize_t,
            kwnames: *mut PyObject,
        ) -> *mut PyObject {
            const SPEC: Spec = Spec {
                method: $method,
                names: $names,
                positional: 2,
                required: 2,
            };
            // SAFETY: called by CPython as a vectorcall method.
            unsafe {
                call(|py| {
                    let this = connector(py, slf)?;
                    let [name, value, tags, rate, _] = parse(py, &SPEC, args, nargs, kwnames)?;
                    let $value = value.expect("required");
                    this.get().$call(
                        &name.expect("required"),
                        $arg,
                        tags.as_deref(),
                        f64_of(rate)?,
                    )
                })
            }
        }
    };
}

counter_method!(incr, "incr", incr);
counter_method!(decr, "decr", decr);
valued_method!(histogram, "histogram", histogram, VALUED, |v| v
    .extract::<f64>()?);
valued_method!(distribution, "distribution", distribution, VALUED, |v| {
    v.extract::<f64>()?
});
valued_method!(timing, "timing", timing, TIMING, |v| &v);
valued_method!(set, "set", set, SET, |v| &v);

unsafe extern "C" fn gauge(
    slf: *mut PyObject,
    args: *const *mut PyObject,
    nargs: Py_ssize_t,
    kwnames: *mut PyObject,
) -> *mut PyObject {
    const SPEC: Spec = Spec {
        method: "gauge",
        names: GAUGE,
        positional: 2,
        required: 2,
    };
    // SAFETY: called by CPython as a vectorcall method.
    unsafe {
        call(|py| {
            let this = connector(py, slf)?;
            let [name, value, delta, tags, rate] = parse(py, &SPEC, args, nargs, kwnames)?;
            let delta = match delta {
                Some(delta) => delta.is_truthy()?,
                None => false,
            };
            this.get().gauge(
                &name.expect("required"),
                value.expect("required").extract::<f64>()?,
                delta,
                tags.as_deref(),
                f64_of(rate)?,
            )
        })
    }
}

/// Replaces the metric methods of `class` (the native `Connector`) by their
/// vectorcall versions; each keeps the docstring and signature of the one
/// it replaces.
pub(crate) fn install(class: &Bound<'_, PyType>) -> PyResult<()> {
    let methods: [(&CStr, FastWithKeywords); 7] = [
        (c"incr", incr),
        (c"decr", decr),
        (c"gauge", gauge),
        (c"timing", timing),
        (c"histogram", histogram),
        (c"distribution", distribution),
        (c"set", set),
    ];
    for (name, function) in &methods {
        let name_text = name.to_str().expect("ASCII names");
        let replaced = class.getattr(name_text)?;
        let text = replaced
            .getattr("__doc__")?
            .extract::<Option<String>>()?
            .unwrap_or_default();
        // CPython reads a builtin's signature (for `inspect.signature` and
        // `help`) from a first line `name(...)` followed by `--`.
        let doc = match replaced
            .getattr("__text_signature__")?
            .extract::<Option<String>>()?
        {
            Some(signature) => format!("{name_text}{signature}\n--\n\n{text}"),
            None => text,
        };
        // Leaked: a method definition must outlive its descriptors.
        let doc = Box::leak(
            std::ffi::CString::new(doc)
                .unwrap_or_default()
                .into_boxed_c_str(),
        );
        let definition = Box::leak(Box::new(PyMethodDef {
            ml_name: name.as_ptr(),
            ml_meth: PyMethodDefPointer {
                // SAFETY: a function pointer stored as another function
                // pointer type of the same size; CPython calls it with the
                // vectorcall signature, as `ml_flags` tells it to.
                PyCFunction: unsafe {
                    std::mem::transmute::<FastWithKeywords, ffi::PyCFunction>(*function)
                },
            },
            ml_flags: METH_FASTCALL | ffi::METH_KEYWORDS,
            ml_doc: doc.as_ptr(),
        }));
        // SAFETY: `class` is a live type object and `definition` is leaked.
        let descriptor = unsafe {
            Bound::from_owned_ptr_or_err(
                class.py(),
                ffi::PyDescr_NewMethod(class.as_type_ptr(), definition),
            )?
        };
        class.setattr(name_text, descriptor)?;
    }
    Ok(())
}
