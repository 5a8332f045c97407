//! A TCP proxy in front of Postgres that counts the statements its clients
//! run: the frontend protocol's `Query` (simple) and `Execute` (extended)
//! messages, which is what a statement costs the server, whatever the
//! driver. The capacity model's statement figures are checked with it.

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

/// The SSL and GSS encryption requests: a length and a code, no type byte.
const SSL_REQUEST: u32 = 80_877_103;
const GSS_REQUEST: u32 = 80_877_104;

pub struct StatementCounter {
    pub addr: SocketAddr,
    count: Arc<AtomicU64>,
}

/// Where a client's stream is: before or after its startup message.
#[derive(Default)]
struct Reader {
    started: bool,
    buf: Vec<u8>,
}

impl Reader {
    /// Takes bytes the client sent; how many statements they completed.
    fn feed(&mut self, bytes: &[u8]) -> u64 {
        self.buf.extend_from_slice(bytes);
        let mut statements = 0;
        loop {
            if !self.started {
                if self.buf.len() < 8 {
                    break;
                }
                let len = u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]])
                    as usize;
                let code = u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]]);
                if self.buf.len() < len {
                    break;
                }
                self.buf.drain(..len);
                if code != SSL_REQUEST && code != GSS_REQUEST {
                    self.started = true;
                }
                continue;
            }
            if self.buf.len() < 5 {
                break;
            }
            let kind = self.buf[0];
            let len =
                u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]) as usize;
            if self.buf.len() < len + 1 {
                break;
            }
            if kind == b'Q' || kind == b'E' {
                statements += 1;
            }
            self.buf.drain(..=len);
        }
        statements
    }
}

impl StatementCounter {
    /// Forwards a loopback port to `upstream` (`host:port`), counting.
    pub async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let count = Arc::new(AtomicU64::new(0));
        let counted = count.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (upstream, counted) = (upstream.clone(), counted.clone());
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let (mut client_read, mut client_write) = client.into_split();
                    let (mut server_read, mut server_write) = server.into_split();
                    let back = tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
                    });
                    let mut reader = Reader::default();
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n) = client_read.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        counted.fetch_add(reader.feed(&buf[..n]), Ordering::SeqCst);
                        if server_write.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    back.abort();
                });
            }
        });
        Self { addr, count }
    }

    /// A counter in front of the server of a database URL.
    pub async fn in_front_of(database_url: &str) -> Self {
        let u = url::Url::parse(database_url).expect("a database URL");
        let host = u.host_str().expect("a host").to_owned();
        Self::start(format!("{host}:{}", u.port().unwrap_or(5432))).await
    }

    /// A pool on that database through the counter.
    pub async fn pool(&self, database_url: &str, connections: u32) -> sqlx::PgPool {
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(connections)
            .connect(&self.url_for(database_url))
            .await
            .expect("through the counter")
    }

    /// Statements run through the proxy so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::SeqCst)
    }

    /// A database URL like `url` that goes through the proxy.
    pub fn url_for(&self, url: &str) -> String {
        let mut u = url::Url::parse(url).expect("a database URL");
        u.set_host(Some("127.0.0.1")).expect("host");
        u.set_port(Some(self.addr.port())).expect("port");
        // Plain text: the counter reads the protocol, not TLS records.
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .filter(|(k, _)| k != "sslmode")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        u.query_pairs_mut()
            .clear()
            .extend_pairs(pairs)
            .append_pair("sslmode", "disable");
        u.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::Reader;

    #[test]
    fn queries_and_executes_are_counted_across_reads() {
        let mut r = Reader::default();
        let mut stream = Vec::new();
        stream.extend_from_slice(&8u32.to_be_bytes());
        stream.extend_from_slice(&super::SSL_REQUEST.to_be_bytes());
        stream.extend_from_slice(&9u32.to_be_bytes());
        stream.extend_from_slice(&196_608u32.to_be_bytes());
        stream.push(0);
        for kind in [b'P', b'B', b'E', b'S', b'Q'] {
            stream.push(kind);
            stream.extend_from_slice(&6u32.to_be_bytes());
            stream.extend_from_slice(b"ab");
        }
        let counted: u64 = stream.chunks(3).map(|c| r.feed(c)).sum();
        assert_eq!(counted, 2);
    }
}
