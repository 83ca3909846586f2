//! What the tool keeps for itself on the instance costs it nothing: its rows
//! (ledger, leases, the instance lock) never flush the cache and never travel
//! in an update set, on a release whose `ignore_cache` default is the costly
//! one; rows of an older version are marked by the next writing run.
#![allow(clippy::print_stdout)] // the tests print their counts

mod common;

use brightpattern_servicenow::fleet::{FleetMember, FleetOperation, FleetOptions, run_fleet};
use common::{Pair, pair, workflow};
use servicenow_client::JsonRecord;

/// Madrid, the seed procedure's release: `ignore_cache` defaults to false.
fn madrid(p: &Pair) {
    p.sn.set_release(
        "Madrid",
        "glide-madrid-12-18-2018__patch10-06-12-2020_06-18-2020_1502.zip",
    );
}

const SPEC: &str = r#"
[access]
users = ["agent.1"]
groups = ["Agents"]
[[properties]]
name = "x_vendor.activity_history.enabled"
value = "true"
type = "true | false"
"#;

fn own_rows(p: &Pair) -> Vec<JsonRecord> {
    p.sn.table("sys_properties")
        .into_iter()
        .filter(|r| {
            r["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("bp_servicenow"))
        })
        .collect()
}

/// Cache flushes caused by writes of the tool's own rows and of the
/// properties it created, and by everything (the out-of-box allow-list).
fn flushes(p: &Pair) -> (usize, usize) {
    let all = p.sn.cache_flushes();
    let ours = all
        .iter()
        .filter(|f| f.property.starts_with("bp_servicenow") || f.property.starts_with("x_vendor."))
        .count();
    (ours, all.len())
}

#[tokio::test]
async fn the_tool_s_own_rows_never_flush_the_cache_nor_travel_in_an_update_set() {
    let p = pair().await;
    madrid(&p);
    let wf = workflow(&p, SPEC);
    let mut counts = Vec::new();
    let applied = wf.apply().await.unwrap();
    assert!(applied.footprint.writes > 0);
    let rows = own_rows(&p);
    assert!(!rows.is_empty());
    for row in &rows {
        assert_eq!(
            (row["ignore_cache"].as_str(), row["is_private"].as_str()),
            (Some("true"), Some("true")),
            "{row:?}"
        );
    }
    let created =
        p.sn.table("sys_properties")
            .into_iter()
            .find(|r| r["name"] == "x_vendor.activity_history.enabled")
            .unwrap();
    assert_eq!(
        created["ignore_cache"], "true",
        "a property the tool creates"
    );
    counts.push(("apply", flushes(&p)));
    wf.verify().await.unwrap();
    counts.push(("verify", flushes(&p)));
    assert_eq!(wf.apply().await.unwrap().footprint.writes, 0);
    counts.push(("apply again", flushes(&p)));
    wf.repair().await.unwrap();
    counts.push(("repair", flushes(&p)));
    wf.teardown_plan().await.unwrap();
    wf.teardown().await.unwrap();
    counts.push(("teardown", flushes(&p)));
    let members = vec![FleetMember::new("row", workflow(&p, SPEC))];
    run_fleet(members, FleetOperation::Apply, &FleetOptions::default()).await;
    let members = vec![FleetMember::new("row", workflow(&p, SPEC))];
    run_fleet(members, FleetOperation::Teardown, &FleetOptions::default()).await;
    counts.push(("fleet apply and teardown", flushes(&p)));
    for (operation, (ours, all)) in &counts {
        println!(
            "bookkeeping: after {operation}: {ours} cache flushes by the tool's own rows and properties, {all} in all (the out-of-box allow-list's writes)"
        );
        assert_eq!(*ours, 0, "{operation}");
    }
    // The allow-list was written twice per apply and teardown: added, removed.
    assert_eq!(counts.last().unwrap().1.1, 4);

    // Nothing of the bookkeeping is in any update set.
    for captured in p.sn.table("sys_update_xml") {
        let payload = captured["payload"].as_str().unwrap_or_default();
        assert!(!payload.contains("bp_servicenow"), "{captured:?}");
    }
}

#[tokio::test]
async fn rows_an_older_version_made_are_marked_by_the_next_apply_once() {
    let p = pair().await;
    madrid(&p);
    let wf = workflow(&p, SPEC);
    wf.apply().await.unwrap();
    // As an older version left them: neither flag.
    for row in own_rows(&p) {
        let id = servicenow_client::wire::SysId::parse(row["sys_id"].as_str().unwrap()).unwrap();
        p.sn.update_row(
            "sys_properties",
            &id,
            serde_json::json!({"ignore_cache": "false", "is_private": "false"}),
        );
    }
    let n = own_rows(&p).len();
    let plan = wf.plan().await.unwrap();
    assert!(plan.has_changes(), "{plan}");
    assert_eq!(plan.corrections.len(), 1, "{plan}");
    assert!(plan.corrections[0].starts_with(&format!("{n} of the tool's own rows")));
    // In JSON too: once a field of the plan's own shared the key `bookkeeping`
    // with its footprint's, which (empty for a plan) overwrote it.
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(
        json["corrections"][0],
        plan.corrections[0].as_str(),
        "{json}"
    );
    assert_eq!(
        json["bookkeeping"],
        serde_json::json!([]),
        "the plan did none"
    );
    let before = p.sn.cache_flushes().len();
    let report = wf.apply().await.unwrap();
    assert!(
        report
            .footprint
            .bookkeeping
            .iter()
            .any(|b| b.contains(&format!("marked {n} of its own rows"))),
        "{report}"
    );
    for row in own_rows(&p) {
        assert_eq!(row["ignore_cache"], "true");
        assert_eq!(row["is_private"], "true");
    }
    // Each correction may flush once (whether a write that turns the flag on
    // flushes is not documented: the fake counts it); never again after.
    let corrected = p.sn.cache_flushes().len() - before;
    assert!(corrected <= n, "{corrected} flushes for {n} rows");
    assert_eq!(wf.apply().await.unwrap().footprint.writes, 0);
    wf.teardown().await.unwrap();
    println!(
        "bookkeeping: {n} rows of an older version marked by one apply ({corrected} cache flushes, once); none after"
    );
}
