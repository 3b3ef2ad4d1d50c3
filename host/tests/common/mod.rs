//! Shared test support: builds the scripted test plugin once per test process and sets up hosts.
#![allow(dead_code)]

use proxy_wasm_host::build_support::{build_wasm_plugin, with_abi_export};
use proxy_wasm_host::{PluginConfig, TestHost};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The scripted plugin (exports `proxy_abi_version_0_2_100`).
pub fn scripted() -> &'static [u8] {
    static WASM: OnceLock<Vec<u8>> = OnceLock::new();
    WASM.get_or_init(|| {
        let path = build_wasm_plugin(&workspace_dir(), "scripted-test-plugin")
            .expect("build scripted plugin");
        std::fs::read(path).unwrap()
    })
}

/// The scripted plugin announcing another ABI version.
pub fn scripted_abi(export: &str) -> Vec<u8> {
    with_abi_export(scripted(), export)
}

pub fn config(name: &str, script: &str) -> PluginConfig {
    PluginConfig {
        root_id: format!("{name}-root"),
        vm_id: format!("{name}-vm"),
        ..PluginConfig::new(name, script)
    }
}

/// A host with one scripted plugin per `(name, script)`, in the given order (same phase and
/// priority, so names must sort in the wanted order).
pub fn host(plugins: &[(&str, &str)]) -> TestHost {
    let mut h = TestHost::new();
    for (name, script) in plugins {
        h.add_plugin(scripted(), config(name, script)).unwrap();
    }
    h.take_logs();
    h
}

/// Log messages of one plugin, removing all recorded logs.
pub fn logs(h: &TestHost, plugin: &str) -> Vec<String> {
    h.take_logs()
        .into_iter()
        .filter(|l| l.plugin == plugin)
        .map(|l| l.message)
        .collect()
}

/// Log messages of every plugin as `plugin| message`.
pub fn all_logs(h: &TestHost) -> Vec<String> {
    h.take_logs()
        .into_iter()
        .map(|l| format!("{}| {}", l.plugin, l.message))
        .collect()
}

/// Only the lines whose message starts with one of `prefixes`.
pub fn only(lines: &[String], prefixes: &[&str]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| prefixes.iter().any(|p| l.contains(p)))
        .cloned()
        .collect()
}

pub const GET: &[(&str, &str)] = &[
    (":method", "GET"),
    (":path", "/v1/chat?x=1"),
    (":authority", "api.example.com"),
    (":scheme", "http"),
];
pub const POST: &[(&str, &str)] = &[
    (":method", "POST"),
    (":path", "/v1/chat"),
    (":authority", "api.example.com"),
    (":scheme", "http"),
];
pub const OK: &[(&str, &str)] = &[(":status", "200"), ("content-type", "application/json")];
