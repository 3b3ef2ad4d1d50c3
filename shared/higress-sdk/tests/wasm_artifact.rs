//! Builds the example plugin for wasm32-wasip1 and checks what a proxy will see: the exported
//! callbacks and ABI marker, and imports limited to `env.proxy_*` and WASI.
#![cfg(not(target_arch = "wasm32"))]

use std::path::PathBuf;
use std::process::Command;

use wasmparser::{Parser, Payload, TypeRef};

struct Module {
    exports: Vec<String>,
    imports: Vec<(String, String)>,
}

fn build(features: &[&str]) -> Module {
    let target_dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("wasm-{}", features.join("-")));
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args([
        "build",
        "-p",
        "higress-sdk",
        "--example",
        "add-header",
        "--target",
        "wasm32-wasip1",
        "--release",
    ])
    .arg("--manifest-path")
    .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
    .env("CARGO_TARGET_DIR", &target_dir);
    for f in features {
        cmd.args(["--features", f]);
    }
    let out = cmd.output().expect("run cargo");
    assert!(
        out.status.success(),
        "wasm build failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let wasm = std::fs::read(target_dir.join("wasm32-wasip1/release/examples/add_header.wasm"))
        .expect("read wasm");
    let mut module = Module {
        exports: Vec::new(),
        imports: Vec::new(),
    };
    for payload in Parser::new(0).parse_all(&wasm) {
        match payload.expect("valid wasm") {
            Payload::ExportSection(s) => {
                for e in s {
                    module.exports.push(e.unwrap().name.to_string());
                }
            }
            Payload::ImportSection(s) => {
                for import in s.into_imports() {
                    let i = import.unwrap();
                    assert!(
                        matches!(i.ty, TypeRef::Func(_) | TypeRef::FuncExact(_)),
                        "non-function import {}.{}",
                        i.module,
                        i.name
                    );
                    module
                        .imports
                        .push((i.module.to_string(), i.name.to_string()));
                }
            }
            _ => {}
        }
    }
    module
}

const CALLBACKS: &[&str] = &[
    "proxy_on_memory_allocate",
    "proxy_on_context_create",
    "proxy_on_vm_start",
    "proxy_on_configure",
    "proxy_on_tick",
    "proxy_on_queue_ready",
    "proxy_on_foreign_function",
    "proxy_on_request_headers",
    "proxy_on_request_body",
    "proxy_on_request_trailers",
    "proxy_on_response_headers",
    "proxy_on_response_body",
    "proxy_on_response_trailers",
    "proxy_on_log",
    "proxy_on_done",
    "proxy_on_delete",
    "proxy_on_http_call_response",
    "proxy_on_redis_call_response",
];

const HIGRESS_ONLY: &[&str] = &[
    "proxy_redis_init",
    "proxy_redis_call",
    "proxy_inject_encoded_data_to_filter_chain",
    "proxy_get_upstream_hosts",
    "proxy_set_upstream_override_host",
];

fn check_common(m: &Module) {
    for cb in CALLBACKS {
        assert!(
            m.exports.iter().any(|e| e == cb),
            "missing export {cb}; have {:?}",
            m.exports
        );
    }
    assert!(m.exports.iter().any(|e| e == "memory"));
    for (module, name) in &m.imports {
        let ok =
            (module == "env" && name.starts_with("proxy_")) || module == "wasi_snapshot_preview1";
        assert!(ok, "unexpected import {module}.{name}");
    }
    // The example logs and edits headers, so these must be wired to the host.
    for needed in [
        "proxy_log",
        "proxy_add_header_map_value",
        "proxy_get_buffer_bytes",
    ] {
        assert!(
            m.imports.iter().any(|(md, n)| md == "env" && n == needed),
            "missing import {needed}"
        );
    }
}

#[test]
fn example_plugin_has_the_higress_abi_surface() {
    let m = build(&[]);
    check_common(&m);
    assert!(m.exports.iter().any(|e| e == "proxy_abi_version_0_2_100"));
    assert!(!m.exports.iter().any(|e| e == "proxy_abi_version_0_2_1"));
    for name in HIGRESS_ONLY {
        assert!(
            m.imports.iter().any(|(md, n)| md == "env" && n == name),
            "missing Higress import {name}"
        );
    }
    eprintln!("exports: {:?}\nimports: {:?}", m.exports, m.imports);
}

#[test]
fn abi_0_2_1_build_loads_in_vanilla_envoy() {
    let m = build(&["abi-0-2-1"]);
    check_common(&m);
    assert!(m.exports.iter().any(|e| e == "proxy_abi_version_0_2_1"));
    assert!(!m.exports.iter().any(|e| e == "proxy_abi_version_0_2_100"));
    for name in HIGRESS_ONLY {
        assert!(
            !m.imports.iter().any(|(_, n)| n == name),
            "vanilla Envoy lacks {name}"
        );
    }
}
