//! The transport against local servers: redirects (followed only for GET and
//! HEAD within the origin), the body limit, compression, session cookies, and
//! secrets scrubbed from the errors of sensitive requests.

use std::io::Write as _;
use std::sync::Arc;

use bpsn_core::transport::{ErrorBody, REDACTED};
use bpsn_core::{BasicAuth, Error, Origin, RedirectRefused, Request, Transport};
use http::Method;
use wiremock::matchers::{header, header_exists, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn transport(server: &MockServer) -> Transport {
    Transport::builder(Origin::parse(&server.uri()).unwrap())
        .authenticator(Arc::new(
            BasicAuth::new("admin", &"pw-of-admin".into()).unwrap(),
        ))
        .build()
        .unwrap()
}

const REDIRECTS: [u16; 5] = [301, 302, 303, 307, 308];

#[tokio::test]
async fn a_get_follows_a_redirect_within_the_origin_with_its_credential() {
    for status in REDIRECTS {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/old"))
            .respond_with(ResponseTemplate::new(status).insert_header("Location", "/new?x=1"))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/new"))
            .and(header_exists("authorization"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"ok": true})))
            .expect(1)
            .mount(&server)
            .await;
        let answer: serde_json::Value = transport(&server)
            .send(Request::get("/old"))
            .await
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(answer["ok"], true, "HTTP {status}");
    }
}

#[tokio::test]
async fn a_redirect_to_another_origin_is_never_followed_and_names_only_its_origin() {
    for status in REDIRECTS {
        for m in [Method::GET, Method::POST, Method::PATCH] {
            let server = MockServer::start().await;
            let elsewhere = MockServer::start().await;
            Mock::given(path("/api"))
                .respond_with(ResponseTemplate::new(status).insert_header(
                    "Location",
                    format!("{}/steal?token=abc", elsewhere.uri()).as_str(),
                ))
                .expect(1)
                .mount(&server)
                .await;
            let request = Request::new(m.clone(), "/api")
                .json(&serde_json::json!({"client_secret": "generated-secret-1"}))
                .unwrap();
            let err = transport(&server).send(request).await.unwrap_err();
            let Error::Redirected {
                status: got,
                location,
                ..
            } = &err
            else {
                panic!("{m} {status}: {err}");
            };
            assert_eq!(*got, status);
            assert_eq!(location, &elsewhere.uri(), "only the origin is named");
            assert!(!err.to_string().contains("token=abc"), "{err}");
            assert!(
                elsewhere.received_requests().await.unwrap().is_empty(),
                "{m} {status}: nothing may reach the other origin"
            );
        }
    }
}

#[tokio::test]
async fn a_write_is_never_redirected_even_within_the_origin() {
    for status in REDIRECTS {
        for m in [Method::POST, Method::PATCH, Method::PUT, Method::DELETE] {
            let server = MockServer::start().await;
            Mock::given(path("/api"))
                .respond_with(ResponseTemplate::new(status).insert_header("Location", "/other"))
                .expect(1)
                .mount(&server)
                .await;
            Mock::given(path("/other"))
                .respond_with(ResponseTemplate::new(200))
                .expect(0)
                .mount(&server)
                .await;
            let err = transport(&server)
                .send(Request::new(m.clone(), "/api").json(&1).unwrap())
                .await
                .unwrap_err();
            assert!(
                matches!(
                    &err,
                    Error::Redirected {
                        reason: RedirectRefused::NotGetOrHead,
                        ..
                    }
                ),
                "{m} {status}: {err}"
            );
        }
    }
}

#[tokio::test]
async fn a_redirect_loop_stops() {
    let server = MockServer::start().await;
    Mock::given(path("/loop"))
        .respond_with(ResponseTemplate::new(302).insert_header("Location", "/loop"))
        .mount(&server)
        .await;
    let err = transport(&server)
        .send(Request::get("/loop"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Redirected {
                reason: RedirectRefused::TooMany,
                ..
            }
        ),
        "{err}"
    );
    let seen = server.received_requests().await.unwrap().len();
    assert_eq!(seen, bpsn_core::transport::MAX_REDIRECTS + 1);
}

#[tokio::test]
async fn a_body_past_the_limit_stops_reading_with_a_typed_error() {
    let server = MockServer::start().await;
    Mock::given(path("/big"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(vec![b'x'; 4096]))
        .mount(&server)
        .await;
    let small = Transport::builder(Origin::parse(&server.uri()).unwrap())
        .max_body_bytes(1024)
        .build()
        .unwrap();
    let err = small.send(Request::get("/big")).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::BodyTooLarge {
                limit: 1024,
                status: 200,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("1024 bytes"), "{err}");
    // At the limit exactly, it is read.
    let exact = Transport::builder(Origin::parse(&server.uri()).unwrap())
        .max_body_bytes(4096)
        .build()
        .unwrap();
    assert_eq!(
        exact.send(Request::get("/big")).await.unwrap().body().len(),
        4096
    );
}

/// A server that answers every connection with an endless chunked body.
async fn endless_server() -> (String, Arc<std::sync::atomic::AtomicU64>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = sent.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = format!("{:x}\r\n{}\r\n", 8192, "y".repeat(8192));
                while socket.write_all(chunk.as_bytes()).await.is_ok() {
                    counter.fetch_add(8192, std::sync::atomic::Ordering::Relaxed);
                }
            });
        }
    });
    (url, sent)
}

