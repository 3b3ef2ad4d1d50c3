//! Admin listener (Envoy admin subset): `/ready` (200 `LIVE` once every worker started its VMs,
//! 503 `PRE_INITIALIZING` before) and `/stats/prometheus` (gateway counters and plugin metrics).

use crate::stats;
use crate::worker::Process;
use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::net::TcpListener;

fn respond(process: &Process, path: &str) -> http::Response<Full<Bytes>> {
    let (code, ctype, body) = match path {
        "/ready" => {
            if process.ready_workers.load(Ordering::SeqCst) >= process.workers {
                (200, "text/plain", "LIVE\n".to_string())
            } else {
                (503, "text/plain", "PRE_INITIALIZING\n".to_string())
            }
        }
        "/stats/prometheus" => (
            200,
            "text/plain; version=0.0.4",
            stats::render(&process.stats, &process.env.metrics.snapshot()),
        ),
        _ => (404, "text/plain", "not found\n".to_string()),
    };
    let mut r = http::Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = http::StatusCode::from_u16(code).unwrap_or(http::StatusCode::OK);
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(ctype),
    );
    r
}

pub async fn serve(listener: TcpListener, process: Arc<Process>) {
    loop {
        let Ok((sock, _)) = listener.accept().await else {
            continue;
        };
        let p = process.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let r = respond(&p, req.uri().path());
                async move { Ok::<_, Infallible>(r) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(sock), svc)
                .await;
        });
    }
}
