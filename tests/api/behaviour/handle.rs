//! The handle: what a `Connector` is as a type (cheap to clone, `Send`,
//! `Sync` and `'static`).

use statsd_connector::{Connector, Metrics};

#[test]
fn handle_is_clone_send_sync_and_static() {
    fn assert_handle<T: Clone + Send + Sync + 'static>() {}
    assert_handle::<Connector>();
    fn assert_send<T: Send + 'static>() {}
    assert_send::<statsd_connector::Timer>();
    assert_send::<statsd_connector::TimerGuard>();
    // Clones share one queue.
    let statsd = Connector::builder().host("127.0.0.1").build().unwrap();
    let clone = statsd.clone();
    clone.incr("shared").unwrap();
    assert_eq!(statsd.stats().in_queue, 1);
}
