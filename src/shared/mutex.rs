//! The one way this crate takes a std mutex.

use std::sync::{Mutex, MutexGuard};

/// Locks a mutex whatever happened to a previous holder: nothing that holds
/// these locks leaves them half-changed, so a panic elsewhere never turns
/// into a panic here.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
