//! Turns parsed documents into a validated [`Config`]; every error names file, document, field.

use super::model::*;
use super::{split_documents, Document};
use proxy_wasm_host::wasmplugin;
use proxy_wasm_host::{LogLevel, PluginConfig};
use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DEFAULT_WORKERS: usize = 2;
/// Envoy's default route timeout.
const DEFAULT_ROUTE_TIMEOUT: Duration = Duration::from_secs(15);
/// Connect timeout of the clusters Higress generates for service sources.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A configuration error: `file: document N (line L): field: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    /// `(index, first line)` of the document.
    pub document: Option<(usize, usize)>,
    pub field: Option<String>,
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some((i, line)) = self.document {
            write!(f, ": document {i} (starting at line {line})")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// A route ready for matching.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteRt {
    pub name: String,
    pub hosts: Vec<String>,
    pub path_prefix: String,
    pub headers: Vec<HeaderMatch>,
    pub cluster: String,
    /// `None` = no timeout (`0s`).
    pub timeout: Option<Duration>,
    /// Keys lower-cased; applied in order by the router.
    pub request_headers_to_add: Vec<HeaderToAdd>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamCluster {
    pub name: String,
    pub addresses: Vec<String>,
    pub tls: bool,
    pub http2: bool,
    pub sni: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub connect_timeout: Duration,
}

/// A plugin to load: its settings, the wasm file and where it was declared.
#[derive(Debug, Clone)]
pub struct PluginSource {
    pub config: PluginConfig,
    pub wasm: PathBuf,
    pub origin: String,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub source: PathBuf,
    pub listeners: Vec<(String, std::net::SocketAddr)>,
    pub admin: Option<std::net::SocketAddr>,
    pub workers: usize,
    pub buffer_limit: usize,
    pub routes: Vec<RouteRt>,
    pub clusters: BTreeMap<String, UpstreamCluster>,
    pub plugins: Vec<PluginSource>,
    /// `None` = access log off; `Some("stdout")` or a file path.
    pub access_log: Option<String>,
    pub plugin_log_level: LogLevel,
}

struct Ctx<'a> {
    file: &'a str,
    doc: Option<(usize, usize)>,
}

impl Ctx<'_> {
    fn err(&self, field: impl Into<String>, message: impl Into<String>) -> ConfigError {
        let field: String = field.into();
        ConfigError {
            file: self.file.to_string(),
            document: self.doc,
            field: (!field.is_empty()).then_some(field),
            message: message.into(),
        }
    }
}

/// `15s`, `500ms`, `2m`, `1h`; `0s` is zero.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("duration {s:?} needs a unit (ms, s, m, h)"))?;
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("duration {s:?} must start with a whole number"))?;
    Ok(match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => {
            return Err(format!(
                "duration {s:?}: unknown unit {unit:?} (ms, s, m, h)"
            ))
        }
    })
}

fn kind_of(doc: &Document) -> Option<String> {
    let v: serde_norway::Value = serde_norway::from_str(&doc.text).ok()?;
    v.get("kind")?.as_str().map(str::to_string)
}

