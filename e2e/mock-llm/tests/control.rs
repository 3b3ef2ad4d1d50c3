//! Provider flavours, auth, validation errors, and the `/mock/*` control API.

mod common;

use common::{bounded, openai_error, user, with, Client};
use mock_llm::Config;
use serde_json::{json, Value};

type Headers<'a> = &'a [(&'a str, &'a str)];

#[tokio::test]
async fn stats_count_by_path_kind_and_model_and_reset_clears_them() {
    bounded(async {
        let m = mock_llm::spawn(Config::default()).unwrap();
        let c = Client::http1(m.addr());
        c.chat(&[], &user("a")).await.unwrap();
        c.chat(&[], &with(user("b"), json!({"stream": true, "model": "gpt-4o"}))).await.unwrap();
        c.chat(&[("x-mock-fault", "503")], &user("c")).await.unwrap();
        c.get("/v1/models").await.unwrap();
        c.post("/v1/chat/completions", &[], "{").await.unwrap();
        let stats = c.get("/mock/stats").await.unwrap().json();
        assert_eq!(stats["total"], 5, "control requests are not counted: {stats}");
        assert_eq!(stats["by_path"], json!({"/v1/chat/completions": 4, "/v1/models": 1}));
        assert_eq!(
            stats["by_kind"],
            json!({"bad_request": 1, "fault:status=503": 1, "models": 1, "non_stream": 1, "stream": 1})
        );
        assert_eq!(stats["by_model"], json!({"gpt-4o": 1, "gpt-4o-mini": 2}));
        assert_eq!(serde_json::to_value(m.stats()).unwrap(), stats);
        assert_eq!(c.post("/mock/reset", &[], "").await.unwrap().status, 200);
        assert_eq!(m.stats(), mock_llm::Stats::default());
        assert_eq!(c.get("/mock/requests").await.unwrap().json(), json!([]));
    })
    .await
}

#[tokio::test]
async fn request_log_keeps_the_last_n_bodies_and_headers() {
    bounded(async {
        let m = mock_llm::spawn(Config {
            history: 2,
            ..Default::default()
        })
        .unwrap();
        let c = Client::http1(m.addr());
        for text in ["first", "second", "third"] {
            c.chat(
                &[("x-trace", text), ("authorization", "Bearer sk-test")],
                &user(text),
            )
            .await
            .unwrap();
        }
        c.post("/v1/chat/completions", &[], "not json")
            .await
            .unwrap();
        let log = c.get("/mock/requests").await.unwrap().json();
        let log = log.as_array().unwrap();
        assert_eq!(log.len(), 2);
        assert_eq!(log[0]["seq"], 3);
        assert_eq!(log[0]["method"], "POST");
        assert_eq!(log[0]["path"], "/v1/chat/completions");
        assert_eq!(log[0]["headers"]["x-trace"], "third");
        assert_eq!(log[0]["headers"]["authorization"], "Bearer sk-test");
        assert_eq!(log[0]["body"]["messages"][0]["content"], "third");
        assert_eq!(
            log[1]["body"], "not json",
            "non-JSON bodies are kept as text"
        );
        assert_eq!(m.requests()[0].body["messages"][0]["content"], "third");
    })
    .await
}

