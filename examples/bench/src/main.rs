//! Benchmarks: prints figures, asserts nothing.
//!
//! ```sh
//! cargo run --release -p bp-servicenow-bench --bin bench            # every case
//! cargo run --release -p bp-servicenow-bench --bin bench -- apply   # one case: apply, bulk, pages, fleet
//! BENCH_LATENCY_MS=20 cargo run --release -p bp-servicenow-bench --bin bench
//! ```
//!
//! Against the fakes on 127.0.0.1 with a fixed latency added to every answer
//! (default 20 ms). For each case: HTTP round trips, wall time, and wall time over
//! the critical path, where the critical path is the longest chain of round trips
//! that did not overlap (each starting after the previous one was answered) times
//! the latency: the least time the run could have taken.

#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use brightpattern_fake::FakeTenant;
use brightpattern_servicenow::{
    IntegrationSpec, ServiceNowLogin, Status, Workflow, WorkflowOptions,
};
use servicenow_client::plugins::WaitOptions;
use servicenow_fake::{ADMIN_PASSWORD, ADMIN_USER, FakeInstance, sequential_round_trips};

fn latency() -> Duration {
    let ms = std::env::var("BENCH_LATENCY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    Duration::from_millis(ms)
}

struct Figures {
    round_trips: usize,
    sequential: usize,
    wall: Duration,
}

impl Figures {
    fn print(&self, case: &str, latency: Duration) {
        let critical = latency * self.sequential as u32;
        let ratio = if critical.is_zero() {
            f64::NAN
        } else {
            self.wall.as_secs_f64() / critical.as_secs_f64()
        };
        println!(
            "{case:<34} {:>6} round trips  {:>9.1} ms wall  critical path {:>4} x {} ms = {:>7.1} ms  ratio {ratio:.2}",
            self.round_trips,
            self.wall.as_secs_f64() * 1000.0,
            self.sequential,
            latency.as_millis(),
            critical.as_secs_f64() * 1000.0,
        );
    }
}

fn measure(sn: &FakeInstance, bp: &FakeTenant, started: Instant) -> Figures {
    let wall = started.elapsed();
    let sn_log = sn.requests();
    let bp_log = bp.requests();
    let trips = sn_log
        .iter()
        .filter(|r| r.is_round_trip())
        .map(|r| r.interval())
        .chain(bp_log.iter().map(|r| r.interval()));
    Figures {
        round_trips: sn_log.iter().filter(|r| r.is_round_trip()).count() + bp_log.len(),
        sequential: sequential_round_trips(trips),
        wall,
    }
}

/// Reads per resource kind: Table API GETs by table, batch round trips, tenant calls by endpoint.
fn reads_per_kind(sn: &FakeInstance, bp: &FakeTenant) -> Vec<(String, usize)> {
    let mut kinds: std::collections::BTreeMap<String, usize> = Default::default();
    for r in sn.requests().iter().filter(|r| r.is_round_trip()) {
        let kind = if r.path.contains("/batch") {
            "servicenow batch".to_owned()
        } else {
            format!("servicenow {}", r.path.split('/').nth(4).unwrap_or(&r.path))
        };
        *kinds.entry(kind).or_default() += 1;
    }
    for r in bp.requests() {
        *kinds
            .entry(format!("brightpattern {:?}", r.endpoint))
            .or_default() += 1;
    }
    kinds.into_iter().collect()
}

async fn workflow_case() -> Result<(), Box<dyn std::error::Error>> {
    let latency = latency();
    let sn = FakeInstance::start().await;
    let bp = FakeTenant::start().await;
    let users: Vec<String> = (0..50).map(|i| format!("agent.{i:02}")).collect();
    for u in &users {
        sn.add_user(u);
    }
    let groups: Vec<String> = (0..5).map(|i| format!("Team {i}")).collect();
    for g in &groups {
        sn.add_group(g);
    }
    let spec = format!(
        "[servicenow]\ninstance = \"{}\"\n[brightpattern]\ntenant = \"{}\"\n[access]\nusers = {:?}\ngroups = {:?}\n",
        sn.url(),
        bp.url(),
        users,
        groups
    );
    let workflow = admin_workflow(
        &spec,
        &sn,
        &bp,
        WaitOptions::default().deadline(Duration::from_secs(60)),
    )?;
    sn.set_latency(latency);
    bp.set_latency(latency);

    println!(
        "\n# Workflow on a fresh instance: 50 users, 5 groups, {} ms per answer",
        latency.as_millis()
    );
    sn.clear_requests();
    bp.clear_requests();
    let started = Instant::now();
    workflow.apply().await?;
    measure(&sn, &bp, started).print("apply (fresh)", latency);

    sn.clear_requests();
    bp.clear_requests();
    let started = Instant::now();
    let report = workflow.apply().await?;
    let figures = measure(&sn, &bp, started);
    figures.print("apply again (nothing to do)", latency);
    println!(
        "  writes: {} to ServiceNow, {} to Bright Pattern; steps changed: {}",
        sn.write_count(),
        bp.write_count(),
        report.changed_anything()
    );
    println!("  reads per resource kind: {:?}", reads_per_kind(&sn, &bp));

    sn.clear_requests();
    bp.clear_requests();
    let started = Instant::now();
    let health = workflow.verify().await?;
    measure(&sn, &bp, started).print("verify (configured)", latency);
    println!(
        "  checks: {} ({} proofs by effect; {} failed, {} pending)",
        health.checks.len(),
        health.checks.iter().filter(|c| c.effect).count(),
        health.with_status(Status::Failed).count(),
        health.with_status(Status::Pending).count()
    );
    println!("  reads per resource kind: {:?}", reads_per_kind(&sn, &bp));
    Ok(())
}

async fn bulk_case() -> Result<(), Box<dyn std::error::Error>> {
    let latency = latency();
    println!(
        "\n# Grant sn_openframe_user to 1,000 users, {} ms per answer",
        latency.as_millis()
    );
    let names: Vec<String> = (0..1000).map(|i| format!("agent.{i:04}")).collect();
    let seed = |sn: &FakeInstance| {
        sn.insert_many(
            "sys_user",
            names
                .iter()
                .map(|n| serde_json::json!({"user_name": n, "name": n, "active": "true"})),
        )
    };

    let sn = FakeInstance::start().await;
    seed(&sn);
    sn.set_latency(latency);
    sn.clear_requests();
    let client = sn.client_as_admin();
    let started = Instant::now();
    let report = client
        .roles()
        .grant_to_users(&names, "sn_openframe_user")
        .await?;
    let bulk_wall = started.elapsed();
    let bulk_trips = sn.round_trips();
    println!(
        "{:<34} {bulk_trips:>6} round trips  {:>9.1} ms wall  ({} granted)",
        "bulk (Batch API, concurrent)",
        bulk_wall.as_secs_f64() * 1000.0,
        report.created.len()
    );

    // The naive loop: one POST per user, one at a time (user and role ids known).
    let naive = FakeInstance::start().await;
    seed(&naive);
    let client = naive.client_as_admin();
    let role = client.roles().require("sn_openframe_user").await?;
    let ids: Vec<_> = client
        .users()
        .get_many(&names)
        .await?
        .into_iter()
        .map(|u| u.sys_id)
        .collect();
    naive.set_latency(latency);
    naive.clear_requests();
    let grants = client.table_json("sys_user_has_role")?;
    let started = Instant::now();
    for id in &ids {
        grants
            .create(&serde_json::json!({"user": id, "role": role.sys_id}))
            .await?;
    }
    let naive_wall = started.elapsed();
    println!(
        "{:<34} {:>6} round trips  {:>9.1} ms wall",
        "naive loop (one request each)",
        naive.round_trips(),
        naive_wall.as_secs_f64() * 1000.0
    );
    println!(
        "  speed-up: {:.1}x",
        naive_wall.as_secs_f64() / bulk_wall.as_secs_f64()
    );
    Ok(())
}

/// The page benchmark: how fast, how much memory, how many bytes on the wire.
mod pages {
    use std::io::Write as _;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Instant;

    use futures_util::TryStreamExt;
    use serde::Deserialize;
    use servicenow_client::query::Query;
    use servicenow_client::table::{DisplayValue, ListOptions};
    use servicenow_client::{Client, Credentials, InstanceUrl, JsonRecord};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// Records in every scenario.
    pub(crate) const RECORDS: usize = 100_000;

    /// One scenario: page size, display values, typed or not, compressed or not.
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct Scenario {
        pub(crate) page_size: usize,
        pub(crate) display_all: bool,
        pub(crate) typed: bool,
        pub(crate) gzip: bool,
    }

    impl Scenario {
        pub(crate) fn all() -> Vec<Scenario> {
            let mut all = Vec::new();
            for page_size in [1_000, 10_000] {
                for display_all in [false, true] {
                    for typed in [false, true] {
                        for gzip in [false, true] {
                            all.push(Scenario {
                                page_size,
                                display_all,
                                typed,
                                gzip,
                            });
                        }
                    }
                }
            }
            all
        }

        pub(crate) fn args(&self) -> Vec<String> {
            vec![
                self.page_size.to_string(),
                if self.display_all { "all" } else { "plain" }.into(),
                if self.typed { "typed" } else { "untyped" }.into(),
                if self.gzip { "gzip" } else { "identity" }.into(),
            ]
        }

        pub(crate) fn parse(args: &[String]) -> Option<Scenario> {
            Some(Scenario {
                page_size: args.first()?.parse().ok()?,
                display_all: args.get(1)? == "all",
                typed: args.get(2)? == "typed",
                gzip: args.get(3)? == "gzip",
            })
        }
    }

    fn field(display_all: bool, value: &str) -> serde_json::Value {
        if display_all {
            serde_json::json!({ "display_value": value, "value": value })
        } else {
            serde_json::json!(value)
        }
    }

    fn record(i: usize, display_all: bool) -> serde_json::Value {
        let department = format!("{:032x}", i % 50);
        serde_json::json!({
            "sys_id": field(display_all, &format!("{i:032x}")),
            "user_name": field(display_all, &format!("user.{i:07}")),
            "name": field(display_all, &format!("User {i}")),
            "email": field(display_all, &format!("user.{i}@example.com")),
            "active": field(display_all, "true"),
            "title": field(display_all, "Agent"),
            "sys_updated_on": field(display_all, "2026-11-25 10:00:00"),
            "department": if display_all {
                serde_json::json!({
                    "display_value": format!("Department {}", i % 50),
                    "value": department,
                    "link": format!("https://dev.service-now.com/api/now/table/cmn_department/{department}"),
                })
            } else {
                serde_json::json!({
                    "value": department,
                    "link": format!("https://dev.service-now.com/api/now/table/cmn_department/{department}"),
                })
            },
        })
    }

    /// The pages, built once: (plain body, gzip body) by page index.
    pub(crate) struct Pages {
        page_size: usize,
        bodies: Vec<(Vec<u8>, Vec<u8>)>,
    }

    impl Pages {
        pub(crate) fn build(scenario: Scenario) -> Pages {
            let bodies = (0..RECORDS.div_ceil(scenario.page_size))
                .map(|p| {
                    let rows: Vec<serde_json::Value> = (p * scenario.page_size
                        ..((p + 1) * scenario.page_size).min(RECORDS))
                        .map(|i| record(i, scenario.display_all))
                        .collect();
                    let plain = serde_json::to_vec(&serde_json::json!({ "result": rows }))
                        .unwrap_or_default();
                    let mut gz =
                        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                    let _ = gz.write_all(&plain);
                    (plain.clone(), gz.finish().unwrap_or_default())
                })
                .collect();
            Pages {
                page_size: scenario.page_size,
                bodies,
            }
        }

        pub(crate) fn largest(&self) -> usize {
            self.bodies.iter().map(|(p, _)| p.len()).max().unwrap_or(0)
        }

        pub(crate) fn total(&self) -> usize {
            self.bodies.iter().map(|(p, _)| p.len()).sum()
        }
    }

    /// Serves the pages as the Table API does (offset paging, X-Total-Count),
    /// compressed when asked; counts the body bytes it sends.
    pub(crate) async fn serve(pages: Arc<Pages>, wire: Arc<AtomicU64>) -> String {
        let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
            Ok(l) => l,
            Err(e) => panic!("cannot listen: {e}"),
        };
        let url = format!(
            "http://{}",
            listener
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_default()
        );
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let _ = socket.set_nodelay(true);
                let (pages, wire) = (pages.clone(), wire.clone());
                tokio::spawn(async move {
                    let mut buffer = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
                            match socket.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                            }
                            continue;
                        };
                        let head = String::from_utf8_lossy(&buffer[..end]).to_lowercase();
                        buffer.drain(..end + 4);
                        let offset: usize = head
                            .split(['?', '&', ' '])
                            .find_map(|kv| kv.strip_prefix("sysparm_offset="))
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(0);
                        let gzip = head
                            .lines()
                            .any(|l| l.starts_with("accept-encoding:") && l.contains("gzip"));
                        let empty = (Vec::new(), Vec::new());
                        let (plain, packed) =
                            pages.bodies.get(offset / pages.page_size).unwrap_or(&empty);
                        let body = if gzip { packed } else { plain };
                        let answer = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nx-total-count: {RECORDS}\r\n{}\r\n",
                            body.len(),
                            if gzip {
                                "content-encoding: gzip\r\n"
                            } else {
                                ""
                            }
                        );
                        wire.fetch_add(body.len() as u64, Ordering::Relaxed);
                        if socket.write_all(answer.as_bytes()).await.is_err()
                            || socket.write_all(body).await.is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
        url
    }

    /// `VmRSS` or `VmHWM` from /proc/self/status, in bytes (Linux), or 0.
    fn status_bytes(key: &str) -> u64 {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with(key))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse::<u64>().ok())
            })
            .unwrap_or(0)
            * 1024
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Pair {
        display_value: String,
        value: String,
    }

    /// A typed sys_user row read with display values.
    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct DisplayedUser {
        sys_id: Pair,
        user_name: Pair,
        name: Pair,
        email: Pair,
        active: Pair,
    }

    /// The client side of one scenario, in a process of its own (the server is
    /// the parent): streams every record from `url` and prints "records
    /// records-per-second peak-bytes".
    pub(crate) async fn stream(
        scenario: Scenario,
        url: &str,
    ) -> Result<(), Box<dyn std::error::Error>> {
        let client = Client::builder(InstanceUrl::parse(url)?, Credentials::basic("admin", "pw"))
            .page_size(u32::try_from(scenario.page_size)?)
            .compression(scenario.gzip)
            // A stream holds one page at a time: the whole list may be larger
            // than the default budget for lists collected into memory.
            .paging_limits(servicenow_client::PagingLimits::default().max_list_bytes(u64::MAX))
            .build()?;
        let options = ListOptions::new(Query::new()).display_value(if scenario.display_all {
            DisplayValue::All
        } else {
            DisplayValue::Stored
        });
        // Peak resident memory from here on, over the level here.
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        let baseline = status_bytes("VmRSS:");
        let started = Instant::now();
        let mut seen = 0usize;
        match (scenario.typed, scenario.display_all) {
            (true, false) => {
                let stream = client
                    .table::<servicenow_client::users::User>()
                    .list(options);
                futures_util::pin_mut!(stream);
                while let Some(u) = stream.try_next().await? {
                    seen += usize::from(!u.user_name.is_empty());
                }
            }
            (true, true) => {
                let stream = client.table_as::<DisplayedUser>("sys_user")?.list(options);
                futures_util::pin_mut!(stream);
                while let Some(u) = stream.try_next().await? {
                    seen += usize::from(!u.user_name.value.is_empty());
                }
            }
            (false, _) => {
                let stream = client.table_as::<JsonRecord>("sys_user")?.list(options);
                futures_util::pin_mut!(stream);
                while let Some(r) = stream.try_next().await? {
                    seen += usize::from(!r.is_empty());
                }
            }
        }
        let wall = started.elapsed();
        let peak = status_bytes("VmHWM:").saturating_sub(baseline);
        println!("{seen} {:.0} {peak}", seen as f64 / wall.as_secs_f64());
        Ok(())
    }
}

