//! Ownership: one run at a time, a ledger per integration, adopt and restore,
#![allow(clippy::print_stdout)] // the tests print their counts
//! teardown that cannot hit a foreign record, and consistency after a run killed
//! at any write.

mod common;

use common::{Pair, pair};
use std::collections::BTreeMap;

use brightpattern_servicenow::TeardownReport;
use brightpattern_servicenow::report::RemovalOutcome;
use brightpattern_servicenow::{
    ApplyError, IntegrationSpec, ServiceNowLogin, Workflow, WorkflowError, WorkflowOptions,
};
use servicenow_client::plugins::{WaitOptions, ids};
use servicenow_client::{JsonRecord, RetryPolicy};
use servicenow_fake::{ADMIN_PASSWORD, ADMIN_USER, FakeInstance, Fault, FaultSchedule};

const ALLOW_LIST: &str = "glide.ui.concourse.onmessage_enforce_same_origin_whitelist";

fn spec(p: &Pair, names: &str, extra: &str) -> String {
    format!(
        "[servicenow]\ninstance = \"{}\"\n[brightpattern]\ntenant = \"{}\"\n[access]\nusers = [\"agent.1\", \"agent.2\"]\ngroups = [\"Agents\"]\n[openframe]\nname = \"{names}\"\n{extra}\n[cors]\nname = \"{names}\"\n[oauth]\nname = \"{names}\"\n",
        p.sn.url(),
        p.bp.url()
    )
}

fn workflow_with(p: &Pair, spec_text: &str, retry: RetryPolicy, break_lease: bool) -> Workflow {
    let spec = IntegrationSpec::from_toml(spec_text)
        .unwrap()
        .resolve()
        .unwrap();
    // A run killed while it holds the instance lock leaves it behind: the next
    // run waits for it to expire, so the tests keep it short.
    let mut options = WorkflowOptions::default()
        .plugin_wait(WaitOptions::fast())
        .instance_lock(
            brightpattern_servicenow::shared::InstanceLockOptions::default()
                .ttl(std::time::Duration::from_millis(400)),
        );
    options.lease = options.lease.break_lease(break_lease);
    Workflow::builder(
        spec,
        p.sn.client_builder_as_admin()
            .retry_policy(retry)
            .build()
            .unwrap(),
        p.bp.client(),
        ServiceNowLogin {
            username: ADMIN_USER.into(),
            password: ADMIN_PASSWORD.into(),
        },
    )
    .options(options)
    .build()
}

fn workflow(p: &Pair, spec_text: &str) -> Workflow {
    workflow_with(p, spec_text, RetryPolicy::default(), false)
}

/// Previews the teardown — which must send nothing but reads to either
/// platform — then runs it, and checks that the preview said, record by
/// record, what the teardown did.
async fn teardown_as_previewed(p: &Pair, wf: &Workflow) -> TeardownReport {
    let writes = (p.sn.write_count(), p.bp.write_count());
    let preview = wf.teardown_plan().await.unwrap();
    assert_eq!(
        (p.sn.write_count(), p.bp.write_count()),
        writes,
        "the preview wrote"
    );
    let report = wf.teardown().await.unwrap();
    assert_eq!(
        preview.steps, report.steps,
        "the preview:\n{preview}\nthe teardown:\n{report}"
    );
    assert_eq!(
        preview.has_changes(),
        report.removals().any(|r| matches!(
            r.outcome,
            RemovalOutcome::Removed | RemovalOutcome::Restored
        ))
    );
    report
}

fn count(sn: &FakeInstance, table: &str, column: &str, value: &str) -> usize {
    sn.table(table)
        .iter()
        .filter(|r| r[column] == value)
        .count()
}

