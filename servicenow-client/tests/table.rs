//! The Table API against wiremock: what is sent, and what comes back typed.

mod common;

use common::*;
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};
use servicenow_client::query::Query;
use servicenow_client::table::{DisplayValue, ListOptions};
use servicenow_client::wire::{self, Reference, SysId};
use servicenow_client::{Error, Record};
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[derive(Debug, Deserialize)]
struct User {
    sys_id: SysId,
    user_name: String,
    #[serde(with = "wire::string_bool")]
    active: bool,
    #[serde(with = "wire::string_number")]
    failed_attempts: u32,
}

impl Record for User {
    const TABLE: &'static str = "sys_user";
}

#[derive(Debug, Deserialize, Serialize)]
struct Grant {
    user: Reference,
    role: Reference,
    #[serde(with = "wire::string_bool")]
    inherited: bool,
}

impl Record for Grant {
    const TABLE: &'static str = "sys_user_has_role";
}

fn sys_id() -> SysId {
    SysId::parse(SYS_ID).unwrap()
}

#[tokio::test]
async fn get_decodes_string_valued_fields_and_sends_json_headers() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/api/now/table/sys_user/{SYS_ID}")))
        .and(header("accept", "application/json"))
        .and(header("authorization", basic_header().as_str()))
        .and(header(
            "user-agent",
            concat!("servicenow-client/", env!("CARGO_PKG_VERSION")),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "result": {"sys_id": SYS_ID, "user_name": "bob", "active": "false", "failed_attempts": "3"}
        })))
        .expect(1)
        .mount(&server)
        .await;

    let user = basic_client(&server)
        .table::<User>()
        .get(&sys_id())
        .await
        .unwrap();
    assert_eq!(user.sys_id, sys_id());
    assert_eq!(user.user_name, "bob");
    assert!(!user.active);
    assert_eq!(user.failed_attempts, 3);
}

#[tokio::test]
async fn get_reads_each_reference_shape() {
    let server = MockServer::start().await;
    let shapes = [
        serde_json::json!(ROLE_ID),
        serde_json::json!({"link": format!("{}/api/now/table/sys_user_role/{ROLE_ID}", server.uri()), "value": ROLE_ID}),
        serde_json::json!({"display_value": "sn_openframe_user", "link": "x"}),
        serde_json::json!({"display_value": "sn_openframe_user", "value": ROLE_ID, "link": "x"}),
    ];
    for (i, shape) in shapes.iter().enumerate() {
        let id = format!("{i:032x}");
        Mock::given(method("GET"))
            .and(path(format!("/api/now/table/sys_user_has_role/{id}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "result": {"user": SYS_ID, "role": shape, "inherited": "false"}
            })))
            .mount(&server)
            .await;
    }
    let table = basic_client(&server).table::<Grant>();
    let mut seen = Vec::new();
    for i in 0..shapes.len() {
        let grant = table
            .get(&SysId::parse(&format!("{i:032x}")).unwrap())
            .await
            .unwrap();
        seen.push((
            grant.role.sys_id().map(str::to_owned),
            grant.role.display_value().map(str::to_owned),
        ));
        assert_eq!(grant.user.sys_id(), Some(SYS_ID));
    }
    let role = Some(ROLE_ID.to_owned());
    let name = Some("sn_openframe_user".to_owned());
    assert_eq!(
        seen,
        vec![
            (role.clone(), None),
            (role.clone(), None),
            (None, name.clone()),
            (role, name)
        ]
    );
}

#[tokio::test]
async fn get_missing_record_is_not_found_with_the_envelope_message() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/api/now/table/sys_user/{SYS_ID}")))
        .respond_with(ResponseTemplate::new(404).set_body_json(serde_json::json!({
            "error": {"message": "No Record found", "detail": "Record doesn't exist or ACL restricts the record retrieval"},
            "status": "failure"
        })))
        .mount(&server)
        .await;
    let table = basic_client(&server).table::<User>();
    let err = table.get(&sys_id()).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let Error::Api(api) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(api.message.as_deref(), Some("No Record found"));
    assert_eq!(
        api.request.path,
        format!("/api/now/table/sys_user/{SYS_ID}")
    );
    assert!(err.to_string().contains("HTTP 404"), "{err}");
    assert!(table.find(&sys_id()).await.unwrap().is_none());
}

