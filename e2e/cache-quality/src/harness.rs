//! The semantic-cache plugin as the benchmark drives it: the real `.wasm` in the proxy-wasm host,
//! its Redis callouts answered by a real Redis 8.2 (RediSearch) and its embedding callouts by the
//! local all-MiniLM-L6-v2 server, one request at a time.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::OnceLock;

use e2e_services::redis::{RedisServer, StartError};
use e2e_services::resp::Connection;
use proxy_wasm_host::abi::LogLevel;
use proxy_wasm_host::live::LiveBackends;
use proxy_wasm_host::{PluginConfig, Stream, TestHost};
use serde_json::{json, Value};

/// Clusters the plugin config below makes the plugin call.
pub const REDIS_CLUSTER: &str = "outbound|6379||redis.static";
pub const EMBED_CLUSTER: &str = "outbound|8080||embed.static";

/// The real backing services.
pub struct Services {
    pub redis: RedisServer,
    pub embeddings: embedding_server::Handle,
}

/// Why the services could not be had.
#[derive(Debug)]
pub enum Unavailable {
    /// The wheels (Redis or the model) cannot be installed on this machine: callers may skip.
    Skip(String),
    Failed(String),
}

impl Services {
    pub fn start() -> Result<Services, Unavailable> {
        let redis = RedisServer::start().map_err(|e| match e {
            StartError::Unavailable(m) => Unavailable::Skip(format!("Redis: {m}")),
            e => Unavailable::Failed(e.to_string()),
        })?;
        let embeddings = embedding_server::spawn_default().map_err(|e| match e {
            embedding_server::Error::Unavailable(m) => Unavailable::Skip(format!("model: {m}")),
            e => Unavailable::Failed(e.to_string()),
        })?;
        Ok(Services { redis, embeddings })
    }

    fn redis_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.redis.port()))
    }

    /// Every key in Redis now.
    pub fn keys(&self) -> Result<HashSet<Vec<u8>>, String> {
        let mut conn = Connection::connect(self.redis.port()).map_err(|e| e.to_string())?;
        let mut keys = HashSet::new();
        let mut cursor = "0".to_string();
        loop {
            let reply = conn
                .cmd(&["SCAN", &cursor, "COUNT", "10000"])
                .map_err(|e| e.to_string())?;
            let parts = reply.as_array().ok_or("SCAN: not an array")?;
            cursor = parts[0].as_str().ok_or("SCAN: no cursor")?.to_string();
            for k in parts[1].as_array().ok_or("SCAN: no keys")? {
                keys.insert(k.as_str().ok_or("SCAN: binary key")?.as_bytes().to_vec());
            }
            if cursor == "0" {
                return Ok(keys);
            }
        }
    }

    /// Deletes every key not in `keep`: undoes what a lookup pass wrote (semantic hits back-fill
    /// the exact layer), so the next pass sees the cache exactly as it was filled.
    pub fn restore(&self, keep: &HashSet<Vec<u8>>) -> Result<usize, String> {
        let mut conn = Connection::connect(self.redis.port()).map_err(|e| e.to_string())?;
        let extra: Vec<Vec<u8>> = self.keys()?.difference(keep).cloned().collect();
        for chunk in extra.chunks(500) {
            let mut args: Vec<&[u8]> = vec![b"DEL"];
            args.extend(chunk.iter().map(Vec::as_slice));
            conn.command(&args).map_err(|e| e.to_string())?;
        }
        Ok(extra.len())
    }
}

/// The plugin built for wasm32 once per process.
pub fn wasm() -> Result<&'static [u8], String> {
    static WASM: OnceLock<Result<Vec<u8>, String>> = OnceLock::new();
    WASM.get_or_init(|| {
        let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let path = proxy_wasm_host::build_support::build_wasm_plugin(&ws, "semantic-cache")?;
        std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))
    })
    .as_ref()
    .map(Vec::as_slice)
    .map_err(Clone::clone)
}

/// The knobs the benchmark turns.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// `similarityThreshold`.
    pub threshold: f32,
    /// `verify.enabled`.
    pub verify: bool,
    /// `vector.topK`.
    pub top_k: u32,
    /// `vector.type`: `redis` (RediSearch) or `redis-vectorset`.
    pub vector: String,
    /// `vector.collectionID`: one per data set, so data sets never see each other.
    pub collection: String,
}

/// The plugin configuration for `s`: OpenAI-style embeddings from the local server, vectors and
/// answers in Redis, no expiry.
pub fn plugin_config(s: &Settings) -> Value {
    json!({
        "embedding": {"type": "openai", "serviceName": "embed.static", "servicePort": 8080,
                      "model": embedding_server::MODEL_NAME},
        "vector": {"type": s.vector, "serviceName": "redis.static", "servicePort": 6379,
                   "topK": s.top_k, "collectionID": s.collection},
        "cache": {"type": "redis", "serviceName": "redis.static", "servicePort": 6379},
        "similarityThreshold": s.threshold,
        "verify": {"enabled": s.verify},
    })
}

/// One chat request: who asks, which model, and the conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Chat {
    pub consumer: String,
    pub model: String,
    /// `(role, content)` in order; the last is the user's question.
    pub messages: Vec<(String, String)>,
}

