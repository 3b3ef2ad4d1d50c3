//! What ships, run for real: the plugin OCI image (scripts/package-plugins) pushed with oras to a
//! real local OCI registry (`crane registry serve`) and pulled back, the gateway loading
//! `oci://` WasmPlugin URLs from it (sha256, cache, imagePullPolicy), and the Helm charts'
//! rendered WasmPlugins loaded by the gateway. The provider is the mock LLM
//! (`mock_provider_` tests): no real LLM here.
//!
//! Needs helm, oras and crane in `.cache/bin` (`scripts/install-tools`); without them the tests
//! print why and pass, unless `E2E_REQUIRE_TOOLS=1` (CI), where they fail.

mod common;

use common::*;
use e2e_services::tools::installed as tool;
use proxy_wasm_host::plugin::Phase;
use proxy_wasm_host::{PluginConfig, TestHost};
use serde_json::{json, Value};
use shipping::scenarios;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const PLUGIN: &str = "pii-redaction";
const REPO: &str = "higress-ai-plugins";
const PHONE: &str = "13812345678";

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// The built plugin, also compiled once into the gateway's module cache (a debug-build
/// wasmtime takes longer than `Gateway::start`'s wait to compile it on a loaded machine).
fn module() -> &'static Path {
    static WASM: OnceLock<PathBuf> = OnceLock::new();
    WASM.get_or_init(|| {
        let wasm = proxy_wasm_host::build_support::build_wasm_plugin(&workspace_dir(), PLUGIN)
            .unwrap_or_else(|e| panic!("{e}"));
        warm_module_cache(&config(
            &[(LLM, "127.0.0.1:9".parse().unwrap())],
            &simple_routes(),
            &oci_doc(&format!("file://{}", wasm.display()), ""),
        ));
        wasm
    })
}

/// The module cache of every gateway this test binary starts or validates.
fn fetch_cache() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = tempdir("wasm-fetch-cache");
        // Set once, before any gateway starts; children inherit it.
        std::env::set_var("WASM_FETCH_CACHE", &d);
        d
    })
    .clone()
}

/// `crane registry serve` on a free loopback port, stopped on drop.
struct Registry {
    child: Child,
    host: String,
}

