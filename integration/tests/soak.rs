//! Fault soak: `apply` 200 times, each on a fresh fake pair with a different seed
//! injecting 429s (with and without `Retry-After`), 503s, timeouts and one expired
//! token at random points. After each run, either apply succeeded or a second one
//! (faults off) did, and every natural key exists exactly once.
//!
//! Seeded and bounded: the same seeds inject the same faults. The counts are
//! printed (`cargo test -p brightpattern-servicenow --test soak -- --nocapture`).

#![allow(clippy::print_stdout)]

use std::collections::BTreeMap;
use std::time::Duration;

use brightpattern_fake::{Endpoint as BpEndpoint, FakeTenant};
use brightpattern_servicenow::{IntegrationSpec, ServiceNowLogin, Workflow, WorkflowOptions};
use futures_util::StreamExt;
use servicenow_client::plugins::WaitOptions;
use servicenow_client::{Credentials, JsonRecord, OAuthClient, RetryPolicy};
use servicenow_fake::{
    ADMIN_PASSWORD, ADMIN_USER, Endpoint as SnEndpoint, FakeInstance, Fault, FaultSchedule,
};

const RUNS: u64 = 200;
const CONCURRENT_RUNS: usize = 4;
/// The clients' timeout of one attempt; an injected timeout delays past it.
const CLIENT_TIMEOUT: Duration = Duration::from_millis(1000);

#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    runs: u64,
    faults: u64,
    retries: u64,
    second_applies: u64,
    broken_leases: u64,
    duplicates: u64,
}

fn retries() -> RetryPolicy {
    RetryPolicy::default()
        .with_initial_backoff(Duration::from_millis(1))
        .with_max_backoff(Duration::from_millis(4))
        .with_max_attempts(5)
        .with_deadline(Duration::from_secs(30))
}

fn duplicates(sn: &FakeInstance, bp: &FakeTenant) -> u64 {
    let once = |rows: Vec<JsonRecord>, column: &str, value: &str| {
        let n = rows.iter().filter(|r| r[column] == value).count() as u64;
        n.saturating_sub(1) + u64::from(n == 0)
    };
    let mut extra = once(
        sn.table("sn_openframe_configuration"),
        "name",
        "Bright Pattern",
    ) + once(sn.table("sys_cors_rule"), "name", "Bright Pattern")
        + once(sn.table("oauth_entity"), "name", "Bright Pattern");
    let accounts = bp.accounts().len() as u64;
    extra += accounts.saturating_sub(1) + u64::from(accounts == 0);
    let mut grants: BTreeMap<(String, String), u64> = BTreeMap::new();
    for g in sn.table("sys_user_has_role") {
        *grants
            .entry((
                g["user"].as_str().unwrap().into(),
                g["role"].as_str().unwrap().into(),
            ))
            .or_default() += 1;
    }
    for g in sn.table("sys_group_has_role") {
        *grants
            .entry((
                g["group"].as_str().unwrap().into(),
                g["role"].as_str().unwrap().into(),
            ))
            .or_default() += 1;
    }
    extra += grants.values().map(|n| n - 1).sum::<u64>();
    // The three listed users and the group hold exactly one grant each (the admin has one too).
    extra += (5u64).abs_diff(grants.len() as u64);
    extra
}

