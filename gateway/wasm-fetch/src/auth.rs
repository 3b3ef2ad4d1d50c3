//! Registry credentials (the `auths` of a Docker config file, as `docker login`/`oras login`
//! write it and as a `kubernetes.io/dockerconfigjson` Secret holds it) and the distribution
//! spec's token challenge (`WWW-Authenticate: Bearer realm=...,service=...,scope=...`).

use base64::Engine;
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;

#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// registry host[:port] -> (username, password)
    by_registry: HashMap<String, (String, String)>,
}

impl Credentials {
    pub fn anonymous() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, registry: &str, user: &str, password: &str) {
        self.by_registry.insert(
            normalize(registry),
            (user.to_string(), password.to_string()),
        );
    }

    /// Adds every `auths` entry of a Docker config JSON (`auth` = base64 `user:password`, or
    /// `username`/`password`). Credential helpers are not run.
    pub fn add_docker_config(&mut self, json: &[u8]) -> Result<(), String> {
        let v: Value = serde_json::from_slice(json).map_err(|e| format!("docker config: {e}"))?;
        let Some(auths) = v.get("auths").and_then(Value::as_object) else {
            return Ok(());
        };
        for (host, entry) in auths {
            let pair = if let Some(a) = entry.get("auth").and_then(Value::as_str) {
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(a)
                    .map_err(|e| format!("docker config: auths.{host}.auth: {e}"))?;
                let s = String::from_utf8(raw)
                    .map_err(|_| format!("docker config: auths.{host}.auth is not UTF-8"))?;
                match s.split_once(':') {
                    Some((u, p)) => (u.to_string(), p.to_string()),
                    None => {
                        return Err(format!(
                            "docker config: auths.{host}.auth is not user:password"
                        ))
                    }
                }
            } else {
                match (
                    entry.get("username").and_then(Value::as_str),
                    entry.get("password").and_then(Value::as_str),
                ) {
                    (Some(u), Some(p)) => (u.to_string(), p.to_string()),
                    _ => continue,
                }
            };
            self.by_registry.insert(normalize(host), pair);
        }
        Ok(())
    }

    pub fn add_docker_config_file(&mut self, path: &Path) -> Result<(), String> {
        match std::fs::read(path) {
            Ok(bytes) => self
                .add_docker_config(&bytes)
                .map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    /// Adds `other`'s entries, replacing this one's for the same registry.
    pub fn extend(&mut self, other: Credentials) {
        self.by_registry.extend(other.by_registry);
    }

    pub fn for_registry(&self, registry: &str) -> Option<&(String, String)> {
        self.by_registry.get(&normalize(registry))
    }
}

/// Docker config keys may be URLs (`https://index.docker.io/v1/`); compare by host[:port].
fn normalize(registry: &str) -> String {
    let r = registry
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = r.split('/').next().unwrap_or(r);
    match host {
        "docker.io" | "registry-1.docker.io" => "index.docker.io".to_string(),
        h => h.to_ascii_lowercase(),
    }
}

pub fn basic_header(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Parses a `WWW-Authenticate` value.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut params = HashMap::new();
    let mut s = rest.trim();
    while !s.is_empty() {
        let (key, after) = s.split_once('=')?;
        let after = after.trim_start();
        let (value, tail) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"')?;
            (&q[..end], &q[end + 1..])
        } else {
            after.split_once(',').map_or((after, ""), |(v, t)| (v, t))
        };
        params.insert(key.trim().to_ascii_lowercase(), value.to_string());
        s = tail.trim_start().trim_start_matches(',').trim_start();
    }
    Some(Challenge::Bearer {
        realm: params.remove("realm")?,
        service: params.remove("service"),
        scope: params.remove("scope"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:p/x:pull""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.example.com/token".into(),
                service: Some("registry.example.com".into()),
                scope: Some("repository:p/x:pull".into()),
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Bearer service=x"), None);
        assert_eq!(parse_challenge("Negotiate"), None);
    }

    #[test]
    fn docker_config_auths() {
        let json = br#"{"auths": {
            "https://index.docker.io/v1/": {"auth": "dTpw"},
            "r.example.com:5000": {"username": "a", "password": "b:c"},
            "noauth.example.com": {}
        }}"#;
        let mut c = Credentials::anonymous();
        c.add_docker_config(json).unwrap();
        assert_eq!(
            c.for_registry("index.docker.io"),
            Some(&("u".into(), "p".into()))
        );
        assert_eq!(
            c.for_registry("r.example.com:5000"),
            Some(&("a".into(), "b:c".into()))
        );
        assert_eq!(c.for_registry("noauth.example.com"), None);
        assert!(c
            .add_docker_config(br#"{"auths": {"x": {"auth": "bm9jb2xvbg=="}}}"#)
            .is_err());
        assert_eq!(basic_header("u", "p"), "Basic dTpw");
    }
}