#[tokio::test]
async fn a_non_json_error_body_is_quoted_in_a_bounded_snippet() {
    let server = MockServer::start().await;
    let page = format!("<html><body>Bad gateway{}</body></html>", " ".repeat(1000));
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500).set_body_string(page))
        .mount(&server)
        .await;
    let err = basic_client(&server)
        .table::<User>()
        .get(&sys_id())
        .await
        .unwrap_err();
    let Error::Api(api) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(api.status, 500);
    assert_eq!(api.message, None);
    let snippet = api.body_snippet.as_deref().unwrap();
    assert!(snippet.starts_with("<html><body>Bad gateway"));
    assert!(snippet.chars().count() <= 257);
}

#[tokio::test]
async fn a_success_body_that_does_not_decode_is_a_decode_error_with_snippet() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{\"result\": {\"sys_id\": 42"))
        .mount(&server)
        .await;
    let err = basic_client(&server)
        .table::<User>()
        .get(&sys_id())
        .await
        .unwrap_err();
    let Error::Decode(d) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(d.status, 200);
    assert_eq!(
        d.body_snippet.as_deref(),
        Some("{\"result\": {\"sys_id\": 42")
    );
}

/// Mounts one page of `sys_user` at `offset`, with a Link header when `next` is set.
async fn mount_page(
    server: &MockServer,
    offset: usize,
    rows: Vec<serde_json::Value>,
    next: Option<usize>,
    total: usize,
) {
    let mut response = ResponseTemplate::new(200)
        .set_body_json(serde_json::json!({ "result": rows }))
        .insert_header("x-total-count", total.to_string().as_str());
    let first = format!(
        "<{}/api/now/table/sys_user?sysparm_limit=3&sysparm_offset=0>;rel=\"first\"",
        server.uri()
    );
    let link = match next {
        Some(n) => format!(
            "{first},<{}/api/now/table/sys_user?sysparm_query=active%3Dtrue%5EORDERBYsys_id&sysparm_limit=3&sysparm_offset={n}>;rel=\"next\"",
            server.uri()
        ),
        None => first,
    };
    response = response.insert_header("link", link.as_str());
    Mock::given(method("GET"))
        .and(path("/api/now/table/sys_user"))
        .and(query_param("sysparm_offset", offset.to_string()))
        .respond_with(response)
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn list_follows_links_across_pages_and_does_not_stop_on_a_short_page() {
    let server = MockServer::start().await;
    // Page 2 is short (an ACL hid a record), yet page 3 exists.
    mount_page(&server, 0, (0..3).map(user_row).collect(), Some(3), 8).await;
    mount_page(&server, 3, (3..5).map(user_row).collect(), Some(6), 8).await;
    mount_page(&server, 6, (6..8).map(user_row).collect(), None, 8).await;

    let client = servicenow_client::Client::builder(
        instance(&server),
        servicenow_client::Credentials::basic("admin", PASSWORD),
    )
    .page_size(3)
    .build()
    .unwrap();
    let users: Vec<User> = client
        .table::<User>()
        .list(Query::new().eq("active", "true"))
        .try_collect()
        .await
        .unwrap();
    let names: Vec<_> = users.iter().map(|u| u.user_name.as_str()).collect();
    assert_eq!(
        names,
        [
            "agent.0000",
            "agent.0001",
            "agent.0002",
            "agent.0003",
            "agent.0004",
            "agent.0006",
            "agent.0007"
        ]
    );
    // The first request carried the query, ordered by sys_id, and the page size.
    let requests = server.received_requests().await.unwrap();
    let first = &requests[0];
    let q: Vec<_> = first.url.query_pairs().into_owned().collect();
    assert!(
        q.contains(&("sysparm_query".into(), "active=true^ORDERBYsys_id".into())),
        "{q:?}"
    );
    assert!(q.contains(&("sysparm_limit".into(), "3".into())), "{q:?}");
    assert_eq!(requests.len(), 3);
}

#[tokio::test]
async fn list_pages_by_total_count_when_there_is_no_link_header() {
    let server = MockServer::start().await;
    for (offset, rows) in [(0, 0..2), (2, 2..3), (4, 4..5)] {
        Mock::given(method("GET"))
            .and(path("/api/now/table/sys_user"))
            .and(query_param("sysparm_offset", offset.to_string()))
            .and(query_param("sysparm_limit", "2"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(
                        serde_json::json!({ "result": rows.map(user_row).collect::<Vec<_>>() }),
                    )
                    .insert_header("x-total-count", "5"),
            )
            .expect(1)
            .mount(&server)
            .await;
    }
    let users: Vec<User> = basic_client(&server)
        .table::<User>()
        .list(ListOptions::new(Query::new()).page_size(2))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(users.len(), 4);
}

#[tokio::test]
async fn an_empty_table_lists_nothing_in_one_request() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/now/table/sys_user"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({ "result": [] }))
                .insert_header("x-total-count", "0"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let users: Vec<User> = basic_client(&server)
        .table::<User>()
        .list(Query::new())
        .try_collect()
        .await
        .unwrap();
    assert!(users.is_empty());
}

#[tokio::test]
async fn a_server_whose_next_link_does_not_advance_is_a_protocol_error() {
    let server = MockServer::start().await;
    let link = format!(
        "<{}/api/now/table/sys_user?sysparm_offset=0>;rel=\"next\"",
        server.uri()
    );
    Mock::given(method("GET"))
        .and(path("/api/now/table/sys_user"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({ "result": [user_row(1)] }))
                .insert_header("link", link.as_str()),
        )
        .expect(1)
        .mount(&server)
        .await;
    let result: Result<Vec<User>, _> = basic_client(&server)
        .table::<User>()
        .list(Query::new())
        .try_collect()
        .await;
    let err = result.unwrap_err();
    assert!(matches!(err, Error::Protocol { .. }), "{err:?}");
    assert!(err.to_string().contains("does not advance"), "{err}");
}

#[tokio::test]
async fn a_next_link_to_another_table_is_refused() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/now/table/sys_user"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({ "result": [user_row(1)] }))
                .insert_header("link", "<https://evil.example/api/now/table/sys_user_role?sysparm_offset=5>;rel=\"next\""),
        )
        .mount(&server)
        .await;
    let result: Result<Vec<User>, _> = basic_client(&server)
        .table::<User>()
        .list(Query::new())
        .try_collect()
        .await;
    assert!(matches!(result, Err(Error::Protocol { .. })), "{result:?}");
}

