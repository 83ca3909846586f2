//! Benchmarks: prints figures, asserts nothing.
//!
//! ```sh
//! cargo run --release -p bp-servicenow --bin bench            # every case
//! cargo run --release -p bp-servicenow --bin bench -- apply   # one case: apply, bulk, stream
//! BENCH_LATENCY_MS=20 BENCH_STREAM_MAX=1000000 cargo run --release -p bp-servicenow --bin bench
//! ```
//!
//! Against the fakes on 127.0.0.1 with a fixed latency added to every answer
//! (default 20 ms). For each case: HTTP round trips, wall time, and wall time over
//! the critical path, where the critical path is the longest chain of round trips
//! that did not overlap (each starting after the previous one was answered) times
//! the latency: the least time the run could have taken.

#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use brightpattern_client::fake::FakeTenant;
use brightpattern_servicenow::{
    IntegrationSpec, ServiceNowLogin, Status, Workflow, WorkflowOptions,
};
use futures_util::TryStreamExt;
use servicenow_client::fake::{ADMIN_PASSWORD, ADMIN_USER, FakeInstance, sequential_round_trips};
use servicenow_client::plugins::WaitOptions;
use servicenow_client::query::Query;
use servicenow_client::table::ListOptions;
use servicenow_client::users::User;

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
    let spec = IntegrationSpec::from_toml(&spec)?.resolve()?;
    let workflow = Workflow::builder(
        spec,
        sn.client_as_admin(),
        bp.client(),
        ServiceNowLogin {
            username: ADMIN_USER.into(),
            password: ADMIN_PASSWORD.into(),
        },
    )
    .options(WorkflowOptions {
        plugin_wait: WaitOptions {
            deadline: Duration::from_secs(60),
            initial_interval: Duration::from_millis(1),
            max_interval: Duration::from_millis(1),
        },
        ..WorkflowOptions::default()
    })
    .build();
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

/// Resident memory now, in KiB (Linux), or 0.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

async fn stream_case() -> Result<(), Box<dyn std::error::Error>> {
    let max: usize = std::env::var("BENCH_STREAM_MAX")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    println!("\n# Stream sys_user at page size 1,000, no added latency");
    println!(
        "  (memory: resident growth while streaming, over the level before it, fake included)"
    );
    for count in [10_000usize, 100_000, 1_000_000]
        .into_iter()
        .filter(|c| *c <= max)
    {
        let sn = FakeInstance::builder().empty().start().await;
        sn.add_user_with_password("admin", "pw");
        sn.add_role("admin");
        sn.declare_reference("sys_user_has_role", "user", "sys_user");
        sn.declare_reference("sys_user_has_role", "role", "sys_user_role");
        sn.grant_role_to_user("admin", "admin");
        sn.insert_many(
            "sys_user",
            (0..count).map(|i| serde_json::json!({"user_name": format!("user.{i:07}"), "name": format!("User {i}"), "email": format!("user.{i}@example.com"), "active": "true"})),
        );
        let client = sn.client_as("admin", "pw");
        let table = client.table::<User>();
        // Warm the fake's sort for this query, so the figure is the client's.
        let _ = table.first(Query::new()).await?;
        let baseline = rss_kib();
        let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(baseline));
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sampler = {
            let (peak, done) = (peak.clone(), done.clone());
            std::thread::spawn(move || {
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    peak.fetch_max(rss_kib(), std::sync::atomic::Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        };
        let started = Instant::now();
        let mut seen = 0usize;
        let stream = table.list(ListOptions::new(Query::new()).page_size(1000));
        futures_util::pin_mut!(stream);
        while let Some(user) = stream.try_next().await? {
            seen += usize::from(!user.user_name.is_empty());
        }
        let wall = started.elapsed();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = sampler.join();
        let growth = peak
            .load(std::sync::atomic::Ordering::Relaxed)
            .saturating_sub(baseline);
        println!(
            "{:>9} records  {:>9.0} records/s  {:>8.1} s  peak growth {:>7} KiB  (resident before: {} MiB)",
            seen,
            seen as f64 / wall.as_secs_f64(),
            wall.as_secs_f64(),
            growth,
            baseline / 1024
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
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
    if run("stream") {
        stream_case().await?;
    }
    Ok(())
}