/// Runs every page scenario: this process serves the pages, and a child
/// process of its own streams them, so that the peak memory measured is the
/// client's alone.
async fn pages_case() -> Result<(), Box<dyn std::error::Error>> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    println!(
        "\n# Stream {} sys_user records from a local server (no added latency). peak: the streaming process's resident growth; page: the largest page's bytes; wire: body bytes sent, over the uncompressed bytes",
        pages::RECORDS
    );
    println!(
        "| page size | shape | decode | encoding | records/s | peak | page | peak / page | wire |"
    );
    println!("|---:|---|---|---|---:|---:|---:|---:|---:|");
    let me = std::env::current_exe()?;
    let mib = |b: f64| b / (1024.0 * 1024.0);
    for scenario in pages::Scenario::all() {
        let pages = Arc::new(pages::Pages::build(scenario));
        let wire = Arc::new(AtomicU64::new(0));
        let url = pages::serve(pages.clone(), wire.clone()).await;
        let out = tokio::process::Command::new(&me)
            .arg("__page")
            .arg(&url)
            .args(scenario.args())
            .output()
            .await?;
        let text = String::from_utf8_lossy(&out.stdout);
        let figures: Vec<f64> = text
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        let [records, rate, peak] = figures[..] else {
            println!(
                "  {scenario:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            continue;
        };
        let largest = pages.largest() as f64;
        println!(
            "| {} | {} | {} | {} | {:.0} | {:.1} MiB | {:.1} MiB | {:.1}× | {:.2} ({:.1} of {:.1} MiB) |",
            scenario.page_size,
            if scenario.display_all {
                "display_value=all"
            } else {
                "plain"
            },
            if scenario.typed {
                "typed"
            } else {
                "JsonRecord"
            },
            if scenario.gzip { "gzip" } else { "identity" },
            rate,
            mib(peak),
            mib(largest),
            peak / largest.max(1.0),
            wire.load(Ordering::Relaxed) as f64 / pages.total().max(1) as f64,
            mib(wire.load(Ordering::Relaxed) as f64),
            mib(pages.total() as f64),
        );
        assert_eq!(records as usize, pages::RECORDS, "every record streamed");
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("__page") {
        let scenario = pages::Scenario::parse(&args[3..])
            .ok_or("usage: bench __page URL SIZE all|plain typed|untyped gzip|identity")?;
        return pages::stream(scenario, &args[2]).await;
    }
    let case = std::env::args().nth(1);
    let run = |name: &str| case.as_deref().is_none_or(|c| c == name);
    println!(
        "bp-servicenow benchmarks ({} build)",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    if run("apply") {
        workflow_case().await?;
    }
    if run("bulk") {
        bulk_case().await?;
    }
    if run("pages") {
        pages_case().await?;
    }
    if run("fleet") {
        fleet_case().await?;
    }
    Ok(())
}

/// The workflow of `spec` configured by the fake's admin, polling plugin
/// activations every millisecond (`wait` gives the deadline).
fn admin_workflow(
    spec: &str,
    sn: &FakeInstance,
    bp: &FakeTenant,
    wait: WaitOptions,
) -> Result<Workflow, Box<dyn std::error::Error>> {
    Ok(Workflow::builder(
        IntegrationSpec::from_toml(spec)?.resolve()?,
        sn.client_as_admin(),
        bp.client(),
        ServiceNowLogin {
            username: ADMIN_USER.into(),
            password: ADMIN_PASSWORD.into(),
        },
    )
    .options(
        WorkflowOptions::default().plugin_wait(
            wait.initial_interval(Duration::from_millis(1))
                .max_interval(Duration::from_millis(1)),
        ),
    )
    .build())
}

/// A fresh pair with `latency` on every answer, and its workflow (assumed
/// integration-account endpoints, so a run ends ok).
async fn fleet_pair(
    latency: Duration,
) -> Result<(FakeInstance, FakeTenant, Workflow), Box<dyn std::error::Error>> {
    let sn = FakeInstance::start().await;
    let bp = FakeTenant::start().await;
    bp.set_integration_accounts_offered(true);
    sn.add_user("agent.1");
    let spec = format!(
        "[servicenow]\ninstance = \"{}\"\n[brightpattern]\ntenant = \"{}\"\n[access]\nusers = [\"agent.1\"]\n[integration_account]\napi = \"assumed\"\n",
        sn.url(),
        bp.url()
    );
    let workflow = admin_workflow(&spec, &sn, &bp, WaitOptions::default())?;
    sn.set_latency(latency);
    bp.set_latency(latency);
    Ok((sn, bp, workflow))
}

/// A fleet's wall time against the sum of the same applies run one by one.
async fn fleet_case() -> Result<(), Box<dyn std::error::Error>> {
    use brightpattern_servicenow::fleet::{
        FleetMember, FleetOperation, FleetOptions, RowOutcome, run_fleet,
    };
    let latency = latency();
    let rows: usize = std::env::var("BENCH_FLEET_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    println!(
        "\n# Fleet: {rows} fresh pairs, apply, {} ms per answer",
        latency.as_millis()
    );
    let mut single_sum = Duration::ZERO;
    let mut single_pairs = Vec::new();
    for _ in 0..rows {
        let (sn, bp, workflow) = fleet_pair(latency).await?;
        let started = Instant::now();
        let report = workflow.apply().await?;
        single_sum += started.elapsed();
        if report.status() != Status::Ok {
            println!("a single run ended {:?}", report.status());
        }
        single_pairs.push((sn, bp));
    }
    println!(
        "{:<34} {rows:>4} runs  {:>9.1} ms summed  {:>7.1} ms each",
        "one at a time",
        single_sum.as_secs_f64() * 1000.0,
        single_sum.as_secs_f64() * 1000.0 / rows as f64
    );
    for concurrency in [1, 4, 8] {
        let mut pairs = Vec::new();
        let mut members = Vec::new();
        for i in 0..rows {
            let (sn, bp, workflow) = fleet_pair(latency).await?;
            members.push(FleetMember::new(format!("row-{i}"), workflow));
            pairs.push((sn, bp));
        }
        let report = run_fleet(
            members,
            FleetOperation::Apply,
            &FleetOptions::default().concurrency(concurrency),
        )
        .await;
        let wall = Duration::from_millis(report.wall_ms);
        println!(
            "{:<34} {rows:>4} rows  {:>9.1} ms wall  {:>4.1}x faster than one at a time  {} ok, at most {} in flight",
            format!("fleet, {concurrency} at once"),
            wall.as_secs_f64() * 1000.0,
            single_sum.as_secs_f64() / wall.as_secs_f64().max(f64::EPSILON),
            report.count(RowOutcome::Ok),
            report.max_in_flight()
        );
        tokio::task::spawn_blocking(move || drop(pairs)).await?;
    }
    tokio::task::spawn_blocking(move || drop(single_pairs)).await?;
    Ok(())
}
