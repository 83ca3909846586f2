//! The fake instance's behaviour, exercised through the real client.

use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use servicenow_client::query::Query;
use servicenow_client::table::{DisplayValue, ListOptions};
use servicenow_client::wire::SysId;
use servicenow_client::{Client, Error, JsonRecord, OAuthClient, Request, RetryPolicy};
use servicenow_fake::{
    ADMIN_PASSWORD, ADMIN_USER, ActiveForm, Endpoint, FakeInstance, Fault, FaultSchedule,
};

fn fast() -> RetryPolicy {
    RetryPolicy::default()
        .with_initial_backoff(Duration::from_millis(1))
        .with_max_backoff(Duration::from_millis(5))
        .with_max_attempts(4)
}

fn names(rows: &[JsonRecord], column: &str) -> Vec<String> {
    rows.iter()
        .map(|r| r[column].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn table_records_live_through_create_get_update_delete() {
    let sn = FakeInstance::start().await;
    let client = sn.client_as_admin();
    let groups = client.table_json("sys_user_group").unwrap();

    let created = groups
        .create(&serde_json::json!({"name": "Tier 1", "active": true, "order": 10}))
        .await
        .unwrap();
    let id = SysId::parse(created["sys_id"].as_str().unwrap()).unwrap();
    assert_eq!(created["active"], "true");
    // `order` is not a column of sys_user_group: ignored, as an instance does.
    assert!(created.get("order").is_none(), "{created:?}");
    // Every column of the table, empty when unset, system columns filled.
    assert_eq!(created["description"], "");
    assert_eq!(created["manager"], "");
    assert_eq!(created["sys_created_by"], "admin");
    assert_eq!(created["sys_mod_count"], "0");
    assert_eq!(created["sys_created_on"].as_str().unwrap().len(), 19);

    let post = sn
        .requests()
        .into_iter()
        .find(|r| r.method == "POST")
        .unwrap();
    assert_eq!(post.status, 201);

    let fetched = groups.get(&id).await.unwrap();
    assert_eq!(fetched["name"], "Tier 1");
    let updated = groups
        .update(&id, &serde_json::json!({"name": "Tier 2"}))
        .await
        .unwrap();
    assert_eq!(updated["name"], "Tier 2");
    assert_eq!(updated["sys_mod_count"], "1");
    assert_eq!(updated["sys_updated_by"], "admin");
    assert_eq!(sn.record("sys_user_group", &id).unwrap()["name"], "Tier 2");

    groups.delete(&id).await.unwrap();
    let err = groups.get(&id).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let Error::Api(api) = err else { unreachable!() };
    assert_eq!(api.message.as_deref(), Some("No Record found"));
    assert_eq!(sn.write_count(), 3);
}

#[tokio::test]
async fn every_query_operator_is_evaluated() {
    let sn = FakeInstance::builder().empty().start().await;
    sn.add_user_with_password("admin", "pw");
    sn.add_role("admin");
    sn.declare_reference("sys_user_has_role", "user", "sys_user");
    sn.declare_reference("sys_user_has_role", "role", "sys_user_role");
    sn.grant_role_to_user("admin", "admin");
    for (name, dept, order) in [
        ("alice", "Sales", "3"),
        ("bob", "Support", "1"),
        ("carol", "", "2"),
        ("dave", "Support", "10"),
    ] {
        sn.insert(
            "u_people",
            serde_json::json!({"name": name, "dept": dept, "order": order}),
        );
    }
    let client = sn.client_as("admin", "pw");
    let people = client.table_json("u_people").unwrap();
    let run = |q: Query| {
        let people = people.clone();
        async move {
            let rows: Vec<JsonRecord> = people.list(q).try_collect().await.unwrap();
            names(&rows, "name")
        }
    };
    assert_eq!(run(Query::new().eq("name", "bob")).await, ["bob"]);
    assert_eq!(
        run(Query::new().ne("dept", "Support").order_by("name")).await,
        ["alice", "carol"]
    );
    assert_eq!(
        run(Query::new().like("name", "a").order_by("name")).await,
        ["alice", "carol", "dave"]
    );
    assert_eq!(run(Query::new().not_like("name", "a")).await, ["bob"]);
    assert_eq!(run(Query::new().starts_with("name", "ca")).await, ["carol"]);
    assert_eq!(run(Query::new().ends_with("name", "ve")).await, ["dave"]);
    assert_eq!(
        run(Query::new()
            .is_in("name", ["bob", "dave", "zed"])
            .order_by("name"))
        .await,
        ["bob", "dave"]
    );
    assert_eq!(run(Query::new().is_empty("dept")).await, ["carol"]);
    assert_eq!(
        run(Query::new().is_not_empty("dept").order_by("name")).await,
        ["alice", "bob", "dave"]
    );
    assert_eq!(
        run(Query::new()
            .eq("dept", "Support")
            .eq("name", "bob")
            .or()
            .eq("name", "alice"))
        .await,
        ["bob"],
        "OR binds tighter than AND"
    );
    assert_eq!(
        run(Query::new()
            .eq("name", "bob")
            .new_query()
            .eq("name", "carol")
            .order_by("name"))
        .await,
        ["bob", "carol"]
    );
    assert_eq!(
        run(Query::new().order_by("order")).await,
        ["bob", "carol", "alice", "dave"],
        "numeric order"
    );
    assert_eq!(
        run(Query::new().order_by_desc("name")).await,
        ["dave", "carol", "bob", "alice"]
    );

    // Dot-walking through a declared reference.
    let grants = client.table_json("sys_user_has_role").unwrap();
    let rows: Vec<JsonRecord> = grants
        .list(
            Query::new()
                .eq("role.name", "admin")
                .eq("user.user_name", "admin"),
        )
        .try_collect()
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
}

#[tokio::test]
async fn an_unknown_field_is_ignored_like_the_real_platform_unless_strict() {
    let sn = FakeInstance::start().await;
    sn.add_user("bob");
    sn.add_user("eve");
    let users = sn.client_as_admin().table_json("sys_user").unwrap();
    // A typo in a field name silently matches every user.
    let rows: Vec<JsonRecord> = users
        .list(Query::new().eq("user_nmae", "bob"))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(rows.len(), 3, "admin, bob and eve");
    sn.set_ignore_unknown_fields(false);
    let rows: Vec<JsonRecord> = users
        .list(Query::new().eq("user_nmae", "bob"))
        .try_collect()
        .await
        .unwrap();
    assert!(rows.is_empty());
}

#[tokio::test]
async fn paging_crosses_pages_with_link_and_total_count() {
    let sn = FakeInstance::start().await;
    for i in 0..24 {
        sn.add_user(&format!("agent.{i:02}"));
    }
    let client = sn.client_builder_as_admin().page_size(10).build().unwrap();
    sn.clear_requests();
    let rows: Vec<JsonRecord> = client
        .table_json("sys_user")
        .unwrap()
        .list(Query::new().starts_with("user_name", "agent."))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(rows.len(), 24);
    let mut seen = names(&rows, "user_name");
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 24, "no record repeated or lost");
    let requests = sn.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(
        requests
            .iter()
            .map(|r| r.query_param("sysparm_offset").unwrap())
            .collect::<Vec<_>>(),
        ["0", "10", "20"]
    );
}

#[tokio::test]
async fn reference_fields_take_the_shape_the_parameters_ask_for() {
    let sn = FakeInstance::start().await;
    sn.add_user("bob");
    sn.grant_role_to_user("bob", "sn_openframe_user");
    let grants = sn
        .client_as_admin()
        .table_json("sys_user_has_role")
        .unwrap();
    let fetch = |options: ListOptions| {
        let grants = grants.clone();
        async move {
            let rows: Vec<JsonRecord> = grants.list(options).try_collect().await.unwrap();
            rows.into_iter().next().unwrap()["role"].clone()
        }
    };
    let q = || Query::new().eq("user.user_name", "bob");
    let stored = fetch(ListOptions::new(q())).await;
    assert!(
        stored["link"]
            .as_str()
            .unwrap()
            .contains("/api/now/table/sys_user_role/")
    );
    assert_eq!(stored["value"].as_str().unwrap().len(), 32);
    let plain = fetch(ListOptions::new(q()).exclude_reference_link(true)).await;
    assert_eq!(plain, stored["value"]);
    let display = fetch(ListOptions::new(q()).display_value(DisplayValue::Display)).await;
    assert_eq!(display["display_value"], "sn_openframe_user");
    assert!(display.get("value").is_none());
    let all = fetch(ListOptions::new(q()).display_value(DisplayValue::All)).await;
    assert_eq!(
        (all["display_value"].as_str(), all["value"].as_str()),
        (Some("sn_openframe_user"), stored["value"].as_str())
    );
    let only = fetch(ListOptions::new(q()).fields(["role"])).await;
    assert_eq!(only, stored);
}

async fn activate(client: &Client, plugin: &str) -> servicenow_client::Result<serde_json::Value> {
    let response = client
        .transport()
        .send(Request::post(format!(
            "/api/sn_cicd/plugin/{plugin}/activate"
        )))
        .await?;
    let started: serde_json::Value = response.json()?;
    let id = started["result"]["links"]["progress"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(started["result"]["status"], "0");
    loop {
        let progress: serde_json::Value = client
            .transport()
            .send(Request::get(format!("/api/sn_cicd/progress/{id}")))
            .await?
            .json()?;
        if progress["result"]["status"] != "1" {
            return Ok(progress["result"].clone());
        }
        assert!(progress["result"]["percent_complete"].as_u64().unwrap() < 100);
    }
}

#[tokio::test]
async fn plugin_activation_runs_to_completion_and_flips_v_plugin() {
    let sn = FakeInstance::start().await;
    sn.set_activation_polls(3);
    sn.set_plugin_active_form(ActiveForm::One);
    let client = sn.client_as_admin();
    let plugin = |id: &str| {
        sn.table("v_plugin")
            .into_iter()
            .find(|r| r["id"] == id)
            .unwrap()
    };
    assert_eq!(plugin("com.sn_openframe")["active"], "0");
    assert_eq!(plugin("com.snc.platform.security.oauth")["active"], "1");

    let done = activate(&client, "com.sn_openframe").await.unwrap();
    assert_eq!(done["status"], "2");
    assert_eq!(done["status_label"], "Successful");
    assert_eq!(plugin("com.sn_openframe")["active"], "1");
    assert!(
        sn.table("sys_db_object")
            .iter()
            .any(|r| r["name"] == "sn_openframe_configuration")
    );
    let polls = sn
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/api/sn_cicd/progress/"))
        .count();
    assert_eq!(polls, 3);
}

#[tokio::test]
async fn a_failing_plugin_and_a_caller_without_the_role() {
    let sn = FakeInstance::start().await;
    sn.fail_plugin_activation("com.snc.cti", "Dependency com.glide.notify failed");
    let failed = activate(&sn.client_as_admin(), "com.snc.cti")
        .await
        .unwrap();
    assert_eq!(failed["status"], "3");
    // The documented place of a failure's text is `result.error`.
    assert_eq!(failed["error"], "Dependency com.glide.notify failed");
    assert!(
        sn.table("v_plugin")
            .iter()
            .any(|r| r["id"] == "com.snc.cti" && r["active"] == "inactive")
    );

    sn.add_user_with_password("itil", "pw");
    let err = activate(&sn.client_as("itil", "pw"), "com.sn_openframe")
        .await
        .unwrap_err();
    assert!(err.is_forbidden(), "{err}");
    let err = activate(&sn.client_as_admin(), "com.example.none")
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

#[tokio::test]
async fn writes_need_the_admin_role() {
    let sn = FakeInstance::start().await;
    sn.add_user_with_password("itil", "pw");
    let err = sn
        .client_as("itil", "pw")
        .table_json("sys_cors_rule")
        .unwrap()
        .create(&serde_json::json!({"name": "x"}))
        .await
        .unwrap_err();
    assert!(err.is_forbidden(), "{err}");
    let err = sn
        .client_as("itil", "wrong")
        .table_json("sys_user")
        .unwrap()
        .first(Query::new())
        .await
        .unwrap_err();
    assert!(err.is_authentication(), "{err}");
}

#[tokio::test]
async fn tokens_are_granted_expire_and_are_renewed() {
    let sn = FakeInstance::start().await;
    sn.register_oauth_client("bp", "cid", "csecret");
    let client = sn.oauth_client_as(
        OAuthClient::new("cid", "csecret".into()),
        "admin",
        "admin-password",
    );
    let users = client.table_json("sys_user").unwrap();
    users.first(Query::new()).await.unwrap();
    sn.expire_tokens();
    users.first(Query::new()).await.unwrap();
    let grants: Vec<String> = sn
        .requests()
        .iter()
        .filter(|r| r.endpoint == Endpoint::Token)
        .map(|r| {
            r.body
                .split('&')
                .find(|p| p.starts_with("grant_type="))
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(grants, ["grant_type=password", "grant_type=refresh_token"]);
    let statuses: Vec<u16> = sn
        .requests()
        .iter()
        .filter(|r| r.endpoint == Endpoint::Table)
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [200, 401, 200]);
}

#[tokio::test]
async fn every_bad_credential_gets_the_generic_access_denied() {
    let sn = FakeInstance::start().await;
    sn.register_oauth_client("bp", "cid", "csecret");
    let attempt = |client: OAuthClient, user: &str, password: &str| {
        let c = sn.oauth_client_as(client, user, password);
        async move {
            c.table_json("sys_user")
                .unwrap()
                .first(Query::new())
                .await
                .unwrap_err()
        }
    };
    for err in [
        attempt(
            OAuthClient::new("cid", "wrong".into()),
            "admin",
            "admin-password",
        )
        .await,
        attempt(
            OAuthClient::new("nope", "csecret".into()),
            "admin",
            "admin-password",
        )
        .await,
        attempt(OAuthClient::new("cid", "csecret".into()), "admin", "wrong").await,
    ] {
        let Error::Authentication(auth) = &err else {
            panic!("{err:?}")
        };
        assert_eq!(auth.description.as_deref(), Some("access_denied"));
    }
    sn.set_property("glide.oauth.inbound.ropc.grant_type.disabled", "true");
    let err = attempt(
        OAuthClient::new("cid", "csecret".into()),
        "admin",
        "admin-password",
    )
    .await;
    assert!(err.is_authentication());

    // The token endpoint is form-encoded only.
    let json = sn
        .client_as_admin()
        .transport()
        .anonymous()
        .send(
            Request::post("/oauth_token.do")
                .json(&serde_json::json!({"grant_type": "password"}))
                .unwrap(),
        )
        .await
        .unwrap_err();
    assert_eq!(json.status(), Some(401));
}

#[tokio::test]
async fn batch_items_run_against_the_same_state() {
    let sn = FakeInstance::start().await;
    sn.set_batch_service_limit(Some(2));
    let client = sn.client_as_admin();
    let groups = client.table_json("sys_user_group").unwrap();
    let items = vec![
        groups
            .create_item("a", &serde_json::json!({"name": "A"}))
            .unwrap(),
        groups
            .list_item("list", Query::new().eq("name", "A"))
            .unwrap(),
        groups
            .create_item("c", &serde_json::json!({"name": "C"}))
            .unwrap(),
    ];
    let results = client.batch(items).await.unwrap();
    assert_eq!(results[0].as_ref().unwrap().status(), 201);
    let listed: Vec<JsonRecord> = results[1].as_ref().unwrap().records().unwrap();
    assert_eq!(names(&listed, "name"), ["A"]);
    assert!(matches!(
        &results[2],
        Err(Error::BatchItemUnserviced { .. })
    ));
    assert_eq!(names(&sn.table("sys_user_group"), "name"), ["A"]);
    assert_eq!(sn.round_trips(), 1);
    assert_eq!(sn.write_count(), 1);
}

#[tokio::test]
async fn rate_limits_and_unavailability_are_retried_through() {
    let sn = FakeInstance::start().await;
    sn.inject_fault(
        Fault::RateLimited {
            retry_after: Some(0),
        },
        FaultSchedule::Nth(1),
    );
    sn.inject_fault(
        Fault::RateLimited { retry_after: None },
        FaultSchedule::Nth(2),
    );
    sn.inject_fault(Fault::Unavailable, FaultSchedule::Nth(3));
    let client = sn
        .client_builder_as_admin()
        .retry_policy(fast())
        .build()
        .unwrap();
    client
        .table_json("sys_user")
        .unwrap()
        .first(Query::new())
        .await
        .unwrap();
    assert_eq!(sn.faults_injected(), 3);
    let statuses: Vec<u16> = sn.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [429, 429, 503, 200]);
}

#[tokio::test]
async fn a_timeout_fault_applies_the_write_but_the_client_cannot_know() {
    let sn = FakeInstance::start().await;
    sn.inject_fault_on(
        Endpoint::Table,
        Fault::Timeout(Duration::from_millis(400)),
        FaultSchedule::Nth(1),
    );
    let client = sn
        .client_builder_as_admin()
        .retry_policy(fast())
        .timeout(Duration::from_millis(150))
        .build()
        .unwrap();
    let err = client
        .table_json("sys_user_group")
        .unwrap()
        .create(&serde_json::json!({"name": "Ghost"}))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert_eq!(
        sn.table("sys_user_group").len(),
        1,
        "the create was applied"
    );
}

#[tokio::test]
async fn a_malformed_body_is_a_decode_error() {
    let sn = FakeInstance::start().await;
    sn.inject_fault(Fault::MalformedBody, FaultSchedule::FirstN(1));
    let err = sn
        .client_as_admin()
        .table_json("sys_user")
        .unwrap()
        .first(Query::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Decode(_)), "{err:?}");
}

#[tokio::test]
async fn an_expired_token_fault_is_renewed_through() {
    let sn = FakeInstance::start().await;
    sn.register_oauth_client("bp", "cid", "csecret");
    let client = sn.oauth_client_as(
        OAuthClient::new("cid", "csecret".into()),
        "admin",
        "admin-password",
    );
    let users = client.table_json("sys_user").unwrap();
    users.first(Query::new()).await.unwrap();
    sn.inject_fault_on(Endpoint::Table, Fault::ExpiredToken, FaultSchedule::Nth(1));
    users.first(Query::new()).await.unwrap();
    let token_requests = sn
        .requests()
        .iter()
        .filter(|r| r.endpoint == Endpoint::Token)
        .count();
    assert_eq!(token_requests, 2);
}

#[tokio::test]
async fn random_faults_are_reproducible_from_their_seed() {
    async fn statuses(seed: u64) -> Vec<u16> {
        let sn = FakeInstance::start().await;
        sn.inject_fault(
            Fault::Unavailable,
            FaultSchedule::Random {
                probability: 0.3,
                seed,
            },
        );
        let client = sn
            .client_builder_as_admin()
            .retry_policy(RetryPolicy::never())
            .build()
            .unwrap();
        for _ in 0..20 {
            let _ = client
                .table_json("sys_user")
                .unwrap()
                .first(Query::new())
                .await;
        }
        sn.requests().iter().map(|r| r.status).collect()
    }
    let a = statuses(7).await;
    assert_eq!(a, statuses(7).await);
    assert!(a.contains(&503) && a.contains(&200), "{a:?}");
}

#[tokio::test]
async fn latency_is_added_per_request_and_per_endpoint() {
    let sn = FakeInstance::start().await;
    sn.set_latency(Duration::from_millis(60));
    let users = sn.client_as_admin().table_json("sys_user").unwrap();
    let started = Instant::now();
    users.first(Query::new()).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(60));
    // A per-endpoint latency overrides the fixed one (lower bounds only: a loaded
    // machine may be slower, never faster).
    sn.set_endpoint_latency(Endpoint::Table, Duration::from_millis(150));
    let started = Instant::now();
    users.first(Query::new()).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn seed_data_is_there() {
    let sn = FakeInstance::start().await;
    let snapshot = sn.snapshot();
    let roles = names(&snapshot["sys_user_role"], "name");
    assert!(roles.contains(&"sn_openframe_user".to_owned()));
    assert_eq!(snapshot["sys_ws_definition"][0]["name"], "Table API");
    assert!(
        snapshot["sys_properties"]
            .iter()
            .any(|p| p["name"] == servicenow_fake::ALLOW_LIST_PROPERTY && p["value"] == "")
    );
    assert_eq!(snapshot["v_plugin"].len(), 4);
}

/// The wire itself, through a client that is not ours.
#[tokio::test]
async fn batch_ids_come_back_as_strings_and_failed_items_carry_error_message() {
    let sn = FakeInstance::start().await;
    let http = reqwest::Client::new();
    let body = serde_json::json!({
        "batch_request_id": 42,
        "rest_requests": [{"id": "1", "method": "GET", "url": "/api/now/table/sys_user/0123456789abcdef0123456789abcdef", "headers": []}]
    });
    let answer = http
        .post(format!("{}/api/now/v1/batch", sn.url()))
        .basic_auth(ADMIN_USER, Some(ADMIN_PASSWORD))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(answer["batch_request_id"], "42");
    let item = &answer["serviced_requests"][0];
    assert_eq!(item["status_code"], 404);
    assert_eq!(item["error_message"], "No Record found");
}

#[tokio::test]
async fn preflights_are_answered_from_the_cors_rules_of_the_api() {
    use servicenow_client::cors::{CorsDomain, CorsMethods, CorsRuleSpec};
    let sn = FakeInstance::start().await;
    let http = reqwest::Client::new();
    let preflight = |origin: &'static str, method: &'static str, path: &'static str| {
        let http = http.clone();
        let url = format!("{}{path}", sn.url());
        async move {
            let r = http
                .request(reqwest::Method::OPTIONS, url)
                .header("origin", origin)
                .header("access-control-request-method", method)
                .send()
                .await
                .unwrap();
            (
                r.status().as_u16(),
                r.headers()
                    .get("access-control-allow-origin")
                    .map(|v| v.to_str().unwrap().to_owned()),
            )
        }
    };
    const TENANT: &str = "https://example.brightpattern.com";
    assert_eq!(
        preflight(TENANT, "POST", "/api/now/table/incident").await,
        (200, None)
    );
    sn.client_as_admin()
        .cors_rules()
        .create(
            &CorsRuleSpec::new("BP", CorsDomain::parse(TENANT).unwrap()).methods(CorsMethods::POST),
        )
        .await
        .unwrap();
    assert_eq!(
        preflight(TENANT, "POST", "/api/now/table/incident").await,
        (200, Some(TENANT.to_owned()))
    );
    assert_eq!(
        preflight(TENANT, "POST", "/api/now/v2/table/incident").await,
        (200, Some(TENANT.to_owned()))
    );
    // Another method, another origin, another API: not allowed.
    assert_eq!(
        preflight(TENANT, "DELETE", "/api/now/table/incident")
            .await
            .1,
        None
    );
    assert_eq!(
        preflight(
            "https://evil.example.com",
            "POST",
            "/api/now/table/incident"
        )
        .await
        .1,
        None
    );
    assert_eq!(preflight(TENANT, "POST", "/api/now/v1/batch").await.1, None);
}

#[tokio::test]
async fn inbound_oauth_off_or_a_supplied_sys_id_ignored_as_the_platform_may() {
    use servicenow_client::oauth::NewOAuthApplication;
    let sn = FakeInstance::start().await;
    let admin = sn.client_as_admin();
    let created = admin
        .oauth_applications()
        .create(&NewOAuthApplication::new("BP"))
        .await
        .unwrap();
    let tokens = admin.oauth_tokens(&created.credentials()).unwrap();
    tokens
        .password(ADMIN_USER, &ADMIN_PASSWORD.into())
        .await
        .unwrap();
    sn.set_property("com.snc.platform.security.oauth.is.active", "false");
    let err = tokens
        .password(ADMIN_USER, &ADMIN_PASSWORD.into())
        .await
        .unwrap_err();
    assert!(err.is_authentication(), "{err:?}");

    sn.set_ignore_supplied_sys_ids(true);
    let wanted = SysId::generate();
    let row = admin
        .table_json("sys_user_group")
        .unwrap()
        .create_with_id(&wanted, &serde_json::json!({"name": "x"}))
        .await
        .unwrap();
    assert_ne!(row["sys_id"], wanted.as_str());
}

#[tokio::test]
async fn client_credentials_need_the_property_and_an_application_user() {
    use servicenow_client::{CLIENT_CREDENTIALS_PROPERTY, Credentials, OAuthClient};
    let sn = FakeInstance::start().await;
    sn.add_user("integration.bot");
    sn.register_oauth_client("Automation", "auto-id", "auto-secret-value");
    sn.set_client_credentials_user("auto-id", "integration.bot");
    let client = servicenow_client::Client::builder(
        sn.url(),
        Credentials::oauth_client_credentials(OAuthClient::new(
            "auto-id",
            "auto-secret-value".into(),
        )),
    )
    .build()
    .unwrap();
    // Off by default, as on the platform: the error names the property.
    let err = client
        .users()
        .get_by_user_name("integration.bot")
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains(CLIENT_CREDENTIALS_PROPERTY),
        "{err}"
    );
    sn.set_property(CLIENT_CREDENTIALS_PROPERTY, "true");
    let client = servicenow_client::Client::builder(
        sn.url(),
        Credentials::oauth_client_credentials(OAuthClient::new(
            "auto-id",
            "auto-secret-value".into(),
        )),
    )
    .build()
    .unwrap();
    assert!(
        client
            .users()
            .get_by_user_name("integration.bot")
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn an_api_key_acts_as_its_user_and_a_wrong_one_is_a_401() {
    use servicenow_client::Credentials;
    let sn = FakeInstance::start().await;
    sn.add_user("integration.bot");
    let key = sn.add_api_key("integration.bot");
    let good = servicenow_client::Client::builder(sn.url(), Credentials::api_key(key))
        .build()
        .unwrap();
    assert!(
        good.users()
            .get_by_user_name("integration.bot")
            .await
            .unwrap()
            .is_some()
    );
    let bad = servicenow_client::Client::builder(sn.url(), Credentials::api_key("not-a-key"))
        .build()
        .unwrap();
    let err = bad
        .users()
        .get_by_user_name("integration.bot")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(401), "{err}");
}

#[tokio::test]
async fn the_jwt_bearer_grant_is_verified_with_the_registered_key() {
    use servicenow_client::{Credentials, JwtSigningKey, OAuthClient};
    let sn = FakeInstance::start().await;
    sn.add_user("integration.bot");
    sn.register_oauth_client("Automation", "jwt-id", "jwt-secret-value");
    sn.register_jwt_key(
        "jwt-id",
        "bp-key-1",
        include_str!("../../tests/jwt/signing.pub"),
    );
    let client = |pem: &str, kid: &str| {
        servicenow_client::Client::builder(
            sn.url(),
            Credentials::oauth_jwt_bearer(
                OAuthClient::new("jwt-id", "jwt-secret-value".into()),
                JwtSigningKey::from_pem(pem.to_owned().into(), kid).unwrap(),
                "integration.bot",
            ),
        )
        .build()
        .unwrap()
    };
    let signed = client(include_str!("../../tests/jwt/signing.key"), "bp-key-1");
    assert!(
        signed
            .users()
            .get_by_user_name("integration.bot")
            .await
            .unwrap()
            .is_some()
    );
    // Another key under the same id, and the right key under an unknown id.
    for (pem, kid) in [
        (include_str!("../../tests/jwt/other.key"), "bp-key-1"),
        (include_str!("../../tests/jwt/signing.key"), "bp-key-2"),
    ] {
        let err = client(pem, kid)
            .users()
            .get_by_user_name("integration.bot")
            .await
            .unwrap_err();
        assert!(err.is_authentication(), "{err}");
        assert!(err.to_string().contains("JWT verifier"), "{err}");
    }
}
