//! Redis through Higress's host functions (`proxy_redis_init`, `proxy_redis_call`, the
//! `proxy_on_redis_call_response` callback and reply buffer 9).
//!
//! A call returns a token at once; the reply arrives later in the calling context's
//! `on_redis_call_response(token, reply)`, with that context made effective first. Replies for a
//! context that was deleted meanwhile are dropped.

use crate::dispatcher::{self, CalloutKind, Pending};
use crate::host::host;
use crate::resp::{self, RespError, RespValue};
use crate::types::{BufferType, HostError};

/// Why a Redis call produced no reply value. A Redis error reply (`-ERR ...`) is not an error here:
/// it is `Ok(RespValue::Error(..))`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RedisError {
    /// The host reports a non-zero status (cannot connect, timeout, reset).
    Network(u32),
    /// The reply bytes are not valid RESP.
    Protocol(RespError),
    /// Reading the reply or re-dispatching failed.
    Host(HostError),
}

impl std::fmt::Display for RedisError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RedisError::Network(status) => write!(f, "redis call failed with status {status}"),
            RedisError::Protocol(e) => e.fmt(f),
            RedisError::Host(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for RedisError {}

/// A Lua script with its SHA-1 computed once, for EVALSHA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LuaScript {
    source: String,
    sha1: String,
}

impl LuaScript {
    pub fn new(source: impl Into<String>) -> LuaScript {
        let source = source.into();
        let sha1 = crate::sha1::sha1_hex(source.as_bytes());
        LuaScript { source, sha1 }
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn sha1(&self) -> &str {
        &self.sha1
    }
}

/// A Redis endpoint: a Higress cluster name plus credentials, database and timeout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisClient {
    cluster: String,
    username: String,
    password: String,
    database: u32,
    timeout_ms: u32,
}

impl RedisClient {
    /// `cluster` is an Envoy cluster name, e.g. from [`crate::cluster::fqdn`].
    pub fn new(cluster: impl Into<String>) -> RedisClient {
        RedisClient {
            cluster: cluster.into(),
            username: String::new(),
            password: String::new(),
            database: 0,
            timeout_ms: 1000,
        }
    }

    pub fn with_auth(
        mut self,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> RedisClient {
        self.username = username.into();
        self.password = password.into();
        self
    }

    pub fn with_database(mut self, database: u32) -> RedisClient {
        self.database = database;
        self
    }

    pub fn with_timeout_ms(mut self, timeout_ms: u32) -> RedisClient {
        self.timeout_ms = timeout_ms;
        self
    }

    /// The name passed to the host. Envoy strips the `?...` part to find the cluster and reads the
    /// database from it; like Higress, `?db=N` is added only for N != 0.
    pub fn upstream(&self) -> String {
        if self.database == 0 {
            self.cluster.clone()
        } else {
            format!("{}?db={}", self.cluster, self.database)
        }
    }

    /// Connects the host's Redis client. Call it from the root context's `on_configure`; the host
    /// returns `BadArgument` if the cluster does not exist.
    pub fn init(&self) -> Result<(), HostError> {
        host()
            .redis_init(
                &self.upstream(),
                self.username.as_bytes(),
                self.password.as_bytes(),
                self.timeout_ms,
            )
            .map_err(|s| HostError::new("proxy_redis_init", s))
    }

    /// Sends any command, e.g. `client.command(&["INCRBY", key, "5"])`. Returns the token the reply
    /// will carry.
    pub fn command<A: AsRef<[u8]>>(&self, args: &[A]) -> Result<u32, HostError> {
        self.dispatch(resp::encode_command(args), None)
    }

    pub fn get(&self, key: &str) -> Result<u32, HostError> {
        self.command(&["GET", key])
    }

    pub fn set(&self, key: &str, value: &[u8]) -> Result<u32, HostError> {
        self.command(&[b"SET".as_slice(), key.as_bytes(), value])
    }

    pub fn setex(&self, key: &str, value: &[u8], seconds: u64) -> Result<u32, HostError> {
        self.command(&[
            b"SETEX".as_slice(),
            key.as_bytes(),
            seconds.to_string().as_bytes(),
            value,
        ])
    }

    pub fn incrby(&self, key: &str, delta: i64) -> Result<u32, HostError> {
        self.command(&["INCRBY", key, &delta.to_string()])
    }

    pub fn expire(&self, key: &str, seconds: u64) -> Result<u32, HostError> {
        self.command(&["EXPIRE", key, &seconds.to_string()])
    }

    pub fn del(&self, key: &str) -> Result<u32, HostError> {
        self.command(&["DEL", key])
    }

    /// Runs a script by EVALSHA; if the server answers NOSCRIPT, the SDK resends it as EVAL and the
    /// plugin only sees the final reply, under the original token.
    pub fn eval(&self, script: &LuaScript, keys: &[&str], args: &[&str]) -> Result<u32, HostError> {
        let numkeys = keys.len().to_string();
        let tail: Vec<&str> = std::iter::once(numkeys.as_str())
            .chain(keys.iter().copied())
            .chain(args.iter().copied())
            .collect();
        let evalsha: Vec<&str> = ["EVALSHA", script.sha1()]
            .into_iter()
            .chain(tail.iter().copied())
            .collect();
        let eval: Vec<&str> = ["EVAL", script.source()]
            .into_iter()
            .chain(tail.iter().copied())
            .collect();
        self.dispatch(
            resp::encode_command(&evalsha),
            Some(resp::encode_command(&eval)),
        )
    }

    fn dispatch(&self, query: Vec<u8>, eval: Option<Vec<u8>>) -> Result<u32, HostError> {
        let call = RedisCall {
            client: self.clone(),
            query,
            eval,
            reauthed: false,
        };
        let token = call.send()?;
        let context_id = dispatcher::active_context_id();
        dispatcher::register_callout(
            token,
            Pending {
                context_id,
                user_token: token,
                kind: CalloutKind::Redis(Box::new(call)),
            },
        );
        Ok(token)
    }
}

/// An outstanding Redis call, kept so the SDK can resend it once: as EVAL after NOSCRIPT, or after
/// re-authenticating on NOAUTH (the server restarted and forgot the connection's AUTH, which is
/// what the Go wrapper also recovers from).
#[derive(Clone, Debug)]
pub(crate) struct RedisCall {
    client: RedisClient,
    query: Vec<u8>,
    eval: Option<Vec<u8>>,
    reauthed: bool,
}

impl RedisCall {
    fn send(&self) -> Result<u32, HostError> {
        host()
            .redis_call(&self.client.upstream(), &self.query)
            .map_err(|s| HostError::new("proxy_redis_call", s))
    }