/// Parses and validates the text of the main config file.
pub fn from_text(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let file = path.display().to_string();
    let base = path.parent().unwrap_or(Path::new("."));
    let mut gateway: Option<(GatewayDoc, Ctx)> = None;
    let mut plugins = Vec::new();
    for doc in split_documents(text) {
        let ctx = Ctx {
            file: &file,
            doc: Some((doc.index, doc.first_line)),
        };
        match kind_of(&doc).as_deref() {
            Some("Gateway") => {
                if gateway.is_some() {
                    return Err(ctx.err("kind", "a second Gateway document (only one allowed)"));
                }
                let g: GatewayDoc =
                    serde_norway::from_str(&doc.text).map_err(|e| ctx.err("", e.to_string()))?;
                gateway = Some((g, ctx));
            }
            Some("WasmPlugin") => plugins.extend(plugin(&ctx, base, &doc)?),
            Some(other) => {
                return Err(ctx.err(
                    "kind",
                    format!("unsupported kind {other:?} (expected Gateway or WasmPlugin)"),
                ))
            }
            None => return Err(ctx.err("kind", "missing (or the document is not a YAML map)")),
        }
    }
    let Some((g, gctx)) = gateway else {
        return Err(ConfigError {
            file,
            document: None,
            field: None,
            message: "no `kind: Gateway` document".into(),
        });
    };
    for (i, pattern) in g.spec.plugins.iter().enumerate() {
        let field = format!("spec.plugins[{i}]");
        let files = expand_glob(&base.join(pattern)).map_err(|e| gctx.err(&field, e))?;
        if files.is_empty() {
            return Err(gctx.err(&field, format!("{pattern:?} matches no file")));
        }
        for f in files {
            plugins.extend(plugin_file(&f)?);
        }
    }
    let mut seen = HashSet::new();
    for p in &plugins {
        if !seen.insert(p.config.name.clone()) {
            return Err(ConfigError {
                file: file.clone(),
                document: None,
                field: Some("metadata.name".into()),
                message: format!(
                    "two WasmPlugin documents named {:?} ({})",
                    p.config.name, p.origin
                ),
            });
        }
    }
    gateway_spec(path, &gctx, g, plugins)
}

/// WasmPlugin documents of an extra plugin file.
fn plugin_file(path: &Path) -> Result<Vec<PluginSource>, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: file.clone(),
        document: None,
        field: None,
        message: format!("cannot read: {e}"),
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    for doc in split_documents(&text) {
        let ctx = Ctx {
            file: &file,
            doc: Some((doc.index, doc.first_line)),
        };
        match kind_of(&doc).as_deref() {
            Some("WasmPlugin") => out.extend(plugin(&ctx, base, &doc)?),
            other => {
                return Err(ctx.err(
                    "kind",
                    format!("{other:?}: plugin files may only hold WasmPlugin documents"),
                ))
            }
        }
    }
    Ok(out)
}

/// A `WasmPlugin` document, converted the way the Higress controller does (host `wasmplugin`).
/// `None` when the controller would drop it (everything disabled).
fn plugin(ctx: &Ctx, base: &Path, doc: &Document) -> Result<Option<PluginSource>, ConfigError> {
    let wp = wasmplugin::parse(&doc.text).map_err(|e| ctx.err("", e.0))?;
    let field = "spec";
    let Some(config) = wasmplugin::plugin_settings(&wp).map_err(|e| ctx.err(field, e.0))? else {
        return Ok(None);
    };
    let wasm = super::wasm_url::resolve(base, &wp.spec).map_err(|(f, m)| ctx.err(f, m))?;
    Ok(Some(PluginSource {
        origin: format!("{}: document {}", ctx.file, ctx.doc.map_or(0, |d| d.0)),
        config,
        wasm,
    }))
}

/// `dir/*.yaml` style patterns (one `*` wildcard in the file name); other paths as they are.
fn expand_glob(pattern: &Path) -> Result<Vec<PathBuf>, String> {
    let name = pattern
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let Some((pre, post)) = name.split_once('*') else {
        return Ok(vec![pattern.to_path_buf()]);
    };
    let dir = pattern.parent().unwrap_or(Path::new("."));
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut out: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && p.file_name().is_some_and(|n| {
                    let n = n.to_string_lossy();
                    n.len() >= pre.len() + post.len() && n.starts_with(pre) && n.ends_with(post)
                })
        })
        .collect();
    out.sort();
    Ok(out)
}

/// Higress names service clusters `outbound|<port>|<subset>|<host>`.
fn check_cluster_name(name: &str) -> Result<(), String> {
    let parts: Vec<&str> = name.split('|').collect();
    if parts.len() != 4 || parts[0] != "outbound" || parts[1].parse::<u16>().is_err() {
        return Err(format!(
            "{name:?} is not a Higress cluster name (outbound|<port>|<subset>|<host>, e.g. outbound|443||api.openai.com.dns)"
        ));
    }
    if parts[3].is_empty() {
        return Err(format!("{name:?}: empty host part"));
    }
    Ok(())
}