#[tokio::test]
async fn an_endless_body_is_cut_at_the_limit() {
    let (url, sent) = endless_server().await;
    let transport = Transport::builder(Origin::parse(&url).unwrap())
        .max_body_bytes(1 << 20)
        .build()
        .unwrap();
    let err = transport.send(Request::get("/stream")).await.unwrap_err();
    assert!(matches!(err, Error::BodyTooLarge { .. }), "{err}");
    assert!(
        sent.load(std::sync::atomic::Ordering::Relaxed) >= 1 << 20,
        "the fault fired: the server kept sending"
    );
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

#[tokio::test]
async fn compressed_answers_are_asked_for_and_decoded_unless_switched_off() {
    let server = MockServer::start().await;
    let plain = serde_json::to_vec(&serde_json::json!({"result": vec!["abc"; 1000]})).unwrap();
    let packed = gzip(&plain);
    assert!(packed.len() * 4 < plain.len());
    Mock::given(path("/data"))
        .and(header("accept-encoding", "gzip, deflate, br"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-encoding", "gzip")
                .insert_header("content-type", "application/json")
                .set_body_bytes(packed),
        )
        .mount(&server)
        .await;
    Mock::given(path("/data"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(plain.clone()))
        .mount(&server)
        .await;
    let on = transport(&server)
        .send(Request::get("/data"))
        .await
        .unwrap();
    assert_eq!(on.body(), &plain[..]);
    let off = Transport::builder(Origin::parse(&server.uri()).unwrap())
        .compression(false)
        .build()
        .unwrap();
    assert_eq!(
        off.send(Request::get("/data")).await.unwrap().body(),
        &plain[..]
    );
    let requests = server.received_requests().await.unwrap();
    assert!(requests[0].headers.get("accept-encoding").is_some());
    assert!(requests[1].headers.get("accept-encoding").is_none());
}

#[tokio::test]
async fn session_cookies_are_sent_back_dropped_on_401_and_never_sent_anonymously() {
    let server = MockServer::start().await;
    Mock::given(path("/login"))
        .respond_with(
            ResponseTemplate::new(200)
                .append_header("set-cookie", "JSESSIONID=s1; Path=/; HttpOnly; Secure")
                .append_header("set-cookie", "glide_user_route=r1; Path=/"),
        )
        .mount(&server)
        .await;
    Mock::given(path("/denied"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&server)
        .await;
    Mock::given(path("/read"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let t = transport(&server);
    t.send(Request::get("/login")).await.unwrap();
    t.send(Request::get("/read")).await.unwrap();
    t.anonymous().send(Request::get("/read")).await.unwrap();
    let _ = t.send(Request::get("/denied")).await;
    t.send(Request::get("/read")).await.unwrap();
    let off = Transport::builder(Origin::parse(&server.uri()).unwrap())
        .session_cookies(false)
        .build()
        .unwrap();
    off.send(Request::get("/login")).await.unwrap();
    off.send(Request::get("/read")).await.unwrap();

    let cookies: Vec<Option<String>> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| {
            r.headers
                .get("cookie")
                .map(|c| c.to_str().unwrap().to_owned())
        })
        .collect();
    assert_eq!(
        cookies,
        [
            None,
            Some("JSESSIONID=s1; glide_user_route=r1".to_owned()),
            None, // anonymous (token requests): never the session
            Some("JSESSIONID=s1; glide_user_route=r1".to_owned()),
            None, // dropped on the 401
            None,
            None, // switched off
        ]
    );
}

fn servicenow_errors(body: &[u8]) -> ErrorBody {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    ErrorBody {
        message: v["error"]["message"].as_str().map(str::to_owned),
        detail: v["error"]["detail"].as_str().map(str::to_owned),
    }
}

#[tokio::test]
async fn a_sensitive_request_s_error_never_echoes_its_secret() {
    let server = MockServer::start().await;
    let secret = "generated-client-secret-42";
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_json(serde_json::json!({
            "error": {
                "message": format!("Insert failed for client_secret={secret}"),
                "detail": format!("{{\"client_secret\":\"{secret}\",\"name\":\"x\"}}"),
            },
            "status": "failure"
        })))
        .mount(&server)
        .await;
    let t = Transport::builder(Origin::parse(&server.uri()).unwrap())
        .error_parser(servicenow_errors)
        .build()
        .unwrap();
    let body = serde_json::json!({"name": "x", "client_secret": secret});
    let err = t
        .send(
            Request::post("/api/now/table/oauth_entity")
                .json(&body)
                .unwrap()
                .sensitive(),
        )
        .await
        .unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.contains(secret), "{text}");
    assert!(
        text.contains("HTTP 500") && text.contains("Insert failed"),
        "{text}"
    );
    assert!(text.contains(REDACTED), "{text}");
    // The same error from a request not marked sensitive keeps its detail.
    let err = t
        .send(Request::post("/api/now/table/x").json(&body).unwrap())
        .await
        .unwrap_err();
    assert!(err.to_string().contains(secret), "the fault fired: {err}");
}

#[tokio::test]
async fn a_read_only_transport_sends_reads_and_refuses_writes_before_sending() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/thing"))
        .and(header("authorization", "Basic YWRtaW46cHctb2YtYWRtaW4="))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"n": 1})))
        .expect(1)
        .mount(&server)
        .await;
    // A POST that changes nothing (a batch of reads) goes through.
    Mock::given(method("POST"))
        .and(path("/api/batch"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"n": 2})))
        .expect(1)
        .mount(&server)
        .await;
    let full = transport(&server);
    let reading = full.read_only();
    assert!(reading.is_read_only() && !full.is_read_only());

    let read: serde_json::Value = reading
        .send(Request::get("/api/thing"))
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(read["n"], 1);
    let batch: serde_json::Value = reading
        .send(
            Request::post("/api/batch")
                .json(&serde_json::json!({"rest_requests": []}))
                .unwrap()
                .changes_nothing(),
        )
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(batch["n"], 2);

    for m in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
        let err = reading
            .send(Request::new(m.clone(), "/api/thing").query("a", "b"))
            .await
            .unwrap_err();
        let Error::ReadOnly { request } = &err else {
            panic!("{m}: {err:?}")
        };
        assert_eq!(request.method, m);
        assert_eq!(request.path, "/api/thing?a=b");
        assert_eq!(request.attempts, 0);
        assert_eq!(err.request(), Some(request));
        assert!(!err.is_retryable());
        assert!(
            err.to_string()
                .starts_with(&format!("{m} /api/thing?a=b on 127.0.0.1:")),
            "{err}"
        );
        assert!(err.to_string().contains("was not sent"), "{err}");
    }
    // Nothing but the two reads reached the server (the mocks' `expect`s check
    // the reads; this checks that no write arrived at all).
    let received = server.received_requests().await.unwrap();
    assert_eq!(received.len(), 2, "{received:?}");
    assert!(Request::get("/x").is_read() && !Request::post("/x").is_read());
    assert!(Request::new(Method::OPTIONS, "/x").is_read());
}

