//! Update sets and the current-update-set preference against wiremock: what is
//! sent (method, path, query, body) and what comes back typed.

mod common;

use common::*;
use servicenow_client::Error;
use servicenow_client::update_sets::{
    CURRENT_UPDATE_SET_PREFERENCE, CurrentSource, PreviousPreference, Restored, UpdateSetState,
    UserPreference,
};
use servicenow_client::wire::SysId;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const USER: &str = "6816f79cc0a8016401c5a33be04be441";
const SET: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const DEFAULT_SET: &str = "dddddddddddddddddddddddddddddddd";
const PREF: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn id(s: &str) -> SysId {
    SysId::parse(s).unwrap()
}

fn set_row(sys_id: &str, name: &str, state: &str, is_default: bool) -> serde_json::Value {
    serde_json::json!({
        "sys_id": sys_id, "name": name, "state": state,
        "is_default": if is_default { "true" } else { "false" }, "description": ""
    })
}

fn pref_row(value: &str) -> serde_json::Value {
    serde_json::json!({
        "sys_id": PREF, "name": CURRENT_UPDATE_SET_PREFERENCE, "value": value,
        "user": {"value": USER, "link": "x"}
    })
}

async fn mount_preference(server: &MockServer, rows: Vec<serde_json::Value>) {
    Mock::given(method("GET"))
        .and(path("/api/now/table/sys_user_preference"))
        .and(query_param(
            "sysparm_query",
            format!("user={USER}^name=sys_update_set^ORDERBYsys_id").as_str(),
        ))
        .and(query_param("sysparm_limit", "2"))
        .and(header("accept", "application/json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"result": rows})))
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn sets_are_found_by_name_oldest_first_with_every_state_typed() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/now/table/sys_update_set"))
        .and(query_param(
            "sysparm_query",
            "name=BP release^ORDERBYsys_created_on",
        ))
        .and(header("authorization", basic_header().as_str()))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"result": [
                    set_row(SET, "BP release", "complete", false),
                    set_row(PREF, "BP release", "in progress", false),
                    set_row(DEFAULT_SET, "BP release", "build", false),
                ]}))
                .insert_header("x-total-count", "3"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let sets = basic_client(&server).update_sets();
    let found = sets.named("BP release").await.unwrap();
    let states: Vec<&UpdateSetState> = found.iter().map(|s| &s.state).collect();
    assert_eq!(
        states,
        [
            &UpdateSetState::Complete,
            &UpdateSetState::InProgress,
            &UpdateSetState::Other("build".into())
        ]
    );
    assert_eq!(found[0].sys_id, id(SET));
    assert!(!found[0].state.is_in_progress() && found[1].state.is_in_progress());
}

