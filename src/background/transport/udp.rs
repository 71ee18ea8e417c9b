//! UDP: a socket bound to an ephemeral port and connected to the server, so
//! that `send` needs no address and "port unreachable" comes back as an error.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use tokio::net::UdpSocket;

use super::datagram::DatagramConnection;

pub(crate) async fn connect(
    address: SocketAddr,
    max_payload: usize,
) -> io::Result<DatagramConnection<UdpSocket>> {
    let local: SocketAddr = if address.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(address).await?;
    Ok(DatagramConnection::new(socket, max_payload, true))
}
