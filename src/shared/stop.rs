//! The stop request, from the handles to the processor: a signal in, with
//! the deadline for delivering what is queued.
//!
//! One `watch` channel carries it: `None` while serving, then the deadline
//! of the first stop asked for (a later request keeps the first deadline).
//! The processor's side ([`StopSignal`]) can both look without waiting and
//! await it inside every `select!`, so a stop interrupts a connection
//! attempt or a write to a server that does not read.

use tokio::sync::watch;
use tokio::time::Instant;

/// The handles' side: asks the running processor to stop.
#[derive(Debug)]
pub(crate) struct StopRequest(watch::Sender<Option<Instant>>);

/// The processor's side: `None` until a stop is asked for, then its deadline.
#[derive(Debug)]
pub(crate) struct StopSignal(watch::Receiver<Option<Instant>>);

/// A connected pair, made when a processor starts.
pub(crate) fn channel() -> (StopRequest, StopSignal) {
    let (sender, receiver) = watch::channel(None);
    (StopRequest(sender), StopSignal(receiver))
}

impl StopRequest {
    /// Asks for a stop by `deadline`, unless one was asked for already.
    pub(crate) fn request(&self, deadline: Instant) {
        self.0.send_if_modified(|current| {
            let first = current.is_none();
            if first {
                *current = Some(deadline);
            }
            first
        });
    }
}

impl StopSignal {
    /// The deadline, if a stop has been asked for.
    pub(crate) fn requested(&self) -> Option<Instant> {
        *self.0.borrow()
    }

    /// Waits for a stop request; returns its deadline.
    pub(crate) async fn wait(&mut self) -> Instant {
        match self.0.wait_for(Option::is_some).await {
            Ok(deadline) => deadline.unwrap_or_else(Instant::now),
            // Every sender is gone: nobody can ask any more, so stop now.
            Err(_) => Instant::now(),
        }
    }
}
