//! The demo session through the full chain (real Redis, the local embedding server, mock LLMs as
//! primary and fallback providers), then the Grafana dashboard checked against the gateway's real
//! Prometheus output: every metric a dashboard query reads must be one the plugins exported.

use std::path::Path;

use e2e_clients::demo::{self, Prices};
use e2e_clients::prometheus::{
    dashboard_exprs, metric_refs, samples, MetricRef, PLUGIN_METRIC_PREFIXES,
};
use e2e_clients::stack::Stack;

fn dashboard() -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dashboards/ai-gateway.json");
    serde_json::from_str(&std::fs::read_to_string(&path).expect("dashboard")).expect("JSON")
}

/// What Grafana's import needs (the data source as an `__inputs` variable, unique panel ids, a
/// grid position, a query per panel), and a panel for each figure issue #11 asks for.
#[test]
fn dashboard_is_importable_and_covers_hit_rate_tokens_saved_limits_fallbacks_and_pii() {
    let d = dashboard();
    assert_eq!(d["__inputs"][0]["name"], "DS_PROMETHEUS");
    assert_eq!(d["__inputs"][0]["pluginId"], "prometheus");
    assert!(d["uid"].as_str().is_some_and(|u| !u.is_empty()));
    let mut ids = std::collections::BTreeSet::new();
    let mut panels = 0;
    for p in d["panels"].as_array().expect("panels") {
        let id = p["id"].as_u64().expect("panel id");
        assert!(ids.insert(id), "duplicate panel id {id}");
        for k in ["x", "y", "w", "h"] {
            assert!(p["gridPos"][k].is_u64(), "panel {id}: gridPos.{k}");
        }
        if p["type"] == "row" {
            continue;
        }
        panels += 1;
        assert_eq!(p["datasource"]["uid"], "${DS_PROMETHEUS}", "panel {id}");
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "panel {id} has no query");
        for t in targets {
            assert_eq!(t["datasource"]["uid"], "${DS_PROMETHEUS}", "panel {id}");
        }
    }
    assert!(panels >= 10, "{panels} panels");
    let refs: Vec<MetricRef> = dashboard_exprs(&d)
        .iter()
        .flat_map(|e| metric_refs(e).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let wanted = [
        MetricRef::Exact("semantic_cache_hits".into()),
        MetricRef::Exact("semantic_cache_misses".into()),
        MetricRef::Exact("semantic_cache_tokens_saved".into()),
        MetricRef::Exact("token_ratelimit_limited".into()),
        MetricRef::Prefix("provider_fallback_failure_".into()),
        MetricRef::Prefix("pii_redaction_detected_".into()),
    ];
    for w in wanted {
        assert!(refs.contains(&w), "no panel reads {w:?}");
    }
}