fn socket(ctx: &Ctx, field: &str, l: &Listener) -> Result<std::net::SocketAddr, ConfigError> {
    let ip: IpAddr = l.address.parse().map_err(|_| {
        ctx.err(
            format!("{field}.address"),
            format!("{:?} is not an IP address", l.address),
        )
    })?;
    Ok(std::net::SocketAddr::new(ip, l.port))
}

fn log_level(s: &str) -> Option<LogLevel> {
    Some(match s {
        "trace" => LogLevel::Trace,
        "debug" => LogLevel::Debug,
        "info" => LogLevel::Info,
        "warn" => LogLevel::Warn,
        "error" => LogLevel::Error,
        "critical" => LogLevel::Critical,
        _ => return None,
    })
}

fn gateway_spec(
    path: &Path,
    ctx: &Ctx,
    g: GatewayDoc,
    plugins: Vec<PluginSource>,
) -> Result<Config, ConfigError> {
    let s = g.spec;
    if s.listeners.is_empty() {
        return Err(ctx.err("spec.listeners", "at least one listener is required"));
    }
    let mut listeners = Vec::new();
    for (i, l) in s.listeners.iter().enumerate() {
        let field = format!("spec.listeners[{i}]");
        let name = l.name.clone().unwrap_or_else(|| format!("listener-{i}"));
        listeners.push((name, socket(ctx, &field, l)?));
    }
    let admin = s
        .admin
        .as_ref()
        .map(|a| socket(ctx, "spec.admin", a))
        .transpose()?;
    let workers = s.workers.unwrap_or(DEFAULT_WORKERS);
    if workers == 0 || workers > 256 {
        return Err(ctx.err("spec.workers", format!("{workers}: must be 1..=256")));
    }
    let buffer_limit = s.buffer_limit_bytes.unwrap_or(DEFAULT_BUFFER_LIMIT);
    if buffer_limit == 0 {
        return Err(ctx.err("spec.bufferLimitBytes", "must be greater than 0"));
    }
    let mut clusters = BTreeMap::new();
    for (i, c) in s.clusters.iter().enumerate() {
        let field = format!("spec.clusters[{i}]");
        check_cluster_name(&c.name).map_err(|e| ctx.err(format!("{field}.name"), e))?;
        if c.addresses.is_empty() {
            return Err(ctx.err(format!("{field}.addresses"), "at least one host:port"));
        }
        for (j, a) in c.addresses.iter().enumerate() {
            let ok = a
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
            if !ok {
                return Err(ctx.err(
                    format!("{field}.addresses[{j}]"),
                    format!("{a:?} is not host:port"),
                ));
            }
        }
        let connect_timeout = match &c.connect_timeout {
            Some(t) => {
                parse_duration(t).map_err(|e| ctx.err(format!("{field}.connectTimeout"), e))?
            }
            None => DEFAULT_CONNECT_TIMEOUT,
        };
        let tls = c.tls.as_ref().is_some_and(|t| t.enabled);
        let ca_file = c
            .tls
            .as_ref()
            .and_then(|t| t.ca_file.as_ref())
            .map(|f| path.parent().unwrap_or(Path::new(".")).join(f));
        if let Some(ca) = &ca_file {
            crate::upstream::load_roots(ca)
                .map_err(|e| ctx.err(format!("{field}.tls.caFile"), e))?;
        }
        if let Some(sni) = c.tls.as_ref().and_then(|t| t.sni.as_ref()) {
            rustls::pki_types::ServerName::try_from(sni.as_str())
                .map_err(|e| ctx.err(format!("{field}.tls.sni"), format!("{sni:?}: {e}")))?;
        }
        let up = UpstreamCluster {
            name: c.name.clone(),
            addresses: c.addresses.clone(),
            tls,
            http2: c.http2,
            sni: c.tls.as_ref().and_then(|t| t.sni.clone()),
            ca_file,
            connect_timeout,
        };
        if clusters.insert(c.name.clone(), up).is_some() {
            return Err(ctx.err(
                format!("{field}.name"),
                format!("duplicate cluster {:?}", c.name),
            ));
        }
    }
    let mut routes = Vec::new();
    let mut names = HashSet::new();
    for (i, r) in s.routes.iter().enumerate() {
        let field = format!("spec.routes[{i}]");
        if r.name.is_empty() {
            return Err(ctx.err(format!("{field}.name"), "must not be empty"));
        }
        if !names.insert(r.name.clone()) {
            return Err(ctx.err(
                format!("{field}.name"),
                format!("duplicate route {:?}", r.name),
            ));
        }
        if !clusters.contains_key(&r.cluster) {
            return Err(ctx.err(
                format!("{field}.cluster"),
                format!("unknown cluster {:?} (not in spec.clusters)", r.cluster),
            ));
        }
        let path_prefix = r.matches.path_prefix.clone().unwrap_or_else(|| "/".into());
        if !path_prefix.starts_with('/') {
            return Err(ctx.err(
                format!("{field}.match.pathPrefix"),
                format!("{path_prefix:?} must start with /"),
            ));
        }
        for (j, h) in r.matches.headers.iter().enumerate() {
            if h.name.is_empty() {
                return Err(ctx.err(format!("{field}.match.headers[{j}].name"), "empty"));
            }
            if h.exact.is_some() && h.prefix.is_some() {
                return Err(ctx.err(
                    format!("{field}.match.headers[{j}]"),
                    "exact and prefix are exclusive",
                ));
            }
        }
        let timeout = match &r.timeout {
            Some(t) => parse_duration(t).map_err(|e| ctx.err(format!("{field}.timeout"), e))?,
            None => DEFAULT_ROUTE_TIMEOUT,
        };
        let mut request_headers_to_add = Vec::new();
        for (j, h) in r.request_headers_to_add.iter().enumerate() {
            let key = h.key.to_ascii_lowercase();
            let at = format!("{field}.requestHeadersToAdd[{j}]");
            // Envoy refuses to let route config rewrite pseudo-headers and Host.
            if key.is_empty() || key.starts_with(':') || key == "host" {
                return Err(ctx.err(
                    at,
                    "key must name a regular header (not empty, pseudo or host)",
                ));
            }
            if http::HeaderName::from_bytes(key.as_bytes()).is_err()
                || http::HeaderValue::from_str(&h.value).is_err()
            {
                return Err(ctx.err(at, "key or value is not a valid HTTP header"));
            }
            request_headers_to_add.push(HeaderToAdd { key, ..h.clone() });
        }
        routes.push(RouteRt {
            request_headers_to_add,
            name: r.name.clone(),
            hosts: r
                .matches
                .hosts
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            path_prefix,
            headers: r
                .matches
                .headers
                .iter()
                .map(|h| HeaderMatch {
                    name: h.name.to_ascii_lowercase(),
                    ..h.clone()
                })
                .collect(),
            cluster: r.cluster.clone(),
            timeout: (!timeout.is_zero()).then_some(timeout),
        });
    }
    let access_log = match s.access_log.as_deref() {
        None | Some("stdout") => Some("stdout".to_string()),
        Some("off") => None,
        Some(p) => Some(
            path.parent()
                .unwrap_or(Path::new("."))
                .join(p)
                .display()
                .to_string(),
        ),
    };
    let plugin_log_level = match s.plugin_log_level.as_deref() {
        None => LogLevel::Info,
        Some(l) => log_level(l).ok_or_else(|| {
            ctx.err(
                "spec.pluginLogLevel",
                format!("{l:?}: expected trace, debug, info, warn, error or critical"),
            )
        })?,
    };
    Ok(Config {
        source: path.to_path_buf(),
        listeners,
        admin,
        workers,
        buffer_limit,
        routes,
        clusters,
        plugins,
        access_log,
        plugin_log_level,
    })
}
