//! Request dispatch: provider routes (OpenAI, Azure, DashScope), `/v1/models`, and the `/mock/*`
//! control API. Every error answer is an OpenAI error body.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{HeaderMap, Method, Request, Response, StatusCode};
use serde_json::{json, Value};

use crate::body::{full, Aborted, MockBody};
use crate::chat::{self, Flavor};
use crate::error::ApiError;
use crate::fault::FaultSpec;
use crate::state::{RecordedRequest, State};

pub async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<MockBody>, Aborted> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().map(str::to_string);
    let body = match Limited::new(body, state.config.max_body_bytes)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            return Ok(error_response(&ApiError {
                status: 413,
                ..ApiError::invalid_request("Request body too large.", None)
                    .with_code("request_too_large")
            }));
        }
        // The client went away mid-body; there is nobody to answer.
        Err(_) => return Err(Aborted("request body read failed")),
    };
    if let Some(control) = path.strip_prefix("/mock/") {
        return Ok(control_route(&state, &parts.method, control, &body));
    }
    let seq = state.record(RecordedRequest {
        seq: 0,
        method: parts.method.to_string(),
        path: path.clone(),
        query: query.clone(),
        headers: header_map(&parts.headers),
        body: body_value(&body),
    });
    let route = match Route::of(&path) {
        Some(route) => route,
        None => {
            state.count_kind("not_found");
            return Ok(error_response(&ApiError::not_found(format!(
                "Unknown request URL: {path}"
            ))));
        }
    };
    let wanted = if matches!(route, Route::Models) {
        Method::GET
    } else {
        Method::POST
    };
    if parts.method != wanted {
        state.count_kind("method_not_allowed");
        return Ok(error_response(&ApiError {
            status: 405,
            ..ApiError::invalid_request(
                format!("Method {} not allowed on {path}", parts.method),
                None,
            )
        }));
    }
    if !authorized(&state, &parts.headers) {
        state.count_kind("unauthorized");
        return Ok(error_response(&ApiError {
            status: 401,
            ..ApiError::invalid_request("Incorrect API key provided.", None)
                .with_code("invalid_api_key")
        }));
    }
    let mut response = match route {
        Route::Models => {
            state.count_kind("models");
            models_response(&state)
        }
        Route::Chat(flavor) => {
            if let Flavor::Azure { .. } = flavor {
                if !query.as_deref().is_some_and(has_api_version) {
                    state.count_kind("bad_request");
                    return Ok(error_response(&ApiError::invalid_request(
                        "Missing required query parameter 'api-version'.",
                        Some("api-version"),
                    )));
                }
            }
            chat::handle(&state, flavor, &parts.headers, &body, seq).await?
        }
    };
    if let Ok(id) = HeaderValue::from_str(&format!("req_mock_{seq}")) {
        response.headers_mut().insert("x-request-id", id);
    }
    Ok(response)
}

enum Route {
    Models,
    Chat(Flavor),
}

impl Route {
    fn of(path: &str) -> Option<Route> {
        match path {
            "/v1/models" | "/compatible-mode/v1/models" => return Some(Route::Models),
            "/v1/chat/completions" => return Some(Route::Chat(Flavor::OpenAi)),
            "/compatible-mode/v1/chat/completions" => return Some(Route::Chat(Flavor::DashScope)),
            _ => {}
        }
        let deployment = path
            .strip_prefix("/openai/deployments/")?
            .strip_suffix("/chat/completions")
            .filter(|d| !d.is_empty() && !d.contains('/'))?;
        Some(Route::Chat(Flavor::Azure {
            deployment: deployment.to_string(),
        }))
    }
}

fn has_api_version(query: &str) -> bool {
    query.split('&').any(|kv| {
        kv.strip_prefix("api-version=")
            .is_some_and(|v| !v.is_empty())
    })
}

fn authorized(state: &State, headers: &HeaderMap) -> bool {
    let Some(key) = state.config.require_key.as_deref() else {
        return true;
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    header("authorization").and_then(|v| v.strip_prefix("Bearer ")) == Some(key)
        || header("api-key") == Some(key)
}

fn models_response(state: &State) -> Response<MockBody> {
    let data: Vec<Value> = state
        .config
        .models
        .iter()
        .map(|m| json!({"id": m, "object": "model", "created": 1_700_000_000, "owned_by": "mock-llm"}))
        .collect();
    json_response(StatusCode::OK, &json!({"object": "list", "data": data}))
}

fn control_route(state: &State, method: &Method, route: &str, body: &Bytes) -> Response<MockBody> {
    let ok = || json_response(StatusCode::OK, &json!({"ok": true}));
    match (method.as_str(), route) {
        ("GET", "stats") => json_response(
            StatusCode::OK,
            &serde_json::to_value(state.stats()).unwrap_or_default(),
        ),
        ("GET", "requests") => json_response(
            StatusCode::OK,
            &serde_json::to_value(state.requests()).unwrap_or_default(),
        ),
        ("POST", "reset") => {
            state.reset();
            ok()
        }
        ("GET", "health") => ok(),
        ("PUT" | "POST", "fault") => {
            match std::str::from_utf8(body).map(|s| s.parse::<FaultSpec>()) {
                Ok(Ok(spec)) => {
                    state.set_fault((!spec.is_noop()).then_some(spec));
                    ok()
                }
                Ok(Err(e)) => error_response(&ApiError::invalid_request(e.to_string(), None)),
                Err(_) => {
                    error_response(&ApiError::invalid_request("fault spec must be UTF-8", None))
                }
            }
        }
        ("DELETE", "fault") => {
            state.set_fault(None);
            ok()
        }
        _ => error_response(&ApiError::not_found(format!(
            "Unknown control route: {method} /mock/{route}"
        ))),
    }
}

fn header_map(headers: &HeaderMap) -> BTreeMap<String, String> {
    let mut map: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        map.entry(name.as_str().to_string())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    map
}

fn body_value(body: &Bytes) -> Value {
    if body.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

pub fn json_response(status: StatusCode, value: &Value) -> Response<MockBody> {
    let mut r = Response::new(full(value.to_string()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

pub fn error_response(err: &ApiError) -> Response<MockBody> {
    let status = StatusCode::from_u16(err.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(status, &err.body())
}
