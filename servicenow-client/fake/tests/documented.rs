//! The calls and answer shapes that the audited reference documents, against
//! wiremock: the wire each call sends and the typed result or error it returns.

#[path = "../../tests/common/mod.rs"]
mod common;

use base64::Engine as _;
use common::*;
use servicenow_client::batch::BatchItem;
use servicenow_client::oauth::RoundTripStage;
use servicenow_client::{Error, OAuthClient};
use wiremock::matchers::{body_string, header, method, path, query_param, query_param_contains};
use wiremock::{Mock, MockServer, ResponseTemplate};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

#[tokio::test]
async fn a_cors_preflight_is_sent_as_a_browser_sends_it() {
    let server = MockServer::start().await;
    Mock::given(method("OPTIONS"))
        .and(path("/api/now/table/sys_user"))
        .and(header("origin", "https://example.brightpattern.com"))
        .and(header("access-control-request-method", "POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header(
                    "access-control-allow-origin",
                    "https://example.brightpattern.com",
                )
                .insert_header("access-control-allow-methods", "GET, POST")
                .insert_header("access-control-allow-headers", "Authorization"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let answer = basic_client(&server)
        .cors_rules()
        .preflight(
            "/api/now/table/sys_user",
            "https://example.brightpattern.com",
            "POST",
        )
        .await
        .unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.allow_methods, ["GET", "POST"]);
    assert_eq!(answer.allow_headers, ["Authorization"]);
    assert!(answer.allows("https://example.brightpattern.com", "POST"));
    assert!(!answer.allows("https://other.brightpattern.com", "POST"));
    assert!(!answer.allows("https://example.brightpattern.com", "DELETE"));
    // A browser's preflight carries no credentials.
    let sent = &server.received_requests().await.unwrap()[0];
    assert!(sent.headers.get("authorization").is_none(), "{sent:?}");
    assert!(sent.body.is_empty());
}

#[tokio::test]
async fn a_refused_preflight_allows_nothing() {
    let server = MockServer::start().await;
    Mock::given(method("OPTIONS"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    let answer = basic_client(&server)
        .cors_rules()
        .preflight(
            "/api/now/table/x",
            "https://example.brightpattern.com",
            "POST",
        )
        .await
        .unwrap();
    assert_eq!(answer.allow_origin, None);
    assert!(!answer.allows("https://example.brightpattern.com", "POST"));
    let err = basic_client(&server)
        .cors_rules()
        .preflight("/api/now/table/x", "https://a.example.com\r\nX: y", "POST")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
}

#[tokio::test]
async fn the_table_api_definition_is_found_by_its_documented_base_uri() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/now/table/sys_ws_definition"))
        .and(query_param(
            "sysparm_query",
            "base_uri=/api/now/table^ORDERBYsys_id",
        ))
        .and(query_param("sysparm_limit", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "result": [{"sys_id": SYS_ID, "name": "Table API", "base_uri": "/api/now/table"}]
        })))
        .expect(1)
        .mount(&server)
        .await;
    let id = basic_client(&server)
        .cors_rules()
        .table_api()
        .await
        .unwrap();
    assert_eq!(id.as_str(), SYS_ID);
}

