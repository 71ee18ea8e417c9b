//! TCP: connect (the stream logic is shared with Unix streams, in `stream`).

use std::io;
use std::net::SocketAddr;

use tokio::net::TcpStream;

use super::stream::StreamConnection;
use crate::config::Framing;

pub(crate) async fn connect(
    address: SocketAddr,
    framing: Framing,
    max_payload: usize,
) -> io::Result<StreamConnection<TcpStream>> {
    let stream = TcpStream::connect(address).await?;
    // We batch ourselves; Nagle would only add latency to small batches.
    stream.set_nodelay(true)?;
    Ok(StreamConnection::new(stream, framing, max_payload))
}
