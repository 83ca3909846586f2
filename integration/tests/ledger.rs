//! The ledger survives between runs in chunked system properties.

use brightpattern_servicenow::ledger::{CHUNK_CHARS, Ledger, LedgerStore};
use servicenow_client::fake::FakeInstance;
use servicenow_client::wire::SysId;

#[tokio::test]
async fn a_large_ledger_round_trips_through_chunks_and_is_removed_when_empty() {
    let sn = FakeInstance::start().await;
    let store = LedgerStore::new(sn.client_as_admin(), "example.brightpattern.com");
    assert_eq!(store.load().await.unwrap(), Ledger::default());

    let mut ledger = Ledger::default();
    for i in 0..1000 {
        ledger.user_grants.insert(
            format!("agent.{i:04}"),
            SysId::parse(&format!("{i:032x}")).unwrap(),
        );
    }
    ledger.integration_account = Some("ServiceNow".into());
    store.save(&ledger).await.unwrap();
    let chunks: Vec<_> = sn
        .table("sys_properties")
        .into_iter()
        .filter(|p| p["name"].as_str().unwrap().starts_with(store.prefix()))
        .collect();
    assert!(chunks.len() > 5, "{} chunks", chunks.len());
    assert!(
        chunks
            .iter()
            .all(|c| c["value"].as_str().unwrap().chars().count() <= CHUNK_CHARS)
    );
    assert_eq!(store.load().await.unwrap(), ledger);

    // Saving the same ledger writes nothing; a smaller one drops the extra chunks.
    sn.clear_requests();
    store.save(&ledger).await.unwrap();
    assert_eq!(sn.write_count(), 0);
    ledger.user_grants.clear();
    store.save(&ledger).await.unwrap();
    assert_eq!(store.load().await.unwrap(), ledger);
    store.save(&Ledger::default()).await.unwrap();
    assert!(
        !sn.table("sys_properties")
            .iter()
            .any(|p| p["name"].as_str().unwrap().starts_with(store.prefix()))
    );

    // A ledger of another tenant is another set of properties.
    let other = LedgerStore::new(sn.client_as_admin(), "other.brightpattern.com");
    assert_ne!(other.prefix(), store.prefix());
}
