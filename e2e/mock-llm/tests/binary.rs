//! The real `mock-llm` binary: the machine-readable address line and CLI-configured behaviour.

mod common;

use std::net::SocketAddr;
use std::process::Stdio;

use common::{bounded, openai_error, user, Client};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

async fn start(args: &[&str]) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mock-llm"))
        .args(args)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("binary starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines.next_line().await.unwrap().expect("address line");
    let addr = line
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected line {line:?}"));
    (child, addr.parse().unwrap())
}

#[tokio::test]
async fn prints_its_address_and_applies_cli_faults_and_keys() {
    bounded(async {
        let (_child, addr) = start(&[
            "--listen",
            "127.0.0.1:0",
            "--fault",
            "status=503",
            "--require-key",
            "k1",
        ])
        .await;
        assert_ne!(addr.port(), 0);
        let c = Client::http1(addr);
        openai_error(&c.chat(&[], &user("x")).await.unwrap(), 401);
        let r = c
            .chat(&[("authorization", "Bearer k1")], &user("x"))
            .await
            .unwrap();
        assert_eq!(openai_error(&r, 503)["type"], "server_error");
        let r = c
            .chat(
                &[("authorization", "Bearer k1"), ("x-mock-fault", "none")],
                &user("x"),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 200);
        let stats = c.get("/mock/stats").await.unwrap().json();
        assert_eq!(stats["total"], 3);
    })
    .await
}

#[tokio::test]
async fn cli_latency_defaults_apply() {
    bounded(async {
        let (_child, addr) = start(&["--ttft-ms=150", "--model", "custom-model"]).await;
        let c = Client::http1(addr);
        let r = c.chat(&[], &user("x")).await.unwrap();
        assert!(r.head_after >= std::time::Duration::from_millis(150));
        assert_eq!(
            c.get("/v1/models").await.unwrap().json()["data"][0]["id"],
            "custom-model"
        );
    })
    .await
}

#[tokio::test]
async fn help_and_bad_arguments() {
    bounded(async {
        let help = Command::new(env!("CARGO_BIN_EXE_mock-llm"))
            .arg("--help")
            .output()
            .await
            .unwrap();
        assert!(help.status.success());
        assert!(String::from_utf8_lossy(&help.stdout).contains("--fail-ratio"));
        let bad = Command::new(env!("CARGO_BIN_EXE_mock-llm"))
            .args(["--fault", "boom"])
            .output()
            .await
            .unwrap();
        assert_eq!(bad.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid fault spec"));
    })
    .await
}
