//! The `metrics` facade recorder (feature `metrics`).
