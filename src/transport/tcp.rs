//! TCP: connect, and tell the stream logic how to read the send queue.

use std::io;
use std::net::SocketAddr;

use tokio::net::TcpStream;

use super::stream::{Stream, StreamConnection};

pub(crate) async fn connect(address: SocketAddr) -> io::Result<StreamConnection<TcpStream>> {
    let stream = TcpStream::connect(address).await?;
    // We batch ourselves; Nagle would only add latency to small batches.
    stream.set_nodelay(true)?;
    Ok(StreamConnection::new(stream))
}

impl Stream for TcpStream {
    #[cfg(target_os = "linux")]
    fn unacknowledged_bytes(&self) -> Option<u64> {
        super::stream::outq(self)
    }

    #[cfg(not(target_os = "linux"))]
    fn unacknowledged_bytes(&self) -> Option<u64> {
        None
    }

    fn try_read(&self, scratch: &mut [u8]) -> io::Result<usize> {
        TcpStream::try_read(self, scratch)
    }
}