async fn mount_grants(server: &MockServer, refresh_status: u16) {
    Mock::given(method("POST"))
        .and(path("/oauth_token.do"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string(format!(
            "grant_type=password&username=agent.1&password={PASSWORD}&client_id=cid&client_secret={CLIENT_SECRET}"
        )))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "access_token": "first-access", "refresh_token": "the-refresh",
            "scope": "useraccount", "token_type": "Bearer", "expires_in": 1799
        })))
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path("/oauth_token.do"))
        .and(body_string(format!(
            "grant_type=refresh_token&refresh_token=the-refresh&client_id=cid&client_secret={CLIENT_SECRET}"
        )))
        .respond_with(if refresh_status == 200 {
            ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "access_token": "renewed-access", "scope": "useraccount",
                "token_type": "Bearer", "expires_in": 1799
            }))
        } else {
            ResponseTemplate::new(refresh_status).set_body_json(
                serde_json::json!({"error": "server_error", "error_description": "access_denied"}),
            )
        })
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn the_oauth_round_trip_is_password_then_refresh_then_a_read_with_the_renewed_token() {
    let server = MockServer::start().await;
    mount_grants(&server, 200).await;
    Mock::given(method("GET"))
        .and(path("/api/now/table/sys_user"))
        .and(header("authorization", "Bearer renewed-access"))
        .and(query_param(
            "sysparm_query",
            "user_name=agent.1^ORDERBYsys_id",
        ))
        .and(query_param("sysparm_limit", "1"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"result": [
                {"sys_id": SYS_ID, "user_name": "agent.1"}
            ]})),
        )
        .expect(1)
        .mount(&server)
        .await;
    basic_client(&server)
        .prove_oauth_round_trip(
            &OAuthClient::new("cid", CLIENT_SECRET.into()),
            "agent.1",
            &PASSWORD.into(),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_failed_round_trip_says_which_request_failed_without_a_secret() {
    let server = MockServer::start().await;
    mount_grants(&server, 401).await;
    let err = basic_client(&server)
        .prove_oauth_round_trip(
            &OAuthClient::new("cid", CLIENT_SECRET.into()),
            "agent.1",
            &PASSWORD.into(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.stage, RoundTripStage::RefreshGrant);
    assert!(err.source.is_authentication(), "{err:?}");
    let text = format!("{err} {err:?}");
    assert!(text.contains("the refresh grant failed"), "{text}");
    for secret in [PASSWORD, CLIENT_SECRET, "the-refresh", "first-access"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
}

#[tokio::test]
async fn a_batch_items_error_message_reaches_the_error() {
    let server = MockServer::start().await;
    let body = serde_json::json!({"error": {"message": "Invalid table x", "detail": ""}});
    Mock::given(method("POST"))
        .and(path("/api/now/v1/batch"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "batch_request_id": "1",
            "serviced_requests": [
                {"id": "a", "status_code": 400, "status_text": "Bad Request",
                 "body": B64.encode(body.to_string()), "headers": [], "execution_time": 1,
                 "error_message": "The request could not be processed"},
                {"id": "b", "status_code": 200, "status_text": "OK",
                 "body": B64.encode("{\"result\":[]}"), "headers": [], "execution_time": 1,
                 "error_message": "Execution timed out"}
            ],
            "unserviced_requests": []
        })))
        .expect(1)
        .mount(&server)
        .await;
    let client = basic_client(&server);
    let items = vec![
        BatchItem::new("a", http::Method::GET, "/api/now/table/x"),
        BatchItem::new("b", http::Method::GET, "/api/now/table/incident"),
    ];
    let results = client.batch(items).await.unwrap();
    let Err(Error::Api(api)) = &results[0] else {
        panic!("{:?}", results[0])
    };
    assert_eq!(api.status, 400);
    assert_eq!(
        api.message.as_deref(),
        Some("The request could not be processed")
    );
    assert_eq!(api.detail.as_deref(), Some("Invalid table x"));
    // A 200 that still carries an error message is not silently taken as success.
    let err = results[1].as_ref().unwrap_err();
    assert!(err.to_string().contains("Execution timed out"), "{err}");
}

#[tokio::test]
async fn a_refused_cicd_operation_quotes_result_error_and_405_means_cicd_is_off() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/now/table/v_plugin"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "result": [{"sys_id": SYS_ID, "id": "com.sn_openframe", "active": "inactive"}]
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/sn_cicd/plugin/com.sn_openframe/activate"))
        .respond_with(ResponseTemplate::new(409).set_body_json(serde_json::json!({
            "result": {"status": "3", "status_label": "Failed",
                       "status_message": "Failed", "error": "Another operation is in progress"}
        })))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    let plugins = basic_client(&server).plugins();
    let err = plugins.activate("com.sn_openframe").await.unwrap_err();
    let Error::Api(api) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(api.status, 409);
    assert_eq!(
        api.message.as_deref(),
        Some("Another operation is in progress")
    );

    Mock::given(method("POST"))
        .and(path("/api/sn_cicd/plugin/com.sn_openframe/activate"))
        .respond_with(ResponseTemplate::new(405))
        .expect(1)
        .mount(&server)
        .await;
    let err = plugins.activate("com.sn_openframe").await.unwrap_err();
    assert!(err.is_endpoint_unavailable(), "{err:?}");
    assert!(
        err.to_string()
            .contains("activate the plugin com.glide.continuousdelivery"),
        "{err}"
    );
}

/// The allow-list as the Table API answers a read of it.
fn allow_list_answer(value: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(serde_json::json!({"result": [{
        "sys_id": SYS_ID, "name": servicenow_client::properties::POST_MESSAGE_ALLOW_LIST,
        "value": value, "type": "string", "ignore_cache": "false", "is_private": "false"
    }]}))
}

#[tokio::test]
async fn a_list_entry_another_writer_lost_is_written_again_and_a_lasting_loss_is_an_error() {
    use servicenow_client::properties::{Change, LIST_WRITES, POST_MESSAGE_ALLOW_LIST};
    const ORIGIN: &str = "https://b.example.com";
    let server = MockServer::start().await;
    // Reads: before the first write, "a"; the read back shows another writer's
    // value without ours ("a,c"); then "a,c" again before the second write, and
    // the second read back has it.
    for value in ["a", "a,c", "a,c"] {
        Mock::given(method("GET"))
            .and(path("/api/now/table/sys_properties"))
            .and(query_param_contains(
                "sysparm_query",
                format!("name={POST_MESSAGE_ALLOW_LIST}"),
            ))
            .respond_with(allow_list_answer(value))
            .up_to_n_times(1)
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/api/now/table/sys_properties"))
        .respond_with(allow_list_answer(&format!("a,c,{ORIGIN}")))
        .mount(&server)
        .await;
    for body in [
        format!(r#"{{"value":"a,{ORIGIN}"}}"#),
        format!(r#"{{"value":"a,c,{ORIGIN}"}}"#),
    ] {
        Mock::given(method("PATCH"))
            .and(path(format!("/api/now/table/sys_properties/{SYS_ID}")))
            .and(body_string(body))
            .respond_with(allow_list_answer("ignored").set_body_json(
                serde_json::json!({"result": {"sys_id": SYS_ID, "name": "x", "value": "x"}}),
            ))
            .expect(1)
            .mount(&server)
            .await;
    }
    let change = basic_client(&server)
        .properties()
        .add_list_entry(POST_MESSAGE_ALLOW_LIST, ORIGIN)
        .await
        .unwrap();
    assert_eq!(
        change,
        Change::Updated {
            old: "a".into(),
            new: format!("a,{ORIGIN}")
        },
        "the first write's change"
    );

    // A writer that loses it every time: the call gives up with a typed error.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/now/table/sys_properties"))
        .respond_with(allow_list_answer("a"))
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"result": {"sys_id": SYS_ID, "name": "x"}})),
        )
        .expect(u64::from(LIST_WRITES))
        .mount(&server)
        .await;
    let err = basic_client(&server)
        .properties()
        .add_list_entry(POST_MESSAGE_ALLOW_LIST, ORIGIN)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::LostUpdate { attempts, .. } if attempts == LIST_WRITES),
        "{err:?}"
    );
    assert!(err.to_string().contains(ORIGIN), "{err}");
}