#[tokio::test]
async fn bad_names_are_refused_before_any_request() {
    let server = MockServer::start().await;
    let sets = basic_client(&server).update_sets();
    for bad in ["", "  ", "two\nlines"] {
        let err = sets.named(bad).await.unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{bad:?}: {err:?}");
        let err = sets.create(bad, "").await.unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{bad:?}: {err:?}");
    }
    let err = sets.named("a^ORname=b").await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_set_is_created_in_progress() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/now/table/sys_update_set"))
        .and(header("content-type", "application/json"))
        .and(body_json(serde_json::json!({
            "name": "BP release", "description": "why", "state": "in progress"
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(
            serde_json::json!({"result": set_row(SET, "BP release", "in progress", false)}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let created = basic_client(&server)
        .update_sets()
        .create("BP release", "why")
        .await
        .unwrap();
    assert_eq!(created.sys_id, id(SET));
    assert_eq!(created.state, UpdateSetState::InProgress);
}

#[tokio::test]
async fn the_current_set_is_the_preferred_one_in_progress_else_the_default() {
    // The preference names a set in progress.
    let server = MockServer::start().await;
    mount_preference(&server, vec![pref_row(SET)]).await;
    Mock::given(method("GET"))
        .and(path(format!("/api/now/table/sys_update_set/{SET}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            serde_json::json!({"result": set_row(SET, "Mine", "in progress", false)}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let current = basic_client(&server)
        .update_sets()
        .current(&id(USER))
        .await
        .unwrap();
    assert_eq!(current.source, CurrentSource::Preference);
    assert_eq!(current.update_set.unwrap().name, "Mine");
    assert_eq!(
        current.preference.as_ref().map(|p| p.value.as_str()),
        Some(SET)
    );

    // The preference names a closed set: the default one is current.
    let server = MockServer::start().await;
    mount_preference(&server, vec![pref_row(SET)]).await;
    Mock::given(method("GET"))
        .and(path(format!("/api/now/table/sys_update_set/{SET}")))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                serde_json::json!({"result": set_row(SET, "Mine", "complete", false)}),
            ),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/now/table/sys_update_set"))
        .and(query_param(
            "sysparm_query",
            "is_default=true^state=in progress^ORDERBYsys_id",
        ))
        .and(query_param("sysparm_limit", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            serde_json::json!({"result": [set_row(DEFAULT_SET, "Default", "in progress", true)]}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let current = basic_client(&server)
        .update_sets()
        .current(&id(USER))
        .await
        .unwrap();
    assert_eq!(current.source, CurrentSource::Default);
    let set = current.update_set.clone().unwrap();
    assert!(set.is_default && set.sys_id == id(DEFAULT_SET));
    assert_eq!(
        current.preference_value(),
        PreviousPreference::Value(SET.into())
    );

    // No preference at all.
    let server = MockServer::start().await;
    mount_preference(&server, vec![]).await;
    Mock::given(method("GET"))
        .and(path("/api/now/table/sys_update_set"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"result": []})))
        .expect(1)
        .mount(&server)
        .await;
    let current = basic_client(&server)
        .update_sets()
        .current(&id(USER))
        .await
        .unwrap();
    assert_eq!(current.source, CurrentSource::Default);
    assert!(current.update_set.is_none());
    assert_eq!(current.preference_value(), PreviousPreference::Absent);
}

#[tokio::test]
async fn choosing_updates_the_row_or_makes_one() {
    let server = MockServer::start().await;
    Mock::given(method("PATCH"))
        .and(path(format!("/api/now/table/sys_user_preference/{PREF}")))
        .and(body_json(serde_json::json!({"value": SET})))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"result": pref_row(SET)})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/now/table/sys_user_preference"))
        .and(body_json(serde_json::json!({
            "user": USER, "name": "sys_update_set", "value": SET
        })))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(serde_json::json!({"result": pref_row(SET)})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let sets = basic_client(&server).update_sets();
    let existing: UserPreference = serde_json::from_value(pref_row(DEFAULT_SET)).unwrap();
    let updated = sets
        .choose(&id(USER), &id(SET), Some(&existing))
        .await
        .unwrap();
    assert_eq!(updated.value, SET);
    let made = sets.choose(&id(USER), &id(SET), None).await.unwrap();
    assert_eq!(made.sys_id, id(PREF));
    assert_eq!(made.user.sys_id(), Some(USER));
}

#[tokio::test]
async fn restoring_puts_back_the_value_deletes_a_made_row_and_keeps_a_later_choice() {
    let chosen: UserPreference = serde_json::from_value(pref_row(SET)).unwrap();
    let read_back = |value: &str| {
        Mock::given(method("GET"))
            .and(path(format!("/api/now/table/sys_user_preference/{PREF}")))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(serde_json::json!({"result": pref_row(value)})),
            )
            .expect(1)
    };

    // A previous value is put back.
    let server = MockServer::start().await;
    read_back(SET).mount(&server).await;
    Mock::given(method("PATCH"))
        .and(path(format!("/api/now/table/sys_user_preference/{PREF}")))
        .and(body_json(serde_json::json!({"value": DEFAULT_SET})))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"result": pref_row(DEFAULT_SET)})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let sets = basic_client(&server).update_sets();
    let done = sets
        .restore(&chosen, &PreviousPreference::Value(DEFAULT_SET.into()))
        .await
        .unwrap();
    assert_eq!(done, Restored::Restored);

    // A row the switch made is deleted.
    let server = MockServer::start().await;
    read_back(SET).mount(&server).await;
    Mock::given(method("DELETE"))
        .and(path(format!("/api/now/table/sys_user_preference/{PREF}")))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let sets = basic_client(&server).update_sets();
    let done = sets
        .restore(&chosen, &PreviousPreference::Absent)
        .await
        .unwrap();
    assert_eq!(done, Restored::Restored);

    // The administrator chose another set meanwhile: nothing is written.
    let server = MockServer::start().await;
    read_back(DEFAULT_SET).mount(&server).await;
    let sets = basic_client(&server).update_sets();
    let done = sets
        .restore(&chosen, &PreviousPreference::Absent)
        .await
        .unwrap();
    assert_eq!(
        done,
        Restored::ChangedSince {
            now: DEFAULT_SET.into()
        }
    );
    let sent = server.received_requests().await.unwrap();
    assert!(sent.iter().all(|r| r.method.as_str() == "GET"), "{sent:?}");
}

#[tokio::test]
async fn captured_changes_are_listed_with_their_table_and_count() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/now/table/sys_update_xml"))
        .and(query_param(
            "sysparm_query",
            format!("update_set={SET}^ORDERBYsys_id").as_str(),
        ))
        .and(NoQueryParam("sysparm_display_value"))
        .and(query_param(
            "sysparm_fields",
            "sys_id,name,update_set,type,target_name,action,sys_mod_count",
        ))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"result": [{
                    "sys_id": PREF, "name": format!("sys_cors_rule_{USER}"),
                    "update_set": {"value": SET}, "type": "sys_cors_rule",
                    "target_name": "Bright Pattern", "action": "INSERT_OR_UPDATE",
                    "sys_mod_count": "2"
                }]}))
                .insert_header("x-total-count", "1"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let captured = basic_client(&server)
        .update_sets()
        .captured(&id(SET))
        .await
        .unwrap();
    assert_eq!(captured.len(), 1);
    let c = &captured[0];
    assert_eq!(
        (
            c.table.as_str(),
            c.target_name.as_str(),
            c.action.as_str(),
            c.sys_mod_count
        ),
        ("sys_cors_rule", "Bright Pattern", "INSERT_OR_UPDATE", 2)
    );
    assert_eq!(c.update_set.sys_id(), Some(SET));
}

#[tokio::test]
async fn the_changes_a_user_made_last_are_read_in_one_bounded_request() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/now/table/sys_update_xml"))
        .and(query_param(
            "sysparm_query",
            format!("update_set={SET}^sys_updated_by=admin^ORDERBYDESCsys_updated_on").as_str(),
        ))
        .and(query_param("sysparm_limit", "50"))
        .and(query_param("sysparm_offset", "0"))
        .and(query_param(
            "sysparm_fields",
            "sys_id,name,update_set,type,target_name,action,sys_mod_count",
        ))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"result": [
                    {"sys_id": PREF, "name": "a", "update_set": SET, "type": "sys_properties",
                     "target_name": "x", "action": "INSERT_OR_UPDATE", "sys_mod_count": "0"}
                ]}))
                .insert_header("x-total-count", "400"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let sets = basic_client(&server).update_sets();
    let recent = sets.recently_captured(&id(SET), "admin", 50).await.unwrap();
    assert_eq!(recent.len(), 1);
    assert_eq!(recent[0].sys_mod_count, 0);
    let err = sets
        .recently_captured(&id(SET), "admin", 0)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}
