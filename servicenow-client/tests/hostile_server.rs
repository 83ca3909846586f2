//! A lying server cannot exhaust memory: one 10 MB record a page without
//! paging headers, endless junk pages under an absurd total, records that are
//! not records. Each ends in a typed error within a bounded time; the test
//! measures the process's peak and prints it.
#![allow(clippy::print_stdout)] // the test prints what it tried and the peak

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::TryStreamExt as _;
use servicenow_client::properties::SystemProperty;
use servicenow_client::query::Query;
use servicenow_client::{Client, Credentials, Error};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate, matchers::method};

/// The peak resident memory of this process so far, in bytes (Linux).
fn peak_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Every page: `records(offset)`, and the headers given.
struct Hostile {
    records: fn(usize) -> String,
    total: Option<&'static str>,
}

impl Respond for Hostile {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let offset = request
            .url
            .query_pairs()
            .find(|(k, _)| k == "sysparm_offset")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut answer = ResponseTemplate::new(200).set_body_raw(
            format!("{{\"result\":[{}]}}", (self.records)(offset)),
            "application/json",
        );
        if let Some(total) = self.total {
            answer = answer.insert_header("x-total-count", total);
        }
        answer
    }
}

fn huge_record(_: usize) -> String {
    format!(
        "{{\"sys_id\":\"{}\",\"name\":\"bp_servicenow.x\",\"value\":\"{}\"}}",
        "a".repeat(32),
        "x".repeat(10 * 1024 * 1024)
    )
}

fn junk_page(offset: usize) -> String {
    (0..1000)
        .map(|i| {
            format!(
                "{{\"sys_id\":\"{:032x}\",\"name\":\"bp_servicenow.junk{i}\",\"value\":\"{}\"}}",
                offset + i,
                "j".repeat(64)
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn not_records(_: usize) -> String {
    "1,2,3,\"four\"".to_owned()
}

fn client(server: &MockServer) -> Client {
    Client::builder(instance(server), Credentials::basic("admin", PASSWORD))
        .retry_policy(fast_retries())
        .page_size(1000)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lying_server_ends_in_a_typed_error_with_bounded_memory() {
    let shapes: [(&str, Hostile, &str); 4] = [
        (
            "one 10 MB record a page, no paging headers",
            Hostile {
                records: huge_record,
                total: None,
            },
            "a record may be",
        ),
        (
            "one 10 MB record a page, an absurd total",
            Hostile {
                records: huge_record,
                total: Some("999999999999"),
            },
            "a record may be",
        ),
        (
            "1,000 junk records a page, an absurd total",
            Hostile {
                records: junk_page,
                total: Some("999999999999"),
            },
            "a list may read",
        ),
        (
            "values that are not records",
            Hostile {
                records: not_records,
                total: Some("4"),
            },
            "could not decode",
        ),
    ];
    for (what, hostile, expect) in shapes {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(hostile)
            .mount(&server)
            .await;
        let started = Instant::now();
        let listed: Result<Vec<SystemProperty>, Error> = client(&server)
            .table::<SystemProperty>()
            .list(Query::new().starts_with("name", "bp_servicenow."))
            .try_collect()
            .await;
        let err = listed.expect_err(what);
        let took = started.elapsed();
        assert!(err.to_string().contains(expect), "{what}: {err}");
        assert!(took < Duration::from_secs(60), "{what}: took {took:?}");
        let pages = server.received_requests().await.unwrap().len();
        let kind = match &err {
            Error::Protocol { .. } => "protocol error",
            Error::Decode(_) => "decode error",
            _ => "other error",
        };
        println!("hostile server: {what}: {kind} after {pages} pages, {took:?}");
    }
    if let Some(peak) = peak_bytes() {
        println!(
            "hostile server: peak resident memory {} MiB",
            peak / (1024 * 1024)
        );
        assert!(peak < 256 * 1024 * 1024, "peak {peak} bytes");
    }
}
