//! The ledger: keyed by the integration, crash-atomic, and honest when unreadable.
#![allow(clippy::print_stdout)] // the tests print their counts

use brightpattern_servicenow::ledger::{CHUNK_CHARS, Ledger, LedgerKey, LedgerStore};
use servicenow_client::wire::SysId;
use servicenow_fake::{Endpoint, FakeInstance, Fault, FaultSchedule};

fn key(names: &[&str]) -> LedgerKey {
    LedgerKey::new(
        "https://dev1.service-now.com",
        "example.brightpattern.com",
        names,
    )
}

fn big_ledger(grants: usize) -> Ledger {
    let mut ledger = Ledger::default();
    for i in 0..grants {
        ledger.user_grants.insert(
            format!("agent.{i:04}"),
            SysId::parse(&format!("{i:032x}")).unwrap(),
        );
    }
    ledger.integration_account = Some("ServiceNow".into());
    ledger
}

fn rows_of(sn: &FakeInstance, prefix: &str) -> Vec<serde_json::Map<String, serde_json::Value>> {
    sn.table("sys_properties")
        .into_iter()
        .filter(|p| p["name"].as_str().unwrap().starts_with(prefix))
        .collect()
}

#[tokio::test]
async fn small_and_large_ledgers_round_trip_and_are_removed_when_empty() {
    let sn = FakeInstance::start().await;
    let store = LedgerStore::new(sn.client_as_admin(), key(&["BP"]));
    assert_eq!(store.load().await.unwrap().unwrap(), Ledger::default());

    // Small: one property, the head itself.
    let small = big_ledger(3);
    store.save(&small).await.unwrap();
    assert_eq!(rows_of(&sn, &store.prefix()).len(), 1);
    assert_eq!(store.load().await.unwrap().unwrap(), small);

    // Large: a generation of chunks behind the head.
    let large = big_ledger(1000);
    store.save(&large).await.unwrap();
    let rows = rows_of(&sn, &store.prefix());
    assert!(rows.len() > 5, "{} rows", rows.len());
    assert!(
        rows.iter()
            .all(|c| c["value"].as_str().unwrap().chars().count() <= CHUNK_CHARS)
    );
    assert_eq!(store.load().await.unwrap().unwrap(), large);

    // Saving the same ledger again switches generations but leaves one set.
    store.save(&large).await.unwrap();
    assert_eq!(rows_of(&sn, &store.prefix()).len(), rows.len());
    store.save(&small).await.unwrap();
    assert_eq!(rows_of(&sn, &store.prefix()).len(), 1, "old chunks removed");
    store.save(&Ledger::default()).await.unwrap();
    assert!(rows_of(&sn, &store.prefix()).is_empty());
}

#[tokio::test]
async fn the_key_is_the_instance_the_tenant_and_the_names() {
    let a = key(&["Bright Pattern", "CORS", "OAuth", "ServiceNow"]);
    let b = key(&["Bright Pattern 2", "CORS", "OAuth", "ServiceNow"]);
    assert_ne!(a.prefix(), b.prefix());
    assert_eq!(a.tenant_prefix(), b.tenant_prefix());
    let other_instance = LedgerKey::new(
        "https://dev2.service-now.com",
        "example.brightpattern.com",
        &["Bright Pattern", "CORS", "OAuth", "ServiceNow"],
    );
    assert_ne!(a.prefix(), other_instance.prefix());
    // Stable across runs and versions: the same inputs give the same key.
    assert_eq!(
        a.prefix(),
        key(&["Bright Pattern", "CORS", "OAuth", "ServiceNow"]).prefix()
    );
    assert!(
        a.prefix()
            .starts_with("bp_servicenow.example_brightpattern_com.")
    );
}

/// A save killed after any of its requests leaves the old ledger or the new one.
#[tokio::test]
async fn a_save_killed_at_any_request_reads_as_before_or_after() {
    let mut cases = 0;
    for (old, new) in [(3, 400), (400, 800), (400, 3), (0, 400)] {
        let (old, new) = (big_ledger(old), big_ledger(new));
        // How many writes does the save take?
        let writes = {
            let sn = FakeInstance::start().await;
            let store = LedgerStore::new(sn.client_as_admin(), key(&["BP"]));
            store.save(&old).await.unwrap();
            sn.clear_requests();
            store.save(&new).await.unwrap();
            sn.write_count()
        };
        for kill_after in 0..writes {
            let sn = FakeInstance::start().await;
            // A dead run does not retry.
            let client = sn
                .client_builder_as_admin()
                .retry_policy(servicenow_client::RetryPolicy::never())
                .build()
                .unwrap();
            let store = LedgerStore::new(client, key(&["BP"]));
            store.save(&old).await.unwrap();
            // Every write after the first `kill_after` is refused: the run died.
            sn.inject_fault_on(
                Endpoint::Table,
                Fault::Unavailable,
                FaultSchedule::WritesAfter(kill_after as u64),
            );
            let _ = store.save(&new).await;
            sn.clear_faults();
            let read = store.load().await.unwrap().unwrap();
            assert!(
                read == old || read == new,
                "killed after {kill_after} of {writes} writes: neither before nor after"
            );
            // The next save cleans up whatever the killed one left.
            store.save(&new).await.unwrap();
            assert_eq!(store.load().await.unwrap().unwrap(), new);
            cases += 1;
        }
    }
    println!("ledger crash cases: {cases}");
    assert!(cases > 10);
}

#[tokio::test]
async fn an_unreadable_ledger_is_reported_not_guessed() {
    let sn = FakeInstance::start().await;
    let store = LedgerStore::new(sn.client_as_admin(), key(&["BP"]));
    store.save(&big_ledger(2)).await.unwrap();
    sn.set_property(&format!("{}head", store.prefix()), "{not json");
    let err = store.load().await.unwrap().unwrap_err();
    assert!(err.to_string().contains("bp-servicenow repair"), "{err}");
    // Saving replaces the corrupt head.
    store.save(&big_ledger(2)).await.unwrap();
    assert_eq!(store.load().await.unwrap().unwrap(), big_ledger(2));
}
