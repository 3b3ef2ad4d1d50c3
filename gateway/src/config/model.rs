//! The gateway's own configuration document (`kind: Gateway`), deserialized strictly
//! (`deny_unknown_fields`) so that a typo is an error naming the field, not a silent default.

use serde::Deserialize;

/// Higress listener `per_connection_buffer_limit_bytes` default (helm `connectionBufferLimits`).
pub const DEFAULT_BUFFER_LIMIT: usize = proxy_wasm_host::stream::DEFAULT_BUFFER_LIMIT;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GatewayDoc {
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
    pub spec: GatewaySpec,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GatewaySpec {
    #[serde(default)]
    pub listeners: Vec<Listener>,
    #[serde(default)]
    pub admin: Option<Listener>,
    /// Worker threads (Envoy `--concurrency`); default 2.
    #[serde(default)]
    pub workers: Option<usize>,
    /// Body buffer limit per direction in bytes (Higress default 32 KiB).
    #[serde(default)]
    pub buffer_limit_bytes: Option<usize>,
    #[serde(default)]
    pub routes: Vec<Route>,
    #[serde(default)]
    pub clusters: Vec<Cluster>,
    /// Extra files (or `dir/*.yaml` globs) holding `WasmPlugin` documents, relative to this file.
    #[serde(default)]
    pub plugins: Vec<String>,
    /// `stdout` (default), `off`, or a file path for the JSON access log.
    #[serde(default)]
    pub access_log: Option<String>,
    /// Minimum plugin log level printed to stderr: trace, debug, info (default), warn, error.
    #[serde(default)]
    pub plugin_log_level: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Listener {
    #[serde(default)]
    pub name: Option<String>,
    pub address: String,
    /// 0 picks an ephemeral port (the bound address is printed at startup).
    pub port: u16,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Route {
    /// Higress route name, exposed to plugins as the `route_name` property.
    pub name: String,
    #[serde(default, rename = "match")]
    pub matches: RouteMatch,
    /// Target cluster, named the Higress way (`outbound|443||api.openai.com.dns`).
    pub cluster: String,
    /// Envoy route timeout (`15s` by default, `0s` disables).
    #[serde(default)]
    pub timeout: Option<String>,
    /// Envoy `request_headers_to_add`: set on the upstream request by the router, after every
    /// plugin ran, so plugins never see them (a provider API key, say).
    #[serde(default)]
    pub request_headers_to_add: Vec<HeaderToAdd>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HeaderToAdd {
    pub key: String,
    pub value: String,
    #[serde(default)]
    pub append_action: AppendAction,
}

/// Envoy's `HeaderValueOption.append_action`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AppendAction {
    #[default]
    AppendIfExistsOrAdd,
    AddIfAbsent,
    OverwriteIfExistsOrAdd,
    OverwriteIfExists,
}

impl HeaderToAdd {
    /// Applies this header to a request's headers, as Envoy's header parser does.
    pub fn apply(&self, headers: &mut proxy_wasm_host::HeaderMap) {
        let present = headers.get(&self.key).is_some();
        match self.append_action {
            AppendAction::AppendIfExistsOrAdd => headers.add(&self.key, &self.value),
            AppendAction::AddIfAbsent if !present => headers.add(&self.key, &self.value),
            AppendAction::OverwriteIfExistsOrAdd => headers.replace(&self.key, &self.value),
            AppendAction::OverwriteIfExists if present => headers.replace(&self.key, &self.value),
            AppendAction::AddIfAbsent | AppendAction::OverwriteIfExists => {}
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RouteMatch {
    /// Virtual host domains: exact, `*.suffix`, `prefix.*` or `*`. Empty = any host.
    #[serde(default)]
    pub hosts: Vec<String>,
    #[serde(default)]
    pub path_prefix: Option<String>,
    #[serde(default)]
    pub headers: Vec<HeaderMatch>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HeaderMatch {
    pub name: String,
    /// Exact value; without it the header only has to be present.
    #[serde(default)]
    pub exact: Option<String>,
    #[serde(default)]
    pub prefix: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Cluster {
    pub name: String,
    /// `host:port` endpoints; the first reachable one is used (round robin across requests).
    pub addresses: Vec<String>,
    #[serde(default)]
    pub tls: Option<Tls>,
    /// Speak HTTP/2 to the upstream (Envoy `http2_protocol_options`): h2c with prior knowledge
    /// on plaintext, ALPN `h2` with TLS.
    #[serde(default)]
    pub http2: bool,
    /// Envoy cluster `connect_timeout` (default 5s as in Higress' generated clusters).
    #[serde(default)]
    pub connect_timeout: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Tls {
    #[serde(default)]
    pub enabled: bool,
    /// SNI and the name the certificate must carry (default: the address' host).
    #[serde(default)]
    pub sni: Option<String>,
    /// PEM file of trusted CAs, relative to the config file (default: Mozilla's roots).
    #[serde(default)]
    pub ca_file: Option<String>,
}