#[tokio::test]
async fn writes_are_counted_once_each_however_often_they_are_attempted_and_reads_never() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({})))
        .mount(&server)
        .await;
    // The first PATCH is answered 503 and retried: still one write.
    Mock::given(method("PATCH"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({})))
        .expect(3)
        .mount(&server)
        .await;
    let t = Transport::builder(Origin::parse(&server.uri()).unwrap())
        .retry_policy(
            bpsn_core::RetryPolicy::default()
                .with_initial_backoff(std::time::Duration::from_millis(1))
                .with_max_backoff(std::time::Duration::from_millis(2)),
        )
        .build()
        .unwrap();
    t.send(Request::get("/a")).await.unwrap();
    assert_eq!(t.stats().writes, 0, "a read is no write");
    t.send(Request::patch("/a")).await.unwrap();
    assert_eq!(t.stats().attempts, 3, "the PATCH was sent twice");
    assert_eq!(t.stats().writes, 1, "but it is one write");
    t.send(Request::post("/batch").counting_writes(40))
        .await
        .unwrap();
    assert_eq!(t.stats().writes, 41, "a batch counts the writes it carries");
    t.send(Request::post("/batch").changes_nothing())
        .await
        .unwrap();
    t.send(Request::post("/token").changes_nothing())
        .await
        .unwrap();
    assert_eq!(t.stats().writes, 41, "reads sent as POSTs are no writes");
    // Clones and read-only views share the counter; a refused write counts nothing.
    let view = t.read_only();
    assert!(view.send(Request::delete("/a")).await.is_err());
    assert_eq!(t.stats().writes, 41);
}

#[tokio::test]
async fn a_path_segment_that_would_collapse_the_path_is_refused_before_any_request() {
    for bad in ["", ".", ".."] {
        let err = bpsn_core::transport::path_segment(bad).unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{bad:?}: {err}");
        assert!(err.to_string().contains("path segment"), "{err}");
    }
    for (name, encoded) in [
        ("Bright Pattern", "Bright%20Pattern"),
        ("a/../b", "a%2F..%2Fb"),
        ("...", "..."),
        ("%2e%2e", "%252e%252e"),
        ("x?y#z", "x%3Fy%23z"),
    ] {
        assert_eq!(
            bpsn_core::transport::path_segment(name).unwrap(),
            encoded,
            "{name:?}"
        );
    }
}