async fn one_run(seed: u64) -> Tally {
    let sn = FakeInstance::builder().seed(seed).start().await;
    let bp = FakeTenant::start().await;
    // The soak drives every write, the assumed integration-account endpoints too.
    bp.set_integration_accounts_offered(true);
    for u in ["agent.1", "agent.2", "agent.3"] {
        sn.add_user(u);
    }
    sn.add_group("Agents");
    sn.register_oauth_client("soak admin client", "soak-cid", "soak-secret");
    let spec = format!(
        "[servicenow]\ninstance = \"{}\"\n[brightpattern]\ntenant = \"{}\"\n[openframe]\nname = \"Bright Pattern\"\n[access]\nusers = [\"agent.1\", \"agent.2\", \"agent.3\"]\ngroups = [\"Agents\"]\n[cors]\nname = \"Bright Pattern\"\n[oauth]\nname = \"Bright Pattern\"\n[integration_account]\napi = \"assumed\"\n",
        sn.url(),
        bp.url()
    );
    let spec = IntegrationSpec::from_toml(&spec)
        .unwrap()
        .resolve()
        .unwrap();
    // OAuth on the instance too, so an expired token can be injected there.
    let sn_client = servicenow_client::Client::builder(
        sn.url(),
        Credentials::oauth_password(
            OAuthClient::new("soak-cid", "soak-secret".into()),
            ADMIN_USER,
            ADMIN_PASSWORD,
        ),
    )
    .retry_policy(retries())
    // Generous, so that only injected faults time out, never a loaded machine.
    .timeout(CLIENT_TIMEOUT)
    .build()
    .unwrap();
    let bp_client = bp
        .client_builder()
        .retry_policy(retries())
        .timeout(CLIENT_TIMEOUT)
        .build()
        .unwrap();
    let retry_spec = spec.clone();
    let workflow = Workflow::builder(
        spec,
        sn_client.clone(),
        bp_client.clone(),
        ServiceNowLogin {
            username: ADMIN_USER.into(),
            password: ADMIN_PASSWORD.into(),
        },
    )
    .options(WorkflowOptions::default().plugin_wait(WaitOptions::fast()))
    .build();

    let random = |k: u64, probability: f64| FaultSchedule::Random {
        probability,
        seed: seed * 16 + k,
    };
    sn.inject_fault(
        Fault::RateLimited {
            retry_after: Some(0),
        },
        random(1, 0.06),
    );
    sn.inject_fault(Fault::RateLimited { retry_after: None }, random(2, 0.04));
    sn.inject_fault(Fault::Unavailable, random(3, 0.04));
    sn.inject_fault_on(
        SnEndpoint::Table,
        Fault::Timeout(CLIENT_TIMEOUT + Duration::from_millis(500)),
        random(4, 0.015),
    );
    sn.inject_fault_on(
        SnEndpoint::Table,
        Fault::ExpiredToken,
        FaultSchedule::Nth(5 + seed % 30),
    );
    bp.inject_fault(
        brightpattern_fake::Fault::RateLimited {
            retry_after: Some(0),
        },
        brightpattern_fake::FaultSchedule::Random {
            probability: 0.08,
            seed: seed * 16 + 5,
        },
    );
    bp.inject_fault(
        brightpattern_fake::Fault::Unavailable,
        brightpattern_fake::FaultSchedule::Random {
            probability: 0.05,
            seed: seed * 16 + 6,
        },
    );
    bp.inject_fault_on(
        BpEndpoint::IntegrationAccounts,
        brightpattern_fake::Fault::ExpiredToken,
        brightpattern_fake::FaultSchedule::Nth(1 + seed % 3),
    );

    let mut tally = Tally {
        runs: 1,
        ..Tally::default()
    };
    let first = workflow.apply().await;
    tally.faults = sn.faults_injected() + bp.faults_injected();
    sn.clear_faults();
    bp.clear_faults();
    if let Err(e) = first {
        tally.second_applies = 1;
        let mut again = workflow.apply().await;
        if let Err(held) = &again
            && held.held().is_some()
        {
            // The first run ended but could not give its lease back under the
            // faults: the operator breaks it, as documented.
            tally.broken_leases = 1;
            let mut options = WorkflowOptions::default().plugin_wait(WaitOptions::fast());
            options.lease = options.lease.break_lease(true);
            again = Workflow::builder(
                retry_spec,
                sn_client.clone(),
                bp_client.clone(),
                ServiceNowLogin {
                    username: ADMIN_USER.into(),
                    password: ADMIN_PASSWORD.into(),
                },
            )
            .options(options)
            .build()
            .apply()
            .await;
        }
        if let Err(again) = again {
            panic!("seed {seed}: the second apply failed too:\n{again}\nfirst: {e}");
        }
    }
    tally.retries = sn_client.transport().stats().retries + bp_client.transport().stats().retries;
    tally.duplicates = duplicates(&sn, &bp);
    assert_eq!(
        tally.duplicates, 0,
        "seed {seed}: a natural key is missing or duplicated"
    );
    tally
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "the soak runs for minutes: CI runs it in its own step (`cargo test -p brightpattern-servicenow --test soak -- --ignored`)"]
async fn two_hundred_faulty_applies_converge_without_duplicates() {
    let tallies: Vec<Tally> = futures_util::stream::iter(0..RUNS)
        .map(one_run)
        .buffer_unordered(CONCURRENT_RUNS)
        .collect()
        .await;
    let total = tallies.iter().fold(Tally::default(), |a, t| Tally {
        runs: a.runs + t.runs,
        faults: a.faults + t.faults,
        retries: a.retries + t.retries,
        second_applies: a.second_applies + t.second_applies,
        broken_leases: a.broken_leases + t.broken_leases,
        duplicates: a.duplicates + t.duplicates,
    });
    println!(
        "soak: runs {}, faults injected {}, retries {}, runs needing a second apply {}, leases broken after a failed run {}, duplicates {}",
        total.runs,
        total.faults,
        total.retries,
        total.second_applies,
        total.broken_leases,
        total.duplicates
    );
    assert_eq!(total.runs, RUNS);
    assert_eq!(total.duplicates, 0);
    assert!(
        total.faults >= RUNS * 3,
        "the soak must actually inject faults: {total:?}"
    );
}