impl Chat {
    /// A single question with a fixed system prompt.
    pub fn question(consumer: &str, text: &str) -> Chat {
        Chat {
            consumer: consumer.to_string(),
            model: "gpt-4o".to_string(),
            messages: vec![
                ("system".into(), "You are a helpful assistant.".into()),
                ("user".into(), text.to_string()),
            ],
        }
    }

    fn body(&self) -> Vec<u8> {
        let messages: Vec<Value> = self
            .messages
            .iter()
            .map(|(role, content)| json!({"role": role, "content": content}))
            .collect();
        json!({"model": self.model, "messages": messages})
            .to_string()
            .into_bytes()
    }
}

/// What a request got.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Served from the cache: the stored answer text and the reported similarity.
    Hit { answer: String, similarity: f32 },
    /// Forwarded upstream.
    Miss,
}

/// One plugin configuration in the host, answering callouts live.
pub struct Cache {
    host: TestHost,
    live: LiveBackends,
}

impl Cache {
    pub fn new(settings: &Settings, services: &Services) -> Result<Cache, String> {
        let mut config = PluginConfig::new("semantic-cache", plugin_config(settings).to_string());
        config.priority = 800;
        let mut host = TestHost::new();
        host.add_plugin(wasm()?, config)
            .map_err(|e| format!("the plugin rejected {settings:?}: {e}"))?;
        let live = LiveBackends::new()
            .redis(REDIS_CLUSTER, services.redis_addr())
            .http(EMBED_CLUSTER, services.embeddings.addr());
        Ok(Cache { host, live })
    }

    /// Looks `chat` up; a miss is never answered upstream, so nothing is stored.
    pub fn ask(&mut self, chat: &Chat) -> Result<Outcome, String> {
        let mut stream = self.lookup(chat)?;
        let outcome = outcome(&stream)?;
        stream.finish();
        Ok(outcome)
    }

    /// Looks `chat` up; on a miss the upstream answers `answer`, which the plugin stores.
    pub fn store(&mut self, chat: &Chat, answer: &str) -> Result<Outcome, String> {
        let mut stream = self.lookup(chat)?;
        let outcome = outcome(&stream)?;
        if outcome == Outcome::Miss {
            stream
                .send_response_headers(
                    &[(":status", "200"), ("content-type", "application/json")],
                    false,
                )
                .send_response_body(answer_body(&chat.model, answer), true);
            stream
                .serve_live(&mut self.live)
                .map_err(|e| e.to_string())?;
            self.check_logs()?;
        }
        stream.finish();
        Ok(outcome)
    }

    fn lookup(&mut self, chat: &Chat) -> Result<Stream, String> {
        let mut stream = self.host.stream();
        stream
            .send_request_headers(
                &[
                    (":method", "POST"),
                    (":path", "/v1/chat/completions"),
                    (":authority", "llm.example.com"),
                    ("content-type", "application/json"),
                    ("x-mse-consumer", &chat.consumer),
                ],
                false,
            )
            .send_request_body(chat.body(), true);
        stream
            .serve_live(&mut self.live)
            .map_err(|e| e.to_string())?;
        self.check_logs()?;
        Ok(stream)
    }

    /// A warning means a backend failed and the plugin failed open: that request would be counted
    /// as a miss, so the benchmark stops instead.
    fn check_logs(&self) -> Result<(), String> {
        let bad: Vec<String> = self
            .host
            .take_logs()
            .into_iter()
            .filter(|r| r.level >= LogLevel::Warn)
            .map(|r| r.message)
            .collect();
        if bad.is_empty() {
            Ok(())
        } else {
            Err(format!("the plugin logged: {bad:?}"))
        }
    }
}

fn answer_body(model: &str, text: &str) -> Vec<u8> {
    json!({"id": "chatcmpl-quality", "object": "chat.completion", "created": 1, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11}})
    .to_string()
    .into_bytes()
}

/// HIT (with the answer and similarity from the reply) or MISS (the request went upstream);
/// anything else, e.g. a backend error, is an error of the benchmark.
fn outcome(stream: &Stream) -> Result<Outcome, String> {
    let down = stream.downstream();
    let status = down.headers.as_ref().and_then(|h| h.get("x-cache-status"));
    if status != Some("HIT") {
        return if stream.upstream().end_stream {
            Ok(Outcome::Miss)
        } else {
            Err(format!(
                "neither served nor forwarded (x-cache-status {status:?}); local replies: {:?}",
                stream.local_replies()
            ))
        };
    }
    let headers = down.headers.as_ref().ok_or("no response headers")?;
    let similarity = headers
        .get("x-cache-similarity")
        .and_then(|s| s.parse().ok())
        .ok_or("HIT without a numeric x-cache-similarity")?;
    let body: Value = serde_json::from_slice(&down.body()).map_err(|e| format!("HIT body: {e}"))?;
    let answer = body["choices"][0]["message"]["content"]
        .as_str()
        .ok_or("HIT body without choices[0].message.content")?
        .to_string();
    Ok(Outcome::Hit { answer, similarity })
}
