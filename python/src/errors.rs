//! The Python exceptions, and the one place a library [`Error`] becomes one.
//!
//! Every refusal of a value is a `ValueError` subclass, so that
//! `except ValueError` works as Python users expect, and a finer class tells
//! what was refused: configuration (`ConfigurationError`, with `setting` and
//! `value` attributes) or a metric call's input (`InvalidMetricError` and its
//! subclasses). The message is the library's, which names the value.

use pyo3::create_exception;
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyTimeoutError, PyValueError};
use pyo3::prelude::*;
use statsd_connector::{Error, ErrorKind};

create_exception!(
    statsd_connector,
    ConfigurationError,
    PyValueError,
    "A configuration value was refused; `setting` names it and `value` holds it as given."
);
create_exception!(
    statsd_connector,
    InvalidMetricError,
    PyValueError,
    "A metric call's input was refused (counted in `stats().rejected`); nothing was sent."
);
create_exception!(
    statsd_connector,
    InvalidNameError,
    InvalidMetricError,
    "A metric name is empty, too long, or holds a character that would break the line."
);
create_exception!(
    statsd_connector,
    InvalidValueError,
    InvalidMetricError,
    "A metric value is not a finite number, or not a valid set member."
);
create_exception!(
    statsd_connector,
    InvalidTypeError,
    InvalidMetricError,
    "A metric type code is not one of c, g, ms, s, h, d."
);
create_exception!(
    statsd_connector,
    InvalidSampleRateError,
    InvalidMetricError,
    "A sample rate is not a number in (0, 1]."
);
create_exception!(
    statsd_connector,
    InvalidTagError,
    InvalidMetricError,
    "A tag cannot be written in the configured tag dialect."
);
create_exception!(
    statsd_connector,
    LineTooLongError,
    InvalidMetricError,
    "The line would be longer than the transport's limit."
);
create_exception!(
    statsd_connector,
    MalformedLineError,
    InvalidMetricError,
    "A statsd line given as text does not follow the statsd grammar."
);
create_exception!(
    statsd_connector,
    InvalidFieldError,
    InvalidMetricError,
    "A field of a DogStatsD event or service check cannot be written."
);
create_exception!(
    statsd_connector,
    NotDogStatsdError,
    InvalidMetricError,
    "An event or service check for a server not declared DogStatsD (dogstatsd=True)."
);
create_exception!(
    statsd_connector,
    StopTimeoutError,
    PyTimeoutError,
    "The processor did not confirm its exit shortly after the stop deadline."
);

/// The Python exception for a library error.
pub(crate) fn to_py(error: Error) -> PyErr {
    let message = error.to_string();
    let config = |setting: &str, value: String| {
        let err = ConfigurationError::new_err(message.clone());
        Python::attach(|py| {
            let instance = err.value(py);
            let _ = instance.setattr("setting", setting);
            let _ = instance.setattr("value", value);
        });
        err
    };
    match error.into_kind() {
        ErrorKind::EmptyHost => config("host", String::new()),
        ErrorKind::InvalidPort { value, .. } => config("port", value),
        ErrorKind::InvalidAddress { address, .. } => config("host", address),
        ErrorKind::UnknownProtocol(value) => config("protocol", value),
        ErrorKind::InvalidPrefix { prefix, .. } => config("prefix", prefix),
        ErrorKind::InvalidSetting { setting, value, .. } => config(setting, value),
        ErrorKind::InvalidEnvironment {
            variable, value, ..
        } => config(variable, value),
        ErrorKind::InvalidName { .. } => InvalidNameError::new_err(message),
        ErrorKind::InvalidValue { .. } => InvalidValueError::new_err(message),
        ErrorKind::InvalidType(_) => InvalidTypeError::new_err(message),
        ErrorKind::InvalidSampleRate(_) => InvalidSampleRateError::new_err(message),
        ErrorKind::InvalidTag { .. } => InvalidTagError::new_err(message),
        ErrorKind::LineTooLong { .. } => LineTooLongError::new_err(message),
        ErrorKind::MalformedLine(_) => MalformedLineError::new_err(message),
        ErrorKind::InvalidField { .. } => InvalidFieldError::new_err(message),
        ErrorKind::NotDogStatsd(_) => NotDogStatsdError::new_err(message),
        ErrorKind::StopTimedOut => StopTimeoutError::new_err(message),
        ErrorKind::Io(io) => PyOSError::new_err(io.to_string()),
        // Timer misuse cannot come from here (timers are Python objects);
        // the runtime kinds cannot either (no Python thread is in a tokio
        // runtime). Anything new in the library is still reported.
        _ => PyRuntimeError::new_err(message),
    }
}

/// A configuration error for a value refused before it reached the library
/// (a negative duration, an unknown name).
pub(crate) fn config_error(setting: &str, value: &str, why: &str) -> PyErr {
    let err = ConfigurationError::new_err(format!(
        "invalid configuration: {setting} = {value:?}: {why}"
    ));
    Python::attach(|py| {
        let instance = err.value(py);
        let _ = instance.setattr("setting", setting);
        let _ = instance.setattr("value", value);
    });
    err
}

/// Adds the exception classes to the module.
pub(crate) fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    module.add("ConfigurationError", py.get_type::<ConfigurationError>())?;
    module.add("InvalidMetricError", py.get_type::<InvalidMetricError>())?;
    module.add("InvalidNameError", py.get_type::<InvalidNameError>())?;
    module.add("InvalidValueError", py.get_type::<InvalidValueError>())?;
    module.add("InvalidTypeError", py.get_type::<InvalidTypeError>())?;
    module.add(
        "InvalidSampleRateError",
        py.get_type::<InvalidSampleRateError>(),
    )?;
    module.add("InvalidTagError", py.get_type::<InvalidTagError>())?;
    module.add("LineTooLongError", py.get_type::<LineTooLongError>())?;
    module.add("MalformedLineError", py.get_type::<MalformedLineError>())?;
    module.add("InvalidFieldError", py.get_type::<InvalidFieldError>())?;
    module.add("NotDogStatsdError", py.get_type::<NotDogStatsdError>())?;
    module.add("StopTimeoutError", py.get_type::<StopTimeoutError>())?;
    Ok(())
}
