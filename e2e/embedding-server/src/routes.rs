//! Request routing: the three embedding APIs, `GET /health`, and 404/405/413 in JSON.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::json;

use crate::api::{Dialect, Rejection};
use crate::model::{DIMENSIONS, MAX_TOKENS, MODEL_NAME};
use crate::queue::Queue;

/// Largest request body accepted (2048 inputs of a few KiB each).
pub const MAX_BODY_BYTES: usize = 16 << 20;

pub async fn handle(
    queue: Queue,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let path = req.uri().path().to_owned();
    if path == "/health" {
        return Ok(if req.method() == Method::GET {
            health(&queue)
        } else {
            plain_error(StatusCode::METHOD_NOT_ALLOWED, "use GET")
        });
    }
    let Some(dialect) = Dialect::for_path(&path) else {
        return Ok(plain_error(
            StatusCode::NOT_FOUND,
            &format!("no route {path}; POST /v1/embeddings, /embed or /api/embed"),
        ));
    };
    if req.method() != Method::POST {
        return Ok(plain_error(StatusCode::METHOD_NOT_ALLOWED, "use POST"));
    }
    let body = match Limited::new(req.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
    {
        Ok(body) => body.to_bytes(),
        Err(e) => {
            let rejection = if e.is::<http_body_util::LengthLimitError>() {
                Rejection {
                    status: 413,
                    message: format!("request body larger than {MAX_BODY_BYTES} bytes"),
                }
            } else {
                Rejection::bad_request(format!("cannot read the request body: {e}"))
            };
            return Ok(rejected(dialect, &rejection));
        }
    };
    let request = match dialect.parse(&body) {
        Ok(r) => r,
        Err(rejection) => return Ok(rejected(dialect, &rejection)),
    };
    if request.texts.is_empty() {
        return Ok(json_response(
            StatusCode::OK,
            dialect.render(&request, Vec::new()),
        ));
    }
    Ok(match queue.embed(request.texts.clone()).await {
        Ok(pooled) => json_response(StatusCode::OK, dialect.render(&request, pooled)),
        Err(e) => {
            eprintln!("embedding-server: inference failed: {e}");
            let rejection = Rejection {
                status: 500,
                message: format!("inference failed: {e}"),
            };
            rejected(dialect, &rejection)
        }
    })
}

fn health(queue: &Queue) -> Response<Full<Bytes>> {
    let stats = queue.stats();
    let body = json!({
        "status": "ok",
        "model": MODEL_NAME,
        "dimensions": DIMENSIONS,
        "max_tokens": MAX_TOKENS,
        "requests": stats.requests,
        "batches": stats.batches,
        "inputs": stats.inputs,
    });
    json_response(StatusCode::OK, body.to_string().into_bytes())
}

fn rejected(dialect: Dialect, rejection: &Rejection) -> Response<Full<Bytes>> {
    let status = StatusCode::from_u16(rejection.status).unwrap_or(StatusCode::BAD_REQUEST);
    json_response(status, dialect.error_body(rejection))
}

fn plain_error(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    json_response(status, json!({ "error": message }).to_string().into_bytes())
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}
