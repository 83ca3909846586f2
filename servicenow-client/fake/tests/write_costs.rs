//! What a write costs on the fake instance, as on a production one: full cache
//! flushes from `sys_properties` writes whose `ignore_cache` is false (the
//! column's default depends on the release), and the capture of configuration
//! writes into the writer's current update set.

use servicenow_client::JsonRecord;
use servicenow_client::query::Query;
use servicenow_client::wire::SysId;
use servicenow_fake::{ADMIN_USER, FakeInstance, UPDATE_SET_PREFERENCE, WriteKind};

fn id_of(row: &JsonRecord) -> SysId {
    SysId::parse(row["sys_id"].as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn ignore_cache_defaults_to_false_before_rome_and_such_writes_flush_every_node() {
    let sn = FakeInstance::start().await;
    sn.set_release(
        "Madrid",
        "glide-madrid-12-18-2018__patch10-06-12-2020_06-18-2020_1502.zip",
    );
    let props = sn.client_as_admin().table_json("sys_properties").unwrap();
    let before = sn.cache_flushes().len();

    let plain = props
        .create(&serde_json::json!({"name": "x.plain", "value": "1"}))
        .await
        .unwrap();
    assert_eq!(plain["ignore_cache"], "false", "Madrid's default");
    assert_eq!(plain["is_private"], "false");
    props
        .update(&id_of(&plain), &serde_json::json!({"value": "2"}))
        .await
        .unwrap();

    let careful = props
        .create(&serde_json::json!({"name": "x.careful", "value": "1", "ignore_cache": "true", "is_private": "true"}))
        .await
        .unwrap();
    assert_eq!(careful["ignore_cache"], "true");
    props
        .update(&id_of(&careful), &serde_json::json!({"value": "2"}))
        .await
        .unwrap();
    props.delete(&id_of(&careful)).await.unwrap();

    let flushes = sn.cache_flushes()[before..].to_vec();
    let kinds: Vec<(&str, WriteKind)> = flushes
        .iter()
        .map(|f| (f.property.as_str(), f.write))
        .collect();
    assert_eq!(
        kinds,
        [
            ("x.plain", WriteKind::Insert),
            ("x.plain", WriteKind::Update)
        ],
        "only the writes of the row without ignore_cache flush"
    );
    assert!(flushes.iter().all(|f| f.by == ADMIN_USER));

    // Turning the flag on may itself flush (not documented): counted.
    props
        .update(&id_of(&plain), &serde_json::json!({"ignore_cache": "true"}))
        .await
        .unwrap();
    assert_eq!(sn.cache_flushes().len(), before + 3);
    props
        .update(&id_of(&plain), &serde_json::json!({"value": "3"}))
        .await
        .unwrap();
    assert_eq!(
        sn.cache_flushes().len(),
        before + 3,
        "now it ignores the cache"
    );
}

#[tokio::test]
async fn from_rome_a_new_property_ignores_the_cache_and_the_out_of_box_allow_list_does_not() {
    let sn = FakeInstance::start().await; // Washington DC
    let client = sn.client_as_admin();
    let props = client.table_json("sys_properties").unwrap();
    let created = props
        .create(&serde_json::json!({"name": "x.new", "value": "1"}))
        .await
        .unwrap();
    assert_eq!(created["ignore_cache"], "true");
    let allow_list = props
        .one(Query::new().eq("name", servicenow_fake::ALLOW_LIST_PROPERTY))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(allow_list["ignore_cache"], "false");
    let before = sn.cache_flushes().len();
    client
        .properties()
        .add_list_entry(
            servicenow_fake::ALLOW_LIST_PROPERTY,
            "https://example.brightpattern.com",
        )
        .await
        .unwrap();
    let flushes = sn.cache_flushes();
    assert_eq!(flushes.len(), before + 1);
    assert_eq!(
        flushes.last().unwrap().property,
        servicenow_fake::ALLOW_LIST_PROPERTY
    );
}

#[tokio::test]
async fn configuration_writes_land_in_the_writer_s_current_update_set_and_data_never() {
    let sn = FakeInstance::start().await;
    sn.add_user("agent.1");
    let client = sn.client_as_admin();
    let default = sn.current_update_set(ADMIN_USER);
    let defaults = client
        .table_json("sys_update_set")
        .unwrap()
        .list(Query::new().eq("is_default", "true"))
        .try_collect_vec()
        .await;
    assert_eq!(defaults.len(), 1);
    assert_eq!(id_of(&defaults[0]), default);
    assert_eq!(defaults[0]["state"], "in progress");

    let props = client.table_json("sys_properties").unwrap();
    let public = props
        .create(&serde_json::json!({"name": "x.public", "value": "1"}))
        .await
        .unwrap();
    props
        .create(&serde_json::json!({"name": "x.private", "value": "1", "is_private": "true"}))
        .await
        .unwrap();
    client
        .roles()
        .grant_to_user("agent.1", "sn_openframe_user")
        .await
        .unwrap();
    let captured = sn.captured_in(&default);
    let names: Vec<&str> = captured
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [format!("sys_properties_{}", id_of(&public))],
        "the private property and the grant are not captured"
    );
    assert_eq!(captured[0]["action"], "INSERT_OR_UPDATE");
    assert_eq!(captured[0]["target_name"], "x.public");

    // The user picks an update set (the preference, through the Table API).
    let sets = client.table_json("sys_update_set").unwrap();
    let chosen = sets
        .create(&serde_json::json!({"name": "BP integration"}))
        .await
        .unwrap();
    assert_eq!(chosen["state"], "in progress", "the default state");
    let admin = client
        .table_json("sys_user")
        .unwrap()
        .one(Query::new().eq("user_name", ADMIN_USER))
        .await
        .unwrap()
        .unwrap();
    client
        .table_json("sys_user_preference")
        .unwrap()
        .create(&serde_json::json!({
            "name": UPDATE_SET_PREFERENCE, "user": admin["sys_id"], "value": chosen["sys_id"]
        }))
        .await
        .unwrap();
    assert_eq!(sn.current_update_set(ADMIN_USER), id_of(&chosen));
    props.delete(&id_of(&public)).await.unwrap();
    let in_chosen = sn.captured_in(&id_of(&chosen));
    assert_eq!(in_chosen.len(), 1);
    assert_eq!(in_chosen[0]["action"], "DELETE");
    assert!(
        sn.captured_in(&default).len() == 1,
        "the preference rows are not captured"
    );

    // A complete update set takes no more changes: the default one does.
    sets.update(&id_of(&chosen), &serde_json::json!({"state": "complete"}))
        .await
        .unwrap();
    assert_eq!(sn.current_update_set(ADMIN_USER), default);

    // And where the preference is not how the instance records the choice,
    // writes land in the default set whatever it says.
    sets.update(
        &id_of(&chosen),
        &serde_json::json!({"state": "in progress"}),
    )
    .await
    .unwrap();
    sn.set_update_set_preference_honoured(false);
    assert_eq!(sn.current_update_set(ADMIN_USER), default);
}

#[tokio::test]
async fn a_completed_default_update_set_is_replaced_by_a_new_default() {
    let sn = FakeInstance::start().await;
    let default = sn.current_update_set(ADMIN_USER);
    sn.update_row(
        "sys_update_set",
        &default,
        serde_json::json!({"state": "complete"}),
    );
    let next = sn.current_update_set(ADMIN_USER);
    assert_ne!(next, default);
    let row = sn.record("sys_update_set", &next).unwrap();
    assert_eq!(row["name"], "Default 1");
    assert_eq!(row["is_default"], "true");
    assert_eq!(
        sn.record("sys_update_set", &default).unwrap()["is_default"],
        "false"
    );
}

trait CollectVec {
    async fn try_collect_vec(self) -> Vec<JsonRecord>;
}

impl<S> CollectVec for S
where
    S: futures_util::Stream<Item = servicenow_client::Result<JsonRecord>>,
{
    async fn try_collect_vec(self) -> Vec<JsonRecord> {
        use futures_util::TryStreamExt as _;
        self.try_collect().await.unwrap()
    }
}

#[tokio::test]
async fn the_sdk_switches_a_user_s_update_set_and_the_capture_proves_it_or_not() {
    use servicenow_client::update_sets::{CurrentSource, Restored};
    let sn = FakeInstance::start().await;
    let client = sn.client_as_admin();
    let sets = client.update_sets();
    let admin = client
        .users()
        .get_by_user_name(ADMIN_USER)
        .await
        .unwrap()
        .unwrap();
    let before = sets.current(&admin.sys_id).await.unwrap();
    assert_eq!(before.source, CurrentSource::Default);
    let default = before.update_set.clone().unwrap();
    assert!(default.is_default);

    let release = sets.create("BP release", "").await.unwrap();
    let chosen = sets
        .choose(&admin.sys_id, &release.sys_id, before.preference.as_ref())
        .await
        .unwrap();
    let now = sets.current(&admin.sys_id).await.unwrap();
    assert_eq!(now.source, CurrentSource::Preference);
    assert_eq!(now.update_set.unwrap().sys_id, release.sys_id);
    client.properties().set("x_vendor.one", "1").await.unwrap();
    let captured = sets.captured(&release.sys_id).await.unwrap();
    assert_eq!(captured.len(), 1, "{captured:?}");
    assert_eq!(captured[0].table, "sys_properties");
    assert_eq!(
        sets.restore(&chosen, &before.preference_value())
            .await
            .unwrap(),
        Restored::Restored
    );
    assert!(sets.preference(&admin.sys_id).await.unwrap().is_none());
    assert_eq!(sn.current_update_set(ADMIN_USER), default.sys_id);

    // Where the platform does not honour the preference, the capture shows it.
    sn.set_update_set_preference_honoured(false);
    let chosen = sets
        .choose(&admin.sys_id, &release.sys_id, None)
        .await
        .unwrap();
    client.properties().set("x_vendor.two", "2").await.unwrap();
    let captured = sets.captured(&release.sys_id).await.unwrap();
    assert_eq!(captured.len(), 1, "the second write went elsewhere");
    assert!(
        sets.captured(&default.sys_id)
            .await
            .unwrap()
            .iter()
            .any(|c| c.target_name == "x_vendor.two")
    );
    sets.restore(
        &chosen,
        &servicenow_client::update_sets::PreviousPreference::Absent,
    )
    .await
    .unwrap();
}
