//! The fake instance answers like an instance, asserted on the wire through a
//! plain HTTP client (nothing of this crate's client in between), and through the
//! crate's own client where that is what a user would do. One test per point of
//! the fidelity list in the fake's module docs.

use futures_util::TryStreamExt;
use servicenow_client::JsonRecord;
use servicenow_client::query::Query;
use servicenow_fake::{
    ADMIN_PASSWORD, ADMIN_SYS_ID, ADMIN_USER, Column, DEMO_BUSINESS_RULES, DEMO_DEPARTMENTS,
    DEMO_INCIDENTS, DEMO_METADATA_ROWS, DEMO_PROBLEMS, DEMO_SYSLOG_ROWS, DEMO_USERS, FakeInstance,
    TableSchema,
};

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
}

impl Answer {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("{e}: {}", self.text))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

async fn send(
    sn: &FakeInstance,
    method: reqwest::Method,
    path: &str,
    body: Option<&str>,
    host: Option<&str>,
) -> Answer {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", sn.url()))
        .basic_auth(ADMIN_USER, Some(ADMIN_PASSWORD))
        .header("accept", "application/json");
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_owned());
    }
    if let Some(host) = host {
        request = request.header("host", host);
    }
    let response = request.send().await.unwrap();
    Answer {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        text: response.text().await.unwrap(),
    }
}

async fn get(sn: &FakeInstance, path: &str) -> Answer {
    send(sn, reqwest::Method::GET, path, None, None).await
}

async fn post(sn: &FakeInstance, path: &str, body: &str) -> Answer {
    send(sn, reqwest::Method::POST, path, Some(body), None).await
}

async fn demo() -> FakeInstance {
    FakeInstance::builder().demo_data().start().await
}