#[tokio::test]
async fn list_sends_fields_display_value_and_reference_link_parameters() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/now/table/sys_user_has_role"))
        .and(query_param("sysparm_fields", "user,role,inherited"))
        .and(query_param("sysparm_display_value", "all"))
        .and(query_param("sysparm_exclude_reference_link", "true"))
        .and(query_param("sysparm_query", "role.name=sn_openframe_user^ORDERBYDESCsys_created_on"))
        .and(query_param("sysparm_limit", "5"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({
                    "result": [{"user": {"display_value": "bob", "value": SYS_ID}, "role": {"display_value": "sn_openframe_user", "value": ROLE_ID}, "inherited": "true"}]
                }))
                .insert_header("x-total-count", "1"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let grants: Vec<Grant> = basic_client(&server)
        .table::<Grant>()
        .list(
            ListOptions::new(
                Query::new()
                    .eq("role.name", "sn_openframe_user")
                    .order_by_desc("sys_created_on"),
            )
            .fields(["user", "role", "inherited"])
            .display_value(DisplayValue::All)
            .exclude_reference_link(true)
            .limit(5),
        )
        .try_collect()
        .await
        .unwrap();
    assert_eq!(grants.len(), 1);
    assert!(grants[0].inherited);
    assert_eq!(grants[0].user.display_value(), Some("bob"));
}

#[tokio::test]
async fn invalid_query_input_is_rejected_with_no_request_sent() {
    let server = MockServer::start().await;
    let table = basic_client(&server).table::<User>();
    let err = table
        .one(Query::new().eq("user_name", "bob^ORuser_name!=x"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    let err = table
        .first(Query::new().eq("User_Name", "bob"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    let listed: Result<Vec<User>, _> = table
        .list(ListOptions::new(Query::new()).fields(["user name"]))
        .try_collect()
        .await;
    assert!(matches!(listed, Err(Error::InvalidInput(_))));
    assert!(basic_client(&server).table_json("sys user").is_err());
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn one_fails_when_two_records_match_and_first_takes_one() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/now/table/sys_user"))
        .and(query_param("sysparm_limit", "2"))
        .and(query_param("sysparm_query", "user_name=bob^ORDERBYsys_id"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"result": [user_row(1), user_row(2)]})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/now/table/sys_user"))
        .and(query_param("sysparm_limit", "1"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"result": [user_row(1)]})),
        )
        .mount(&server)
        .await;
    let table = basic_client(&server).table::<User>();
    let err = table
        .one(Query::new().eq("user_name", "bob"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::TooManyMatches { found: 2, .. }),
        "{err:?}"
    );
    let first = table
        .first(Query::new().eq("user_name", "bob"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.user_name, "agent.0001");
}

#[tokio::test]
async fn create_update_replace_and_delete() {
    let server = MockServer::start().await;
    let created =
        serde_json::json!({"result": {"user": SYS_ID, "role": ROLE_ID, "inherited": "false"}});
    Mock::given(method("POST"))
        .and(path("/api/now/table/sys_user_has_role"))
        .and(header("content-type", "application/json"))
        .and(body_json(
            serde_json::json!({"user": SYS_ID, "role": ROLE_ID}),
        ))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(created.clone())
                .insert_header(
                    "location",
                    format!("{}/api/now/table/sys_user_has_role/{SYS_ID}", server.uri()).as_str(),
                ),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path(format!("/api/now/table/sys_user_has_role/{SYS_ID}")))
        .and(body_json(serde_json::json!({"inherited": "true"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            serde_json::json!({"result": {"user": SYS_ID, "role": ROLE_ID, "inherited": "true"}}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path(format!("/api/now/table/sys_user_has_role/{SYS_ID}")))
        .and(body_json(
            serde_json::json!({"user": SYS_ID, "role": ROLE_ID, "inherited": "false"}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(created))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path(format!("/api/now/table/sys_user_has_role/{SYS_ID}")))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;

    let table = basic_client(&server).table::<Grant>();
    let grant = table
        .create(&serde_json::json!({"user": SYS_ID, "role": ROLE_ID}))
        .await
        .unwrap();
    assert_eq!(grant.role.sys_id(), Some(ROLE_ID));
    assert!(!grant.inherited);
    let updated = table
        .update(&sys_id(), &serde_json::json!({"inherited": "true"}))
        .await
        .unwrap();
    assert!(updated.inherited);
    let replaced = table.replace(&sys_id(), &grant).await.unwrap();
    assert!(!replaced.inherited);
    table.delete(&sys_id()).await.unwrap();
}

#[tokio::test]
async fn untyped_tables_read_json_maps() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/now/table/incident"))
        .and(query_param(
            "sysparm_query",
            "number=INC0010001^ORDERBYsys_id",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            serde_json::json!({"result": [{"number": "INC0010001", "priority": "1"}]}),
        ))
        .mount(&server)
        .await;
    let row = basic_client(&server)
        .table_json("incident")
        .unwrap()
        .one(Query::new().eq("number", "INC0010001"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row["priority"], "1");
}

#[tokio::test]
async fn first_page_sends_one_request_and_keeps_at_most_the_page() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/now/table/sys_user"))
        .and(query_param(
            "sysparm_query",
            "active=true^ORDERBYDESCsys_updated_on",
        ))
        .and(query_param("sysparm_limit", "2"))
        .and(query_param("sysparm_offset", "0"))
        .respond_with(
            // A server that sends more than asked, and says more match.
            ResponseTemplate::new(200)
                .set_body_json(
                    serde_json::json!({"result": [user_row(1), user_row(2), user_row(3)]}),
                )
                .insert_header("x-total-count", "900"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let rows = basic_client(&server)
        .table::<User>()
        .first_page(
            ListOptions::new(
                Query::new()
                    .eq("active", "true")
                    .order_by_desc("sys_updated_on"),
            )
            .page_size(2),
        )
        .await
        .unwrap();
    let names: Vec<&str> = rows.iter().map(|u| u.user_name.as_str()).collect();
    assert_eq!(names, ["agent.0001", "agent.0002"]);
}