#[tokio::test]
async fn azure_route_uses_the_deployment_and_needs_api_version() {
    bounded(async {
        let m = mock_llm::spawn(Config {
            require_key: Some("az-key".into()),
            ..Default::default()
        })
        .unwrap();
        let c = Client::http1(m.addr());
        let body = json!({"messages": [{"role": "user", "content": "hello azure"}]}).to_string();
        let path = "/openai/deployments/my-gpt4/chat/completions?api-version=2024-06-01";
        let r = c.post(path, &[("api-key", "az-key")], &body).await.unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["model"], "my-gpt4");
        assert!(r.json()["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .ends_with("hello azure"));
        openai_error(
            &c.post(path, &[("api-key", "wrong")], &body).await.unwrap(),
            401,
        );
        let no_version = "/openai/deployments/my-gpt4/chat/completions";
        let e = openai_error(
            &c.post(no_version, &[("api-key", "az-key")], &body)
                .await
                .unwrap(),
            400,
        );
        assert_eq!(e["param"], "api-version");
        assert_eq!(
            m.stats().by_path["/openai/deployments/my-gpt4/chat/completions"],
            3
        );
        let r = c
            .post(
                path,
                &[("api-key", "az-key")],
                &with(
                    serde_json::from_str(&body).unwrap(),
                    json!({"stream": true}),
                )
                .to_string(),
            )
            .await
            .unwrap();
        assert_eq!(r.sse_data().last().unwrap(), "[DONE]");
    })
    .await
}

#[tokio::test]
async fn dashscope_compatible_mode_routes() {
    bounded(async {
        let m = mock_llm::spawn(Config::default()).unwrap();
        let c = Client::http1(m.addr());
        let body =
            json!({"model": "qwen-turbo", "messages": [{"role": "user", "content": "你好，通义"}]});
        let r = c
            .post(
                "/compatible-mode/v1/chat/completions",
                &[],
                &body.to_string(),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["model"], "qwen-turbo");
        assert!(r.json()["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .ends_with("你好，通义"));
        let models = c.get("/compatible-mode/v1/models").await.unwrap().json();
        assert_eq!(models["data"].as_array().unwrap().len(), 3);
        assert_eq!(m.stats().by_path["/compatible-mode/v1/chat/completions"], 1);
    })
    .await
}

#[tokio::test]
async fn require_key_accepts_bearer_or_api_key_and_rejects_others() {
    bounded(async {
        let m = mock_llm::spawn(Config {
            require_key: Some("sk-good".into()),
            ..Default::default()
        })
        .unwrap();
        let c = Client::http1(m.addr());
        let body = user("x").to_string();
        let ok = |r: &common::Reply| r.status == 200;
        assert!(ok(&c
            .post(
                "/v1/chat/completions",
                &[("authorization", "Bearer sk-good")],
                &body
            )
            .await
            .unwrap()));
        assert!(ok(&c
            .post("/v1/chat/completions", &[("api-key", "sk-good")], &body)
            .await
            .unwrap()));
        for headers in [
            &[][..],
            &[("authorization", "Bearer sk-bad")],
            &[("authorization", "sk-good")],
        ] {
            let r = c
                .post("/v1/chat/completions", headers, &body)
                .await
                .unwrap();
            assert_eq!(openai_error(&r, 401)["code"], "invalid_api_key");
        }
        openai_error(&c.get("/v1/models").await.unwrap(), 401);
        assert_eq!(
            c.get("/mock/stats").await.unwrap().status,
            200,
            "control API needs no key"
        );
    })
    .await
}

#[tokio::test]
async fn malformed_requests_get_400s_not_panics() {
    bounded(async {
        let m = mock_llm::spawn(Config {
            max_body_bytes: 1024,
            ..Default::default()
        })
        .unwrap();
        let c = Client::http1(m.addr());
        let cases: Vec<(Headers, String, Option<&str>)> = vec![
            (&[], "{".into(), None),
            (&[], "".into(), None),
            (&[], "\u{0}\u{1}garbage".into(), None),
            (&[], "[1,2]".into(), None),
            (&[], json!({"messages": []}).to_string(), Some("model")),
            (
                &[],
                json!({"model": "m", "messages": "hi"}).to_string(),
                Some("messages"),
            ),
            (&[], with(user("x"), json!({"n": 0})).to_string(), Some("n")),
            (
                &[],
                with(user("x"), json!({"stream": 1})).to_string(),
                Some("stream"),
            ),
            (
                &[],
                with(user("x"), json!({"tools": [{"type": "function"}]})).to_string(),
                Some("tools[0]"),
            ),
            (&[("x-mock-tps", "fast")], user("x").to_string(), None),
            (&[("x-mock-ttft-ms", "-5")], user("x").to_string(), None),
        ];
        for (headers, body, param) in cases {
            let r = c
                .post("/v1/chat/completions", headers, &body)
                .await
                .unwrap();
            let e = openai_error(&r, 400);
            assert_eq!(e["type"], "invalid_request_error");
            assert_eq!(e["param"].as_str(), param, "{body}");
        }
        let big = user(&"x".repeat(2000)).to_string();
        openai_error(
            &c.post("/v1/chat/completions", &[], &big).await.unwrap(),
            413,
        );
        openai_error(&c.get("/v1/chat/completions").await.unwrap(), 405);
        openai_error(&c.get("/v2/unknown").await.unwrap(), 404);
        openai_error(&c.get("/mock/nothing").await.unwrap(), 404);
        assert_eq!(c.chat(&[], &user("still alive")).await.unwrap().status, 200);
        assert_eq!(m.stats().by_kind["bad_request"], 11);
    })
    .await
}

#[tokio::test]
async fn strict_models_rejects_unknown_models() {
    bounded(async {
        let config = Config {
            models: vec!["only-this".into()],
            strict_models: true,
            ..Default::default()
        };
        let m = mock_llm::spawn(config).unwrap();
        let c = Client::http1(m.addr());
        let e = openai_error(&c.chat(&[], &user("x")).await.unwrap(), 404);
        assert_eq!(e["code"], "model_not_found");
        let ok = c
            .chat(&[], &with(user("x"), json!({"model": "only-this"})))
            .await
            .unwrap();
        assert_eq!(ok.status, 200);
        let ids: Vec<Value> = c.get("/v1/models").await.unwrap().json()["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].clone())
            .collect();
        assert_eq!(ids, [json!("only-this")]);
    })
    .await
}

#[tokio::test]
async fn shutdown_stops_the_listener() {
    bounded(async {
        let m = mock_llm::spawn(Config::default()).unwrap();
        let addr = m.addr();
        assert_eq!(
            Client::http1(addr)
                .get("/mock/health")
                .await
                .unwrap()
                .status,
            200
        );
        tokio::task::spawn_blocking(move || m.shutdown())
            .await
            .unwrap();
        assert!(Client::http1(addr).get("/mock/health").await.is_err());
    })
    .await
}
