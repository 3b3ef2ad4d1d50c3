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
fn free_addr() -> Result<SocketAddr, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    l.local_addr().map_err(|e| e.to_string())
}

/// Each chain plugin built for wasm32-wasip1 (once per process).
pub fn plugin_wasm(plugin: &str) -> Result<PathBuf, String> {
    proxy_wasm_host::build_support::build_wasm_plugin(&workspace_dir(), plugin)
}

/// The chain's WasmPlugin documents with the plugins built for wasm32-wasip1.
pub fn rendered_chain() -> Result<String, String> {
    let mut wasm = Vec::new();
    for p in chain::PLUGINS {
        wasm.push((p, plugin_wasm(p)?));
    }
    let template = std::fs::read_to_string(chain::template_path()).map_err(|e| e.to_string())?;
    chain::render(&template, |p| {
        wasm.iter()
            .find(|(name, _)| *name == p)
            .map(|(_, path)| path.clone())
            .unwrap_or_default()
    })
}

/// A gateway configuration written for a [`Stack`]'s services, in a directory of its own.
pub struct GatewayConfig {
    pub addrs: Addresses,
    /// Holds `gateway.yaml` and the access log.
    pub dir: PathBuf,
    pub file: PathBuf,
}

/// Polls the admin `/ready` until it answers 200; `gone` says why the gateway stopped, if it did.
pub fn wait_ready(
    admin: SocketAddr,
    within: Duration,
    mut gone: impl FnMut() -> Option<String>,
) -> Result<(), String> {
    let ready = format!("http://{admin}/ready");
    let deadline = Instant::now() + within;
    loop {
        if let Some(why) = gone() {
            return Err(why);
        }
        if http::get(&ready).is_ok_and(|r| r.status == 200) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err("gateway never became ready".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
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
        let plugins = rendered_chain()?;
        let llm = mock_llm::spawn(mock_llm::Config::default()).map_err(|e| e.to_string())?;
        let fallback = mock_llm::spawn(mock_llm::Config::default()).map_err(|e| e.to_string())?;
        let mut stack = Stack {
            llm,
            fallback,
            redis,
            embedding,
            // Set from the gateway started below.
            base_url: String::new(),
            admin: SocketAddr::from(([127, 0, 0, 1], 0)),
            dir: PathBuf::new(),
            plugins,
        };
        let (base_url, admin, dir) = stack.start_gateway(|chain| chain)?;
        (stack.base_url, stack.admin, stack.dir) = (base_url, admin, dir);
        Ok(stack)
    }

    /// Writes a gateway configuration for these services into a new directory named after
    /// `tag`: the Gateway document `gateway_doc` renders, followed by `plugins`.
    pub fn write_gateway_config(
        &self,
        tag: &str,
        gateway_doc: impl FnOnce(&Addresses, &Path) -> String,
        plugins: &str,
    ) -> Result<GatewayConfig, String> {
        let addrs = Addresses {
            listen: free_addr()?,
            admin: free_addr()?,
            llm: self.llm.addr(),
            fallback: self.fallback.addr(),
            redis: SocketAddr::from(([127, 0, 0, 1], self.redis.port())),
            embedding: self.embedding.addr(),
        };
        let dir = std::env::temp_dir().join(format!(
            "{tag}-{}-{}",
            std::process::id(),
            addrs.listen.port()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let file = dir.join("gateway.yaml");
        let yaml = format!("{}{plugins}", gateway_doc(&addrs, &dir.join("access.log")));
        std::fs::write(&file, yaml).map_err(|e| e.to_string())?;
        Ok(GatewayConfig { addrs, dir, file })
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
        let config =
            self.write_gateway_config("ai-chain", gateway_doc, &edit(self.plugins.clone()))?;
        let file = config.file.clone();
        let mut gateway = Some(
            std::thread::Builder::new()
                .name("gateway".into())
                .spawn(move || higress_ai_gateway::run(&file))
                .map_err(|e| e.to_string())?,
        );
        // Loading the four plugins compiles them with wasmtime (cranelift unoptimised in test
        // builds): minutes on a loaded two-core machine.
        wait_ready(config.addrs.admin, Duration::from_secs(300), || {
            if !gateway.as_ref()?.is_finished() {
                return None;
            }
            let why = match gateway.take()?.join() {
                Ok(Err(e)) => e,
                _ => "the gateway thread ended".into(),
            };
            Some(format!("gateway did not start: {why}"))
        })?;
        Ok((
            format!("http://{}", config.addrs.listen),
            config.addrs.admin,
            config.dir,
        ))
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
