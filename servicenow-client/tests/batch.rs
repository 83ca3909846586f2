//! The Batch API against wiremock.

mod common;

use base64::Engine as _;
use common::*;
use servicenow_client::batch::{BatchItem, BatchOptions};
use servicenow_client::query::Query;
use servicenow_client::{Client, Credentials, Error};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Answers a batch like ServiceNow: every item serviced with 201 and its body echoed,
/// except ids starting with `skip` (unserviced) and `bad` (400).
struct EchoBatch;

impl Respond for EchoBatch {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
        let mut serviced = Vec::new();
        let mut unserviced = Vec::new();
        for item in body["rest_requests"].as_array().unwrap() {
            let id = item["id"].as_str().unwrap().to_owned();
            if id.starts_with("skip") {
                unserviced.push(id);
            } else if id.starts_with("bad") {
                let err = serde_json::json!({"error": {"message": "Invalid role", "detail": "role is mandatory"}, "status": "failure"});
                serviced.push(serde_json::json!({
                    "id": id, "status_code": 400, "status_text": "Bad Request",
                    "body": B64.encode(err.to_string()), "execution_time": 3
                }));
            } else {
                let sent = B64.decode(item["body"].as_str().unwrap_or("")).unwrap();
                let sent: serde_json::Value = if sent.is_empty() {
                    serde_json::json!({})
                } else {
                    serde_json::from_slice(&sent).unwrap()
                };
                let answer = serde_json::json!({"result": sent});
                serviced.push(serde_json::json!({
                    "id": id, "status_code": 201, "status_text": "Created",
                    "body": B64.encode(answer.to_string()), "headers": [], "execution_time": 5
                }));
            }
        }
        ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "batch_request_id": body["batch_request_id"],
            "serviced_requests": serviced,
            "unserviced_requests": unserviced,
        }))
    }
}

fn client(server: &MockServer, options: BatchOptions) -> Client {
    Client::builder(instance(server), Credentials::basic("admin", PASSWORD))
        .retry_policy(fast_retries())
        .batch_options(options)
        .build()
        .unwrap()
}

#[tokio::test]
async fn sends_the_documented_request_shape_and_maps_results_by_id() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/now/v1/batch"))
        .and(header("content-type", "application/json"))
        .and(header("authorization", basic_header().as_str()))
        .respond_with(EchoBatch)
        .expect(1)
        .mount(&server)
        .await;
    let client = client(&server, BatchOptions::default());
    let grants = client.table_json("sys_user_has_role").unwrap();
    let items = vec![
        grants
            .create_item("g1", &serde_json::json!({"user": SYS_ID, "role": ROLE_ID}))
            .unwrap(),
        grants
            .create_item("bad-1", &serde_json::json!({"user": SYS_ID}))
            .unwrap(),
        grants
            .create_item("skip-1", &serde_json::json!({"user": SYS_ID}))
            .unwrap(),
    ];
    let results = client.batch(items).await.unwrap();
    assert_eq!(results.len(), 3);

    let ok = results[0].as_ref().unwrap();
    assert_eq!((ok.id(), ok.status()), ("g1", 201));
    assert_eq!(ok.execution_time_ms(), Some(5));
    let row: serde_json::Value = ok.record().unwrap();
    assert_eq!(row["role"], ROLE_ID);

    let Err(Error::Api(api)) = &results[1] else {
        panic!("{:?}", results[1])
    };
    assert_eq!(api.status, 400);
    assert_eq!(api.message.as_deref(), Some("Invalid role"));
    assert_eq!(api.request.path, "/api/now/table/sys_user_has_role");

    assert!(
        matches!(&results[2], Err(Error::BatchItemUnserviced { item_id, .. }) if item_id == "skip-1")
    );
    assert!(results[2].as_ref().unwrap_err().is_retryable());

    // The wire request: ids, methods, relative urls, base64 bodies, JSON headers.
    let sent: serde_json::Value =
        serde_json::from_slice(&server.received_requests().await.unwrap()[0].body).unwrap();
    assert_eq!(sent["batch_request_id"].as_str().unwrap().len(), 16);
    let first = &sent["rest_requests"][0];
    assert_eq!(first["id"], "g1");
    assert_eq!(first["method"], "POST");
    assert_eq!(first["url"], "/api/now/table/sys_user_has_role");
    assert_eq!(first["exclude_response_headers"], true);
    let body: serde_json::Value =
        serde_json::from_slice(&B64.decode(first["body"].as_str().unwrap()).unwrap()).unwrap();
    assert_eq!(body, serde_json::json!({"user": SYS_ID, "role": ROLE_ID}));
    assert!(
        first["headers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["name"] == "Accept" && h["value"] == "application/json")
    );
}

#[tokio::test]
async fn many_items_are_split_into_bounded_batches() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/now/v1/batch"))
        .respond_with(EchoBatch)
        .expect(3)
        .mount(&server)
        .await;
    let client = client(
        &server,
        BatchOptions::default().max_items(40).concurrency(2),
    );
    let table = client.table_json("sys_user_has_role").unwrap();
    let items: Vec<_> = (0..100)
        .map(|i| {
            table
                .create_item(format!("i{i}"), &serde_json::json!({"n": i.to_string()}))
                .unwrap()
        })
        .collect();
    let results = client.batch(items).await.unwrap();
    for (i, r) in results.iter().enumerate() {
        let r = r.as_ref().unwrap();
        assert_eq!(r.id(), format!("i{i}"));
        let row: serde_json::Value = r.record().unwrap();
        assert_eq!(row["n"], i.to_string());
    }
    let sizes: Vec<usize> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| {
            serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()["rest_requests"]
                .as_array()
                .unwrap()
                .len()
        })
        .collect();
    let mut sorted = sizes.clone();
    sorted.sort();
    assert_eq!(sorted, vec![20, 40, 40]);
}