/// The tables the integration touches, without the audit columns a
/// write-and-restore leaves behind and without the tool's own properties.
fn managed(sn: &FakeInstance) -> BTreeMap<String, Vec<JsonRecord>> {
    let mut out = BTreeMap::new();
    for t in [
        "sn_openframe_configuration",
        "sys_cors_rule",
        "oauth_entity",
        "sys_user_has_role",
        "sys_group_has_role",
        "sys_properties",
    ] {
        let mut rows: Vec<JsonRecord> = sn
            .table(t)
            .into_iter()
            .filter(|r| {
                !r.get("name")
                    .and_then(|n| n.as_str())
                    .is_some_and(|n| n.starts_with("bp_servicenow."))
            })
            .collect();
        for r in &mut rows {
            for audit in ["sys_updated_on", "sys_updated_by", "sys_mod_count"] {
                r.remove(audit);
            }
        }
        out.insert(t.to_owned(), rows);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_applies_at_once_one_proceeds_the_other_is_refused() {
    let mut held = 0;
    for round in 0..6 {
        let p = pair().await;
        p.sn.set_latency(std::time::Duration::from_millis(2));
        let text = spec(&p, "Bright Pattern", "");
        let (a, b) = (workflow(&p, &text), workflow(&p, &text));
        let (ra, rb) = tokio::join!(a.apply(), b.apply());
        let outcomes = [&ra, &rb];
        let proceeded = outcomes.iter().filter(|r| r.is_ok()).count();
        let refused: Vec<&ApplyError> = outcomes
            .iter()
            .filter_map(|r| r.as_ref().err())
            .filter(|e| e.held().is_some())
            .collect();
        // Both may finish when the second started after the first was done: then
        // the second found nothing to change.
        if let (Ok(a), Ok(b)) = (&ra, &rb) {
            assert!(
                !(a.changed_anything() && b.changed_anything()),
                "round {round}: both wrote"
            );
        }
        assert_eq!(
            proceeded + refused.len(),
            2,
            "round {round}: {:?} {:?}",
            ra.as_ref().err().map(ToString::to_string),
            rb.as_ref().err().map(ToString::to_string)
        );
        held += refused.len();
        for (table, column) in [
            ("sn_openframe_configuration", "name"),
            ("sys_cors_rule", "name"),
            ("oauth_entity", "name"),
        ] {
            assert!(
                count(&p.sn, table, column, "Bright Pattern") <= 1,
                "round {round}: {table}"
            );
        }
        assert!(p.sn.table("sys_group_has_role").len() <= 1);
        // Whatever happened, the integration is not wedged: apply, then teardown.
        workflow(&p, &text).apply().await.unwrap();
        workflow(&p, &text).teardown().await.unwrap();
        assert_eq!(count(&p.sn, "oauth_entity", "name", "Bright Pattern"), 0);
    }
    println!("race: 6 rounds, {held} runs refused with 'held'");
    assert!(held >= 3, "the race must actually race: {held}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn apply_racing_teardown_never_both_write() {
    let p = pair().await;
    let text = spec(&p, "Bright Pattern", "");
    workflow(&p, &text).apply().await.unwrap();
    let (a, t) = (workflow(&p, &text), workflow(&p, &text));
    let (ra, rt) = tokio::join!(a.apply(), t.teardown());
    let held = ra.as_ref().err().is_some_and(|e| e.held().is_some())
        || matches!(rt, Err(WorkflowError::Held(_)));
    assert!(held || (ra.is_ok() && rt.is_ok()), "{:?}", rt.err());
    // The one that ran saw a consistent integration; a final teardown cleans up.
    workflow(&p, &text).teardown().await.unwrap();
    assert_eq!(count(&p.sn, "oauth_entity", "name", "Bright Pattern"), 0);
    assert_eq!(
        p.sn.table("sys_user_has_role").len(),
        1,
        "only the admin's own role is left"
    );
}

#[tokio::test]
async fn a_lease_left_by_a_dead_run_is_named_and_can_be_broken() {
    let p = pair().await;
    let text = spec(&p, "Bright Pattern", "");
    let wf = workflow(&p, &text);
    let prefix = wf.context().ledger_key().prefix();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    p.sn.insert(
        "sys_properties",
        serde_json::json!({
            "name": format!("{prefix}lease.deadbeef"),
            "value": serde_json::json!({
                "id": "deadbeef", "holder": "ops (pid 42)", "host": "laptop",
                "operation": "apply", "since_ms": now - 60_000, "expires_ms": now + 600_000
            }).to_string(),
        }),
    );
    let writes = p.sn.write_count();
    let err = wf.apply().await.unwrap_err();
    let held = err.held().unwrap();
    assert_eq!(held.holder.holder, "ops (pid 42)");
    assert_eq!(held.holder.host, "laptop");
    assert!(err.to_string().contains("--break-lease"), "{err}");
    assert!(err.to_string().contains("on laptop since"), "{err}");
    let err = wf.teardown().await.unwrap_err();
    assert!(matches!(err, WorkflowError::Held(_)), "{err}");
    assert_eq!(
        p.sn.write_count(),
        writes,
        "refused runs read first and write nothing"
    );
    // Broken on purpose: apply runs, says whose lease it took, and the old lease is gone.
    let report = workflow_with(&p, &text, RetryPolicy::default(), true)
        .apply()
        .await
        .unwrap();
    let broken = &report.footprint.lease_broken;
    assert_eq!(broken.len(), 1, "{report}");
    assert_eq!(
        (broken[0].holder.as_str(), broken[0].host.as_str()),
        ("ops (pid 42)", "laptop")
    );
    assert!(
        report
            .to_string()
            .contains("took over the lease of ops (pid 42) (apply) on laptop since"),
        "{report}"
    );
    assert!(
        !p.sn
            .table("sys_properties")
            .iter()
            .any(|r| r["name"].as_str().unwrap().contains(".lease."))
    );
}

#[tokio::test]
async fn an_absurd_lease_is_cleared_and_reported_never_a_panic_or_a_wedge() {
    let p = pair().await;
    let text = spec(&p, "Bright Pattern", "");
    let wf = workflow(&p, &text);
    let prefix = wf.context().ledger_key().prefix();
    for (id, value) in [
        (
            "maxed",
            serde_json::json!({
                "id": "maxed", "holder": "x", "operation": "apply",
                "since_ms": u64::MAX, "expires_ms": u64::MAX
            })
            .to_string(),
        ),
        (
            "forever",
            serde_json::json!({
                "id": "forever", "holder": "x", "operation": "apply",
                "since_ms": 1u64, "expires_ms": u64::MAX
            })
            .to_string(),
        ),
        ("junk", "\u{1b}[31mnot json".to_owned()),
    ] {
        p.sn.insert(
            "sys_properties",
            serde_json::json!({"name": format!("{prefix}lease.{id}"), "value": value}),
        );
    }
    // Never live: plan names no holder, apply is not refused, and says what it cleared.
    assert_eq!(wf.plan().await.unwrap().held_by, None);
    let report = wf.apply().await.unwrap();
    assert_eq!(report.footprint.bookkeeping.len(), 3, "{report}");
    assert!(
        report
            .footprint
            .bookkeeping
            .iter()
            .all(|n| n.starts_with("cleared the malformed lease row")),
        "{report}"
    );
    assert!(
        !p.sn
            .table("sys_properties")
            .iter()
            .any(|r| r["name"].as_str().unwrap().contains(".lease.")),
        "cleared"
    );
}

#[tokio::test]
async fn two_integrations_on_one_tenant_keep_apart() {
    let p = pair().await;
    let one = spec(&p, "Bright Pattern EU", "");
    let two = spec(&p, "Bright Pattern US", "");
    workflow(&p, &one).apply().await.unwrap();
    let plan = workflow(&p, &two).plan().await.unwrap();
    assert!(
        plan.notes.iter().any(|n| n.contains("another integration")),
        "{plan}"
    );
    workflow(&p, &two).apply().await.unwrap();
    let before_teardown = managed(&p.sn);
    teardown_as_previewed(&p, &workflow(&p, &one)).await;
    // The other integration is whole.
    for (table, column) in [
        ("sn_openframe_configuration", "name"),
        ("sys_cors_rule", "name"),
        ("oauth_entity", "name"),
    ] {
        assert_eq!(
            count(&p.sn, table, column, "Bright Pattern EU"),
            0,
            "{table}"
        );
        assert_eq!(
            count(&p.sn, table, column, "Bright Pattern US"),
            1,
            "{table}"
        );
    }
    // Both granted the same role to the same people; the second found them
    // granted, so the first's teardown took its own grants only.
    assert!(before_teardown["sys_user_has_role"].len() >= p.sn.table("sys_user_has_role").len());
    // The allow-list entry and the grants both use stay with the other.
    let health = workflow(&p, &two).verify().await.unwrap();
    let failed: Vec<&str> = health
        .with_status(brightpattern_servicenow::Status::Failed)
        .map(|c| c.check.as_str())
        .collect();
    assert!(failed.is_empty(), "{health}");
    assert!(!workflow(&p, &two).plan().await.unwrap().has_changes());
    // The last one out removes them.
    teardown_as_previewed(&p, &workflow(&p, &two)).await;
    assert_eq!(
        p.sn.table("sys_user_has_role").len(),
        1,
        "only the admin's own role is left"
    );
    assert!(p.sn.table("sys_group_has_role").is_empty());
    let allow =
        p.sn.table("sys_properties")
            .into_iter()
            .find(|r| r["name"] == ALLOW_LIST)
            .unwrap();
    assert_eq!(allow["value"], "", "{allow:?}");
}

#[tokio::test]
async fn a_ledger_pointing_at_foreign_records_deletes_nothing_of_theirs() {
    let p = pair().await;
    p.sn.set_plugin_active(ids::CTI_SOFTPHONE, true);
    let cti = p.sn.insert(
        "sn_openframe_configuration",
        serde_json::json!({"name": "CTI", "url": "https://cti.example.com", "order": "1", "active": "true"}),
    );
    let foreign_grant = p.sn.grant_role_to_user("agent.3", "sn_openframe_user");
    let text = spec(&p, "Bright Pattern", "");
    let wf = workflow(&p, &text);
    wf.apply().await.unwrap();
    // Someone edits the ledger to point at CTI's configuration and at another
    // user's grant.
    let store = brightpattern_servicenow::ledger::LedgerStore::new(
        p.sn.client_as_admin(),
        wf.context().ledger_key().clone(),
    );
    let mut ledger = store.load().await.unwrap().unwrap();
    ledger.openframe = Some(cti.clone());
    ledger
        .user_grants
        .insert("agent.1".into(), foreign_grant.clone());
    store.save(&ledger).await.unwrap();

    let report = teardown_as_previewed(&p, &wf).await;
    let text_report = report.to_string();
    assert!(
        p.sn.record("sn_openframe_configuration", &cti).is_some(),
        "{text_report}"
    );
    assert!(
        p.sn.record("sys_user_has_role", &foreign_grant).is_some(),
        "{text_report}"
    );
    let left: Vec<String> = report
        .removals()
        .filter(|r| r.outcome == RemovalOutcome::LeftAlone)
        .map(|r| r.detail.clone())
        .collect();
    assert!(
        left.iter().any(|d| d.contains("\"CTI\", not ours")),
        "{text_report}"
    );
    assert!(
        left.iter()
            .any(|d| d.contains("not a direct grant of sn_openframe_user to the user agent.1")),
        "{text_report}"
    );
}

#[tokio::test]
async fn adopting_ctis_configuration_then_teardown_restores_it() {
    let p = pair().await;
    p.sn.set_plugin_active(ids::CTI_SOFTPHONE, true);
    let cti = p.sn.insert(
        "sn_openframe_configuration",
        serde_json::json!({
            "name": "CTI", "title": "Phone", "url": "https://cti.example.com/softphone",
            "order": "1", "active": "true", "width": "300", "height": "300"
        }),
    );
    let before = managed(&p.sn);
    // Without adopt: refused, nothing written.
    let text = spec(&p, "CTI", "");
    let err = workflow(&p, &text).apply().await.unwrap_err();
    assert!(
        matches!(&err, ApplyError::NotStarted(WorkflowError::Taken(t)) if t[0].resource.contains("CTI")),
        "{err}"
    );
    assert_eq!(managed(&p.sn), before);

    // As the seed page does: edit CTI's configuration.
    let text = spec(&p, "Bright Pattern", "adopt = \"CTI\"");
    let wf = workflow(&p, &text);
    let plan = wf.plan().await.unwrap();
    assert!(
        plan.to_string()
            .contains("adopting OpenFrame configuration \"CTI\""),
        "{plan}"
    );
    assert_eq!(
        plan.step(brightpattern_servicenow::StepId::OPENFRAME)
            .unwrap()
            .action,
        brightpattern_servicenow::Action::Adopt
    );
    wf.apply().await.unwrap();
    let row = p.sn.record("sn_openframe_configuration", &cti).unwrap();
    assert!(
        row["url"].as_str().unwrap().contains("topDomain="),
        "{row:?}"
    );
    assert_eq!(row["name"], "CTI", "adopted, not renamed");
    assert_eq!(
        count(
            &p.sn,
            "sn_openframe_configuration",
            "name",
            "Bright Pattern"
        ),
        0,
        "no second configuration"
    );
    // A second apply changes nothing; teardown puts every field back.
    assert!(!workflow(&p, &text).plan().await.unwrap().has_changes());
    let report = teardown_as_previewed(&p, &wf).await;
    assert!(
        report
            .removals()
            .any(|r| r.outcome == RemovalOutcome::Restored && r.resource.contains("CTI")),
        "{report}"
    );
    let after = managed(&p.sn);
    assert_eq!(
        after["sn_openframe_configuration"],
        before["sn_openframe_configuration"]
    );
}

#[tokio::test]
async fn a_corrupt_ledger_is_reported_and_writing_refused() {
    let p = pair().await;
    let text = spec(&p, "Bright Pattern", "");
    let wf = workflow(&p, &text);
    wf.apply().await.unwrap();
    let head = format!("{}head", wf.context().ledger_key().prefix());
    p.sn.set_property(&head, "{torn");
    let plan = wf.plan().await.unwrap();
    assert!(plan.notes.iter().any(|n| n.contains("repair")), "{plan}");
    let health = wf.verify().await.unwrap();
    assert!(
        health
            .with_status(brightpattern_servicenow::Status::Failed)
            .any(|c| c.check.contains("ledger")),
        "{health}"
    );
    let before = managed(&p.sn);
    let err = wf.apply().await.unwrap_err();
    assert!(
        matches!(err, ApplyError::NotStarted(WorkflowError::CorruptLedger(_))),
        "{err}"
    );
    assert!(matches!(
        wf.teardown().await.unwrap_err(),
        WorkflowError::CorruptLedger(_)
    ));
    assert_eq!(managed(&p.sn), before, "nothing written");

    // Repair: the OAuth application is claimed by its mark; what the torn head no
    // longer names is reported, not claimed.
    let report = wf.repair().await.unwrap();
    assert!(
        report
            .claimed
            .iter()
            .any(|c| c.contains("OAuth application") && c.contains("by its mark")),
        "{report}"
    );
    assert!(
        report.unproven.iter().any(|c| c.contains("CORS rule")),
        "{report}"
    );
    // Not wedged: plan works, apply names the records it cannot prove ours
    // (adopt them or delete them by hand), teardown removes what was proven.
    assert!(wf.plan().await.unwrap().notes.is_empty());
    let err = wf.apply().await.unwrap_err();
    assert!(
        matches!(&err, ApplyError::NotStarted(WorkflowError::Taken(t)) if t.len() == 2),
        "{err}"
    );
    wf.teardown().await.unwrap();
    assert_eq!(count(&p.sn, "oauth_entity", "name", "Bright Pattern"), 0);
}

#[tokio::test]
async fn repair_salvages_what_a_torn_ledger_still_names() {
    let p = pair().await;
    let text = spec(&p, "Bright Pattern", "");
    let wf = workflow(&p, &text);
    wf.apply().await.unwrap();
    // The head is torn at its end; its text still names the records.
    let head_name = format!("{}head", wf.context().ledger_key().prefix());
    let head =
        p.sn.table("sys_properties")
            .into_iter()
            .find(|r| r["name"] == head_name.as_str())
            .unwrap();
    let value = head["value"].as_str().unwrap();
    p.sn.set_property(&head_name, &value[..value.len() - 2]);
    let report = wf.repair().await.unwrap();
    for what in [
        "OpenFrame configuration",
        "CORS rule",
        "OAuth application",
        "grant of sn_openframe_user to user agent.1",
        "group Agents",
        "allow-list entry",
    ] {
        assert!(
            report.claimed.iter().any(|c| c.contains(what)),
            "{what}: {report}"
        );
    }
    wf.teardown().await.unwrap();
    for table in [
        "sn_openframe_configuration",
        "sys_cors_rule",
        "oauth_entity",
    ] {
        assert_eq!(count(&p.sn, table, "name", "Bright Pattern"), 0, "{table}");
    }
    assert_eq!(p.sn.table("sys_user_has_role").len(), 1);
}

/// For every write point of a fresh apply (and of a teardown): stop the run right
/// there — every later write refused, as if the process died — then run apply
/// again (breaking the dead run's lease) and tear down. Afterwards nothing the
/// tool created is left, and nothing that was there before is gone or changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_any_write_apply_and_teardown_leave_nothing_behind() {
    async fn seeded() -> Pair {
        let p = pair().await;
        // Pre-existing: a grant, another origin in the allow-list, CTI's configuration.
        p.sn.grant_role_to_user("agent.1", "sn_openframe_user");
        p.sn.set_property(ALLOW_LIST, "https://other.example.com");
        p.sn.set_plugin_active(ids::CTI_SOFTPHONE, true);
        p.sn.insert(
            "sn_openframe_configuration",
            serde_json::json!({"name": "CTI", "url": "https://cti.example.com", "order": "500", "active": "true"}),
        );
        p
    }
    let dead = RetryPolicy::never();
    // How many writes a fresh apply and a teardown make.
    let (apply_writes, teardown_writes) = {
        let p = seeded().await;
        let text = spec(&p, "Bright Pattern", "");
        p.sn.clear_requests();
        workflow(&p, &text).apply().await.unwrap();
        let a = p.sn.write_count();
        p.sn.clear_requests();
        workflow(&p, &text).teardown().await.unwrap();
        (a, p.sn.write_count())
    };
    let mut cases = 0;
    for (phase, writes) in [("apply", apply_writes), ("teardown", teardown_writes)] {
        for kill_after in 0..writes {
            let p = seeded().await;
            let before = managed(&p.sn);
            let text = spec(&p, "Bright Pattern", "");
            if phase == "teardown" {
                workflow(&p, &text).apply().await.unwrap();
            }
            p.sn.inject_fault(
                Fault::Unavailable,
                FaultSchedule::WritesAfter(kill_after as u64),
            );
            let killed = workflow_with(&p, &text, dead.clone(), false);
            if phase == "apply" {
                let _ = killed.apply().await;
            } else {
                let _ = killed.teardown().await;
            }
            p.sn.clear_faults();
            // An operator after a crash: apply again, breaking the dead run's lease.
            let again = workflow_with(&p, &text, RetryPolicy::default(), true);
            if let Err(e) = again.apply().await {
                panic!("{phase} killed after {kill_after} writes: apply again failed: {e}");
            }
            again
                .teardown()
                .await
                .unwrap_or_else(|e| panic!("{phase} killed after {kill_after}: teardown: {e}"));
            let after = managed(&p.sn);
            for (table, rows) in &before {
                assert_eq!(
                    &after[table], rows,
                    "{phase} killed after {kill_after} of {writes} writes: {table} differs"
                );
            }
            cases += 1;
        }
    }
    println!(
        "crash: {cases} cases ({apply_writes} write points of apply, {teardown_writes} of teardown), nothing left behind, nothing foreign changed"
    );
    assert_eq!(cases, apply_writes + teardown_writes);
}

#[tokio::test]
async fn duplicates_made_by_hand_are_reported_never_deleted_and_nothing_is_wedged() {
    let p = pair().await;
    let text = spec(&p, "Bright Pattern", "");
    workflow(&p, &text).apply().await.unwrap();
    // By hand: a second configuration, rule and OAuth application with the names.
    let config = p.sn.insert(
        "sn_openframe_configuration",
        serde_json::json!({"name": "Bright Pattern", "url": "https://x.example.com", "order": "900", "active": "false"}),
    );
    let rule = p.sn.insert(
        "sys_cors_rule",
        serde_json::json!({"name": "Bright Pattern", "domain": "https://x.example.com"}),
    );
    let app =
        p.sn.register_oauth_client("Bright Pattern", "by-hand", "secret");

    let plan = workflow(&p, &text).plan().await.unwrap();
    let warnings: Vec<&String> = plan.steps.iter().flat_map(|s| &s.warnings).collect();
    for what in ["OpenFrame configuration", "CORS rule", "OAuth application"] {
        assert!(
            warnings
                .iter()
                .any(|w| w.contains(&format!("more {what}(s)"))),
            "{what}: {plan}"
        );
    }
    let health = workflow(&p, &text).verify().await.unwrap();
    assert_eq!(
        health
            .with_status(brightpattern_servicenow::Status::Failed)
            .filter(|c| c.check.contains("only one with its name"))
            .count(),
        3,
        "{health}"
    );
    workflow(&p, &text).apply().await.unwrap();
    workflow(&p, &text).teardown().await.unwrap();
    assert!(p.sn.record("sn_openframe_configuration", &config).is_some());
    assert!(p.sn.record("sys_cors_rule", &rule).is_some());
    assert!(p.sn.record("oauth_entity", &app).is_some());
    for table in [
        "sn_openframe_configuration",
        "sys_cors_rule",
        "oauth_entity",
    ] {
        assert_eq!(
            count(&p.sn, table, "name", "Bright Pattern"),
            1,
            "{table}: only the hand-made one is left"
        );
    }
}

#[tokio::test]
async fn a_held_lease_is_renewed_while_its_run_lives_and_expires_when_it_dies() {
    use brightpattern_servicenow::lease::{Lease, LeaseOptions};
    let p = pair().await;
    let client = p.sn.client_as_admin();
    let options = LeaseOptions::default().ttl(std::time::Duration::from_millis(600));
    let held = Lease::acquire(&client, "bp_servicenow.t.k.", "apply", &options)
        .await
        .unwrap()
        .unwrap();
    // Well past its first expiry, the renewals keep it.
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    let refused = Lease::acquire(&client, "bp_servicenow.t.k.", "teardown", &options)
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(refused.holder.id, held.holder().id);
    // A run that dies stops renewing: after the TTL its lease is free.
    drop(held);
    tokio::time::sleep(std::time::Duration::from_millis(900)).await;
    let next = Lease::acquire(&client, "bp_servicenow.t.k.", "apply", &options)
        .await
        .unwrap()
        .unwrap();
    let id = next.holder().id.clone();
    next.release().await.unwrap();
    let rows: Vec<String> =
        p.sn.table("sys_properties")
            .iter()
            .filter_map(|r| r["name"].as_str().map(str::to_owned))
            .filter(|n| n.starts_with("bp_servicenow.t.k.lease."))
            .collect();
    assert!(!rows.iter().any(|n| n.ends_with(&id)), "released: {rows:?}");
}
