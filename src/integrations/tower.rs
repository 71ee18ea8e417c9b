//! A `tower::Layer` for HTTP services (feature `tower`).
