//! The `embedding-server` binary: flags, the `listening on` line, serving, and bad flags.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};

use embedding_server::{client, model_dir};

const BIN: &str = env!("CARGO_BIN_EXE_embedding-server");

#[test]
fn binary_prints_its_address_and_serves_the_model_dir_it_was_given() {
    let Some(dir) = embedding_server::skip_if_unavailable(
        "binary_prints_its_address_and_serves_the_model_dir_it_was_given",
        model_dir::locate(),
    ) else {
        return;
    };
    let mut child = Command::new(BIN)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--max-batch",
            "16",
            "--model-dir",
        ])
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr: Option<SocketAddr> = line
        .trim()
        .strip_prefix("listening on http://")
        .and_then(|a| a.parse().ok());
    let result = addr.ok_or(line.clone()).map(|addr| {
        let vectors = client::embed(addr, &["hello", "world"]);
        (client::get(addr, "/health"), vectors)
    });
    let _ = child.kill();
    let _ = child.wait();
    let (health, vectors) = result.unwrap_or_else(|l| panic!("unexpected first line {l:?}"));
    assert_eq!(health.unwrap().status, 200);
    assert_eq!(vectors.unwrap().len(), 2);
}

#[test]
fn bad_flags_exit_2_with_usage_and_a_bad_model_dir_fails() {
    let out = Command::new(BIN)
        .arg("--max-batch")
        .arg("0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--max-batch 0") && stderr.contains("usage:"),
        "{stderr}"
    );

    let out = Command::new(BIN)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--model-dir",
            "/nonexistent-model-dir",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("/nonexistent-model-dir/config.json"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "nothing on stdout before it listens");
}
