//! The one door through which a Rust thread enters Python.
//!
//! Two kinds of background thread need the interpreter: the log thread
//! (library events to `logging`) and the thread that finishes an asyncio
//! `stop()`. Both pass [`with_python`], which holds the gate's lock while
//! attached. At interpreter exit the `atexit` hook calls [`close`]: it waits
//! (with the GIL released) until no thread is inside, then shuts the gate, so
//! that no Rust thread touches Python while the interpreter finalizes. A
//! thread that finds the gate shut drops what it had and carries on.
//!
//! After `fork` the child gets a fresh gate ([`reset_after_fork`]): the
//! parent's may be locked by a thread that does not exist in the child. The
//! old one is leaked on purpose (a few bytes, once per fork).

use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Mutex, PoisonError};

use pyo3::prelude::*;

/// Whether Rust threads may still attach to the interpreter.
struct Gate {
    open: Mutex<bool>,
}

/// The current gate, leaked (never freed: threads of a parent process may
/// still point at the one they loaded).
static GATE: AtomicPtr<Gate> = AtomicPtr::new(ptr::null_mut());

fn current() -> &'static Gate {
    let gate = GATE.load(Ordering::Acquire);
    if gate.is_null() {
        let fresh = Box::into_raw(Box::new(Gate {
            open: Mutex::new(true),
        }));
        match GATE.compare_exchange(ptr::null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire) {
            // SAFETY: `fresh` came from Box::into_raw and is never freed.
            Ok(_) => unsafe { &*fresh },
            Err(existing) => {
                // SAFETY: we own `fresh` (it lost the race, nobody saw it).
                drop(unsafe { Box::from_raw(fresh) });
                // SAFETY: gates are leaked, never freed.
                unsafe { &*existing }
            }
        }
    } else {
        // SAFETY: gates are leaked, never freed.
        unsafe { &*gate }
    }
}

/// Runs `f` attached to the interpreter, unless the interpreter is exiting
/// (then `None`, and `f` is not run).
pub(crate) fn with_python<R>(f: impl for<'py> FnOnce(Python<'py>) -> R) -> Option<R> {
    let gate = current();
    let open = gate.open.lock().unwrap_or_else(PoisonError::into_inner);
    if !*open {
        return None;
    }
    let result = Python::attach(f);
    drop(open);
    Some(result)
}

/// Shuts the gate for good (interpreter exit). Called with the GIL held: it
/// releases it while waiting for a thread that is inside.
pub(crate) fn close(py: Python<'_>) {
    let gate = current();
    py.detach(|| {
        *gate.open.lock().unwrap_or_else(PoisonError::into_inner) = false;
    });
}

/// In a forked child: a new, open gate.
pub(crate) fn reset_after_fork() {
    let fresh = Box::into_raw(Box::new(Gate {
        open: Mutex::new(true),
    }));
    GATE.store(fresh, Ordering::Release);
}
