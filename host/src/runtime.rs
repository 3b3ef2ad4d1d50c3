//! The wasmtime runtime: one Cranelift engine per process, compiled modules cached on disk keyed by
//! the wasm's SHA-256 (so test processes do not recompile), epoch interruption driving the
//! per-callback deadline, and ABI version detection from the module's exports.

use crate::abi::AbiVersion;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wasmtime::{Config, Engine, Module};

/// How often the epoch ticker bumps the engine epoch; deadlines are rounded up to this.
pub const EPOCH_TICK: Duration = Duration::from_millis(2);

/// Runtime settings shared by every VM built from it.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Where compiled modules are cached (`<hash>.cwasm`). `None` disables the disk cache.
    pub cache_dir: Option<PathBuf>,
    /// Linear memory cap per VM; growing past it fails the guest's `memory.grow` (then its allocator
    /// usually traps, failing the VM).
    pub max_memory_bytes: usize,
    /// Wall-clock budget of one host→guest call; a blown deadline traps and fails the VM.
    pub callback_deadline: Duration,
    /// Count wasm instructions with wasmtime fuel (benchmarks); slows execution.
    pub consume_fuel: bool,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        let cache_dir = std::env::var_os("PROXY_WASM_HOST_CACHE")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("CARGO_TARGET_DIR")
                    .map(|d| PathBuf::from(d).join("proxy-wasm-host-cache"))
            })
            .unwrap_or_else(|| std::env::temp_dir().join("proxy-wasm-host-cache"));
        Self {
            cache_dir: Some(cache_dir),
            max_memory_bytes: 256 << 20,
            callback_deadline: Duration::from_secs(2),
            consume_fuel: false,
        }
    }
}

/// Errors loading a plugin module.
#[derive(Debug)]
pub enum LoadError {
    Compile(String),
    /// No `proxy_abi_version_*` export that this host knows (cpp-host: "Missing or unknown
    /// Proxy-Wasm ABI version").
    UnknownAbi(Vec<String>),
    Io(String),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Compile(e) => write!(f, "wasm compilation failed: {e}"),
            LoadError::UnknownAbi(found) => write!(
                f,
                "missing or unknown Proxy-Wasm ABI version (accepted: proxy_abi_version_0_2_0, 0_2_1, 0_2_100; found: {found:?})"
            ),
            LoadError::Io(e) => write!(f, "i/o error: {e}"),
        }
    }
}

impl std::error::Error for LoadError {}

/// A compiled plugin module and the ABI version it announced.
#[derive(Clone)]
pub struct CompiledModule {
    pub(crate) module: Module,
    pub abi: AbiVersion,
    pub sha256: String,
}

/// Process-wide runtime (cheap to clone through `Arc`).
pub struct Runtime {
    pub(crate) engine: Engine,
    pub config: RuntimeConfig,
    memo: Mutex<HashMap<String, CompiledModule>>,
    stop: Arc<AtomicBool>,
}

impl Runtime {
    pub fn new(config: RuntimeConfig) -> Result<Arc<Self>, LoadError> {
        let mut cfg = Config::new();
        cfg.epoch_interruption(true);
        cfg.consume_fuel(config.consume_fuel);
        cfg.cranelift_opt_level(wasmtime::OptLevel::Speed);
        let engine = Engine::new(&cfg).map_err(|e| LoadError::Compile(e.to_string()))?;
        let stop = Arc::new(AtomicBool::new(false));
        let (ticker_engine, ticker_stop) = (engine.clone(), stop.clone());
        std::thread::Builder::new()
            .name("wasm-epoch".into())
            .spawn(move || {
                while !ticker_stop.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    ticker_engine.increment_epoch();
                }
            })
            .map_err(|e| LoadError::Io(e.to_string()))?;
        Ok(Arc::new(Self {
            engine,
            config,
            memo: Mutex::new(HashMap::new()),
            stop,
        }))
    }

    /// A process-wide default runtime (tests share it so modules compile once per process).
    pub fn shared() -> Arc<Self> {
        static RT: std::sync::OnceLock<Arc<Runtime>> = std::sync::OnceLock::new();
        RT.get_or_init(|| Runtime::new(RuntimeConfig::default()).expect("wasmtime engine"))
            .clone()
    }

    /// Epoch ticks for the configured callback deadline.
    pub(crate) fn deadline_ticks(&self) -> u64 {
        let ticks = self
            .config
            .callback_deadline
            .as_micros()
            .div_ceil(EPOCH_TICK.as_micros());
        (ticks as u64).max(1)
    }

    /// Compiles (or loads from the memo / disk cache) a module and detects its ABI version.
    pub fn compile(&self, wasm: &[u8]) -> Result<CompiledModule, LoadError> {
        let hash = hex(&Sha256::digest(wasm));
        if let Some(m) = self.memo.lock().unwrap().get(&hash) {
            return Ok(m.clone());
        }
        let module = self.load_or_compile(wasm, &hash)?;
        let exports: Vec<String> = module.exports().map(|e| e.name().to_string()).collect();
        let abi = exports
            .iter()
            .find_map(|n| AbiVersion::from_export(n))
            .ok_or_else(|| {
                LoadError::UnknownAbi(
                    exports
                        .iter()
                        .filter(|n| n.starts_with("proxy_abi_version"))
                        .cloned()
                        .collect(),
                )
            })?;
        let compiled = CompiledModule {
            module,
            abi,
            sha256: hash.clone(),
        };
        self.memo.lock().unwrap().insert(hash, compiled.clone());
        Ok(compiled)
    }

    pub fn compile_file(&self, path: &std::path::Path) -> Result<CompiledModule, LoadError> {
        let bytes =
            std::fs::read(path).map_err(|e| LoadError::Io(format!("{}: {e}", path.display())))?;
        self.compile(&bytes)
    }

    fn load_or_compile(&self, wasm: &[u8], hash: &str) -> Result<Module, LoadError> {
        // The cache key also covers the engine settings that change the compiled code.
        let file = self.config.cache_dir.as_ref().map(|d| {
            d.join(format!(
                "{hash}-wt48-{}.cwasm",
                if self.config.consume_fuel {
                    "fuel"
                } else {
                    "nofuel"
                }
            ))
        });
        if let Some(file) = &file {
            if file.exists() {
                // SAFETY: the file was written by `Module::serialize` of this same engine
                // configuration (the name encodes hash, wasmtime major version and fuel setting);
                // wasmtime also checks its own version/config header and errors on mismatch.
                if let Ok(m) = unsafe { Module::deserialize_file(&self.engine, file) } {
                    return Ok(m);
                }
            }
        }
        let module =
            Module::new(&self.engine, wasm).map_err(|e| LoadError::Compile(format!("{e:#}")))?;
        if let (Some(file), Ok(bytes)) = (&file, module.serialize()) {
            if let Some(dir) = file.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let tmp = file.with_extension(format!("tmp{}", std::process::id()));
            if std::fs::write(&tmp, bytes).is_ok() {
                let _ = std::fs::rename(&tmp, file);
            }
        }
        Ok(module)
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