    /// The call to send instead of delivering `reply`, if any.
    fn retry_for(&self, reply: &RespValue) -> Option<RedisCall> {
        let RespValue::Error(message) = reply else {
            return None;
        };
        if message.starts_with("NOSCRIPT") {
            let eval = self.eval.clone()?;
            return Some(RedisCall {
                query: eval,
                eval: None,
                ..self.clone()
            });
        }
        let has_credentials = !self.client.password.is_empty();
        if message.starts_with("NOAUTH") && has_credentials && !self.reauthed {
            return Some(RedisCall {
                reauthed: true,
                ..self.clone()
            });
        }
        None
    }
}

fn redis_call_of(kind: CalloutKind) -> Option<Box<RedisCall>> {
    match kind {
        CalloutKind::Redis(call) => Some(call),
        CalloutKind::Http => None,
    }
}

/// Entry point of `proxy_on_redis_call_response`.
pub(crate) fn deliver_response(token: u32, status: u32, response_size: usize) {
    let Some(pending) = dispatcher::take_callout(token) else {
        return;
    };
    let ctx = pending.context_id;
    if !dispatcher::is_stream(ctx) && !dispatcher::is_root(ctx) {
        return;
    }
    // Best effort: if the host refuses, header/body calls in the callback fail with a Result.
    let _ = host().set_effective_context(ctx);
    let reply = read_reply(status, response_size);
    let call = redis_call_of(pending.kind);
    let retry = match (&reply, &call) {
        (Ok(value), Some(call)) => call.retry_for(value).map(|next| (call, next)),
        _ => None,
    };
    if let Some((previous, next)) = retry {
        let resent = (|| {
            if next.reauthed && !previous.reauthed {
                next.client.init()?;
            }
            next.send()
        })();
        match resent {
            Ok(new_token) => dispatcher::register_callout(
                new_token,
                Pending {
                    context_id: ctx,
                    user_token: pending.user_token,
                    kind: CalloutKind::Redis(Box::new(next)),
                },
            ),
            Err(e) => deliver(ctx, pending.user_token, Err(RedisError::Host(e))),
        }
        return;
    }
    deliver(ctx, pending.user_token, reply);
}

fn read_reply(status: u32, response_size: usize) -> Result<RespValue, RedisError> {
    if status != 0 {
        return Err(RedisError::Network(status));
    }
    let bytes = host()
        .get_buffer_bytes(BufferType::RedisCallResponse, 0, response_size)
        .map_err(|s| RedisError::Host(HostError::new("proxy_get_buffer_bytes", s)))?;
    resp::decode(&bytes).map_err(RedisError::Protocol)
}

fn deliver(ctx: u32, token: u32, reply: Result<RespValue, RedisError>) {
    if dispatcher::is_stream(ctx) {
        dispatcher::with_stream(ctx, |c| c.on_redis_call_response(token, reply));
    } else {
        dispatcher::with_root(ctx, |r| r.on_redis_call_response(token, reply));
    }
}
