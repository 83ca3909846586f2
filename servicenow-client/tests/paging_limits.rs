//! Paging stops by itself, whatever the server announces: a lying total, endless
//! empty pages, repeated records, no total at all. Each error says what the
//! server did.

mod common;

use common::*;
use futures_util::TryStreamExt;
use serde::Deserialize;
use servicenow_client::query::Query;
use servicenow_client::table::ListOptions;
use servicenow_client::wire::SysId;
use servicenow_client::{Client, Credentials, Error, PagingLimits, Record};
use wiremock::matchers::{header_exists, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct User {
    sys_id: SysId,
    user_name: String,
}

impl Record for User {
    const TABLE: &'static str = "sys_user";
}

/// Answers every page from `rows(offset, limit)`, with an optional total and
/// optional next links.
struct Pages<F> {
    rows: F,
    total: Option<u64>,
    link_host: Option<String>,
}

impl<F: Fn(usize, usize) -> Vec<serde_json::Value> + Send + Sync> Respond for Pages<F> {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let param = |name: &str| {
            request
                .url
                .query_pairs()
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| v.parse::<usize>().ok())
        };
        let offset = param("sysparm_offset").unwrap_or(0);
        let limit = param("sysparm_limit").unwrap_or(10);
        let mut answer = ResponseTemplate::new(200)
            .set_body_json(serde_json::json!({ "result": (self.rows)(offset, limit) }));
        if let Some(total) = self.total {
            answer = answer.insert_header("x-total-count", total.to_string().as_str());
        }
        if let Some(host) = &self.link_host {
            answer = answer.insert_header(
                "link",
                format!(
                    "<{host}/api/now/table/sys_user?sysparm_limit={limit}&sysparm_offset={}>;rel=\"next\"",
                    offset + limit
                )
                .as_str(),
            );
        }
        answer
    }
}

fn client(server: &MockServer, limits: PagingLimits) -> Client {
    Client::builder(instance(server), Credentials::basic("admin", PASSWORD))
        .retry_policy(fast_retries())
        .page_size(2)
        .paging_limits(limits)
        .build()
        .unwrap()
}

async fn list(client: &Client) -> Result<Vec<User>, Error> {
    client
        .table::<User>()
        .list(ListOptions::new(Query::new()))
        .try_collect()
        .await
}

async fn pages_asked(server: &MockServer) -> usize {
    server.received_requests().await.unwrap().len()
}

fn distinct(offset: usize, limit: usize) -> Vec<serde_json::Value> {
    (offset..offset + limit).map(user_row).collect()
}

#[tokio::test]
async fn a_huge_total_with_empty_pages_stops_after_a_few_empty_pages() {
    for link in [None, Some("")] {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(Pages {
                rows: |_, _| Vec::new(),
                total: Some(1_000_000_000_000),
                link_host: link.map(|_| server.uri()),
            })
            .mount(&server)
            .await;
        let err = list(&client(&server, PagingLimits::default()))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Protocol { .. }), "{err}");
        assert!(err.to_string().contains("6 empty pages in a row"), "{err}");
        assert_eq!(pages_asked(&server).await, 6, "the fault fired and stopped");
    }
}

#[tokio::test]
async fn a_lying_total_with_full_pages_is_caught_when_the_pages_contradict_it() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(Pages {
            rows: distinct,
            total: Some(3),
            link_host: Some(server.uri()),
        })
        .mount(&server)
        .await;
    let err = list(&client(&server, PagingLimits::default()))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("4 records received, more than the 3 X-Total-Count announces"),
        "{err}"
    );
    assert_eq!(pages_asked(&server).await, 2);
}

#[tokio::test]
async fn a_page_that_repeats_a_record_is_an_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(Pages {
            rows: |_, _| vec![user_row(1), user_row(2)],
            total: Some(100),
            link_host: None,
        })
        .mount(&server)
        .await;
    let err = list(&client(&server, PagingLimits::default()))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("page 2 (offset 2) repeats a record"),
        "{err}"
    );
    // The same with display values: the id is read from `value`.
    let server = MockServer::start().await;
    let row = serde_json::json!({
        "sys_id": {"display_value": "x", "value": format!("{:032x}", 7)},
        "user_name": {"display_value": "a", "value": "a"},
    });
    let again = row.clone();
    Mock::given(method("GET"))
        .respond_with(Pages {
            rows: move |_, _| vec![again.clone()],
            total: Some(100),
            link_host: None,
        })
        .mount(&server)
        .await;
    let err = client(&server, PagingLimits::default())
        .table_json("sys_user")
        .unwrap()
        .list(Query::new())
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("repeats a record"), "{err}");
}

#[tokio::test]
async fn a_page_without_paging_headers_is_the_last() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(Pages {
            rows: distinct,
            total: None,
            link_host: None,
        })
        .mount(&server)
        .await;
    let users = list(&client(&server, PagingLimits::default()))
        .await
        .unwrap();
    assert_eq!(users.len(), 2, "one full page, then no more asked");
    assert_eq!(pages_asked(&server).await, 1);
}

#[tokio::test]
async fn without_a_total_paging_stops_at_the_configured_cap() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(Pages {
            rows: distinct,
            total: None,
            link_host: Some(server.uri()),
        })
        .mount(&server)
        .await;
    let limits = PagingLimits::default().max_pages(3);
    let err = list(&client(&server, limits)).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("stopped after 3 pages (the client's limit"),
        "{err}"
    );
    assert_eq!(pages_asked(&server).await, 3);
}

#[tokio::test]
async fn an_honest_server_is_read_to_the_end() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(Pages {
            rows: |offset: usize, limit: usize| {
                distinct(offset, limit.min(7usize.saturating_sub(offset)))
            },
            total: Some(7),
            link_host: None,
        })
        .mount(&server)
        .await;
    let users = list(&client(&server, PagingLimits::default()))
        .await
        .unwrap();
    assert_eq!(users.len(), 7);
    assert_eq!(pages_asked(&server).await, 4);
}

#[tokio::test]
async fn a_next_link_to_another_host_is_read_from_this_instance_only() {
    let server = MockServer::start().await;
    let elsewhere = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/now/table/sys_user"))
        .and(header_exists("authorization"))
        .respond_with(Pages {
            rows: |offset: usize, limit: usize| {
                distinct(offset, limit.min(4usize.saturating_sub(offset)))
            },
            total: Some(4),
            link_host: Some(elsewhere.uri()),
        })
        .mount(&server)
        .await;
    let users = list(&client(&server, PagingLimits::default()))
        .await
        .unwrap();
    assert_eq!(users.len(), 4);
    assert!(
        elsewhere.received_requests().await.unwrap().is_empty(),
        "credentials never follow a link to another host"
    );
}
