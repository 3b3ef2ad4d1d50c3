//! Runs callouts for a worker's VMs and delivers the answers back between VM calls.
//! HTTP: Envoy's async client to the named cluster; a timeout answers 504 "upstream request
//! timeout" and a transport failure calls `proxy_on_http_call_response` with zero sizes
//! (`onHttpCallFailure`). Redis: over the worker's connection to the cluster.

use crate::body::ChanBody;
use crate::callout::Outgoing;
use crate::headers;
use crate::stats::Stats;
use crate::worker::Worker;
use bytes::Bytes;
use http_body_util::BodyExt;
use proxy_wasm_host::{HttpCallout, HttpCalloutResponse};
use std::rc::Rc;

pub fn dispatch(w: Rc<Worker>, out: Outgoing) {
    match out {
        Outgoing::Http(call) => {
            Stats::inc(&w.process.stats.http_callouts_total);
            tokio::task::spawn_local(async move {
                let resp = http(&w, &call).await;
                w.registry
                    .deliver(call.vm, |vm| vm.http_call_response(call.token, resp));
            });
        }
        Outgoing::RedisInit(init) => w.redis.init(init),
        Outgoing::Redis(call) => {
            Stats::inc(&w.process.stats.redis_callouts_total);
            tokio::task::spawn_local(async move {
                let (status, reply) = match w.redis.call(&call.cluster, &call.query).await {
                    Ok(r) => (0, r),
                    Err(e) => {
                        eprintln!(
                            "{}",
                            serde_json::json!({"level": "warn", "msg": "redis callout failed", "cluster": call.cluster, "error": e})
                        );
                        (crate::redis::NETWORK_ERROR, Vec::new())
                    }
                };
                w.registry.deliver(call.vm, |vm| {
                    vm.redis_call_response(call.token, status, reply)
                });
            });
        }
    }
}

/// Envoy's async client timeout reply (`Utility::prepareLocalReply` header order).
fn timeout_response() -> HttpCalloutResponse {
    HttpCalloutResponse::new(
        504,
        &[("content-length", "24"), ("content-type", "text/plain")],
        "upstream request timeout",
    )
}

async fn http(w: &Worker, call: &HttpCallout) -> Option<HttpCalloutResponse> {
    let g = w.current();
    let client = g.clients.get(&call.cluster)?.clone();
    let fut = async {
        let (resp, _) = client
            .send(
                &call.headers,
                ChanBody::full(Bytes::from(call.body.clone())),
            )
            .ok()?;
        let resp = resp.await.ok()?;
        let (parts, body) = resp.into_parts();
        let collected = body.collect().await.ok()?;
        let trailers = collected
            .trailers()
            .map(headers::from_http)
            .unwrap_or_default();
        Some(HttpCalloutResponse {
            headers: headers::from_response(&parts),
            body: collected.to_bytes().to_vec(),
            trailers,
        })
    };
    match call.timeout {
        Some(t) => tokio::time::timeout(t, fut)
            .await
            .unwrap_or_else(|_| Some(timeout_response())),
        None => fut.await,
    }
}