impl Registry {
    fn start(crane: &Path) -> Registry {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let host = format!("127.0.0.1:{port}");
        let child = Command::new(crane)
            .args(["registry", "serve", "--address", &host])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("crane registry serve");
        let deadline = Instant::now() + WAIT;
        while rt()
            .block_on(get(&format!("http://{host}/v2/")))
            .map_or(true, |(s, _, _)| s != 200)
        {
            assert!(Instant::now() < deadline, "registry never answered /v2/");
            std::thread::sleep(Duration::from_millis(50));
        }
        Registry { child, host }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Packs and pushes the plugin image; returns (image reference, manifest digest).
fn push(registry: &Registry, package_dir: &Path) -> (String, String) {
    let out = run(
        Command::new(workspace_dir().join("scripts/package-plugins"))
            .args(["--push", &format!("{}/{REPO}", registry.host), "--wasm"])
            .arg(module())
            .arg(PLUGIN)
            .env("PACKAGE_DIR", package_dir),
    );
    let line = out
        .lines()
        .find(|l| l.starts_with("pushed "))
        .unwrap_or_else(|| panic!("no pushed line in {out}"));
    let mut it = line.split_whitespace().skip(1);
    (
        it.next().unwrap().to_string(),
        it.next().unwrap().to_string(),
    )
}

fn spec_version() -> String {
    let spec: Value = serde_norway::from_str(
        &std::fs::read_to_string(
            workspace_dir()
                .join("plugins")
                .join(PLUGIN)
                .join("spec.yaml"),
        )
        .unwrap(),
    )
    .unwrap();
    spec["info"]["version"].as_str().unwrap().to_string()
}

fn chat_with_phone() -> Vec<u8> {
    json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": format!("call me at {PHONE} please")}]})
        .to_string()
        .into_bytes()
}

/// Sends a chat with a phone number through the gateway; returns what the mock LLM received.
fn mock_provider_sees_a_masked_phone(gw: &Gateway, mock: &mock_llm::handle::MockHandle) -> String {
    mock.reset();
    let (status, _, body) = rt()
        .block_on(send(
            &client(),
            "POST",
            &gw.url("/v1/chat/completions"),
            &[("content-type", "application/json")],
            chat_with_phone(),
        ))
        .unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let seen = mock.requests();
    assert_eq!(seen.len(), 1, "one request reached the provider");
    let content = seen[0].body["messages"][0]["content"]
        .as_str()
        .expect("chat content")
        .to_string();
    assert!(
        !content.contains(PHONE),
        "phone reached the provider: {content}"
    );
    assert!(content.starts_with("call me at "), "{content}");
    content
}

#[test]
fn oci_image_has_higress_layers_in_order_and_its_module_runs_in_the_host() {
    let (Some(crane), Some(oras)) = (tool("crane"), tool("oras")) else {
        return;
    };
    let registry = Registry::start(&crane);
    let pkg = tempdir("package");
    let (reference, digest) = push(&registry, &pkg);
    assert_eq!(
        reference,
        format!("{}/{REPO}/{PLUGIN}:{}", registry.host, spec_version())
    );
    let manifest: Value = serde_json::from_str(&run(Command::new(&oras).args([
        "manifest",
        "fetch",
        "--plain-http",
        &reference,
    ])))
    .unwrap();
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    let layers: Vec<(String, String)> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["mediaType"].as_str().unwrap().to_string(),
                l["annotations"]["org.opencontainers.image.title"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    let expected = [
        (
            "application/vnd.module.wasm.doc.v1.EN+markdown",
            "README_EN.md",
        ),
        ("application/vnd.module.wasm.doc.v1+markdown", "README.md"),
        ("application/vnd.module.wasm.spec.v1+yaml", "spec.yaml"),
        (
            "application/vnd.oci.image.layer.v1.tar+gzip",
            "plugin.tar.gz",
        ),
    ];
    assert_eq!(
        layers,
        expected
            .iter()
            .map(|(m, t)| (m.to_string(), t.to_string()))
            .collect::<Vec<_>>()
    );
    // The digest printed by the push is the manifest's.
    let raw = run(Command::new(&oras).args(["manifest", "fetch", "--plain-http", &reference]));
    assert_eq!(
        digest,
        format!("sha256:{}", wasm_fetch::sha256_hex(raw.as_bytes()))
    );

    // Pull back: every file as packed, and plugin.wasm inside plugin.tar.gz is the built module.
    let pulled = tempdir("pulled");
    run(Command::new(&oras)
        .args(["pull", "--plain-http", &reference, "-o"])
        .arg(&pulled));
    let src = workspace_dir().join("plugins").join(PLUGIN);
    for f in ["README_EN.md", "README.md", "spec.yaml"] {
        assert_eq!(
            std::fs::read(pulled.join(f)).unwrap(),
            std::fs::read(src.join(f)).unwrap(),
            "{f}"
        );
    }
    run(Command::new("tar")
        .arg("-xzf")
        .arg(pulled.join("plugin.tar.gz"))
        .arg("-C")
        .arg(&pulled));
    let wasm = std::fs::read(pulled.join("plugin.wasm")).unwrap();
    assert_eq!(wasm, std::fs::read(module()).unwrap());

    // The pulled module runs in our host and redacts.
    let mut host = TestHost::new();
    let mut pc = PluginConfig::new(PLUGIN, "{}");
    pc.phase = Phase::Authn;
    pc.priority = 991;
    host.add_plugin(&wasm, pc).expect("pulled module loads");
    let mut s = host.stream();
    s.send_request_headers(
        &[
            (":method", "POST"),
            (":path", "/v1/chat/completions"),
            (":authority", "llm.example.com"),
            ("content-type", "application/json"),
        ],
        false,
    )
    .send_request_body_chunked(&chat_with_phone(), 64);
    let sent: Value = serde_json::from_slice(&s.upstream().body()).unwrap();
    let content = sent["messages"][0]["content"].as_str().unwrap();
    assert!(!content.contains(PHONE), "{content}");
}

fn oci_doc(url: &str, extra: &str) -> String {
    format!(
        "---\napiVersion: extensions.higress.io/v1alpha1\nkind: WasmPlugin\nmetadata:\n  name: {PLUGIN}\n  namespace: higress-system\nspec:\n  url: {url}\n  phase: AUTHN\n  priority: 991\n{extra}  defaultConfig:\n    detectors:\n      cn_mobile:\n        action: mask\n"
    )
}

/// Validates a gateway config in-process (the same loading `higress-ai-gateway --config` does).
fn load(dir: &Path, yaml: &str) -> Result<(), String> {
    let path = dir.join("gateway.yaml");
    std::fs::write(&path, yaml).unwrap();
    higress_ai_gateway::config::load(&path)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[test]
fn mock_provider_gateway_loads_oci_urls_with_sha256_cache_and_pull_policy() {
    let (Some(crane), Some(_oras)) = (tool("crane"), tool("oras")) else {
        return;
    };
    let cache = fetch_cache();
    let registry = Registry::start(&crane);
    let (reference, digest) = push(&registry, &tempdir("package"));
    let url = format!("oci://{reference}");
    let hex = digest.trim_start_matches("sha256:");
    let mock = mock_llm::handle::spawn(mock_llm::config::Config::default()).expect("mock-llm");
    let routes = simple_routes();
    let cfg = |doc: String| config(&[(LLM, mock.addr())], &routes, &doc);

    // Pulled from the registry, digest checked, served.
    let dir = tempdir("oci-gw");
    let gw = Gateway::start_in(&dir, &cfg(oci_doc(&url, &format!("  sha256: {hex}\n"))))
        .unwrap_or_else(|e| panic!("{e}"));
    let masked = mock_provider_sees_a_masked_phone(&gw, &mock);
    assert!(masked.contains('*'), "mask action: {masked}");
    drop(gw);
    assert!(
        std::fs::read_dir(cache.join("modules")).unwrap().count() >= 1,
        "module cached on disk"
    );

    // A wrong digest is refused, naming the field.
    let wrong = "0".repeat(64);
    let err = load(&dir, &cfg(oci_doc(&url, &format!("  sha256: {wrong}\n")))).unwrap_err();
    assert!(err.contains("spec.sha256") && err.contains(hex), "{err}");

    // Registry gone: IfNotPresent (the default for a version tag) loads from the cache,
    // Always has to ask the registry and fails naming spec.url.
    drop(registry);
    load(&dir, &cfg(oci_doc(&url, ""))).expect("cached image loads without the registry");
    load(
        &dir,
        &cfg(oci_doc(&url, "  imagePullPolicy: IfNotPresent\n")),
    )
    .unwrap();
    let err = load(&dir, &cfg(oci_doc(&url, "  imagePullPolicy: Always\n"))).unwrap_err();
    assert!(
        err.contains("spec.url") && err.contains("unreachable"),
        "{err}"
    );
    let err = load(&dir, &cfg(oci_doc(&url, "  imagePullPolicy: Sometimes\n"))).unwrap_err();
    assert!(err.contains("spec.imagePullPolicy"), "{err}");
}

/// `helm template` of a chart with `--set` values, as the gateway's plugin file.
fn helm_template(helm: &Path, chart: &str, sets: &[String], out: &Path) {
    let charts = workspace_dir().join("helm");
    run(Command::new(helm)
        .args(["dependency", "update", "--skip-refresh"])
        .arg(charts.join(chart)));
    let mut cmd = Command::new(helm);
    cmd.args(["template", "test"])
        .arg(charts.join(chart))
        .args(["-n", "higress-system"]);
    for s in sets {
        cmd.args(["--set", s]);
    }
    std::fs::write(out, run(&mut cmd)).unwrap();
}

/// Every plugin chart of the umbrella except `keep` switched off.
fn only(keep: &str) -> Vec<String> {
    shipping_plugins()
        .into_iter()
        .filter(|p| p != keep)
        .map(|p| format!("{p}.enabled=false"))
        .collect()
}

/// The plugins of the umbrella chart (its dependencies).
fn shipping_plugins() -> Vec<String> {
    let chart: Value = serde_norway::from_str(
        &std::fs::read_to_string(workspace_dir().join("helm/ai-gateway-plugins/Chart.yaml"))
            .unwrap(),
    )
    .unwrap();
    chart["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn mock_provider_helm_rendered_wasmplugins_run_in_the_gateway() {
    let (Some(helm), Some(crane), Some(_oras)) = (tool("helm"), tool("crane"), tool("oras")) else {
        return;
    };
    fetch_cache();
    let mock = mock_llm::handle::spawn(mock_llm::config::Config::default()).expect("mock-llm");
    let gateway_yaml = |plugins_file: &str| {
        let mut c = config(&[(LLM, mock.addr())], &simple_routes(), "");
        c = c.replacen(
            "spec:\n",
            &format!("spec:\n  plugins: [{plugins_file}]\n"),
            1,
        );
        c
    };

    // The plugin chart with a file:// URL (the kind e2e's way), default values.
    let dir = tempdir("helm-file");
    helm_template(
        &helm,
        PLUGIN,
        &[format!("image.url=file://{}", module().display())],
        &dir.join("rendered.yaml"),
    );
    let gw =
        Gateway::start_in(&dir, &gateway_yaml("rendered.yaml")).unwrap_or_else(|e| panic!("{e}"));
    mock_provider_sees_a_masked_phone(&gw, &mock);
    // The kind suite's scenarios for this plugin, against the local gateway.
    let target = scenarios::Target::new(&gw.url(""), Some(&mock.base_url()));
    for name in ["chat-passes-through", "pii-masked"] {
        let s = scenarios::all()
            .into_iter()
            .find(|s| s.name == name)
            .unwrap();
        assert_eq!((s.run)(&target), scenarios::Outcome::Passed, "{name}");
    }
    drop(gw);

    // The umbrella chart with only this plugin, from the registry (the chart's default oci:// URL).
    let registry = Registry::start(&crane);
    push(&registry, &tempdir("package"));
    let dir = tempdir("helm-oci");
    let mut sets = only(PLUGIN);
    sets.push(format!(
        "{PLUGIN}.image.repository=oci://{}/{REPO}",
        registry.host
    ));
    helm_template(
        &helm,
        "ai-gateway-plugins",
        &sets,
        &dir.join("rendered.yaml"),
    );
    let rendered = std::fs::read_to_string(dir.join("rendered.yaml")).unwrap();
    assert_eq!(
        rendered.matches("kind: WasmPlugin").count(),
        1,
        "{rendered}"
    );
    let gw =
        Gateway::start_in(&dir, &gateway_yaml("rendered.yaml")).unwrap_or_else(|e| panic!("{e}"));
    mock_provider_sees_a_masked_phone(&gw, &mock);
}
