//! Builds wasm plugin crates for tests: `cargo build --target wasm32-wasip1 --release -p <crate>`
//! into a separate target dir (`wasm-test-plugins` inside `$CARGO_TARGET_DIR`, else
//! `<workspace>/target`) so that it never waits on the outer cargo's build lock, while test runs
//! with their own target dirs never overwrite each other's plugins; each crate is built once per
//! test process.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// Builds `package` (a workspace member) for wasm32-wasip1 and returns the `.wasm` path.
/// `workspace_dir` is the directory holding the workspace `Cargo.toml`.
pub fn build_wasm_plugin(workspace_dir: &Path, package: &str) -> Result<PathBuf, String> {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let built = BUILT.get_or_init(|| Mutex::new(HashMap::new()));
    let mut guard = built.lock().unwrap();
    if let Some(p) = guard.get(package) {
        return Ok(p.clone());
    }
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|d| {
            if d.is_relative() {
                workspace_dir.join(d)
            } else {
                d
            }
        })
        .unwrap_or_else(|| workspace_dir.join("target"))
        .join("wasm-test-plugins");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(workspace_dir)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip1",
            "-p",
            package,
        ])
        .env("CARGO_TARGET_DIR", &target_dir)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .map_err(|e| format!("running cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "building {package} for wasm32-wasip1 failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let path = target_dir
        .join("wasm32-wasip1")
        .join("release")
        .join(format!("{}.wasm", package.replace('-', "_")));
    if !path.exists() {
        return Err(format!("{} missing after build", path.display()));
    }
    guard.insert(package.to_string(), path.clone());
    Ok(path)
}

/// What [`build_wasm_example_with`] builds: `cargo build --release --target wasm32-wasip1 -p
/// <package> --example <example> [--features ..]`, with extra environment (e.g.
/// `CARGO_PROFILE_RELEASE_OPT_LEVEL`) that also names the target subdirectory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ExampleBuild {
    pub package: String,
    pub example: String,
    pub features: Vec<String>,
    pub env: Vec<(String, String)>,
}

/// Builds example `example` of `package` (a cdylib `[[example]]`) for wasm32-wasip1 with
/// `features` and returns the `.wasm` path. Each feature set gets its own target subdirectory, so
/// an ABI 0.2.1 build never invalidates the default one. Built once per process per arguments.
pub fn build_wasm_example(
    workspace_dir: &Path,
    package: &str,
    example: &str,
    features: &[&str],
) -> Result<PathBuf, String> {
    build_wasm_example_with(
        workspace_dir,
        &ExampleBuild {
            package: package.to_string(),
            example: example.to_string(),
            features: features.iter().map(|f| f.to_string()).collect(),
            env: Vec::new(),
        },
    )
}

/// [`build_wasm_example`] with extra environment. The target directory is
/// `$CARGO_TARGET_DIR/wasm-test-examples/<package>[-<features>][-<env>]` (`<workspace>/target`
/// when `CARGO_TARGET_DIR` is unset), separate from the outer build so it never waits on its lock.
pub fn build_wasm_example_with(workspace_dir: &Path, b: &ExampleBuild) -> Result<PathBuf, String> {
    static BUILT: OnceLock<Mutex<HashMap<ExampleBuild, PathBuf>>> = OnceLock::new();
    let built = BUILT.get_or_init(|| Mutex::new(HashMap::new()));
    let mut guard = built.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = guard.get(b) {
        return Ok(p.clone());
    }
    let mut subdir = b.package.clone();
    for f in &b.features {
        subdir.push('-');
        subdir.push_str(f);
    }
    for (k, v) in &b.env {
        subdir.push_str(&format!("-{k}={v}"));
    }
    let subdir: String = subdir
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_=".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let base = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_dir.join("target"));
    let target_dir = base.join("wasm-test-examples").join(subdir);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_dir)
        .args(["build", "--release", "--target", "wasm32-wasip1", "-p"])
        .arg(&b.package)
        .arg("--example")
        .arg(&b.example)
        .env("CARGO_TARGET_DIR", &target_dir)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    if !b.features.is_empty() {
        cmd.arg("--features").arg(b.features.join(","));
    }
    for (k, v) in &b.env {
        cmd.env(k, v);
    }
    let out = cmd.output().map_err(|e| format!("running cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "building example {} of {} ({:?}) for wasm32-wasip1 failed:\n{}",
            b.example,
            b.package,
            b.features,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let path = target_dir
        .join("wasm32-wasip1/release/examples")
        .join(format!("{}.wasm", b.example.replace('-', "_")));
    if !path.exists() {
        return Err(format!("{} missing after build", path.display()));
    }
    guard.insert(b.clone(), path.clone());
    Ok(path)
}

/// Renames the module's `proxy_abi_version_*` export to `new_name` (tests of ABI detection and of
/// per-version behaviour reuse one plugin binary).
pub fn with_abi_export(wasm: &[u8], new_name: &str) -> Vec<u8> {
    fn leb(bytes: &[u8], pos: &mut usize) -> u32 {
        let (mut result, mut shift) = (0u32, 0);
        loop {
            let b = bytes[*pos];
            *pos += 1;
            result |= ((b & 0x7f) as u32) << shift;
            if b & 0x80 == 0 {
                return result;
            }
            shift += 7;
        }
    }
    fn put_leb(out: &mut Vec<u8>, mut v: u32) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }
    let mut out = wasm[..8].to_vec();
    let mut pos = 8;
    while pos < wasm.len() {
        let id = wasm[pos];
        pos += 1;
        let size = leb(wasm, &mut pos) as usize;
        let body = &wasm[pos..pos + size];
        pos += size;
        let mut new_body = Vec::new();
        if id == 7 {
            let mut p = 0;
            let count = leb(body, &mut p);
            put_leb(&mut new_body, count);
            for _ in 0..count {
                let len = leb(body, &mut p) as usize;
                let name = &body[p..p + len];
                p += len;
                let kind = body[p];
                p += 1;
                let index = leb(body, &mut p);
                let name: &[u8] = if name.starts_with(b"proxy_abi_version_") {
                    new_name.as_bytes()
                } else {
                    name
                };
                put_leb(&mut new_body, name.len() as u32);
                new_body.extend_from_slice(name);
                new_body.push(kind);
                put_leb(&mut new_body, index);
            }
        } else {
            new_body.extend_from_slice(body);
        }
        out.push(id);
        put_leb(&mut out, new_body.len() as u32);
        out.extend_from_slice(&new_body);
    }
    out
}
