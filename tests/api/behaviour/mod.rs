//! Integration tests pinning the behaviours of the original Python connector
//! (the original connector's behaviour list: its life cycle, how it sends
//! through a bounded queue, what its processor does on connect, disconnect
//! and stop, and how a web application configures it) against the in-process
//! capture server.
//!
//! One file per area, in the order a connector meets them: `handle`,
//! `lifecycle`, `queue` (the bounded queue), `wire` (what goes on the wire),
//! `udp`, `threads` (threads and dropping) and `order`. What several of them
//! use is in `helpers`.
//!
//! Rules followed throughout: no fixed ports (servers bind port 0; a port where
//! nothing listens is held by a bound, non-listening socket), no sleeping in the
//! hope that something happened (tests wait on the capture server's line count,
//! on `watch_state()`, or poll with a deadline), and every await is bounded.

mod helpers;

mod handle;
mod lifecycle;
mod order;
mod queue;
mod threads;
mod udp;
mod wire;