#[tokio::test]
async fn a_failed_batch_reports_every_item_as_possibly_applied() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/now/v1/batch"))
        .respond_with(
            ResponseTemplate::new(500).set_body_json(
                serde_json::json!({"error": {"message": "boom"}, "status": "failure"}),
            ),
        )
        .expect(1)
        .mount(&server)
        .await;
    let client = client(&server, BatchOptions::default());
    let table = client.table_json("sys_user_has_role").unwrap();
    let items = vec![
        table.create_item("a", &serde_json::json!({})).unwrap(),
        table.create_item("b", &serde_json::json!({})).unwrap(),
    ];
    let results = client.batch(items).await.unwrap();
    for (r, id) in results.iter().zip(["a", "b"]) {
        let err = r.as_ref().unwrap_err();
        assert!(
            matches!(err, Error::BatchFailed { item_id, .. } if item_id == id),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("may or may not have been applied"),
            "{err}"
        );
        assert_eq!(err.request().unwrap().path, "/api/now/v1/batch");
    }
}

#[tokio::test]
async fn a_read_only_batch_is_retried_after_a_503() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/now/v1/batch"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    let list = serde_json::json!({"result": [user_row(1)]});
    Mock::given(method("POST"))
        .and(path("/api/now/v1/batch"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "serviced_requests": [{"id": "q", "status_code": "200", "status_text": "OK", "body": B64.encode(list.to_string())}],
            "unserviced_requests": []
        })))
        .expect(1)
        .mount(&server)
        .await;
    let client = client(&server, BatchOptions::default());
    let item = client
        .table_json("sys_user")
        .unwrap()
        .list_item("q", Query::new().eq("user_name", "agent.0001"))
        .unwrap();
    assert!(
        item.url().starts_with(
            "/api/now/table/sys_user?sysparm_query=user_name%3Dagent.0001%5EORDERBYsys_id"
        ),
        "{}",
        item.url()
    );
    let results = client.batch(vec![item]).await.unwrap();
    let rows: Vec<serde_json::Value> = results[0].as_ref().unwrap().records().unwrap();
    assert_eq!(rows[0]["user_name"], "agent.0001");
}

#[tokio::test]
async fn an_item_the_answer_forgets_is_reported_not_dropped() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "serviced_requests": [], "unserviced_requests": []
        })))
        .mount(&server)
        .await;
    let client = client(&server, BatchOptions::default());
    let item = BatchItem::new(
        "lost",
        http::Method::DELETE,
        format!("/api/now/table/x/{SYS_ID}"),
    );
    let results = client.batch(vec![item]).await.unwrap();
    assert!(
        matches!(&results[0], Err(Error::Protocol { .. })),
        "{:?}",
        results[0]
    );
}

#[tokio::test]
async fn bad_batches_are_rejected_before_sending() {
    let server = MockServer::start().await;
    let client = client(&server, BatchOptions::default());
    let dup = vec![
        BatchItem::new("a", http::Method::GET, "/api/now/table/x"),
        BatchItem::new("a", http::Method::GET, "/api/now/table/y"),
    ];
    assert!(matches!(
        client.batch(dup).await,
        Err(Error::InvalidInput(_))
    ));
    assert!(server.received_requests().await.unwrap().is_empty());
    assert!(client.batch(vec![]).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_read_only_client_sends_batches_of_reads_and_refuses_every_write() {
    let server = MockServer::start().await;
    let list = serde_json::json!({"result": [user_row(1)]});
    Mock::given(method("POST"))
        .and(path("/api/now/v1/batch"))
        .and(header("authorization", basic_header().as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "batch_request_id": "1",
            "serviced_requests": [{"id": "q", "status_code": 200, "status_text": "OK", "body": B64.encode(list.to_string())}],
            "unserviced_requests": []
        })))
        .expect(1)
        .mount(&server)
        .await;
    let full = client(&server, BatchOptions::default());
    let client = full.read_only();
    assert!(client.is_read_only() && !full.is_read_only());
    let users = client.table_json("sys_user").unwrap();

    // A batch of GETs is a read.
    let item = users
        .list_item("q", Query::new().eq("user_name", "agent.0001"))
        .unwrap();
    let results = client.batch(vec![item]).await.unwrap();
    let rows: Vec<serde_json::Value> = results[0].as_ref().unwrap().records().unwrap();
    assert_eq!(rows[0]["user_name"], "agent.0001");

    // A batch holding a write, and every direct write, are refused unsent.
    let write = users
        .create_item("w", &serde_json::json!({"user_name": "x"}))
        .unwrap();
    let err = client.batch(vec![write]).await.unwrap_err();
    assert!(
        matches!(&err, Error::ReadOnly { request } if request.method == "POST" && request.path == "/api/now/table/sys_user" && request.attempts == 0),
        "{err:?}"
    );
    let err = users
        .create(&serde_json::json!({"user_name": "x"}))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::ReadOnly { request } if request.method == "POST" && request.path.starts_with("/api/now/table/sys_user") && request.attempts == 0),
        "{err:?}"
    );
    let id = servicenow_client::wire::SysId::generate();
    let err = users.delete(&id).await.unwrap_err();
    assert!(
        matches!(&err, Error::ReadOnly { request } if request.method == "DELETE" && request.path.ends_with(id.as_str())),
        "{err:?}"
    );
    // Only the batch of reads reached the server.
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}