#[test]
fn demo_session_with_mock_providers_then_dashboard_queries_match_exported_metrics() {
    let test = "demo_session_with_mock_providers_then_dashboard_queries_match_exported_metrics";
    let Some(stack) = Stack::start_or_skip(test) else {
        return;
    };
    let prices = Prices {
        input_per_mtok: 2.5,
        output_per_mtok: 10.0,
    };
    let summary = demo::run(&stack.endpoints(), "gpt-4o-mini", prices).expect("demo session");
    println!("{}", demo::render(&summary, prices));

    // PII: the provider saw placeholders / masks, never the values.
    let saw = summary
        .provider_saw
        .as_deref()
        .expect("the mock shows what it saw");
    assert!(!saw.contains("alice.smith@example.com"), "{saw}");
    assert!(saw.contains("[EMAIL_1]"), "{saw}");
    assert!(saw.contains("138****5678"), "{saw}");
    assert_eq!(
        summary.masked.get("email"),
        Some(&1),
        "{:?}",
        summary.masked
    );
    assert_eq!(
        summary.masked.get("cn_mobile"),
        Some(&1),
        "{:?}",
        summary.masked
    );

    // Cache: one miss, then an exact hit, a semantic hit and a streamed exact hit.
    assert_eq!(summary.cache_misses, 1, "{:#?}", summary.rows);
    let sims = &summary.hit_similarities;
    assert_eq!(sims.len(), 3, "{:#?}", summary.rows);
    assert_eq!((sims[0], sims[2]), (1.0, 1.0));
    assert!(
        (0.9..1.0).contains(&sims[1]),
        "paraphrase similarity {}",
        sims[1]
    );
    assert!(summary.input_tokens_saved > 0 && summary.output_tokens_saved > 0);
    let expected =
        (summary.input_tokens_saved as f64 * 2.5 + summary.output_tokens_saved as f64 * 10.0) / 1e6;
    assert!((summary.dollars_saved - expected).abs() < 1e-12);
    // Hits never reached the provider: the first question was asked there once.
    let asked = stack
        .llm
        .requests()
        .iter()
        .filter(|r| r.body.to_string().contains("capital city of France"))
        .count();
    assert_eq!(asked, 1);

    // Token limit and fallback.
    let retry = summary.retry_after.expect("a 429 with Retry-After");
    // At most the one-minute window plus one of its 60 slots.
    assert!((1..=61).contains(&retry), "Retry-After {retry}");
    assert_eq!(summary.fallback_provider.as_deref(), Some("fallback"));
    assert_eq!(stack.fallback.stats().total, 1);

    // The dashboard reads only metrics the gateway exported during this session (the plugins'
    // under the names Higress gives them: no `envoy_` prefix).
    let exported = samples(&stack.prometheus().expect("admin /stats/prometheus"));
    let exprs = dashboard_exprs(&dashboard());
    assert!(exprs.len() >= 10, "{} queries", exprs.len());
    let mut missing = Vec::new();
    for expr in &exprs {
        let refs = metric_refs(expr).unwrap_or_else(|e| panic!("{e}"));
        assert!(!refs.is_empty(), "query reads no metric: {expr}");
        for r in refs {
            if !exported.keys().any(|name| r.matches(name)) {
                missing.push(format!("{r:?} in {expr}"));
            }
        }
    }
    let plugin_metrics: Vec<&String> = exported
        .keys()
        .filter(|k| PLUGIN_METRIC_PREFIXES.iter().any(|p| k.starts_with(p)))
        .collect();
    assert!(
        missing.is_empty(),
        "dashboard queries metrics the gateway does not export:\n{}\nexported plugin metrics: {plugin_metrics:?}",
        missing.join("\n")
    );
}

/// `make run` with `LLM_BASE_URL` and `LLM_API_KEY` (a real provider; here a mock stands in for
/// it): the route sends the key to the provider, `endpoints.env` has no `MOCK_URL`, and the demo
/// skips the step that needs the mock's fault control while the rest of the session still shows
/// its results.
#[test]
fn demo_session_in_real_provider_mode_with_mock_provider_key_from_the_route_and_no_fault_step() {
    let test =
        "demo_session_in_real_provider_mode_with_mock_provider_key_from_the_route_and_no_fault_step";
    let Some(stack) = Stack::start_or_skip(test) else {
        return;
    };
    let (base_url, admin, _) = stack
        .start_gateway_with_provider_key("sk-from-make-run")
        .expect("gateway with the provider key");
    let env = format!("GATEWAY_URL={base_url}\nADMIN_URL=http://{admin}\nMOCK_URL=\n");
    // A client key of its own is replaced by the route's.
    let ep = demo::Endpoints::from_endpoints_env(&env, Some("sk-client".into())).unwrap();
    let summary = demo::run(&ep, "deepseek-chat", Prices::default()).expect("demo session");
    println!("{}", demo::render(&summary, Prices::default()));

    let requests = stack.llm.requests();
    assert!(requests.len() >= 3, "{} requests", requests.len());
    for r in &requests {
        assert_eq!(
            r.headers.get("authorization").map(String::as_str),
            Some("Bearer sk-from-make-run"),
            "{} {}",
            r.method,
            r.path
        );
        assert_eq!(r.body["model"], "deepseek-chat");
    }
    assert_eq!(summary.provider_saw, None);
    assert_eq!(summary.hit_similarities.len(), 3, "{:#?}", summary.rows);
    assert!(summary.retry_after.is_some());
    let last = summary.rows.last().expect("rows");
    assert_eq!(
        (last.step.as_str(), last.outcome.as_str()),
        ("fallback provider", "skipped")
    );
    assert_eq!(summary.fallback_provider, None);
    assert_eq!(stack.fallback.stats().total, 0);
}
