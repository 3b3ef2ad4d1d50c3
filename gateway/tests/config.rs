//! Configuration errors are rejected before anything starts, naming file, document and field.

mod common;

use common::*;
use proxy_wasm_host::tiny_wasm::{noop_plugin, Abi};
use std::process::Command;

fn check(yaml: &str) -> (i32, String, String) {
    let dir = tempdir("cfg");
    let path = dir.join("gw.yaml");
    std::fs::write(&path, yaml).unwrap();
    let out = Command::new(binary())
        .arg("--check")
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const HEAD: &str = "apiVersion: gateway.higress.io/v1alpha1\nkind: Gateway\nspec:\n  listeners: [{address: 127.0.0.1, port: 0}]\n";
const CLUSTER: &str =
    "  clusters:\n  - name: \"outbound|80||llm.static\"\n    addresses: [\"127.0.0.1:9\"]\n";

#[test]
fn a_valid_config_passes_the_check() {
    let yaml = format!("{HEAD}{CLUSTER}  routes:\n  - {{name: r, cluster: \"outbound|80||llm.static\", timeout: 0s}}\n");
    let (code, out, err) = check(&yaml);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("ok (1 listeners, 1 routes, 1 clusters, 0 plugins)"),
        "{out}"
    );
}

#[test]
fn malformed_configs_are_rejected_with_file_document_and_field() {
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            format!("{HEAD}{CLUSTER}  routes:\n  - {{name: r, cluster: \"outbound|80||nope.static\"}}\n"),
            vec!["document 1 (starting at line 1)", "spec.routes[0].cluster", "unknown cluster \"outbound|80||nope.static\""],
        ),
        (
            format!("{HEAD}  clusters:\n  - name: openai\n    addresses: [\"a:1\"]\n"),
            vec!["spec.clusters[0].name", "not a Higress cluster name"],
        ),
        (
            format!("{HEAD}{CLUSTER}  routes:\n  - {{name: r, cluster: \"outbound|80||llm.static\", timout: 5s}}\n"),
            vec!["document 1", "unknown field `timout`"],
        ),
        (
            format!("{HEAD}{CLUSTER}  routes:\n  - {{name: r, cluster: \"outbound|80||llm.static\", timeout: 5 seconds}}\n"),
            vec!["spec.routes[0].timeout", "unknown unit"],
        ),
        (
            format!("{HEAD}{CLUSTER}---\napiVersion: extensions.higress.io/v1alpha1\nkind: WasmPlugin\nmetadata: {{name: p}}\nspec:\n  url: file:///does/not/exist.wasm\n"),
            vec!["document 2 (starting at line 9)", "spec.url", "/does/not/exist.wasm does not exist"],
        ),
        (
            format!("{HEAD}---\nkind: Service\n"),
            vec!["document 2", "kind", "unsupported kind \"Service\""],
        ),
        (
            "kind: WasmPlugin\napiVersion: v\nmetadata: {name: p}\nspec: {url: file:///x.wasm}\n".to_string(),
            vec!["document 1", "spec.url"],
        ),
        (
            "apiVersion: v\nkind: Gateway\nspec:\n  listeners: []\n".to_string(),
            vec!["spec.listeners", "at least one listener"],
        ),
        (
            "apiVersion: v\nkind: Gateway\nspec:\n  listeners: [{address: localhost, port: 1}]\n".to_string(),
            vec!["spec.listeners[0].address", "not an IP address"],
        ),
        (
            "apiVersion: v\nkind: Gateway\nspec:\n  listeners: [{address: 127.0.0.1, port: 70000}]\n".to_string(),
            vec!["document 1", "listeners"],
        ),
    ];
    for (yaml, needles) in cases {
        let (code, _, err) = check(&yaml);
        assert_eq!(code, 1, "accepted:\n{yaml}");
        assert!(err.contains("gw.yaml"), "no file name in {err:?}");
        for n in needles {
            assert!(err.contains(n), "{n:?} missing in {err:?} for\n{yaml}");
        }
    }
}

#[test]
fn starting_with_a_bad_config_exits_with_the_error() {
    let dir = tempdir("bad");
    let err = Gateway::start_in(&dir, "apiVersion: v\nkind: Gateway\nspec: {}\n")
        .err()
        .expect("must not start");
    assert!(err.contains("spec.listeners"), "{err}");
}

#[test]
fn plugins_listed_by_glob_are_loaded_relative_to_the_config_file() {
    let dir = tempdir("glob");
    std::fs::create_dir_all(dir.join("plugins")).unwrap();
    std::fs::write(
        dir.join("plugins/noop.wasm"),
        noop_plugin(Abi::V0_2_1, false),
    )
    .unwrap();
    for n in ["a", "b"] {
        std::fs::write(
            dir.join(format!("plugins/{n}.yaml")),
            format!("apiVersion: extensions.higress.io/v1alpha1\nkind: WasmPlugin\nmetadata: {{name: {n}}}\nspec:\n  url: file://noop.wasm\n"),
        )
        .unwrap();
    }
    let yaml = format!("{HEAD}  plugins: [\"plugins/*.yaml\"]\n");
    std::fs::write(dir.join("gw.yaml"), yaml).unwrap();
    let out = Command::new(binary())
        .args(["--check", "--config"])
        .arg(dir.join("gw.yaml"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("2 plugins"), "{stdout}");
}
