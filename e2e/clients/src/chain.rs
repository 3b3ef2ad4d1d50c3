//! Rendering `chain.yaml` (the WasmPlugin documents) and the Gateway document in front of it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The chain's plugins, in chain order.
pub const PLUGINS: [&str; 4] = [
    "pii-redaction",
    "semantic-cache",
    "token-rate-limit",
    "provider-fallback",
];

/// Cluster names `chain.yaml` uses, which the Gateway document maps to addresses.
pub const LLM_CLUSTER: &str = "outbound|80||llm.static";
pub const FALLBACK_CLUSTER: &str = "outbound|80||llm-fallback.static";
pub const REDIS_CLUSTER: &str = "outbound|6379||redis.static";
pub const EMBEDDING_CLUSTER: &str = "outbound|8090||embedding.static";

pub fn template_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("chain.yaml")
}

/// `chain.yaml` without its comment lines (as `scripts/run-local` renders it: the comments name
/// the placeholder syntax) and with every `@WASM:<plugin>@` replaced by `wasm(plugin)`; an error
/// names a placeholder left over (a plugin this code does not know).
pub fn render(template: &str, wasm: impl Fn(&str) -> PathBuf) -> Result<String, String> {
    let mut out: String = template
        .lines()
        .filter(|l| !l.starts_with('#'))
        .flat_map(|l| [l, "\n"])
        .collect();
    for p in PLUGINS {
        out = out.replace(&format!("@WASM:{p}@"), &wasm(p).display().to_string());
    }
    match out.find("@WASM:") {
        Some(at) => Err(format!(
            "chain.yaml: unknown placeholder {}",
            out[at..].lines().next().unwrap_or_default()
        )),
        None => Ok(out),
    }
}

/// Where the services of the chain listen.
pub struct Addresses {
    pub listen: SocketAddr,
    pub admin: SocketAddr,
    pub llm: SocketAddr,
    pub fallback: SocketAddr,
    pub redis: SocketAddr,
    pub embedding: SocketAddr,
}

/// The Gateway document: one catch-all route to the primary LLM, the clusters `chain.yaml` names.
pub fn gateway_doc(a: &Addresses, access_log: &Path) -> String {
    let cluster = |name: &str, addr: SocketAddr| {
        format!("  - name: \"{name}\"\n    addresses: [\"{addr}\"]\n    connectTimeout: 2s\n")
    };
    format!(
        "apiVersion: gateway.higress.io/v1alpha1\nkind: Gateway\nspec:\n  workers: 2\n  \
         accessLog: {log}\n  pluginLogLevel: warn\n  listeners:\n  - {{name: main, address: {la}, port: {lp}}}\n  \
         admin: {{address: {aa}, port: {ap}}}\n  clusters:\n{c1}{c2}{c3}{c4}  routes:\n  - name: ai-route-llm\n    \
         match: {{pathPrefix: /}}\n    cluster: \"{LLM_CLUSTER}\"\n    timeout: 0s\n",
        log = access_log.display(),
        la = a.listen.ip(),
        lp = a.listen.port(),
        aa = a.admin.ip(),
        ap = a.admin.port(),
        c1 = cluster(LLM_CLUSTER, a.llm),
        c2 = cluster(FALLBACK_CLUSTER, a.fallback),
        c3 = cluster(REDIS_CLUSTER, a.redis),
        c4 = cluster(EMBEDDING_CLUSTER, a.embedding),
    )
}

/// [`gateway_doc`] whose route sets `Authorization: Bearer <key>` on the upstream request after
/// the plugins ran, replacing a client's key: what `scripts/run-local` configures for a real
/// provider when `LLM_API_KEY` is set (the route is the document's last entry).
pub fn gateway_doc_with_provider_key(a: &Addresses, access_log: &Path, key: &str) -> String {
    format!(
        "{}    requestHeadersToAdd:\n    - {{key: authorization, value: \"Bearer {key}\", \
         appendAction: OVERWRITE_IF_EXISTS_OR_ADD}}\n",
        gateway_doc(a, access_log)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_plugin_of_the_template_is_rendered_in_chain_order() {
        let template = std::fs::read_to_string(template_path()).unwrap();
        let out = render(&template, |p| PathBuf::from(format!("/w/{p}.wasm"))).unwrap();
        let at: Vec<usize> = PLUGINS
            .iter()
            .map(|p| out.find(&format!("url: file:///w/{p}.wasm")).expect(p))
            .collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "chain order {at:?}");
        for c in [FALLBACK_CLUSTER, REDIS_CLUSTER, EMBEDDING_CLUSTER] {
            let (port, host) = c.split_once("||").unwrap();
            let port = port.rsplit('|').next().unwrap();
            assert!(
                out.contains(&format!("serviceName: {host}, servicePort: {port}"))
                    || out.contains(&format!("service_name: {host}, service_port: {port}")),
                "{c} is not referenced by the template"
            );
        }
    }

    #[test]
    fn an_unknown_placeholder_is_an_error() {
        let e = render("url: file://@WASM:nope@\n", |_| PathBuf::new()).unwrap_err();
        assert!(e.contains("@WASM:nope@"), "{e}");
    }
}
