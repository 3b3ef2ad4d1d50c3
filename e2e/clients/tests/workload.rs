//! The workload benchmark's smoke run (`ai-workload --smoke`): the real chain (four plugins in the
//! gateway, Redis with RediSearch, the local embedding server) in front of the mock LLM, replaying a
//! small QQP mix. Asserts behaviour, not figures: the chain saves upstream tokens whenever questions
//! repeat, an exact repeat asked after its original was answered is a hit (with the original's
//! answer), the paths without the cache never report hits, and the chart is written.
//!
//! Skips (exit status 3, banner printed by the stack) when Redis or the embedding model cannot be had,
//! unless `E2E_REQUIRE_REDIS=1` / `E2E_REQUIRE_EMBEDDINGS=1`.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn smoke_run(dir: &std::path::Path) -> Option<Value> {
    let (json, svg) = (dir.join("figures.json"), dir.join("workload.svg"));
    let out = Command::new(env!("CARGO_BIN_EXE_ai-workload"))
        .args(["--smoke", "--json"])
        .arg(&json)
        .arg("--svg")
        .arg(&svg)
        .output()
        .expect("run ai-workload");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(3) {
        eprintln!("{stderr}");
        return None;
    }
    assert!(
        out.status.success(),
        "ai-workload --smoke failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    let figures: Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("figures json")).unwrap();
    let chart = std::fs::read_to_string(&svg).expect("chart written");
    assert!(
        chart.starts_with("<svg") || chart.contains("<svg"),
        "not an SVG"
    );
    assert!(chart.contains("threshold") && chart.contains("repeat share"));
    // The Markdown the run prints is what BENCHMARKS.md quotes.
    for heading in [
        "### Full chain",
        "### Similarity threshold",
        "### Repeat share",
    ] {
        assert!(stdout.contains(heading), "{heading} missing:\n{stdout}");
    }
    Some(figures)
}

/// `hits` of `asked`, missing at most one in ten (at least one miss allowed).
fn nearly_all(hits: u64, asked: u64) -> bool {
    hits <= asked && asked - hits <= (asked / 10).max(1)
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

#[test]
fn mock_llm_workload_smoke_chain_saves_tokens_and_serves_exact_repeats_right() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("workload-smoke");
    std::fs::create_dir_all(&dir).unwrap();
    let Some(f) = smoke_run(&dir) else { return };

    let levels = f["levels"].as_array().unwrap();
    assert!(!levels.is_empty());
    for l in levels {
        let c = n(&l["concurrency"]);
        let (chain, plain, direct) = (&l["chain"], &l["plain"], &l["direct"]);
        for (path, r) in [("chain", chain), ("no plugins", plain), ("direct", direct)] {
            assert_eq!(n(&r["errors"]), 0, "{path} at concurrency {c}: {r}");
            assert!(n(&r["requests"]) > 0);
        }
        // Only the chain has a cache.
        assert_eq!(n(&plain["hits"]), 0, "{plain}");
        assert_eq!(n(&direct["hits"]), 0, "{direct}");
        assert!(n(&chain["hits"]) > 0, "no hit at concurrency {c}: {chain}");
        assert!(
            n(&chain["upstream_tokens"]) < n(&direct["upstream_tokens"]),
            "no tokens saved at concurrency {c}: {chain} vs {direct}"
        );
        // Requests that are not cache hits cost the provider the same on every path.
        assert_eq!(n(&plain["upstream_tokens"]), n(&direct["upstream_tokens"]));
        // The gateway process was measured.
        assert!(l["chain_usage"]["rss_kib"].as_u64().unwrap() > 0);
        assert!(l["chain_cpu_s"].as_f64().unwrap() > 0.0, "{l}");
    }
    // One at a time, every exact repeat comes after its original was answered: they hit, with the
    // original's answer. (The cache is written after the answer has gone out, so a repeat sent
    // right behind its original may still miss: one in ten is allowed.)
    let serial = levels
        .iter()
        .find(|l| n(&l["concurrency"]) == 1)
        .expect("the smoke run includes concurrency 1");
    let repeat = &serial["chain"]["repeat"];
    assert!(n(&repeat["asked"]) > 0, "{serial}");
    assert!(
        nearly_all(n(&repeat["hits"]), n(&repeat["asked"])),
        "{repeat}"
    );
    // A repeat is answered with its original's answer, unless the original itself was served
    // another question's answer (a semantic hit back-fills the exact layer).
    assert!(
        n(&repeat["wrong"]) == 0 || n(&serial["chain"]["fresh"]["wrong"]) > 0,
        "{serial}"
    );

    // Nothing repeated: nothing saved beyond chance; repeats: tokens saved.
    let shares = f["repeat_shares"].as_array().unwrap();
    let zero = shares
        .iter()
        .find(|s| s["repeat_share"].as_f64() == Some(0.0))
        .unwrap();
    let some = shares
        .iter()
        .find(|s| s["repeat_share"].as_f64().unwrap() > 0.0)
        .unwrap();
    assert_eq!(n(&zero["chain"]["repeat"]["asked"]), 0);
    assert!(
        n(&some["chain"]["upstream_tokens"]) < n(&some["direct"]["upstream_tokens"]),
        "{some}"
    );

    // Each threshold replays one request at a time: exact repeats hit there too.
    let thresholds = f["thresholds"].as_array().unwrap();
    assert!(thresholds.len() >= 2);
    for t in thresholds {
        let repeat = &t["chain"]["repeat"];
        assert!(nearly_all(n(&repeat["hits"]), n(&repeat["asked"])), "{t}");
    }
}
