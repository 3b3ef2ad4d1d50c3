//! The whole chain in this process: two mock LLMs, Redis, the embedding server and the gateway.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use e2e_services::redis::RedisServer;
use mock_llm::MockHandle;

use crate::chain::{self, Addresses};
use crate::http;

/// Everything the chain needs, running; dropping it stops the services (the gateway thread ends
/// with the test process: `higress_ai_gateway::run` has no stop handle).
pub struct Stack {
    /// The route's upstream: the primary provider.
    pub llm: MockHandle,
    /// The provider `provider-fallback` calls when the primary fails.
    pub fallback: MockHandle,
    pub redis: RedisServer,
    pub embedding: embedding_server::Handle,
    /// `http://127.0.0.1:PORT` of the gateway (OpenAI base URL: this + `/v1`).
    pub base_url: String,
    pub admin: SocketAddr,
    pub dir: PathBuf,
    /// The rendered chain (WasmPlugin documents).
    plugins: String,
}

fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace dir")
}

/// A port free right now (the gateway binds it a moment later).
fn free_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr")
}

/// Each chain plugin built for wasm32-wasip1 (once per process).
pub fn plugin_wasm(plugin: &str) -> Result<PathBuf, String> {
    proxy_wasm_host::build_support::build_wasm_plugin(&workspace_dir(), plugin)
}

impl Stack {
    /// Starts the chain, or `None` after a loud skip when Redis or the embedding model cannot be
    /// had on this machine (`E2E_REQUIRE_REDIS=1` / `E2E_REQUIRE_EMBEDDINGS=1` make that a
    /// failure). Panics on any other failure.
    pub fn start_or_skip(test: &str) -> Option<Stack> {
        let redis = RedisServer::start_or_skip(test)?;
        let embedding = embedding_server::spawn_or_skip(test)?;
        Some(Self::start_with(redis, embedding).unwrap_or_else(|e| panic!("{test}: {e}")))
    }

    fn start_with(
        redis: RedisServer,
        embedding: embedding_server::Handle,
    ) -> Result<Stack, String> {
        let mut wasm = Vec::new();
        for p in chain::PLUGINS {
            wasm.push((p, plugin_wasm(p)?));
        }
        let llm = mock_llm::spawn(mock_llm::Config::default()).map_err(|e| e.to_string())?;
        let fallback = mock_llm::spawn(mock_llm::Config::default()).map_err(|e| e.to_string())?;
        let template =
            std::fs::read_to_string(chain::template_path()).map_err(|e| e.to_string())?;
        let plugins = chain::render(&template, |p| {
            wasm.iter()
                .find(|(name, _)| *name == p)
                .map(|(_, path)| path.clone())
                .unwrap_or_default()
        })?;
        let mut stack = Stack {
            llm,
            fallback,
            redis,
            embedding,
            base_url: String::new(),
            admin: free_addr(),
            dir: PathBuf::new(),
            plugins,
        };
        let (base_url, admin, dir) = stack.start_gateway(|chain| chain)?;
        (stack.base_url, stack.admin, stack.dir) = (base_url, admin, dir);
        Ok(stack)
    }

    /// Starts one more gateway in front of the same services, with the rendered chain passed
    /// through `edit` (e.g. another similarity threshold); returns its base URL, admin address
    /// and state directory. It runs until the process ends.
    pub fn start_gateway(
        &self,
        edit: impl FnOnce(String) -> String,
    ) -> Result<(String, SocketAddr, PathBuf), String> {
        self.launch_gateway(chain::gateway_doc, edit)
    }

    /// One more gateway in front of the same services whose route sends `Authorization: Bearer
    /// <key>` to the provider, as `make run` with `LLM_BASE_URL` and `LLM_API_KEY` does.
    pub fn start_gateway_with_provider_key(
        &self,
        key: &str,
    ) -> Result<(String, SocketAddr, PathBuf), String> {
        self.launch_gateway(
            |a, log| chain::gateway_doc_with_provider_key(a, log, key),
            |chain| chain,
        )
    }

    fn launch_gateway(
        &self,
        gateway_doc: impl FnOnce(&Addresses, &Path) -> String,
        edit: impl FnOnce(String) -> String,
    ) -> Result<(String, SocketAddr, PathBuf), String> {
        let addrs = Addresses {
            listen: free_addr(),
            admin: free_addr(),
            llm: self.llm.addr(),
            fallback: self.fallback.addr(),
            redis: SocketAddr::from(([127, 0, 0, 1], self.redis.port())),
            embedding: self.embedding.addr(),
        };
        let dir = std::env::temp_dir().join(format!(
            "ai-chain-{}-{}",
            std::process::id(),
            addrs.listen.port()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let config = dir.join("gateway.yaml");
        let yaml = format!(
            "{}{}",
            gateway_doc(&addrs, &dir.join("access.log")),
            edit(self.plugins.clone())
        );
        std::fs::write(&config, yaml).map_err(|e| e.to_string())?;
        let gateway = std::thread::Builder::new()
            .name("gateway".into())
            .spawn(move || higress_ai_gateway::run(&config))
            .map_err(|e| e.to_string())?;
        let ready = format!("http://{}/ready", addrs.admin);
        // Loading the four plugins compiles them with wasmtime (cranelift unoptimised in test
        // builds): minutes on a loaded two-core machine.
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            if gateway.is_finished() {
                let why = match gateway.join() {
                    Ok(Err(e)) => e,
                    _ => "the gateway thread ended".into(),
                };
                return Err(format!("gateway did not start: {why}"));
            }
            if http::get(&ready).is_ok_and(|r| r.status == 200) {
                break;
            }
            if Instant::now() > deadline {
                return Err("gateway never became ready".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok((format!("http://{}", addrs.listen), addrs.admin, dir))
    }

    /// The access log lines written so far (JSON).
    pub fn access_log(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.join("access.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The gateway's Prometheus text.
    pub fn prometheus(&self) -> Result<String, String> {
        Ok(http::get(&format!("http://{}/stats/prometheus", self.admin))?.body)
    }

    /// What the demo needs to drive this stack.
    pub fn endpoints(&self) -> crate::demo::Endpoints {
        crate::demo::Endpoints {
            base_url: self.base_url.clone(),
            admin_url: Some(format!("http://{}", self.admin)),
            primary_control: Some(self.llm.base_url()),
            api_key: None,
        }
    }
}
