//! A small blocking HTTP client (ureq) for the demo and the tests: every status is an answer, not
//! an error, and bodies are read whole (a streamed answer is read to its end).

use std::time::Duration;

/// One answer: status, headers (lower-case names), body.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Result<serde_json::Value, String> {
        serde_json::from_str(&self.body).map_err(|e| format!("{e}: {}", self.body))
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

fn reply(mut r: ureq::http::Response<ureq::Body>) -> Result<Reply, String> {
    let status = r.status().as_u16();
    let headers = r
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = r
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_string()
        .map_err(|e| e.to_string())?;
    Ok(Reply {
        status,
        headers,
        body,
    })
}

pub fn get(url: &str) -> Result<Reply, String> {
    reply(
        agent()
            .get(url)
            .call()
            .map_err(|e| format!("GET {url}: {e}"))?,
    )
}

pub fn post(url: &str, headers: &[(&str, &str)], body: &str) -> Result<Reply, String> {
    let mut req = agent().post(url).header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    reply(req.send(body).map_err(|e| format!("POST {url}: {e}"))?)
}

pub fn put(url: &str, body: &str) -> Result<Reply, String> {
    reply(
        agent()
            .put(url)
            .send(body)
            .map_err(|e| format!("PUT {url}: {e}"))?,
    )
}
