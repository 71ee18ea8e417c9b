//! Unix domain sockets: the same connector over a datagram socket (as the
//! Datadog agent and Telegraf offer) and over a stream socket, each to a small
//! listener of this program's own, which prints what arrives.
//!
//! ```text
//! cargo run --example unix_socket
//! cargo run --example unix_socket -- /run/statsd.sock unixgram   # a real server's socket
//! ```
#![cfg_attr(not(unix), allow(unused))]

#[cfg(not(unix))]
fn main() {
    eprintln!("Unix domain sockets are not available on this platform");
}

#[cfg(unix)]
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    use statsd_connector::{Connector, Metrics};
    use tokio::io::AsyncReadExt;

    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [path, scheme] = args.as_slice() {
        // A real server: send a few metrics and report the counters.
        let statsd = Connector::builder()
            .host(format!("{scheme}://{path}"))
            .build()?;
        statsd.start().await?;
        statsd.incr("uds.example.runs")?;
        statsd.gauge("uds.example.answer", 42.0)?;
        statsd.stop().await;
        println!("{:?}", statsd.stats());
        return Ok(());
    }

    let dir = std::env::temp_dir().join(format!("statsd-uds-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;

    // Datagrams: every datagram holds whole lines, up to 8 KiB by default.
    let path = dir.join("dgram.sock");
    let _ = std::fs::remove_file(&path);
    let server = tokio::net::UnixDatagram::bind(&path)?;
    let statsd = Connector::builder()
        .host(format!("unixgram://{}", path.display()))
        .prefix("uds")
        .build()?;
    statsd.start().await?;
    statsd.incr("datagram.hits")?;
    statsd.timing("datagram.latency", std::time::Duration::from_millis(3))?;
    statsd.stop().await;
    let mut buf = vec![0u8; 65536];
    let n = server.recv(&mut buf).await?;
    println!("unixgram datagram ({n} bytes):");
    print!("{}", String::from_utf8_lossy(&buf[..n]));

    // Stream: the same reconnect, resend and drain behaviour as TCP.
    let path = dir.join("stream.sock");
    let _ = std::fs::remove_file(&path);
    let listener = tokio::net::UnixListener::bind(&path)?;
    let statsd = Connector::builder()
        .host(format!("unix://{}", path.display()))
        .prefix("uds")
        .build()?;
    statsd.start().await?;
    let (mut stream, _) = listener.accept().await?;
    statsd.incr("stream.hits")?;
    statsd.gauge("stream.depth", -3.0)?;
    statsd.stop().await; // closes the connection once everything is written
    let mut text = String::new();
    stream.read_to_string(&mut text).await?;
    println!("unix stream:");
    print!("{text}");

    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
