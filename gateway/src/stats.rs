//! Gateway counters (Envoy `http.<prefix>.downstream_rq_*`, `cluster.<name>.upstream_*`) and the
//! Prometheus text rendering of them plus the plugins' metrics.

use proxy_wasm_host::shared::MetricValue;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

#[derive(Default)]
pub struct Stats {
    pub downstream_rq_total: AtomicU64,
    pub downstream_rq_active: AtomicI64,
    /// 1xx..5xx, index = class - 1.
    pub downstream_rq_xx: [AtomicU64; 5],
    pub upstream_rq_total: AtomicU64,
    pub upstream_cx_connect_fail: AtomicU64,
    pub upstream_rq_timeout: AtomicU64,
    pub upstream_rq_reset: AtomicU64,
    pub route_not_found: AtomicU64,
    pub http_callouts_total: AtomicU64,
    pub redis_callouts_total: AtomicU64,
    pub config_reloads_total: AtomicU64,
    pub config_reload_failures_total: AtomicU64,
}

impl Stats {
    pub fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub fn record_code(&self, code: u32) {
        if (100..600).contains(&code) {
            Self::inc(&self.downstream_rq_xx[(code / 100 - 1) as usize]);
        }
    }
}

/// The Prometheus name of a plugin metric. Envoy (1.20+, so every Higress) defines Wasm metrics
/// in its `wasmcustom` custom stat namespace, which the Prometheus formatter strips without adding
/// the `envoy_` prefix of Envoy's own stats: `semantic_cache.hits` is `semantic_cache_hits`.
/// Characters outside `[a-zA-Z0-9_]` become `_`, as in every Envoy name.
pub fn plugin_metric_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Histogram buckets in ms (Envoy's default supported buckets, abbreviated).
const BUCKETS: [u64; 10] = [1, 5, 10, 25, 50, 100, 250, 1000, 5000, 30000];

pub fn render(stats: &Stats, plugin_metrics: &BTreeMap<String, MetricValue>) -> String {
    let mut out = String::new();
    let counter = |out: &mut String, name: &str, v: u64| {
        let _ = writeln!(out, "# TYPE {name} counter\n{name} {v}");
    };
    let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
    counter(
        &mut out,
        "envoy_http_downstream_rq_total",
        load(&stats.downstream_rq_total),
    );
    let _ = writeln!(
        out,
        "# TYPE envoy_http_downstream_rq_active gauge\nenvoy_http_downstream_rq_active {}",
        stats.downstream_rq_active.load(Ordering::Relaxed)
    );
    let _ = writeln!(out, "# TYPE envoy_http_downstream_rq_xx counter");
    for (i, c) in stats.downstream_rq_xx.iter().enumerate() {
        let _ = writeln!(
            out,
            "envoy_http_downstream_rq_xx{{envoy_response_code_class=\"{}\"}} {}",
            i + 1,
            load(c)
        );
    }
    for (name, c) in [
        ("envoy_cluster_upstream_rq_total", &stats.upstream_rq_total),
        (
            "envoy_cluster_upstream_cx_connect_fail",
            &stats.upstream_cx_connect_fail,
        ),
        (
            "envoy_cluster_upstream_rq_timeout",
            &stats.upstream_rq_timeout,
        ),
        (
            "envoy_cluster_upstream_rq_rx_reset",
            &stats.upstream_rq_reset,
        ),
        ("envoy_http_rq_route_not_found", &stats.route_not_found),
        ("gateway_http_callouts_total", &stats.http_callouts_total),
        ("gateway_redis_callouts_total", &stats.redis_callouts_total),
        ("gateway_config_reloads_total", &stats.config_reloads_total),
        (
            "gateway_config_reload_failures_total",
            &stats.config_reload_failures_total,
        ),
    ] {
        counter(&mut out, name, load(c));
    }
    for (name, v) in plugin_metrics {
        let n = plugin_metric_name(name);
        match v {
            MetricValue::Counter(c) => counter(&mut out, &n, *c),
            MetricValue::Gauge(g) => {
                let _ = writeln!(out, "# TYPE {n} gauge\n{n} {g}");
            }
            MetricValue::Histogram(samples) => {
                let _ = writeln!(out, "# TYPE {n} histogram");
                for b in BUCKETS {
                    let c = samples.iter().filter(|s| **s <= b).count();
                    let _ = writeln!(out, "{n}_bucket{{le=\"{b}\"}} {c}");
                }
                let sum: u64 = samples.iter().sum();
                let _ = writeln!(
                    out,
                    "{n}_bucket{{le=\"+Inf\"}} {}\n{n}_sum {sum}\n{n}_count {}",
                    samples.len(),
                    samples.len()
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_envoy_counters_with_the_prefix_and_plugin_metrics_without() {
        let s = Stats::default();
        s.record_code(404);
        Stats::inc(&s.downstream_rq_total);
        let mut m = BTreeMap::new();
        m.insert(
            "route.r1.upstream.c.model.gpt.input_token".to_string(),
            MetricValue::Counter(7),
        );
        m.insert("lat".to_string(), MetricValue::Histogram(vec![3, 70]));
        let text = render(&s, &m);
        assert!(text.contains("envoy_http_downstream_rq_total 1\n"));
        assert!(text.contains("envoy_http_downstream_rq_xx{envoy_response_code_class=\"4\"} 1\n"));
        // As Higress's ai-statistics README shows its metrics: `route_..._input_token`.
        assert!(text.contains("\nroute_r1_upstream_c_model_gpt_input_token 7\n"));
        assert!(text.contains("\nlat_bucket{le=\"5\"} 1\n"));
        assert!(text.contains("\nlat_bucket{le=\"100\"} 2\n"));
        assert!(text.contains("\nlat_sum 73\n"));
        assert!(!text.contains("envoy_lat"));
    }
}
