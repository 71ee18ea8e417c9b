//! Unix domain sockets: a stream (like TCP, with the same reconnect and drain
//! behaviour) or datagrams (like UDP, but the kernel reports a full receiver
//! instead of dropping, so nothing is lost silently on one machine).

use std::io;
use std::path::Path;

use tokio::net::{UnixDatagram, UnixStream};

use super::datagram::DatagramConnection;
use super::stream::StreamConnection;
use crate::config::Framing;

pub(crate) async fn connect_stream(
    path: &Path,
    framing: Framing,
    max_payload: usize,
) -> io::Result<StreamConnection<UnixStream>> {
    Ok(StreamConnection::new(
        UnixStream::connect(path).await?,
        framing,
        max_payload,
    ))
}

pub(crate) fn connect_datagram(
    path: &Path,
    max_payload: usize,
) -> io::Result<DatagramConnection<UnixDatagram>> {
    let socket = UnixDatagram::unbound()?;
    socket.connect(path)?;
    Ok(DatagramConnection::new(socket, max_payload, false))
}