fn incident_number(sn: &FakeInstance, short: &str) -> String {
    sn.table("incident")
        .into_iter()
        .find(|r| r["short_description"] == short)
        .unwrap()["number"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_record_carries_every_column_and_drops_unknown_ones() {
    let sn = demo().await;
    let created = post(
        &sn,
        "/api/now/table/sys_user_group",
        r#"{"name": "Tier 2", "u_not_a_column": "x"}"#,
    )
    .await;
    assert_eq!(created.status, 201);
    let record = &created.json()["result"];
    assert_eq!(record["name"], "Tier 2");
    assert!(record.get("u_not_a_column").is_none(), "{record}");
    for (column, value) in [
        ("description", ""),
        ("manager", ""),
        ("active", "true"),
        ("sys_created_by", ADMIN_USER),
        ("sys_updated_by", ADMIN_USER),
        ("sys_mod_count", "0"),
    ] {
        assert_eq!(record[column], value, "{column} in {record}");
    }
}

#[tokio::test]
async fn every_field_gets_its_display_form() {
    let sn = demo().await;
    let number = incident_number(&sn, "Email server is down");
    let path = format!("/api/now/table/incident?sysparm_query=number={number}");
    let plain = get(&sn, &path).await.json()["result"][0].clone();
    assert_eq!(plain["state"], "2");
    assert_eq!(plain["priority"], "1");
    assert_eq!(plain["caller_id"]["value"].as_str().unwrap().len(), 32);
    assert!(
        plain["caller_id"]["link"]
            .as_str()
            .unwrap()
            .contains("/api/now/table/sys_user/")
    );

    let shown = get(&sn, &format!("{path}&sysparm_display_value=true"))
        .await
        .json()["result"][0]
        .clone();
    assert_eq!(shown["state"], "In Progress", "choice label");
    assert_eq!(shown["priority"], "1 - Critical");
    assert_eq!(shown["caller_id"]["display_value"], "David Miller");
    assert_eq!(shown["active"], "true");

    let all = get(&sn, &format!("{path}&sysparm_display_value=all"))
        .await
        .json()["result"][0]
        .clone();
    assert_eq!(
        all["state"],
        serde_json::json!({"display_value": "In Progress", "value": "2"})
    );
    assert_eq!(all["number"]["value"], number.as_str());
    assert_eq!(all["caller_id"]["display_value"], "David Miller");
    assert!(all["caller_id"]["link"].is_string());

    // Integers with thousands separators, passwords masked.
    sn.client_as_admin()
        .oauth_applications()
        .create(&servicenow_client::oauth::NewOAuthApplication::new("BP"))
        .await
        .unwrap();
    let app = get(&sn, "/api/now/table/oauth_entity?sysparm_display_value=all")
        .await
        .json()["result"][0]
        .clone();
    assert_eq!(
        app["refresh_token_lifespan"],
        serde_json::json!({"display_value": "8,640,000", "value": "8640000"})
    );
    assert_eq!(app["client_secret"]["display_value"], "********");
    assert_eq!(app["type"]["display_value"], "OAuth Client");
}

#[tokio::test]
async fn dates_display_in_the_callers_time_zone() {
    let sn = demo().await;
    // abel.tuter's zone is Etc/GMT+5: five hours behind UTC.
    let client = sn.client_as("abel.tuter", "abel.tuter-password");
    let number = incident_number(&sn, "Cannot log in to VPN");
    let rows: Vec<JsonRecord> = client
        .table_json("incident")
        .unwrap()
        .list(Query::new().eq("number", number.as_str()))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(rows[0]["opened_at"], "2026-11-02 09:30:00", "stored in UTC");
    let answer = send(
        &sn,
        reqwest::Method::GET,
        &format!(
            "/api/now/table/incident?sysparm_query=number={number}&sysparm_display_value=true"
        ),
        None,
        None,
    )
    .await;
    assert_eq!(
        answer.json()["result"][0]["opened_at"],
        "2026-11-02 09:30:00",
        "admin: UTC"
    );
    let as_abel = reqwest::Client::new()
        .get(format!(
            "{}/api/now/table/incident?sysparm_query=number={number}&sysparm_display_value=true",
            sn.url()
        ))
        .basic_auth("abel.tuter", Some("abel.tuter-password"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let as_abel: serde_json::Value = serde_json::from_str(&as_abel).unwrap();
    assert_eq!(as_abel["result"][0]["opened_at"], "2026-11-02 04:30:00");
}

#[tokio::test]
async fn sysparm_fields_keep_their_order_and_walk_references() {
    let sn = demo().await;
    let answer = get(
        &sn,
        "/api/now/table/sys_user?sysparm_query=user_name=abel.tuter&sysparm_fields=user_name,department.name,manager.department.dept_head.email,email,sys_id",
    )
    .await;
    let text = &answer.text;
    let at = |key: &str| {
        text.find(&format!("\"{key}\""))
            .unwrap_or_else(|| panic!("{key} in {text}"))
    };
    assert!(at("user_name") < at("department.name"));
    assert!(at("department.name") < at("manager.department.dept_head.email"));
    assert!(at("manager.department.dept_head.email") < at("email"));
    assert!(at("email") < at("sys_id"));
    let record = &answer.json()["result"][0];
    assert_eq!(record["department.name"], "IT");
    assert_eq!(
        record["manager.department.dept_head.email"],
        "beth.anglin@example.com"
    );
    assert_eq!(record.as_object().unwrap().len(), 5);
}

#[tokio::test]
async fn an_unknown_table_is_a_400() {
    let sn = demo().await;
    for path in [
        "/api/now/table/u_nothing",
        "/api/now/table/u_nothing/0123456789abcdef0123456789abcdef",
    ] {
        let answer = get(&sn, path).await;
        assert_eq!(answer.status, 400, "{path}");
        assert_eq!(answer.json()["error"]["message"], "Invalid table u_nothing");
    }
    // A table declared by a test is there.
    sn.declare_table(TableSchema::new("u_desk").column(Column::string("u_name")));
    assert_eq!(get(&sn, "/api/now/table/u_desk").await.status, 200);
}

#[tokio::test]
async fn every_operator_is_evaluated_and_values_compare_without_case() {
    let sn = demo().await;
    let numbers = |rows: &serde_json::Value| -> Vec<String> {
        rows["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["short_description"].as_str().unwrap().to_owned())
            .collect()
    };
    let q = |query: &'static str| {
        let sn = &sn;
        async move {
            let answer = get(
                sn,
                &format!(
                    "/api/now/table/incident?sysparm_query={}^ORDERBYshort_description",
                    url_escape(query)
                ),
            )
            .await;
            assert_eq!(answer.status, 200, "{query}: {}", answer.text);
            numbers(&answer.json())
        }
    };
    assert_eq!(
        q("short_description=email server is down").await,
        ["Email server is down"]
    );
    assert_eq!(
        q("short_descriptionLIKEVPN").await,
        ["Cannot log in to VPN"]
    );
    assert_eq!(
        q("short_descriptionCONTAINSvpn").await,
        ["Cannot log in to VPN"]
    );
    assert_eq!(
        q("short_descriptionSTARTSWITHprinter").await,
        ["Printer on floor 3 jams"]
    );
    assert_eq!(
        q("short_descriptionENDSWITHSWELLS").await,
        ["Laptop battery swells"]
    );
    assert_eq!(
        q("short_descriptionNOT LIKEe").await,
        ["Cannot log in to VPN"]
    );
    assert_eq!(
        q("short_descriptionDOES NOT CONTAINE").await,
        ["Cannot log in to VPN"]
    );
    assert_eq!(
        q("stateIN6,7").await,
        ["Laptop battery swells", "Request for a second monitor"]
    );
    assert_eq!(
        q("stateNOT IN1,2,3").await,
        ["Laptop battery swells", "Request for a second monitor"]
    );
    assert_eq!(q("priority<2").await, ["Email server is down"]);
    assert_eq!(
        q("priority<=2").await,
        ["Email server is down", "Laptop battery swells"]
    );
    assert_eq!(q("priority>4").await, ["Request for a second monitor"]);
    assert_eq!(
        q("priority>=4").await,
        ["Printer on floor 3 jams", "Request for a second monitor"]
    );
    assert_eq!(
        q("priorityBETWEEN2@3").await,
        ["Cannot log in to VPN", "Laptop battery swells"]
    );
    assert_eq!(
        q("state!=1^active=true").await,
        ["Email server is down", "Printer on floor 3 jams"]
    );
    assert_eq!(
        q("caller_id.user_name=EVE.CHAN").await,
        ["Cannot log in to VPN", "Request for a second monitor"]
    );
    assert_eq!(
        q("priority=1^ORpriority=5").await,
        ["Email server is down", "Request for a second monitor"]
    );
    assert_eq!(
        q("priority=1^NQpriority=5").await,
        ["Email server is down", "Request for a second monitor"]
    );
    assert_eq!(
        q("sys_class_nameINSTANCEOFtask").await.len(),
        DEMO_INCIDENTS.len()
    );
    assert!(q("sys_class_nameINSTANCEOFproblem").await.is_empty());
    assert_eq!(q("priority=1^EQ").await, ["Email server is down"]);
    assert_eq!(q("assignment_groupISEMPTY").await, Vec::<String>::new());
    assert_eq!(q("assigned_toISEMPTY").await.len(), DEMO_INCIDENTS.len());
    assert!(q("assigned_toISNOTEMPTY").await.is_empty());
    // The platform's quirk: a term naming an unknown field is dropped...
    assert_eq!(q("AAAA=BBBB").await.len(), DEMO_INCIDENTS.len());
    assert_eq!(q("short_desc=nothing").await.len(), DEMO_INCIDENTS.len());
    // ...unless glide.invalid_query.returns_no_rows is true.
    sn.set_property("glide.invalid_query.returns_no_rows", "true");
    assert!(q("AAAA=BBBB").await.is_empty());
    // JOIN and RLQUERY are not modelled, and say so.
    let answer = get(
        &sn,
        "/api/now/table/incident?sysparm_query=RLQUERYtask_sla.task,>=1^ENDRLQUERY",
    )
    .await;
    assert_eq!(answer.status, 501);
    assert!(
        answer.text.contains("not modelled by the fake"),
        "{}",
        answer.text
    );
}

/// Percent-encodes a query value for a URL.
fn url_escape(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[tokio::test]
async fn the_query_builder_operators_agree_with_the_fake() {
    let sn = demo().await;
    let users = sn.client_as_admin().table_json("sys_user").unwrap();
    let names = |q: Query| {
        let users = users.clone();
        async move {
            let rows: Vec<JsonRecord> = users
                .list(q.order_by("user_name"))
                .try_collect()
                .await
                .unwrap();
            rows.iter()
                .map(|r| r["user_name"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        names(Query::new().eq("user_name", "Abel.Tuter")).await,
        ["abel.tuter"]
    );
    assert_eq!(
        names(Query::new().starts_with("user_name", "CH")).await,
        ["charlie.whitherspoon"]
    );
    assert_eq!(
        names(
            Query::new()
                .ends_with("email", "@EXAMPLE.com")
                .eq("department.name", "sales")
        )
        .await,
        ["eve.chan"]
    );
    assert_eq!(
        names(Query::new().like("name", "luddy")).await,
        ["fred.luddy"]
    );
    assert_eq!(
        names(Query::new().is_in("user_name", ["eve.chan", "fred.luddy"])).await,
        ["eve.chan", "fred.luddy"]
    );
    assert_eq!(
        names(
            Query::new()
                .is_not_empty("manager")
                .eq("department.name", "IT")
        )
        .await,
        ["abel.tuter", "fred.luddy"]
    );
    assert_eq!(
        names(
            Query::new()
                .is_empty("manager")
                .is_not_empty("department")
                .ne("department.name", "IT")
                .not_like("name", "Eve")
        )
        .await,
        ["charlie.whitherspoon"]
    );
    assert_eq!(
        names(
            Query::new()
                .eq("manager.user_name", "beth.anglin")
                .or()
                .eq("user_name", "eve.chan")
        )
        .await,
        ["abel.tuter", "eve.chan", "fred.luddy"]
    );
    assert_eq!(
        names(
            Query::new()
                .eq("user_name", "nobody")
                .new_query()
                .eq("user_name", "beth.anglin")
        )
        .await,
        ["beth.anglin"]
    );
    assert_eq!(
        DEMO_USERS.len() + 1,
        names(Query::new()).await.len(),
        "the demo users and admin"
    );
}

#[tokio::test]
async fn an_empty_body_creates_with_defaults_and_an_array_body_its_first_element() {
    let sn = demo().await;
    let empty = post(&sn, "/api/now/table/incident", "").await;
    assert_eq!(empty.status, 201, "{}", empty.text);
    let record = &empty.json()["result"];
    assert_eq!(record["state"], "1");
    assert_eq!(record["priority"], "4");
    assert!(record["number"].as_str().unwrap().starts_with("INC"));
    let array = post(
        &sn,
        "/api/now/table/sys_user_group",
        r#"[{"name": "First"}, {"name": "Second"}]"#,
    )
    .await;
    assert_eq!(array.status, 201);
    assert_eq!(array.json()["result"]["name"], "First");
    assert_eq!(
        sn.table("sys_user_group")
            .iter()
            .filter(|g| g["name"] == "Second")
            .count(),
        0
    );
    assert_eq!(
        post(&sn, "/api/now/table/sys_user_group", "not json")
            .await
            .status,
        400
    );
}

#[tokio::test]
async fn task_tables_number_their_records() {
    let sn = demo().await;
    let mut incidents: Vec<String> = sn
        .table("incident")
        .iter()
        .map(|r| r["number"].as_str().unwrap().to_owned())
        .collect();
    incidents.sort();
    assert_eq!(
        incidents,
        [
            "INC0010001",
            "INC0010002",
            "INC0010003",
            "INC0010004",
            "INC0010005"
        ]
    );
    let problem = post(
        &sn,
        "/api/now/table/problem",
        r#"{"short_description": "x"}"#,
    )
    .await;
    assert_eq!(
        problem.json()["result"]["number"],
        format!("PRB{:07}", 10_001 + DEMO_PROBLEMS.len())
    );
    let change = post(&sn, "/api/now/table/change_request", "{}").await;
    assert_eq!(change.json()["result"]["number"], "CHG0010001");
    let given = post(
        &sn,
        "/api/now/table/incident",
        r#"{"number": "INC9999999"}"#,
    )
    .await;
    assert_eq!(given.json()["result"]["number"], "INC9999999");
}

#[tokio::test]
async fn suppress_pagination_header_drops_link() {
    let sn = demo().await;
    let paged = get(&sn, "/api/now/table/sys_user?sysparm_limit=2").await;
    assert!(paged.header("link").unwrap().contains("rel=\"next\""));
    let suppressed = get(
        &sn,
        "/api/now/table/sys_user?sysparm_limit=2&sysparm_suppress_pagination_header=true",
    )
    .await;
    assert_eq!(suppressed.header("link"), None);
    let users = (DEMO_USERS.len() + 1).to_string(); // and the administrator
    assert_eq!(suppressed.header("x-total-count"), Some(users.as_str()));
}

#[tokio::test]
async fn links_and_location_use_the_host_the_request_came_through() {
    let sn = demo().await;
    let proxied = send(
        &sn,
        reqwest::Method::POST,
        "/api/now/table/sys_user_group",
        Some(r#"{"name": "Proxied", "manager": "x"}"#),
        Some("proxy.example.com:8443"),
    )
    .await;
    assert_eq!(proxied.status, 201);
    assert!(
        proxied
            .header("location")
            .unwrap()
            .starts_with("http://proxy.example.com:8443/api/now/table/sys_user_group/"),
        "{:?}",
        proxied.header("location")
    );
    let users = send(
        &sn,
        reqwest::Method::GET,
        "/api/now/table/sys_user?sysparm_query=user_name=abel.tuter&sysparm_limit=1",
        None,
        Some("proxy.example.com:8443"),
    )
    .await;
    assert!(
        users.json()["result"][0]["manager"]["link"]
            .as_str()
            .unwrap()
            .starts_with("http://proxy.example.com:8443/")
    );
    assert!(
        users
            .header("link")
            .unwrap()
            .contains("http://proxy.example.com:8443/")
    );
}

#[tokio::test]
async fn what_the_fake_does_not_model_says_so() {
    let sn = demo().await;
    let answer = get(&sn, "/api/now/attachment?sysparm_limit=1").await;
    assert_eq!(answer.status, 501);
    assert!(
        answer.text.contains("not modelled by the fake"),
        "{}",
        answer.text
    );
    let answer = get(&sn, "/api/now/nothing/here").await;
    assert_eq!(answer.status, 400);
}

#[tokio::test]
async fn demo_data_is_realistic_and_in_sys_db_object() {
    let sn = demo().await;
    let objects: Vec<String> = sn
        .table("sys_db_object")
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect();
    for table in ["sys_user", "incident", "problem", "task", "cmn_department"] {
        assert!(objects.iter().any(|o| o == table), "{table} in {objects:?}");
    }
    let incident = sn
        .table("sys_db_object")
        .into_iter()
        .find(|r| r["name"] == "incident")
        .unwrap();
    let task = sn
        .table("sys_db_object")
        .into_iter()
        .find(|r| r["name"] == "task")
        .unwrap();
    assert_eq!(incident["super_class"], task["sys_id"]);
    assert_eq!(sn.table("incident").len(), DEMO_INCIDENTS.len());
    assert_eq!(sn.table("problem").len(), DEMO_PROBLEMS.len());
}

/// The example of the crate's README, kept compiling and passing.
#[tokio::test]
async fn open_critical_incidents() -> servicenow_client::Result<()> {
    let sn = FakeInstance::builder().demo_data().start().await;
    let incidents = sn.client_as_admin().table_json("incident")?;
    let open: Vec<JsonRecord> = incidents
        .list(Query::new().eq("active", "true").eq("priority", "1"))
        .try_collect()
        .await?;
    assert_eq!(open.len(), 1);
    assert_eq!(open[0]["number"], "INC0010001");
    assert_eq!(open[0]["short_description"], "Email server is down");
    Ok(())
}

#[tokio::test]
async fn group_members_get_inherited_role_rows_and_lose_them_with_the_grant() {
    let sn = demo().await;
    let grant = sn.grant_role_to_group("Service Desk", "sn_openframe_user");
    let role = sn
        .table("sys_user_role")
        .into_iter()
        .find(|r| r["name"] == "sn_openframe_user")
        .unwrap()["sys_id"]
        .clone();
    // (The demo's Service Desk also holds itil: those rows are not counted.)
    let inherited = |sn: &FakeInstance| -> Vec<JsonRecord> {
        sn.table("sys_user_has_role")
            .into_iter()
            .filter(|r| r["inherited"] == "true" && r["role"] == role)
            .collect()
    };
    let rows = inherited(&sn);
    assert_eq!(rows.len(), 2, "abel.tuter and fred.luddy: {rows:?}");
    let group = sn
        .table("sys_user_group")
        .into_iter()
        .find(|g| g["name"] == "Service Desk")
        .unwrap();
    assert!(rows.iter().all(|r| r["granted_by"] == group["sys_id"]));
    // A new member gets it too; removing the group's grant removes them all.
    sn.add_group_member("eve.chan", "Service Desk");
    assert_eq!(inherited(&sn).len(), 3);
    let deleted = send(
        &sn,
        reqwest::Method::DELETE,
        &format!("/api/now/table/sys_group_has_role/{grant}"),
        None,
        None,
    )
    .await;
    assert_eq!(deleted.status, 204);
    assert!(inherited(&sn).is_empty());
}

#[tokio::test]
async fn activating_cti_ships_its_configuration_at_the_front() {
    use servicenow_client::plugins::{WaitOptions, ids};
    let sn = FakeInstance::start().await;
    sn.client_as_admin()
        .plugins()
        .activate(ids::CTI_SOFTPHONE)
        .await
        .unwrap()
        .wait(&WaitOptions::fast(), |_| {})
        .await
        .unwrap();
    let configs = sn.table("sn_openframe_configuration");
    assert_eq!(configs.len(), 1);
    assert_eq!(
        (
            &configs[0]["name"],
            &configs[0]["order"],
            &configs[0]["active"]
        ),
        (&"CTI".into(), &"1".into(), &"true".into())
    );
}

#[tokio::test]
async fn answers_are_compressed_when_asked_and_sessions_open_without_their_cookie() {
    let sn = demo().await;
    let raw = reqwest::Client::builder().no_gzip().build().unwrap();
    let answer = raw
        .get(format!("{}/api/now/table/sys_user", sn.url()))
        .basic_auth(ADMIN_USER, Some(ADMIN_PASSWORD))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.headers()["content-encoding"], "gzip");
    assert!(
        answer.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .starts_with("JSESSIONID=")
    );
    let body = answer.bytes().await.unwrap();
    assert_eq!(&body[..2], &[0x1f, 0x8b], "a gzip stream");
    let plain = raw
        .get(format!("{}/api/now/table/sys_user", sn.url()))
        .basic_auth(ADMIN_USER, Some(ADMIN_PASSWORD))
        .send()
        .await
        .unwrap();
    assert!(plain.headers().get("content-encoding").is_none());

    // The SDK keeps the session: one session for many requests; without
    // cookies, one per request (what ServiceNow's own guidance warns about).
    let opened = sn.sessions_opened();
    let client = sn.client_as_admin();
    for _ in 0..5 {
        client
            .table_json("sys_user")
            .unwrap()
            .first(Query::new())
            .await
            .unwrap();
    }
    assert_eq!(sn.sessions_opened() - opened, 1);
    let opened = sn.sessions_opened();
    let cookieless = servicenow_client::Client::builder(
        sn.url(),
        servicenow_client::Credentials::basic(ADMIN_USER, ADMIN_PASSWORD),
    )
    .session_cookies(false)
    .build()
    .unwrap();
    for _ in 0..5 {
        cookieless
            .table_json("sys_user")
            .unwrap()
            .first(Query::new())
            .await
            .unwrap();
    }
    assert_eq!(sn.sessions_opened() - opened, 5);
}

#[tokio::test]
async fn name_value_pairs_filter_a_list_as_sysparm_query_does() {
    let sn = demo().await;
    let all = get(&sn, "/api/now/table/sys_user").await.json()["result"]
        .as_array()
        .unwrap()
        .len();
    let one = get(
        &sn,
        &format!("/api/now/table/sys_user?user_name={ADMIN_USER}"),
    )
    .await;
    assert_eq!(one.status, 200);
    let rows = one.json()["result"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 1, "{}", one.text);
    assert_eq!(rows[0]["user_name"], ADMIN_USER);
    assert!(all > 1, "the filter did something");
    assert_eq!(one.header("x-total-count"), Some("1"));
    // Several pairs are ANDed, and work with the other parameters.
    let sys_id = rows[0]["sys_id"].as_str().unwrap();
    let both = get(
        &sn,
        &format!(
            "/api/now/table/sys_user?sys_id={sys_id}&user_name={ADMIN_USER}&sysparm_fields=user_name"
        ),
    )
    .await
    .json();
    assert_eq!(
        both["result"],
        serde_json::json!([{"user_name": ADMIN_USER}])
    );
    let none = get(
        &sn,
        &format!("/api/now/table/sys_user?sys_id={sys_id}&user_name=nobody"),
    )
    .await
    .json();
    assert_eq!(none["result"], serde_json::json!([]));
    // Mutually exclusive with sysparm_query: not guessed at, an honest 501.
    let mixed = get(
        &sn,
        &format!("/api/now/table/sys_user?sysparm_query=active=true&user_name={ADMIN_USER}"),
    )
    .await;
    assert_eq!(mixed.status, 501, "{}", mixed.text);
    assert!(mixed.text.contains("mutually exclusive"), "{}", mixed.text);
}

#[tokio::test]
async fn boolean_parameters_are_read_in_any_case() {
    let sn = demo().await;
    for (value, shaped) in [
        ("true", true),
        ("True", true),
        ("TRUE", true),
        ("yes", false),
    ] {
        let answer = get(
            &sn,
            &format!(
                "/api/now/table/sys_user_grmember?sysparm_limit=1&sysparm_exclude_reference_link={value}"
            ),
        )
        .await
        .json();
        let user = &answer["result"][0]["user"];
        assert_eq!(user.is_string(), shaped, "{value}: {user}");
    }
    for value in ["true", "True"] {
        let answer = get(
            &sn,
            &format!(
                "/api/now/table/sys_user_grmember?sysparm_limit=1&sysparm_display_value={value}"
            ),
        )
        .await
        .json();
        let user = &answer["result"][0]["user"];
        assert!(user.get("display_value").is_some(), "{value}: {user}");
    }
    let all = get(
        &sn,
        "/api/now/table/sys_user?sysparm_limit=1&sysparm_display_value=ALL",
    )
    .await;
    assert!(
        all.json()["result"][0]["sys_id"].get("value").is_some(),
        "{}",
        all.text
    );
}

#[tokio::test]
async fn tiny_urls_are_not_modelled_and_an_overlong_request_line_gets_an_html_page() {
    let sn = demo().await;
    let tiny = post(&sn, "/api/now/tinyurl", r#"{"url":"https://example.com"}"#).await;
    assert_eq!(tiny.status, 501, "{}", tiny.text);
    assert!(tiny.text.contains("Tiny URL"), "{}", tiny.text);
    let long = get(
        &sn,
        &format!(
            "/api/now/table/sys_user?sysparm_query=user_name={}",
            "x".repeat(servicenow_fake::MAX_REQUEST_LINE)
        ),
    )
    .await;
    assert_eq!(long.status, 400);
    assert!(
        long.header("content-type")
            .unwrap()
            .starts_with("text/html"),
        "not JSON: {:?}",
        long.header("content-type")
    );
    assert!(serde_json::from_str::<serde_json::Value>(&long.text).is_err());
    let short = get(&sn, "/api/now/table/sys_user?sysparm_limit=1").await;
    assert_eq!(short.status, 200, "a normal request is unaffected");
}

#[tokio::test]
async fn behind_a_tls_proxy_links_location_and_progress_urls_use_the_forwarded_origin() {
    let sn = demo().await;
    let forwarded = |method: reqwest::Method, path: &str, body: Option<&str>| {
        let mut request = reqwest::Client::new()
            .request(method, format!("{}{path}", sn.url()))
            .basic_auth(ADMIN_USER, Some(ADMIN_PASSWORD))
            .header("accept", "application/json")
            .header("x-forwarded-proto", "https")
            .header("x-forwarded-host", "acme.service-now.com, lb.internal");
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_owned());
        }
        request.send()
    };
    let created = forwarded(
        reqwest::Method::POST,
        "/api/now/table/sys_user_group",
        Some(r#"{"name": "Behind TLS"}"#),
    )
    .await
    .unwrap();
    assert_eq!(created.status(), 201);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("https://acme.service-now.com/api/now/table/sys_user_group/"),
        "{location}"
    );
    let listed = forwarded(
        reqwest::Method::GET,
        "/api/now/table/sys_user?sysparm_query=user_name=abel.tuter&sysparm_limit=1",
        None,
    )
    .await
    .unwrap();
    let link = listed.headers()["link"].to_str().unwrap().to_owned();
    assert!(link.contains("https://acme.service-now.com/"), "{link}");
    let body: serde_json::Value = listed.json().await.unwrap();
    assert!(
        body["result"][0]["manager"]["link"]
            .as_str()
            .unwrap()
            .starts_with("https://acme.service-now.com/"),
        "{body}"
    );
    let activation = forwarded(
        reqwest::Method::POST,
        "/api/sn_cicd/plugin/com.sn_openframe/activate",
        None,
    )
    .await
    .unwrap();
    let body: serde_json::Value = activation.json().await.unwrap();
    let progress = body["result"]["links"]["progress"]["url"].as_str().unwrap();
    assert!(
        progress.starts_with("https://acme.service-now.com/api/sn_cicd/progress/"),
        "{body}"
    );
}

#[tokio::test]
async fn a_user_password_is_stored_one_way_and_never_returned() {
    let sn = demo().await;
    let created = post(
        &sn,
        "/api/now/table/sys_user",
        r#"{"user_name": "new.agent", "user_password": "Cl3ar-Text-Pw"}"#,
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert!(!created.text.contains("Cl3ar-Text-Pw"), "{}", created.text);
    let stored = created.json()["result"]["user_password"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!stored.is_empty(), "the column is set, as a digest");
    let id = created.json()["result"]["sys_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let shown = get(
        &sn,
        &format!("/api/now/table/sys_user/{id}?sysparm_display_value=true"),
    )
    .await;
    assert_eq!(shown.json()["result"]["user_password"], "********");
    assert!(
        sn.table("sys_user")
            .iter()
            .all(|u| u["user_password"] != "Cl3ar-Text-Pw"),
        "not stored in clear"
    );
    // The password works for logging in, as on the platform.
    let me = reqwest::Client::new()
        .get(format!(
            "{}/api/now/table/sys_user?sysparm_limit=1",
            sn.url()
        ))
        .basic_auth("new.agent", Some("Cl3ar-Text-Pw"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    // An update is one-way too.
    let updated = send(
        &sn,
        reqwest::Method::PATCH,
        &format!("/api/now/table/sys_user/{id}"),
        Some(r#"{"user_password": "Ch4nged-Pw"}"#),
        None,
    )
    .await;
    assert!(!updated.text.contains("Ch4nged-Pw"), "{}", updated.text);
}

#[tokio::test]
async fn the_values_the_platform_computes_are_there() {
    let sn = demo().await;
    let admin = sn
        .table("sys_user")
        .into_iter()
        .find(|u| u["user_name"] == ADMIN_USER)
        .unwrap()["sys_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let incident = post(
        &sn,
        "/api/now/table/incident",
        r#"{"short_description": "Printer on fire"}"#,
    )
    .await
    .json();
    let result = &incident["result"];
    assert_eq!(result["opened_by"]["value"], admin.as_str(), "{incident}");
    assert!(
        result["opened_at"].as_str().is_some_and(|d| d.len() == 19),
        "{incident}"
    );
    assert!(
        result["number"].as_str().unwrap().starts_with("INC"),
        "{incident}"
    );
    for (table, prefix) in [
        ("problem", "PRB"),
        ("change_request", "CHG"),
        ("task", "TASK"),
    ] {
        let made = post(&sn, &format!("/api/now/table/{table}"), "{}")
            .await
            .json();
        assert!(
            made["result"]["number"]
                .as_str()
                .is_some_and(|n| n.starts_with(prefix)),
            "{table}: {made}"
        );
    }
    let user = post(
        &sn,
        "/api/now/table/sys_user",
        r#"{"user_name": "ada.l", "first_name": "Ada", "last_name": "Lovelace"}"#,
    )
    .await
    .json();
    assert_eq!(user["result"]["name"], "Ada Lovelace", "{user}");
    // A name given is kept.
    let named = post(
        &sn,
        "/api/now/table/sys_user",
        r#"{"user_name": "c.b", "first_name": "Charles", "last_name": "Babbage", "name": "Mr Babbage"}"#,
    )
    .await
    .json();
    assert_eq!(named["result"]["name"], "Mr Babbage");
}

#[tokio::test]
async fn a_write_with_input_display_values_stores_what_they_name() {
    let sn = demo().await;
    let it = sn
        .table("cmn_department")
        .into_iter()
        .find(|d| d["name"] == "IT")
        .unwrap()["sys_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let made = post(
        &sn,
        "/api/now/table/sys_user?sysparm_input_display_value=true",
        r#"{"user_name": "grace.h", "department": "IT"}"#,
    )
    .await;
    assert_eq!(made.status, 201, "{}", made.text);
    assert_eq!(made.json()["result"]["department"]["value"], it.as_str());
    // Without the parameter the text is stored as given.
    let literal = post(
        &sn,
        "/api/now/table/sys_user",
        r#"{"user_name": "grace.l", "department": "IT"}"#,
    )
    .await;
    assert_eq!(literal.json()["result"]["department"]["value"], "IT");
    // A choice by its label.
    let incident = post(
        &sn,
        "/api/now/table/incident?sysparm_input_display_value=True",
        r#"{"short_description": "x", "category": "Inquiry / Help"}"#,
    )
    .await;
    assert_eq!(
        incident.json()["result"]["category"],
        "inquiry",
        "{}",
        incident.text
    );
    // A display value that names no record: not guessed at.
    let unknown = post(
        &sn,
        "/api/now/table/sys_user?sysparm_input_display_value=true",
        r#"{"user_name": "x.y", "department": "Nowhere"}"#,
    )
    .await;
    assert_eq!(unknown.status, 501, "{}", unknown.text);
}

/// What a typical client does, against `demo_data()` as it ships: list by a
/// name–value filter, create with display values, read back in display form,
/// update, delete.
#[tokio::test]
async fn a_typical_client_session_against_the_demo_data() {
    let sn = demo().await;
    let listed = get(
        &sn,
        "/api/now/table/sys_user?user_name=abel.tuter&sysparm_display_value=True&sysparm_exclude_reference_link=True",
    )
    .await
    .json();
    let abel = &listed["result"][0];
    assert_eq!(abel["department"], "IT", "{listed}");
    assert_eq!(abel["manager"], "Beth Anglin", "{listed}");

    let created = post(
        &sn,
        "/api/now/table/incident?sysparm_input_display_value=true",
        r#"{"short_description": "VPN down", "caller_id": "Abel Tuter", "category": "Network"}"#,
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.json()["result"]["sys_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let shown = get(
        &sn,
        &format!("/api/now/table/incident/{id}?sysparm_display_value=true&sysparm_exclude_reference_link=true"),
    )
    .await
    .json();
    assert_eq!(shown["result"]["caller_id"], "Abel Tuter", "{shown}");
    assert_eq!(shown["result"]["category"], "Network", "{shown}");
    // The caller opened it (the administrator shows by its full name).
    assert_eq!(
        shown["result"]["opened_by"], "System Administrator",
        "{shown}"
    );

    let updated = send(
        &sn,
        reqwest::Method::PATCH,
        &format!("/api/now/table/incident/{id}"),
        Some(r#"{"short_description": "VPN back"}"#),
        None,
    )
    .await;
    assert_eq!(updated.status, 200);
    assert_eq!(updated.json()["result"]["short_description"], "VPN back");
    let deleted = send(
        &sn,
        reqwest::Method::DELETE,
        &format!("/api/now/table/incident/{id}"),
        None,
        None,
    )
    .await;
    assert_eq!(deleted.status, 204);
    assert_eq!(
        get(&sn, &format!("/api/now/table/incident/{id}"))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn system_dates_display_in_the_caller_s_zone_and_an_empty_zone_is_the_system_s() {
    let sn = demo().await;
    let made = post(
        &sn,
        "/api/now/table/incident",
        r#"{"short_description": "Dated"}"#,
    )
    .await
    .json();
    let id = made["result"]["sys_id"].as_str().unwrap().to_owned();
    let stored = made["result"]["sys_created_on"]
        .as_str()
        .unwrap()
        .to_owned();
    let shown_as = |user: &'static str, password: String| {
        let url = format!(
            "{}/api/now/table/incident/{id}?sysparm_display_value=true",
            sn.url()
        );
        async move {
            let text = reqwest::Client::new()
                .get(url)
                .basic_auth(user, Some(password))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            (
                v["result"]["sys_created_on"].as_str().unwrap().to_owned(),
                v["result"]["sys_updated_on"].as_str().unwrap().to_owned(),
            )
        }
    };
    // abel.tuter's zone is Etc/GMT+5: five hours behind.
    let (created, updated) = shown_as("abel.tuter", "abel.tuter-password".into()).await;
    let back = |shown: &str, hours: i64| chrono_free_parse(shown) + hours * 3600;
    assert_eq!(
        back(&created, 5),
        chrono_free_parse(&stored),
        "{created} vs {stored}"
    );
    assert_eq!(back(&updated, 5), chrono_free_parse(&stored));
    // The administrator has no zone: the system's, UTC until told otherwise.
    let (created, _) = shown_as(ADMIN_USER, ADMIN_PASSWORD.into()).await;
    assert_eq!(created, stored);
    sn.set_system_time_zone("UTC+02:00");
    let (created, _) = shown_as(ADMIN_USER, ADMIN_PASSWORD.into()).await;
    assert_eq!(
        chrono_free_parse(&created) - 2 * 3600,
        chrono_free_parse(&stored)
    );
}

/// Seconds since the epoch of a `YYYY-MM-DD hh:mm:ss` date-time (UTC).
fn chrono_free_parse(text: &str) -> i64 {
    let (date, time) = text.split_once(' ').unwrap();
    let d: Vec<i64> = date.split('-').map(|p| p.parse().unwrap()).collect();
    let t: Vec<i64> = time.split(':').map(|p| p.parse().unwrap()).collect();
    // Days from civil (Howard Hinnant's algorithm).
    let (y, m) = if d[1] <= 2 {
        (d[0] - 1, d[1] + 9)
    } else {
        (d[0], d[1] - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d[2] - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + t[0] * 3600 + t[1] * 60 + t[2]
}

/// The demo data is a developer instance as client suites expect one: the
/// administrator at its out-of-box sys_id, `problem.admin` with its role,
/// Finance, problems in every state with their labels, business rules, and log
/// and metadata tables in numbers that page.
#[tokio::test]
async fn the_demo_data_is_a_developer_instance() {
    let sn = demo().await;
    let admin = get(&sn, &format!("/api/now/table/sys_user/{ADMIN_SYS_ID}")).await;
    assert_eq!(admin.status, 200, "{}", admin.text);
    let admin = admin.json()["result"].clone();
    assert_eq!(admin["user_name"], ADMIN_USER);
    assert_eq!(admin["name"], "System Administrator");
    assert_eq!(
        (&admin["first_name"], &admin["last_name"]),
        (&"System".into(), &"Administrator".into())
    );

    // problem.admin holds problem_admin directly: asked the way a client asks.
    let grants = get(
        &sn,
        "/api/now/table/sys_user_has_role?user.user_name=problem.admin&sysparm_display_value=true&sysparm_fields=role",
    )
    .await
    .json();
    let roles: Vec<&str> = grants["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["role"]["display_value"].as_str().unwrap())
        .collect();
    assert!(roles.contains(&"problem_admin"), "{grants}");
    // A group's role reaches its members as an inherited grant.
    let inherited = get(
        &sn,
        "/api/now/table/sys_user_has_role?sysparm_query=user.user_name=abel.tuter^role.name=itil&sysparm_fields=inherited",
    )
    .await
    .json();
    assert_eq!(inherited["result"][0]["inherited"], "true", "{inherited}");

    let finance = get(
        &sn,
        "/api/now/table/sys_user?department.name=Finance&sysparm_fields=user_name",
    )
    .await
    .json();
    assert_eq!(
        finance["result"][0]["user_name"], "ron.kettering",
        "{finance}"
    );
    assert_eq!(sn.table("cmn_department").len(), DEMO_DEPARTMENTS.len());

    // Problems: every state once, shown by its label, opened by problem.admin.
    let problems = get(
        &sn,
        "/api/now/table/problem?sysparm_display_value=all&sysparm_fields=state,opened_by&sysparm_query=ORDERBYstate",
    )
    .await
    .json();
    let states: Vec<(&str, &str)> = problems["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            assert_eq!(p["opened_by"]["display_value"], "Problem Administrator");
            (
                p["state"]["value"].as_str().unwrap(),
                p["state"]["display_value"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            ("101", "New"),
            ("102", "Assess"),
            ("103", "Root Cause Analysis"),
            ("104", "Fix in Progress"),
            ("106", "Resolved"),
            ("107", "Closed"),
        ]
    );

    // Business rules are declared rows (of a metadata class).
    let rules = get(
        &sn,
        "/api/now/table/sys_script?collection=incident&sysparm_fields=name,sys_class_name,when",
    )
    .await;
    assert_eq!(rules.status, 200, "{}", rules.text);
    let rules = rules.json();
    let expected = DEMO_BUSINESS_RULES
        .iter()
        .filter(|r| r.1 == "incident")
        .count();
    assert_eq!(
        rules["result"].as_array().unwrap().len(),
        expected,
        "{rules}"
    );
    assert_eq!(rules["result"][0]["sys_class_name"], "sys_script");

    // Log and metadata tables large enough to page, counted as a client counts.
    for (table, rows) in [
        ("syslog", DEMO_SYSLOG_ROWS),
        ("sys_metadata", DEMO_METADATA_ROWS),
    ] {
        let page = get(&sn, &format!("/api/now/table/{table}?sysparm_limit=10")).await;
        assert_eq!(page.status, 200, "{table}: {}", page.text);
        assert_eq!(
            page.header("x-total-count"),
            Some(rows.to_string().as_str())
        );
        assert_eq!(page.json()["result"].as_array().unwrap().len(), 10);
        assert!(page.header("link").unwrap().contains("rel=\"next\""));
    }
    let errors = get(
        &sn,
        "/api/now/table/syslog?level=2&sysparm_limit=1&sysparm_fields=level,source",
    )
    .await;
    assert_eq!(
        errors.header("x-total-count"),
        Some((DEMO_SYSLOG_ROWS / 50).to_string().as_str())
    );
    let classes = get(
        &sn,
        "/api/now/table/sys_metadata?sysparm_query=sys_class_name=sys_script_include&sysparm_limit=1",
    )
    .await;
    assert_eq!(
        classes.header("x-total-count"),
        Some((DEMO_METADATA_ROWS / 5).to_string().as_str())
    );
}
