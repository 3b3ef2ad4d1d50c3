//! Redis callouts over real TCP: one connection per cluster per worker (Envoy's redis proxy keeps
//! per-worker connection pools), opened lazily, authenticated (`AUTH [user] pass`) and switched
//! to the database from `proxy_redis_init`'s `?db=N`, kept for later calls and dropped on error.
//! Calls on one connection are serialized; the plugin's query is sent as given (raw RESP) and
//! exactly one reply is read back.

use proxy_wasm_host::callout::RedisInit;
use proxy_wasm_host::resp::{command, frame_len};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Status passed to `proxy_on_redis_call_response` on failure (the host's convention, see
/// host/SEMANTICS.md: Redis failure status is 1).
pub const NETWORK_ERROR: u32 = 1;
/// Timeout when the plugin never called `proxy_redis_init` for the cluster.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

struct Conn {
    sock: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    async fn roundtrip(&mut self, query: &[u8]) -> Result<Vec<u8>, String> {
        self.sock
            .write_all(query)
            .await
            .map_err(|e| format!("write: {e}"))?;
        loop {
            if let Some(n) = frame_len(&self.buf)? {
                return Ok(self.buf.drain(..n).collect());
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = self
                .sock
                .read(&mut chunk)
                .await
                .map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                return Err("connection closed by redis".into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

struct Cluster {
    init: Option<RedisInit>,
    conn: Rc<tokio::sync::Mutex<Option<Conn>>>,
}

/// Redis clusters of one worker; addresses come from the gateway's cluster table.
#[derive(Default)]
pub struct RedisPool {
    clusters: RefCell<HashMap<String, Cluster>>,
    addresses: RefCell<HashMap<String, Vec<String>>>,
}

impl RedisPool {
    pub fn set_addresses(&self, cluster: &str, addrs: Vec<String>) {
        self.addresses
            .borrow_mut()
            .insert(cluster.to_string(), addrs);
    }

    /// `proxy_redis_init`: remembers credentials, db and timeout; a changed init reconnects.
    pub fn init(&self, init: RedisInit) {
        let mut c = self.clusters.borrow_mut();
        let entry = c.entry(init.cluster.clone()).or_insert_with(|| Cluster {
            init: None,
            conn: Rc::new(tokio::sync::Mutex::new(None)),
        });
        if entry.init.as_ref() != Some(&init) {
            entry.init = Some(init);
            entry.conn = Rc::new(tokio::sync::Mutex::new(None));
        }
    }

    pub async fn call(&self, cluster: &str, query: &[u8]) -> Result<Vec<u8>, String> {
        let (init, conn) = {
            let mut c = self.clusters.borrow_mut();
            let e = c.entry(cluster.to_string()).or_insert_with(|| Cluster {
                init: None,
                conn: Rc::new(tokio::sync::Mutex::new(None)),
            });
            (e.init.clone(), e.conn.clone())
        };
        let addr = self
            .addresses
            .borrow()
            .get(cluster)
            .and_then(|a| a.first().cloned())
            .ok_or_else(|| format!("no address for cluster {cluster}"))?;
        let timeout = init
            .as_ref()
            .map(|i| i.timeout)
            .filter(|t| !t.is_zero())
            .unwrap_or(DEFAULT_TIMEOUT);
        let mut guard = conn.lock().await;
        let result = tokio::time::timeout(timeout, async {
            if guard.is_none() {
                *guard = Some(connect(&addr, init.as_ref()).await?);
            }
            match guard.as_mut() {
                Some(c) => c.roundtrip(query).await,
                None => Err("not connected".to_string()),
            }
        })
        .await
        .unwrap_or_else(|_| Err(format!("timed out after {timeout:?}")));
        if result.is_err() {
            // The connection state is unknown after a failure: start over next time.
            *guard = None;
        }
        result
    }
}

async fn connect(addr: &str, init: Option<&RedisInit>) -> Result<Conn, String> {
    let sock = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let _ = sock.set_nodelay(true);
    let mut c = Conn {
        sock,
        buf: Vec::new(),
    };
    if let Some(i) = init {
        if !i.password.is_empty() {
            let cmd = if i.username.is_empty() {
                command(&[b"AUTH", i.password.as_bytes()])
            } else {
                command(&[b"AUTH", i.username.as_bytes(), i.password.as_bytes()])
            };
            let r = c.roundtrip(&cmd).await?;
            if r.first() == Some(&b'-') {
                return Err(format!(
                    "AUTH refused: {}",
                    String::from_utf8_lossy(&r).trim_end()
                ));
            }
        }
        if let Some((_, db)) = i.params.iter().find(|(k, _)| k == "db") {
            let r = c.roundtrip(&command(&[b"SELECT", db.as_bytes()])).await?;
            if r.first() == Some(&b'-') {
                return Err(format!(
                    "SELECT {db} refused: {}",
                    String::from_utf8_lossy(&r).trim_end()
                ));
            }
        }
    }
    Ok(c)
}
