//! `bp-servicenow` run as a process against the fakes.
#![allow(clippy::print_stdout)] // some tests print what they tried

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use brightpattern_fake::{API_LOGIN, API_SECRET, FakeTenant};
use servicenow_client::ExposeSecret;
use servicenow_fake::{ADMIN_PASSWORD, ADMIN_USER, FakeInstance};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn config_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bp-servicenow-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn config(sn: &FakeInstance, bp: &FakeTenant) -> String {
    format!(
        "[servicenow]\ninstance = \"{}\"\n[brightpattern]\ntenant = \"{}\"\n[access]\nusers = [\"agent.1\"]\n",
        sn.url(),
        bp.url()
    )
}

/// A fake instance with the user `agent.1`, a fake tenant, and a
/// configuration file `name` that names them ([`config`]).
async fn fakes_with_config(name: &str) -> (FakeInstance, FakeTenant, PathBuf) {
    let sn = FakeInstance::start().await;
    let bp = FakeTenant::start().await;
    sn.add_user("agent.1");
    let path = config_file(name, &config(&sn, &bp));
    (sn, bp, path)
}

/// Stops fakes off the runtime's threads (their servers shut down blocking).
async fn stop<T: Send + 'static>(fakes: T) {
    tokio::task::spawn_blocking(move || drop(fakes))
        .await
        .unwrap();
}

fn run(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bp-servicenow"));
    cmd.args(args)
        .stdin(Stdio::null())
        .env_remove("SERVICENOW_INTEGRATION_USERNAME");
    for var in [
        "SERVICENOW_USERNAME",
        "SERVICENOW_PASSWORD",
        "BRIGHTPATTERN_CLIENT_ID",
        "BRIGHTPATTERN_CLIENT_SECRET",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().unwrap();
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

const ENV: [(&str, &str); 4] = [
    ("SERVICENOW_USERNAME", ADMIN_USER),
    ("SERVICENOW_PASSWORD", ADMIN_PASSWORD),
    ("BRIGHTPATTERN_CLIENT_ID", API_LOGIN),
    ("BRIGHTPATTERN_CLIENT_SECRET", API_SECRET),
];

/// The one JSON document a run printed, checked against the published schema
/// of its kind ([`assert_follows_schema`]).
fn json(run: &Run) -> serde_json::Value {
    let doc = serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "not one JSON document ({e}):\n{}\n{}",
            run.stdout, run.stderr
        )
    });
    assert_follows_schema(&doc);
    doc
}

/// The published schema of a kind (examples/schemas/<kind>.schema.json).
fn published_schema(kind: &str) -> serde_json::Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schemas")
        .join(format!("{kind}.schema.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("no published schema for kind {kind:?} ({e})"));
    serde_json::from_str(&text).unwrap()
}

/// Every object schema closed to keys it does not name, so that a key the
/// tool prints but the schema omits fails the test (the published schemas
/// stay open: adding a key keeps the version).
fn closed(schema: &mut serde_json::Value) {
    match schema {
        serde_json::Value::Object(map) => {
            if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                map.insert("additionalProperties".into(), false.into());
            }
            map.values_mut().for_each(closed);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(closed),
        _ => {}
    }
}

/// The document follows the published schema of its `kind`: the report's
/// branch, or the error document's when its status is `error`; with no key
/// the schema does not name.
fn assert_follows_schema(doc: &serde_json::Value) {
    let kind = doc["kind"]
        .as_str()
        .unwrap_or_else(|| panic!("a document without a kind: {doc}"));
    let published = published_schema(kind);
    let branch = usize::from(doc["status"] == "error");
    let mut schema = published["anyOf"][branch].clone();
    schema["$schema"] = published["$schema"].clone();
    if let Some(definitions) = published.get("$defs") {
        schema["$defs"] = definitions.clone();
    }
    closed(&mut schema);
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{e} (at {})", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "the {kind} document does not follow schemas/{kind}.schema.json:\n{}\n{doc:#}",
        errors.join("\n")
    );
}

fn assert_no_secrets(runs: &[&Run], secrets: &[&str]) {
    for run in runs {
        for secret in secrets {
            assert!(
                !run.stdout.contains(secret) && !run.stderr.contains(secret),
                "secret {secret:?} printed"
            );
        }
    }
}

/// The configuration with the integration account opted in to the SDK's
/// assumed (unverified) endpoints.
fn assumed_config(sn: &FakeInstance, bp: &FakeTenant) -> String {
    format!(
        "{}[integration_account]\napi = \"assumed\"\n",
        config(sn, bp)
    )
}

fn statuses(doc: &serde_json::Value, key: &str) -> Vec<String> {
    doc[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap().to_owned())
        .collect()
}

/// The default: the integration account is a manual step, and the tenant answers
/// any unknown endpoint with 500 as Bright Pattern documents.
#[tokio::test(flavor = "multi_thread")]
async fn every_subcommand_with_its_exit_code_and_json_shape() {
    let (sn, bp, path) = fakes_with_config("full.toml").await;
    let path = path.to_str().unwrap();

    let plan = run(&["plan", "--config", path, "--json"], &ENV);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let doc = json(&plan);
    let steps = doc["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 6);
    for s in steps {
        for key in ["step", "resource", "action", "changes"] {
            assert!(s.get(key).is_some(), "plan step lacks {key}: {s}");
        }
    }
    assert_eq!(steps[0]["step"], "plugins");
    assert_eq!(steps[5]["action"], "manual");

    // Written and proven, but a person must still create the account: exit 4.
    let apply = run(&["apply", "--yes", "--config", path, "--json"], &ENV);
    assert_eq!(apply.code, 4, "{}", apply.stderr);
    let doc = json(&apply);
    let outcomes: Vec<&str> = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        ["done", "done", "done", "done", "done", "manual"],
        "{doc}"
    );
    assert_eq!(doc["status"], "pending");
    let proofs = statuses(&doc, "proofs");
    // The four steps' proofs by effect, and the capture in the update set.
    assert_eq!(proofs.len(), 5, "{doc}");
    assert!(
        doc["proofs"][0]["check"]
            .as_str()
            .unwrap()
            .starts_with("update set \"Default\""),
        "{doc}"
    );
    assert!(proofs.iter().all(|s| s == "ok"), "{doc}");

    // Verify: every record and effect ok, the manual step pending: exit 4.
    let verify = run(&["verify", "--config", path, "--json"], &ENV);
    assert_eq!(verify.code, 4, "{}", verify.stdout);
    let doc = json(&verify);
    assert_eq!(doc["status"], "pending");
    for c in doc["checks"].as_array().unwrap() {
        for key in ["check", "status", "detail", "hint"] {
            assert!(c.get(key).is_some(), "check lacks {key}: {c}");
        }
    }
    let pending: Vec<&serde_json::Value> = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "pending")
        .collect();
    // The manual step, and the OAuth client this process cannot prove without its secret.
    assert_eq!(pending.len(), 2, "{doc}");
    assert!(pending.iter().any(|c| c["manual"].is_object()));
    let human = run(&["verify", "--config", path], &ENV);
    assert_eq!(human.code, 4);
    assert!(human.stdout.contains("[WAIT]"), "{}", human.stdout);
    assert!(
        human
            .stdout
            .contains("Configuration > Integration Accounts"),
        "the checklist is printed by verify too:\n{}",
        human.stdout
    );

    // With the client secret supplied, the OAuth client is proven as well.
    let secret = sn.table("oauth_entity")[0]["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut with_secret = ENV.to_vec();
    with_secret.push(("SERVICENOW_OAUTH_CLIENT_SECRET", &secret));
    let proven = run(&["verify", "--config", path, "--json"], &with_secret);
    assert_eq!(proven.code, 4);
    let doc = json(&proven);
    let pending: Vec<&str> = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] != "ok")
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    assert_eq!(
        pending,
        ["Bright Pattern integration account \"ServiceNow\""],
        "{doc}"
    );

    let again = run(&["apply", "--yes", "--config", path, "--json"], &ENV);
    assert_eq!(again.code, 4);
    let doc = json(&again);
    assert!(
        doc["steps"].as_array().unwrap()[..5]
            .iter()
            .all(|s| s["outcome"] == "unchanged")
    );
    assert!(
        doc["proofs"].as_array().unwrap().is_empty(),
        "nothing changed, nothing to prove"
    );

    // Drift: the CORS rule loses POST; verify says so, by record and by effect, with exit code 3.
    let admin = sn.client_as_admin();
    let rule = admin
        .cors_rules()
        .get_by_name("Bright Pattern Agent Desktop")
        .await
        .unwrap()
        .unwrap();
    admin
        .cors_rules()
        .patch(&rule.sys_id, &serde_json::json!({"post": "false"}))
        .await
        .unwrap();
    let drifted = run(&["verify", "--config", path], &ENV);
    assert_eq!(drifted.code, 3, "{}", drifted.stdout);
    assert!(
        drifted.stdout.contains("FAIL")
            && drifted
                .stdout
                .contains("post: is \"false\", the spec wants \"true\""),
        "{}",
        drifted.stdout
    );
    assert!(
        drifted.stdout.contains("CORS preflight"),
        "{}",
        drifted.stdout
    );
    assert!(
        !drifted.stdout.contains('\x1b'),
        "no colours when not on a terminal"
    );

    let human_plan = run(&["plan", "--config", path], &ENV);
    assert_eq!(human_plan.code, 0);
    let mut lines = human_plan.stdout.lines();
    assert!(
        lines
            .next()
            .is_some_and(|l| l.starts_with("ServiceNow ") && l.ends_with(" as basic")),
        "the method in use comes first: {}",
        human_plan.stdout
    );
    assert_eq!(
        lines.next(),
        Some("ServiceNow release: Washington DC Patch 4"),
        "then the instance's release: {}",
        human_plan.stdout
    );
    assert!(
        lines.next().is_some_and(|l| l.starts_with("STEP")),
        "{}",
        human_plan.stdout
    );
    assert!(
        human_plan.stdout.contains("post: \"false\" → \"true\""),
        "{}",
        human_plan.stdout
    );

    // A dry run needs no --yes, writes nothing, and says what teardown will do.
    let writes = sn.write_count();
    let dry = run(&["teardown", "--dry-run", "--config", path], &ENV);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert_eq!(sn.write_count(), writes, "{}", dry.stdout);
    assert!(
        dry.stdout
            .lines()
            .any(|l| l.starts_with("cors") && l.contains("remove") && l.contains("CORS rule")),
        "{}",
        dry.stdout
    );
    let dry_json = run(&["teardown", "--dry-run", "--config", path, "--json"], &ENV);
    assert_eq!(dry_json.code, 0, "{}", dry_json.stderr);
    let preview = json(&dry_json);
    assert_eq!(
        preview["steps"][0]["step"], "integration_account",
        "{preview}"
    );

    let teardown = run(&["teardown", "--yes", "--config", path, "--json"], &ENV);
    assert_eq!(teardown.code, 0, "{}", teardown.stderr);
    assert!(json(&teardown)["steps"].as_array().unwrap().len() == 6);
    assert_eq!(
        json(&teardown)["steps"],
        preview["steps"],
        "teardown did what its dry run said"
    );

    // Manual by default: no command ever called the undocumented endpoints.
    assert!(
        !bp.requests()
            .iter()
            .any(|r| r.endpoint == brightpattern_fake::Endpoint::IntegrationAccounts),
        "{:#?}",
        bp.requests()
    );
    assert_no_secrets(
        &[
            &plan,
            &apply,
            &verify,
            &human,
            &proven,
            &again,
            &drifted,
            &human_plan,
            &dry,
            &dry_json,
            &teardown,
        ],
        &[ADMIN_PASSWORD, API_SECRET, &secret],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn opted_in_to_the_assumed_endpoints_everything_is_ok_with_exit_0() {
    let sn = FakeInstance::start().await;
    let bp = FakeTenant::start().await;
    bp.set_integration_accounts_offered(true);
    sn.add_user("agent.1");
    let path = config_file("assumed.toml", &assumed_config(&sn, &bp));
    let path = path.to_str().unwrap();
    let apply = run(&["apply", "--yes", "--config", path, "--json"], &ENV);
    assert_eq!(apply.code, 0, "{}\n{}", apply.stdout, apply.stderr);
    assert_eq!(json(&apply)["status"], "ok");
    let secret = sn.table("oauth_entity")[0]["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut env = ENV.to_vec();
    env.push(("SERVICENOW_OAUTH_CLIENT_SECRET", &secret));
    let verify = run(&["verify", "--config", path, "--json"], &env);
    assert_eq!(verify.code, 0, "{}", verify.stdout);
    assert!(statuses(&json(&verify), "checks").iter().all(|s| s == "ok"));
    assert_no_secrets(&[&apply, &verify], &[&secret, ADMIN_PASSWORD, API_SECRET]);
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_exits_3_when_what_it_wrote_does_not_work_and_names_the_cause() {
    let sn = FakeInstance::start().await;
    let bp = FakeTenant::start().await;
    sn.add_user("agent.1");
    // The hardening guide's advice: the password grant is off.
    sn.set_property("glide.oauth.inbound.ropc.grant_type.disabled", "true");
    let path = config_file("ropc.toml", &config(&sn, &bp));
    let apply = run(
        &["apply", "--yes", "--config", path.to_str().unwrap()],
        &ENV,
    );
    assert_eq!(apply.code, 3, "{}\n{}", apply.stdout, apply.stderr);
    assert!(
        apply.stderr.contains("written, but not working")
            && apply
                .stderr
                .contains("glide.oauth.inbound.ropc.grant_type.disabled"),
        "{}",
        apply.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_generated_secret_and_refresh_token_are_never_printed() {
    let sn = FakeInstance::start().await;
    let bp = FakeTenant::start().await;
    bp.set_integration_accounts_offered(true);
    sn.add_user("agent.1");
    let path = config_file("secrets.toml", &assumed_config(&sn, &bp));
    let apply = run(
        &["apply", "--yes", "--config", path.to_str().unwrap()],
        &ENV,
    );
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    let verify = run(
        &["verify", "--config", path.to_str().unwrap(), "--json"],
        &ENV,
    );
    let client_secret = sn.table("oauth_entity")[0]["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let refresh = bp.accounts()[0]
        .refresh_token
        .as_ref()
        .unwrap()
        .expose_secret()
        .to_owned();
    assert_no_secrets(
        &[&apply, &verify],
        &[&client_secret, &refresh, ADMIN_PASSWORD, API_SECRET],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_stops_at_the_manual_step_with_exit_code_4() {
    let sn = FakeInstance::start().await;
    let bp = FakeTenant::start().await;
    sn.add_user("agent.1");
    // Opted in to the assumed endpoints, but the tenant answers them the way it
    // answers any unknown endpoint (500, empty body): the step turns manual.
    let path = config_file("manual.toml", &assumed_config(&sn, &bp));
    let apply = run(
        &["apply", "--yes", "--config", path.to_str().unwrap()],
        &ENV,
    );
    assert_eq!(apply.code, 4, "{}\n{}", apply.stdout, apply.stderr);
    assert!(
        apply.stdout.contains("answered HTTP 500"),
        "{}",
        apply.stdout
    );
    assert!(
        apply
            .stdout
            .contains("Configuration > Integration Accounts"),
        "{}",
        apply.stdout
    );
    let secret = sn.table("oauth_entity")[0]["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!apply.stdout.contains(&secret), "masked unless revealed");
    assert!(apply.stdout.contains("masked"), "{}", apply.stdout);
}

#[test]
fn missing_credentials_and_bad_configs_are_usage_errors() {
    let path = config_file(
        "plain.toml",
        "[servicenow]\ninstance = \"dev1\"\n[brightpattern]\ntenant = \"example\"\n",
    );
    let path = path.to_str().unwrap();
    let missing = run(&["plan", "--config", path], &ENV[..1]);
    assert_eq!(missing.code, 2);
    // The manual integration account (the default) needs no Bright Pattern
    // API user; the assumed endpoints do.
    assert!(
        missing
            .stderr
            .contains("missing environment variable SERVICENOW_PASSWORD ")
            && !missing.stderr.contains("BRIGHTPATTERN_CLIENT_ID"),
        "{}",
        missing.stderr
    );
    let assumed = config_file(
        "plain-assumed.toml",
        "[servicenow]\ninstance = \"dev1\"\n[brightpattern]\ntenant = \"example\"\n[integration_account]\napi = \"assumed\"\n",
    );
    let missing = run(&["plan", "--config", assumed.to_str().unwrap()], &ENV[..1]);
    assert_eq!(missing.code, 2);
    assert!(
        missing.stderr.contains(
            "missing environment variables SERVICENOW_PASSWORD, BRIGHTPATTERN_CLIENT_ID, BRIGHTPATTERN_CLIENT_SECRET"
        ),
        "every missing variable at once: {}",
        missing.stderr
    );

    let bad = config_file(
        "typo.toml",
        "[servicenow]\ninstance = \"dev1\"\n[brightpattern]\ntenant = \"example\"\n[cors]\nnmae = \"x\"\n",
    );
    let typo = run(&["plan", "--config", bad.to_str().unwrap()], &ENV);
    assert_eq!(typo.code, 2);
    assert!(typo.stderr.contains("nmae"), "{}", typo.stderr);

    let invalid = config_file(
        "invalid.toml",
        "[servicenow]\ninstance = \"http://dev1.service-now.com\"\n[brightpattern]\ntenant = \"example\"\n[openframe]\nwidth = 0\n",
    );
    let invalid = run(&["plan", "--config", invalid.to_str().unwrap()], &ENV);
    assert_eq!(invalid.code, 2);
    assert!(
        invalid.stderr.contains("servicenow.instance")
            && invalid.stderr.contains("openframe.width"),
        "{}",
        invalid.stderr
    );
    // Each semantic problem names its line; a type error says in words what
    // was expected.
    assert!(
        invalid.stderr.contains("(2 problems)")
            && invalid.stderr.contains("line 2: servicenow.instance")
            && invalid.stderr.contains("line 6: openframe.width"),
        "{}",
        invalid.stderr
    );
    let typed = config_file(
        "typed.toml",
        "[servicenow]\ninstance = \"dev1\"\n[brightpattern]\ntenant = \"example\"\n[oauth]\naccess_token_lifespan = \"long\"\n",
    );
    let typed = run(&["plan", "--config", typed.to_str().unwrap()], &ENV);
    assert_eq!(typed.code, 2);
    assert!(
        typed.stderr.contains("expected a whole number") && !typed.stderr.contains("u32"),
        "{}",
        typed.stderr
    );

    // Without --config: ./bp-servicenow.toml, and a hint at init when missing.
    let default = run(&["plan"], &ENV);
    assert_eq!(default.code, 2);
    assert!(
        default.stderr.contains("bp-servicenow.toml does not exist")
            && default.stderr.contains("bp-servicenow init"),
        "{}",
        default.stderr
    );
    assert_eq!(run(&["frobnicate"], &ENV).code, 2);
    assert_eq!(
        run(&["plan", "--config", "/no/such/file.toml"], &ENV).code,
        2
    );
    assert_eq!(run(&["--help"], &[]).code, 0);
}

#[test]
fn the_demo_runs_the_whole_job() {
    let demo = run(&["demo"], &[]);
    assert_eq!(demo.code, 0, "{}\n{}", demo.stdout, demo.stderr);
    for stage in [
        "1. plan",
        "2. apply",
        "3. verify",
        "4. confirm",
        "all 10 checks passed",
        "5. apply again",
        "6. teardown --dry-run",
        "Write requests: 0 to ServiceNow, 0 to Bright Pattern.",
        "7. teardown",
        "Demo finished",
    ] {
        assert!(
            demo.stdout.contains(stage),
            "{stage} missing:\n{}",
            demo.stdout
        );
    }
    assert!(
        demo.stdout
            .contains("Write requests: 0 to ServiceNow besides the run's lease (taken and given back), 0 to Bright Pattern.")
    );
    assert!(
        demo.stdout
            .contains("no check failed; 1 of 10 wait for a person (pending is not ok)"),
        "{}",
        demo.stdout
    );
    for effect in [
        "works end to end",
        "CORS preflight",
        "the Agent Desktop page exists",
        "every listed agent gets our OpenFrame configuration",
    ] {
        assert!(
            demo.stdout
                .lines()
                .any(|l| l.starts_with("[ ok ]") && l.contains(effect)),
            "{effect} not proven:\n{}",
            demo.stdout
        );
    }
    assert!(
        demo.stdout
            .contains("[WAIT] Bright Pattern integration account"),
        "{}",
        demo.stdout
    );
    assert!(!demo.stdout.contains(ADMIN_PASSWORD));
}

#[test]
fn the_shipped_example_config_is_valid() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/bp-servicenow.example.toml"
    ))
    .unwrap();
    let spec = brightpattern_servicenow::IntegrationSpec::from_toml(&text).unwrap();
    spec.resolve().unwrap();
}

#[test]
fn the_small_examples_run() {
    // `cargo test` builds the examples (`cargo run --example NAME`) next to the
    // test binaries: target/<profile>/examples/NAME.
    let examples = std::env::current_exe()
        .unwrap()
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join("examples");
    for (name, expect) in [
        ("activate_plugin", "again, already active: true"),
        ("grant_role_to_group", "already granted"),
        (
            "build_openframe_url",
            "topDomain=https%3A%2F%2Fdev12345.service-now.com",
        ),
        (
            "request_refresh_token",
            "test connection: true (Connection is valid)",
        ),
    ] {
        let exe = examples.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
        let out = Command::new(&exe)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("{}: {e} (built by cargo test)", exe.display()));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains(expect),
            "{name}:\n{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn another_runs_lease_is_exit_5_and_a_taken_name_exit_2() {
    let (sn, bp, path) = fakes_with_config("held.toml").await;
    let path = path.to_str().unwrap();
    // A live lease of another run, as the ledger key of this configuration names it.
    let key = brightpattern_servicenow::ledger::LedgerKey::new(
        sn.url().as_str(),
        bp.url().host(),
        &[
            "Bright Pattern Agent Desktop",
            "Bright Pattern Agent Desktop",
            "Bright Pattern",
            "ServiceNow",
        ],
    );
    sn.insert(
        "sys_properties",
        serde_json::json!({
            "name": format!("{}lease.cafe", key.prefix()),
            "value": serde_json::json!({
                "id": "cafe", "holder": "ci@runner pid 7", "operation": "apply",
                "host": "build-7",
                "since_ms": now_ms() - 60_000, "expires_ms": now_ms() + 600_000
            }).to_string(),
        }),
    );
    // Plan and the teardown preview say so (and still exit 0: they read only).
    let plan = run(&["plan", "--config", path], &ENV);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(
        plan.stdout
            .contains("note: another run holds this integration: held by ci@runner pid 7 (apply)"),
        "{}",
        plan.stdout
    );
    let plan_json = json(&run(&["plan", "--config", path, "--json"], &ENV));
    assert_eq!(
        plan_json["held_by"]["holder"], "ci@runner pid 7",
        "{plan_json}"
    );
    let preview = run(&["teardown", "--dry-run", "--config", path], &ENV);
    assert_eq!(preview.code, 0, "{}", preview.stderr);
    assert!(
        preview.stdout.contains("ci@runner pid 7"),
        "{}",
        preview.stdout
    );
    let held = run(&["apply", "--config", path, "--yes"], &ENV);
    assert_eq!(held.code, 5, "{}\n{}", held.stdout, held.stderr);
    assert!(held.stderr.contains("ci@runner pid 7"), "{}", held.stderr);
    assert!(
        sn.table("sn_openframe_configuration").is_empty(),
        "nothing written"
    );
    let teardown = run(&["teardown", "--config", path, "--yes"], &ENV);
    assert_eq!(teardown.code, 5, "{}", teardown.stderr);
    let broken = run(
        &[
            "apply",
            "--config",
            path,
            "--yes",
            "--break-lease",
            "--json",
        ],
        &ENV,
    );
    assert_eq!(broken.code, 4, "{}\n{}", broken.stdout, broken.stderr);
    // Whose lease it took: holder, operation, host, since — in JSON and for people.
    let doc = json(&broken);
    assert_eq!(doc["lease_broken"][0]["holder"], "ci@runner pid 7", "{doc}");
    assert_eq!(doc["lease_broken"][0]["host"], "build-7", "{doc}");
    assert!(
        doc["lease_broken"][0]["since_ms"].as_u64().is_some(),
        "{doc}"
    );
    assert!(doc["writes"].as_u64().unwrap() > 0, "{doc}");
    // The next apply has nothing to do: no lease, no write, and it says so.
    let again = run(&["apply", "--config", path, "--yes"], &ENV);
    assert_eq!(again.code, 4, "{}\n{}", again.stdout, again.stderr);
    assert!(again.stdout.contains("writes: none"), "{}", again.stdout);
    let again = json(&run(&["apply", "--config", path, "--yes", "--json"], &ENV));
    assert_eq!(again["writes"], 0, "{again}");
    assert_eq!(again["lease_broken"], serde_json::json!([]), "{again}");

    // A CORS rule someone else made under another name this spec wants: exit 2.
    let taken = config_file(
        "taken.toml",
        &format!("{}[cors]\nname = \"Partner portal\"\n", config(&sn, &bp)),
    );
    sn.insert(
        "sys_cors_rule",
        serde_json::json!({"name": "Partner portal", "domain": "https://partner.example.com"}),
    );
    let refused = run(
        &["apply", "--config", taken.to_str().unwrap(), "--yes"],
        &ENV,
    );
    assert_eq!(refused.code, 2, "{}\n{}", refused.stdout, refused.stderr);
    assert!(
        refused.stderr.contains("Partner portal") && refused.stderr.contains("adopt"),
        "{}",
        refused.stderr
    );
    let plan = run(&["plan", "--config", taken.to_str().unwrap()], &ENV);
    assert_eq!(plan.code, 0);
    assert!(plan.stdout.contains("refuse"), "{}", plan.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn rotate_secret_shows_the_new_secret_and_reveal_reaches_json() {
    let sn = FakeInstance::start().await;
    let bp = FakeTenant::start().await;
    sn.add_user("agent.1");
    let file = config_file("rotate.toml", &config(&sn, &bp));
    let path = file.to_str().unwrap();
    assert_eq!(run(&["apply", "--yes", "--config", path], &ENV).code, 4);
    let before = sn.table("oauth_entity")[0]["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();

    let rotated = run(
        &["rotate-secret", "--yes", "--config", path, "--json"],
        &ENV,
    );
    assert_eq!(rotated.code, 4, "{}", rotated.stderr);
    let after = sn.table("oauth_entity")[0]["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(before, after);
    let doc = json(&rotated);
    let shown = doc["manual"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["label"] == "Client Secret")
        .unwrap()["value"]
        .clone();
    assert_eq!(shown, after.as_str(), "the new secret is shown: {doc}");

    // verify --json masks it unless --reveal-secrets; with the secret supplied
    // the manual step carries it and reveal shows it in JSON too.
    let mut env = ENV.to_vec();
    env.push(("SERVICENOW_OAUTH_CLIENT_SECRET", &after));
    let masked = run(&["verify", "--config", path, "--json"], &env);
    assert!(!masked.stdout.contains(&after), "{}", masked.stdout);
    let revealed = run(
        &["verify", "--config", path, "--json", "--reveal-secrets"],
        &env,
    );
    assert!(revealed.stdout.contains(&after), "{}", revealed.stdout);
    assert_eq!(revealed.code, 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn init_writes_a_valid_starter_and_never_overwrites() {
    let sn = FakeInstance::start().await;
    let bp = FakeTenant::start().await;
    let dir = std::env::temp_dir().join(format!("bp-servicenow-init-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bp-servicenow.toml");
    let _ = std::fs::remove_file(&file);
    let path = file.to_str().unwrap();

    // Without a terminal, the flags must say what a person would be asked.
    let no_flags = run(&["init", "--config", path], &[]);
    assert_eq!(no_flags.code, 2, "{}", no_flags.stderr);
    assert!(
        no_flags.stderr.contains("--instance"),
        "{}",
        no_flags.stderr
    );
    assert!(!file.exists(), "nothing written");

    let sn_url = sn.url().to_string();
    let bp_url = bp.url().to_string();
    let init = run(
        &[
            "init",
            "--config",
            path,
            "--instance",
            &sn_url,
            "--tenant",
            &bp_url,
        ],
        &[],
    );
    assert_eq!(init.code, 0, "{}", init.stderr);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("[openframe]") && text.contains('#'),
        "commented"
    );
    // It is a configuration plan accepts.
    let plan = run(&["plan", "--config", path, "--json"], &ENV);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(json(&plan)["steps"].as_array().is_some());

    let again = run(
        &[
            "init",
            "--config",
            path,
            "--instance",
            "dev1",
            "--tenant",
            "example",
        ],
        &[],
    );
    assert_eq!(again.code, 2);
    assert!(
        again.stderr.contains("never overwrites"),
        "{}",
        again.stderr
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_terminal_writing_needs_yes_and_nothing_is_written() {
    let sn = FakeInstance::start().await;
    let bp = FakeTenant::start().await;
    sn.add_user("agent.1");
    let file = config_file("noyes.toml", &config(&sn, &bp));
    let path = file.to_str().unwrap();
    for command in ["apply", "teardown", "repair", "rotate-secret"] {
        let refused = run(&[command, "--config", path], &ENV);
        assert_eq!(refused.code, 2, "{command}: {}", refused.stderr);
        assert!(refused.stderr.contains("--yes"), "{}", refused.stderr);
    }
    assert!(
        sn.requests().is_empty() && bp.requests().is_empty(),
        "not even a read: refused before anything was sent"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn verbose_shows_the_libraries_retry_warnings() {
    let sn = FakeInstance::start().await;
    let bp = FakeTenant::start().await;
    let file = config_file("verbose.toml", &config(&sn, &bp));
    let path = file.to_str().unwrap();
    sn.inject_fault(
        servicenow_fake::Fault::RateLimited {
            retry_after: Some(0),
        },
        servicenow_fake::FaultSchedule::Nth(1),
    );
    let quiet = run(&["plan", "--config", path], &ENV);
    assert_eq!(quiet.code, 0, "{}", quiet.stderr);
    assert!(!quiet.stderr.contains("retrying"), "{}", quiet.stderr);
    assert_eq!(sn.faults_injected(), 1, "the fault fired");
    sn.inject_fault(
        servicenow_fake::Fault::RateLimited {
            retry_after: Some(0),
        },
        servicenow_fake::FaultSchedule::Nth(1),
    );
    let verbose = run(&["plan", "-v", "--config", path], &ENV);
    assert_eq!(verbose.code, 0, "{}", verbose.stderr);
    assert!(
        verbose.stderr.contains("WARN") && verbose.stderr.contains("retrying"),
        "{}",
        verbose.stderr
    );
    // Redirected to a file, the log has no colour codes; --color always asks
    // for them on both streams, --color never on none.
    assert!(!verbose.stderr.contains('\u{1b}'), "{}", verbose.stderr);
    assert!(!verbose.stdout.contains('\u{1b}'), "{}", verbose.stdout);
    sn.inject_fault(
        servicenow_fake::Fault::RateLimited {
            retry_after: Some(0),
        },
        servicenow_fake::FaultSchedule::Nth(1),
    );
    let coloured = run(&["plan", "-v", "--color", "always", "--config", path], &ENV);
    assert!(coloured.stderr.contains('\u{1b}'), "{}", coloured.stderr);
    assert!(coloured.stdout.contains('\u{1b}'), "{}", coloured.stdout);
    let never = run(&["plan", "--color", "never", "--config", path], &ENV);
    assert!(!never.stdout.contains('\u{1b}'));
    // --quiet: results only.
    sn.inject_fault(
        servicenow_fake::Fault::RateLimited {
            retry_after: Some(0),
        },
        servicenow_fake::FaultSchedule::Nth(1),
    );
    let quiet = run(&["plan", "--quiet", "--config", path], &ENV);
    assert_eq!(quiet.code, 0, "{}", quiet.stderr);
    assert_eq!(quiet.stderr, "", "nothing but results");
    assert!(
        quiet.stdout.contains("ServiceNow release"),
        "{}",
        quiet.stdout
    );
    assert_eq!(run(&["plan", "-q", "-v", "--config", path], &ENV).code, 2);
}

#[test]
fn an_unreachable_instance_is_named_with_the_cause() {
    // Port 9 (discard) on the loopback: nothing listens, the connection is refused.
    let file = config_file(
        "unreachable.toml",
        "[servicenow]\ninstance = \"http://127.0.0.1:9\"\n[brightpattern]\ntenant = \"http://127.0.0.1:9\"\n",
    );
    let failed = run(&["plan", "--config", file.to_str().unwrap()], &ENV);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    // What failed for the administrator first, then the host, then the
    // request (its long encoded query left out), then the causes.
    let first = failed.stderr.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("error: the integration's ledger (system properties) could not be read or written: could not reach 127.0.0.1:9: connection failed")
            && first.ends_with("(GET /api/now/table/sys_properties?…, 4 attempts)")
            && !first.contains("%5E")
            && failed.stderr.contains("caused by"),
        "{}",
        failed.stderr
    );
}

#[test]
fn completions_and_the_manual_page_are_printed() {
    let bash = run(&["completions", "bash"], &[]);
    assert_eq!(bash.code, 0);
    assert!(bash.stdout.contains("complete -F") && bash.stdout.contains("rotate-secret"));
    let man = run(&["man"], &[]);
    assert_eq!(man.code, 0);
    assert!(
        man.stdout.starts_with(".ie") || man.stdout.contains(".TH"),
        "{}",
        &man.stdout[..200.min(man.stdout.len())]
    );
    // Every page the tool's page names exists.
    let named: Vec<String> = man
        .stdout
        .lines()
        .filter_map(|l| l.strip_suffix("(1)"))
        .map(|l| l.replace("\\-", "-"))
        .collect();
    assert!(named.len() >= 10, "{named:?}");
    for page in &named {
        let sub = page.strip_prefix("bp-servicenow-").unwrap();
        let out = run(&["man", sub], &[]);
        assert_eq!(out.code, 0, "{page}: {}", out.stderr);
        assert!(out.stdout.contains(&format!(".TH {page} 1")), "{page}");
    }
    let dir = std::env::temp_dir().join(format!("bp-man-{}", std::process::id()));
    let out = run(&["man", "--out-dir", dir.to_str().unwrap()], &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    for page in named.iter().map(String::as_str).chain(["bp-servicenow"]) {
        assert!(dir.join(format!("{page}.1")).is_file(), "{page}.1 written");
    }
    assert_eq!(run(&["man", "nothing"], &[]).code, 2);
    let help = run(&["--help"], &[]);
    for needle in [
        "plan, apply, verify, teardown",
        "SERVICENOW_USERNAME",
        "Exit codes:",
        "bp-servicenow init",
    ] {
        assert!(help.stdout.contains(needle), "{needle}: {}", help.stdout);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn client_credentials_and_api_keys_from_the_spec_and_the_environment() {
    let sn = FakeInstance::start().await;
    let bp = FakeTenant::start().await;
    sn.add_user("agent.1");
    sn.add_user_with_password("integration.bot", "bot-password-never-shown");
    sn.grant_role_to_user("integration.bot", "admin");
    sn.register_oauth_client("Automation", "auto-id", "auto-secret-never-shown");
    sn.set_client_credentials_user("auto-id", "integration.bot");
    sn.set_property(
        "glide.oauth.inbound.client.credential.grant_type.enabled",
        "true",
    );
    let key = sn.add_api_key("integration.bot");
    let base = config(&sn, &bp);
    let with_auth =
        |auth: &str| base.replacen("[brightpattern]", &format!("{auth}\n[brightpattern]"), 1);
    let bp_env = [
        ("BRIGHTPATTERN_CLIENT_ID", API_LOGIN),
        ("BRIGHTPATTERN_CLIENT_SECRET", API_SECRET),
        ("SERVICENOW_INTEGRATION_USERNAME", "integration.bot"),
        (
            "SERVICENOW_INTEGRATION_PASSWORD",
            "bot-password-never-shown",
        ),
    ];

    let cc = config_file(
        "cc.toml",
        &with_auth("[servicenow.auth]\nmethod = \"client_credentials\"\nclient_id = \"auto-id\""),
    );
    // Every missing variable at once, with the method named.
    let missing = run(&["plan", "--config", cc.to_str().unwrap()], &[]);
    assert_eq!(missing.code, 2);
    assert!(
        missing.stderr.contains("SERVICENOW_CLIENT_SECRET")
            && missing.stderr.contains("SERVICENOW_INTEGRATION_USERNAME")
            && missing.stderr.contains("OAuth client credentials"),
        "{}",
        missing.stderr
    );
    let mut env = bp_env.to_vec();
    env.push(("SERVICENOW_CLIENT_SECRET", "auto-secret-never-shown"));
    let plan = run(&["plan", "--config", cc.to_str().unwrap(), "--json"], &env);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    // The README's promise: roles that cannot be checked are named by a warning.
    assert!(
        plan.stderr.contains("warning: run: the administrator's roles were not checked: authenticating with OAuth client credentials names no user"),
        "{}",
        plan.stderr
    );
    assert_eq!(
        json(&plan)["auth"],
        format!(
            "ServiceNow {} as OAuth client credentials (client id auto-id)",
            sn.url().as_str()
        )
    );

    let api = config_file(
        "api.toml",
        &with_auth("[servicenow.auth]\nmethod = \"api_key\""),
    );
    let mut env = bp_env.to_vec();
    env.push(("SERVICENOW_API_KEY", &key));
    let plan = run(&["plan", "--config", api.to_str().unwrap()], &env);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(
        plan.stderr
            .contains("the administrator's roles were not checked"),
        "{}",
        plan.stderr
    );
    assert!(
        plan.stdout
            .starts_with(&format!("ServiceNow {} as REST API key", sn.url().as_str()))
    );
    assert_no_secrets(
        &[&plan, &missing],
        &[&key, "auto-secret-never-shown", "bot-password-never-shown"],
    );

    // JWT bearer: the key file signs, the instance verifies with its public half.
    let keys = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../servicenow-client/tests/jwt/"
    );
    sn.register_jwt_key(
        "auto-id",
        "bp-key-1",
        &std::fs::read_to_string(format!("{keys}signing.pub")).unwrap(),
    );
    let jwt = config_file(
        "jwt.toml",
        &with_auth(&format!(
            "[servicenow.auth]\nmethod = \"jwt\"\nclient_id = \"auto-id\"\nkey_file = \"{keys}signing.key\"\nkey_id = \"bp-key-1\"\nsubject = \"integration.bot\""
        )),
    );
    let mut env = bp_env.to_vec();
    env.push(("SERVICENOW_CLIENT_SECRET", "auto-secret-never-shown"));
    let plan = run(&["plan", "--config", jwt.to_str().unwrap()], &env);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(
        plan.stdout.lines().next().is_some_and(|l| l
            .contains("OAuth JWT bearer (client id auto-id, key bp-key-1, as integration.bot)")),
        "{}",
        plan.stdout
    );
    assert!(!plan.stdout.contains("PRIVATE KEY") && !plan.stderr.contains("PRIVATE KEY"));
}

#[test]
fn a_tls_file_that_cannot_be_read_is_a_usage_error_naming_it() {
    let file = config_file(
        "tls.toml",
        "[servicenow]\ninstance = \"dev1\"\n[servicenow.tls]\nroot_certificates = \"/no/such/corp-root.pem\"\n[brightpattern]\ntenant = \"example\"\n",
    );
    let run = run(&["plan", "--config", file.to_str().unwrap()], &ENV);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("servicenow.tls.root_certificates: the servicenow.tls.root_certificates file /no/such/corp-root.pem does not exist"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fleet_runs_every_row_and_its_exit_code_sums_them_up() {
    let mut pairs = Vec::new();
    for _ in 0..3 {
        let sn = FakeInstance::start().await;
        let bp = FakeTenant::start().await;
        bp.set_integration_accounts_offered(true);
        sn.add_user("agent.1");
        pairs.push((sn, bp));
    }
    let template = config_file(
        "fleet-template.toml",
        "[servicenow]\ninstance = \"template\"\n[brightpattern]\ntenant = \"template\"\n[access]\nusers = [\"agent.1\"]\n[integration_account]\napi = \"assumed\"\n",
    );
    // Row b reads a credentials file; row c's variables are missing.
    let creds = config_file(
        "fleet-b.env",
        &format!(
            "# row b\nSERVICENOW_USERNAME={ADMIN_USER}\nSERVICENOW_PASSWORD=\"{ADMIN_PASSWORD}\"\nBRIGHTPATTERN_CLIENT_ID={API_LOGIN}\nBRIGHTPATTERN_CLIENT_SECRET={API_SECRET}\n"
        ),
    );
    let mut inventory = format!(
        "template = \"{}\"\nconcurrency = 2\n",
        template.file_name().unwrap().to_str().unwrap()
    );
    for (name, (sn, bp)) in ["a", "b", "c"].iter().zip(&pairs) {
        let source = match *name {
            "b" => format!(
                "credentials_file = \"{}\"",
                creds.file_name().unwrap().to_str().unwrap()
            ),
            other => format!("env_prefix = \"{}_\"", other.to_uppercase()),
        };
        inventory.push_str(&format!(
            "[[row]]\nname = \"{name}\"\ninstance = \"{}\"\ntenant = \"{}\"\n{source}\n",
            sn.url(),
            bp.url()
        ));
    }
    let inventory = config_file("fleet.toml", &inventory);
    let inventory = inventory.to_str().unwrap();
    let a_env: Vec<(String, &str)> = ENV.iter().map(|(k, v)| (format!("A_{k}"), *v)).collect();
    let a_env: Vec<(&str, &str)> = a_env.iter().map(|(k, v)| (k.as_str(), *v)).collect();

    let plan = run(
        &["fleet", "plan", "--inventory", inventory, "--json"],
        &a_env,
    );
    assert_eq!(plan.code, 3, "{}\n{}", plan.stdout, plan.stderr);
    let doc = json(&plan);
    assert_eq!(doc["operation"], "plan");
    assert_eq!(doc["rows"][0]["outcome"], "changes");
    assert_eq!(doc["rows"][1]["outcome"], "changes");
    assert_eq!(doc["rows"][2]["outcome"], "not_started");
    assert!(
        doc["rows"][2]["summary"]
            .as_str()
            .unwrap()
            .contains("C_SERVICENOW_PASSWORD"),
        "{doc}"
    );
    assert_eq!(
        doc["rows"][0]["report"]["release"]["family"],
        "WashingtonDc"
    );

    // Only the rows named; a name the inventory lacks is a usage error.
    let only_a = run(
        &[
            "fleet",
            "plan",
            "--inventory",
            inventory,
            "--row",
            "a",
            "--json",
        ],
        &a_env,
    );
    assert_eq!(only_a.code, 0, "{}\n{}", only_a.stdout, only_a.stderr);
    assert_eq!(json(&only_a)["rows"].as_array().unwrap().len(), 1);
    let unknown = run(
        &["fleet", "plan", "--inventory", inventory, "--row", "zz"],
        &a_env,
    );
    assert_eq!(unknown.code, 2, "{}", unknown.stderr);
    assert!(
        unknown.stderr.contains("no row named zz"),
        "{}",
        unknown.stderr
    );

    // Writing without a terminal needs --yes; nothing is written.
    let refused = run(&["fleet", "apply", "--inventory", inventory], &a_env);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(pairs[0].0.table("sn_openframe_configuration").is_empty());

    let mut env = a_env.clone();
    let c_env: Vec<(String, &str)> = ENV.iter().map(|(k, v)| (format!("C_{k}"), *v)).collect();
    env.extend(c_env.iter().map(|(k, v)| (k.as_str(), *v)));
    let apply = run(&["fleet", "apply", "--inventory", inventory, "--yes"], &env);
    assert_eq!(apply.code, 0, "{}\n{}", apply.stdout, apply.stderr);
    assert!(apply.stdout.contains("apply 3 rows"), "{}", apply.stdout);
    for (sn, _) in &pairs {
        assert_eq!(sn.table("sn_openframe_configuration").len(), 1);
    }
    let plan = run(&["fleet", "plan", "--inventory", inventory], &env);
    assert_eq!(plan.code, 0, "{}", plan.stdout);
    assert!(plan.stdout.contains("3 ok"), "{}", plan.stdout);

    // Teardown: a dry run first (reads only, no --yes), then for real.
    let misplaced = run(
        &["fleet", "apply", "--inventory", inventory, "--dry-run"],
        &env,
    );
    assert_eq!(misplaced.code, 2, "{}", misplaced.stderr);
    let writes: Vec<usize> = pairs.iter().map(|(sn, _)| sn.write_count()).collect();
    let dry = run(
        &[
            "fleet",
            "teardown",
            "--dry-run",
            "--inventory",
            inventory,
            "--json",
        ],
        &env,
    );
    assert_eq!(dry.code, 0, "{}\n{}", dry.stdout, dry.stderr);
    let doc = json(&dry);
    assert_eq!(doc["operation"], "teardown_plan");
    for row in doc["rows"].as_array().unwrap() {
        assert_eq!(row["outcome"], "changes", "{row}");
        assert!(
            row["summary"].as_str().unwrap().starts_with("would remove"),
            "{row}"
        );
    }
    assert_eq!(
        pairs
            .iter()
            .map(|(sn, _)| sn.write_count())
            .collect::<Vec<_>>(),
        writes,
        "a dry run writes nothing"
    );
    let refused = run(&["fleet", "teardown", "--inventory", inventory], &env);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    let teardown = run(
        &["fleet", "teardown", "--inventory", inventory, "--yes"],
        &env,
    );
    assert_eq!(teardown.code, 0, "{}\n{}", teardown.stdout, teardown.stderr);
    for (sn, _) in &pairs {
        assert!(sn.table("sn_openframe_configuration").is_empty());
    }
    assert_no_secrets(
        &[&plan, &apply, &dry, &teardown],
        &[ADMIN_PASSWORD, API_SECRET],
    );
    stop(pairs).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_shows_the_release_and_a_preflight_refusal_is_exit_2() {
    let sn = FakeInstance::start().await;
    let bp = FakeTenant::start().await;
    sn.add_user("agent.1");
    sn.add_user_with_password("ops", "ops-password-never-shown");
    let path = config_file("release.toml", &config(&sn, &bp));
    let path = path.to_str().unwrap();
    let plan = run(&["plan", "--config", path], &ENV);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(
        plan.stdout
            .contains("ServiceNow release: Washington DC Patch 4"),
        "{}",
        plan.stdout
    );
    let mut env = ENV.to_vec();
    env[0] = ("SERVICENOW_USERNAME", "ops");
    env[1] = ("SERVICENOW_PASSWORD", "ops-password-never-shown");
    let apply = run(&["apply", "--config", path, "--yes"], &env);
    assert_eq!(apply.code, 2, "{}\n{}", apply.stdout, apply.stderr);
    assert!(
        apply.stderr.contains("ops lacks roles") && apply.stderr.contains("admin or oauth_admin"),
        "{}",
        apply.stderr
    );
    assert!(sn.table("sn_openframe_configuration").is_empty());
}

/// Now, in UNIX milliseconds (for lease rows a test writes).
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fleet_breaks_a_dead_run_s_lease_only_when_asked_and_says_whose() {
    let sn = FakeInstance::start().await;
    let bp = FakeTenant::start().await;
    sn.add_user("agent.1");
    let template = config_file(
        "fleet-lease-template.toml",
        "[servicenow]\ninstance = \"template\"\n[brightpattern]\ntenant = \"template\"\n[access]\nusers = [\"agent.1\"]\n",
    );
    let inventory = config_file(
        "fleet-lease.toml",
        &format!(
            "template = \"{}\"\n[[row]]\nname = \"a\"\ninstance = \"{}\"\ntenant = \"{}\"\nenv_prefix = \"A_\"\n",
            template.file_name().unwrap().to_str().unwrap(),
            sn.url(),
            bp.url()
        ),
    );
    let inventory = inventory.to_str().unwrap();
    let env: Vec<(String, &str)> = ENV.iter().map(|(k, v)| (format!("A_{k}"), *v)).collect();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    // The lease a killed fleet run left on the row.
    let key = brightpattern_servicenow::ledger::LedgerKey::new(
        sn.url().as_str(),
        bp.url().host(),
        &[
            "Bright Pattern Agent Desktop",
            "Bright Pattern Agent Desktop",
            "Bright Pattern",
            "ServiceNow",
        ],
    );
    sn.insert(
        "sys_properties",
        serde_json::json!({
            "name": format!("{}lease.dead", key.prefix()),
            "value": serde_json::json!({
                "id": "dead", "holder": "ops (pid 41)", "operation": "apply", "host": "jump-1",
                "since_ms": now_ms() - 60_000, "expires_ms": now_ms() + 540_000
            }).to_string(),
        }),
    );

    sn.clear_requests();
    let locked = run(
        &[
            "fleet",
            "apply",
            "--inventory",
            inventory,
            "--yes",
            "--json",
        ],
        &env,
    );
    assert_eq!(locked.code, 5, "{}\n{}", locked.stdout, locked.stderr);
    assert_eq!(json(&locked)["rows"][0]["outcome"], "locked");
    assert!(
        sn.requests().iter().all(|r| r.method == "GET"),
        "a locked row writes nothing, not even a claim"
    );

    let misplaced = run(
        &["fleet", "plan", "--inventory", inventory, "--break-lease"],
        &env,
    );
    assert_eq!(misplaced.code, 2, "{}", misplaced.stderr);

    let broken = run(
        &[
            "fleet",
            "apply",
            "--inventory",
            inventory,
            "--yes",
            "--break-lease",
            "--json",
        ],
        &env,
    );
    assert_eq!(broken.code, 4, "{}\n{}", broken.stdout, broken.stderr);
    let row = &json(&broken)["rows"][0];
    assert_eq!(row["lease_broken"][0]["holder"], "ops (pid 41)", "{row}");
    assert_eq!(row["lease_broken"][0]["host"], "jump-1", "{row}");
    assert!(
        row["summary"]
            .as_str()
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .contains("took over the lease of ops (pid 41) (apply) on jump-1 since"),
        "{row}"
    );
    let table = run(&["fleet", "plan", "--inventory", inventory], &env);
    assert_eq!(table.code, 0, "{}\n{}", table.stdout, table.stderr);
    stop((sn, bp)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_account_name_that_collapses_its_url_is_a_usage_error_before_any_request() {
    let sn = FakeInstance::start().await;
    let bp = FakeTenant::start().await;
    bp.set_integration_accounts_offered(true);
    sn.add_user("agent.1");
    for name in [".", ".."] {
        let file = config_file(
            "dot-account.toml",
            &format!(
                "{}[integration_account]\nname = \"{name}\"\napi = \"assumed\"\n",
                config(&sn, &bp)
            ),
        );
        for command in ["plan", "apply", "teardown"] {
            let mut args = vec![command, "--config", file.to_str().unwrap()];
            if command != "plan" {
                args.push("--yes");
            }
            let out = run(&args, &ENV);
            assert_eq!(out.code, 2, "{command} {name:?}: {}", out.stderr);
            assert!(
                out.stderr.contains("integration_account.name"),
                "{command}: {}",
                out.stderr
            );
        }
    }
    assert!(bp.requests().is_empty(), "{:?}", bp.requests());
    assert!(
        sn.requests().is_empty(),
        "nothing asked of the instance either"
    );
    stop((sn, bp)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_and_apply_name_the_update_set_the_configuration_lands_in() {
    let sn = FakeInstance::start().await;
    let bp = FakeTenant::start().await;
    sn.add_user("agent.1");
    let plain = config_file("no-update-set.toml", &config(&sn, &bp));
    let plan = run(
        &["plan", "--config", plain.to_str().unwrap(), "--json"],
        &ENV,
    );
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let doc = json(&plan);
    assert_eq!(doc["update_set"]["name"], "Default", "{doc}");
    assert_eq!(doc["update_set"]["chosen_by"], "default", "{doc}");
    assert_eq!(doc["writes"], 0, "{doc}");

    let text = config(&sn, &bp).replacen(
        "[brightpattern]",
        "update_set = \"BP release\"\n[brightpattern]",
        1,
    );
    let named = config_file("update-set.toml", &text);
    let path = named.to_str().unwrap();
    let plan = run(&["plan", "--config", path], &ENV);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(
        plan.stdout.contains(
            "update set: \"BP release\" (named by the spec; a new set, made in progress by the writing run)"
        ),
        "{}",
        plan.stdout
    );
    let apply = run(&["apply", "--config", path, "--yes", "--json"], &ENV);
    assert_eq!(apply.code, 4, "{}\n{}", apply.stdout, apply.stderr);
    let doc = json(&apply);
    assert_eq!(doc["update_set"]["chosen_by"], "spec", "{doc}");
    assert_eq!(doc["update_set"]["proven"], true, "{doc}");
    assert_eq!(doc["update_set"]["created"], true, "{doc}");
    assert!(doc["writes"].as_u64().unwrap() > 0, "{doc}");
    let again = run(&["apply", "--config", path, "--yes"], &ENV);
    assert_eq!(again.code, 4, "{}", again.stderr);
    assert!(again.stdout.contains("writes: none"), "{}", again.stdout);
    stop((sn, bp)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_instance_that_echoes_the_request_gets_no_secret_printed() {
    use base64::Engine as _;
    use bpsn_fake::echo::{Echo, EchoShape};
    let bp = FakeTenant::start().await;
    let mut tried = 0;
    for shape in EchoShape::ALL {
        let server = wiremock::MockServer::start().await;
        wiremock::Mock::given(wiremock::matchers::any())
            .respond_with(Echo::new(500, shape))
            .mount(&server)
            .await;
        let key_file = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../servicenow-client/tests/jwt/signing.key"
        );
        for auth in [
            String::new(),
            "[servicenow.auth]\nmethod = \"password\"\nclient_id = \"cid\"\n".to_owned(),
            "[servicenow.auth]\nmethod = \"client_credentials\"\nclient_id = \"cid\"\n".to_owned(),
            format!(
                "[servicenow.auth]\nmethod = \"jwt\"\nclient_id = \"cid\"\nkey_file = \"{key_file}\"\nkey_id = \"k1\"\nsubject = \"bot\"\n"
            ),
            "[servicenow.auth]\nmethod = \"api_key\"\n".to_owned(),
        ] {
            let file = config_file(
                "echo.toml",
                &format!(
                    "[servicenow]\ninstance = \"{}\"\n{auth}[brightpattern]\ntenant = \"{}\"\n",
                    server.uri(),
                    bp.url()
                ),
            );
            let path = file.to_str().unwrap();
            let basic = base64::engine::general_purpose::STANDARD
                .encode(format!("{ADMIN_USER}:{ADMIN_PASSWORD}"));
            let mut env = ENV.to_vec();
            env.extend([
                ("SERVICENOW_CLIENT_SECRET", "echoed-client-secret-0001"),
                ("SERVICENOW_API_KEY", "echoed-api-key-0002"),
                ("SERVICENOW_INTEGRATION_USERNAME", "bot"),
                (
                    "SERVICENOW_INTEGRATION_PASSWORD",
                    "echoed-integration-pw-0003",
                ),
            ]);
            for (args, log) in [
                (vec!["plan", "--config", path], None),
                (vec!["plan", "--config", path, "--json"], None),
                (vec!["-vvv", "plan", "--config", path], None),
                (vec!["verify", "--config", path, "--json"], Some("trace")),
                (vec!["apply", "--config", path, "--yes"], Some("trace")),
            ] {
                env.retain(|(k, _)| *k != "RUST_LOG");
                if let Some(level) = log {
                    env.push(("RUST_LOG", level));
                }
                let out = run(&args, &env);
                assert_ne!(out.code, 0, "{args:?}: the echo is an error");
                let all = format!("{}{}", out.stdout, out.stderr);
                assert!(
                    all.contains("500") || all.contains("Internal error"),
                    "{args:?}: {all}"
                );
                for secret in [
                    ADMIN_PASSWORD,
                    basic.as_str(),
                    API_SECRET,
                    "echoed-client-secret-0001",
                    "echoed-api-key-0002",
                    "echoed-integration-pw-0003",
                ] {
                    assert!(
                        !all.contains(secret),
                        "{shape:?} {auth} {args:?}: {secret} in\n{all}"
                    );
                }
                tried += 1;
            }
        }
        assert!(
            server
                .received_requests()
                .await
                .unwrap()
                .iter()
                .any(|r| r.headers.get("authorization").is_some()),
            "the credentials were sent to be echoed"
        );
    }
    println!("echoing instance: {tried} runs, secrets printed: 0");
    stop(bp).await;
}

#[test]
fn hostile_local_files_are_refused_before_reading_and_paths_resolve_beside_the_file() {
    let dir = std::env::temp_dir().join(format!("bp-servicenow-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // A FIFO (reading one would hang), a directory, a device, a sparse 17 MiB file.
    let fifo = dir.join("config.fifo");
    let _ = std::fs::remove_file(&fifo);
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let huge = dir.join("huge.toml");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(17 * 1024 * 1024)
        .unwrap();
    let mut tried = 0;
    for (path, expect) in [
        (fifo.to_str().unwrap(), "FIFO"),
        (dir.to_str().unwrap(), "a directory"),
        ("/dev/zero", "a device"),
        (huge.to_str().unwrap(), "larger than 16 MiB"),
    ] {
        let started = std::time::Instant::now();
        let out = run(&["plan", "--config", path], &ENV);
        assert_eq!(out.code, 2, "{path}: {}", out.stderr);
        assert!(out.stderr.contains(expect), "{path}: {}", out.stderr);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "{path} was read"
        );
        tried += 1;
    }
    // As the fleet's template and credentials file, and as a TLS or key file.
    for (inventory, expect) in [
        (
            "template = \"/dev/zero\"\n[[row]]\nname = \"a\"\ninstance = \"dev1\"\ntenant = \"t\"\n".to_owned(),
            "a device",
        ),
        (
            format!(
                "template = \"{}\"\n[[row]]\nname = \"a\"\ninstance = \"dev1\"\ntenant = \"t\"\ncredentials_file = \"/dev/zero\"\n",
                config_file("files-template.toml", "[servicenow]\ninstance = \"x\"\n[brightpattern]\ntenant = \"x\"\n")
                    .to_str()
                    .unwrap()
            ),
            "a device",
        ),
    ] {
        let file = config_file("files-inventory.toml", &inventory);
        let out = run(
            &["fleet", "plan", "--inventory", file.to_str().unwrap(), "--json"],
            &ENV,
        );
        let all = format!("{}{}", out.stdout, out.stderr);
        assert!(all.contains(expect), "{inventory}: {all}");
        tried += 1;
    }
    let tls = config_file(
        "files-tls.toml",
        "[servicenow]\ninstance = \"dev1\"\n[servicenow.tls]\nroot_certificates = \"/dev/zero\"\n[brightpattern]\ntenant = \"t\"\n",
    );
    let out = run(&["plan", "--config", tls.to_str().unwrap()], &ENV);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("a device"), "{}", out.stderr);
    tried += 1;

    // key_file is taken from the configuration's folder, not the working directory.
    let sub = dir.join("etc");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::write(sub.join("bp-jwt.key"), "not a key").unwrap();
    let jwt = sub.join("jwt.toml");
    std::fs::write(
        &jwt,
        "[servicenow]\ninstance = \"dev1\"\n[servicenow.auth]\nmethod = \"jwt\"\nclient_id = \"cid\"\nkey_file = \"bp-jwt.key\"\nkey_id = \"k1\"\nsubject = \"bot\"\n[brightpattern]\ntenant = \"t\"\n",
    )
    .unwrap();
    let mut env = ENV.to_vec();
    env.push(("SERVICENOW_CLIENT_SECRET", "s"));
    env.push(("SERVICENOW_INTEGRATION_USERNAME", "bot"));
    env.push(("SERVICENOW_INTEGRATION_PASSWORD", "p"));
    let out = run(&["plan", "--config", jwt.to_str().unwrap()], &env);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains(&format!("({})", sub.join("bp-jwt.key").display())),
        "read beside the file, and found not to be a key: {}",
        out.stderr
    );
    tried += 1;
    println!("hostile local files tried: {tried}, each refused with exit 2 before reading");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_file_given_in_the_wrong_role_is_named_without_quoting_its_secrets() {
    let creds = config_file(
        "wrong-role.env",
        "SERVICENOW_USERNAME=admin\nSERVICENOW_PASSWORD=never-quoted-pw\nBRIGHTPATTERN_CLIENT_SECRET=never-quoted-bp\n",
    );
    let path = creds.to_str().unwrap();
    let as_spec = run(&["plan", "--config", path], &ENV);
    let inventory = config_file(
        "wrong-role-inventory.toml",
        &format!(
            "template = \"{path}\"\n[[row]]\nname = \"a\"\ninstance = \"dev1\"\ntenant = \"t\"\n"
        ),
    );
    let as_template = run(
        &["fleet", "plan", "--inventory", inventory.to_str().unwrap()],
        &ENV,
    );
    let as_inventory = run(&["fleet", "plan", "--inventory", path], &ENV);
    for out in [&as_spec, &as_template, &as_inventory] {
        assert_eq!(out.code, 2, "{}", out.stderr);
        assert!(out.stderr.contains("credentials file"), "{}", out.stderr);
        for secret in ["never-quoted-pw", "never-quoted-bp"] {
            assert!(!out.stderr.contains(secret) && !out.stdout.contains(secret));
        }
    }
}

/// The tool registers no steps of its own, so a `[steps.…]` section (a step of
/// a Rust user's) is refused as a configuration error before any request.
#[tokio::test(flavor = "multi_thread")]
async fn a_section_for_a_step_the_tool_does_not_have_is_exit_2_before_any_request() {
    let sn = FakeInstance::start().await;
    let bp = FakeTenant::start().await;
    let file = config_file(
        "own-step.toml",
        &format!(
            "{}[steps.agent_group]\nname = \"Agents\"\n",
            config(&sn, &bp)
        ),
    );
    for command in ["plan", "verify", "apply"] {
        let mut args = vec![command, "--config", file.to_str().unwrap()];
        if command == "apply" {
            args.push("--yes");
        }
        let out = run(&args, &ENV);
        assert_eq!(out.code, 2, "{command}: {}", out.stderr);
        assert!(
            out.stderr.contains("[steps.agent_group]"),
            "{command}: {}",
            out.stderr
        );
    }
    assert!(sn.requests().is_empty(), "{:?}", sn.requests());
    assert!(bp.requests().is_empty());
    stop((sn, bp)).await;
}

/// The machine contract: every JSON document of every command carries
/// `schema_version`, `kind` and `status`, keys are stable, an error under
/// `--json` is a document on standard output, and `plan --detailed-exitcode`
/// exits 6 when apply would change something.
#[tokio::test(flavor = "multi_thread")]
async fn every_json_document_carries_its_kind_status_and_schema_version() {
    let (sn, bp, path) = fakes_with_config("contract.toml").await;
    let path = path.to_str().unwrap();
    // Every kind of document is printed here, each checked against its
    // published schema by `json` (the report's branch, or the error's).
    let seen = std::cell::RefCell::new(std::collections::BTreeSet::new());
    let document = |args: &[&str], code: i32, kind: &str, status: &str| {
        let out = run(args, &ENV);
        assert_eq!(out.code, code, "{args:?}: {}\n{}", out.stdout, out.stderr);
        let doc = json(&out);
        assert_eq!(doc["schema_version"], 1, "{args:?}: {doc}");
        assert_eq!(doc["kind"], kind, "{args:?}: {doc}");
        assert_eq!(doc["status"], status, "{args:?}: {doc}");
        seen.borrow_mut().insert(kind.to_owned());
        doc
    };

    let saved = config_file("contract.plan.json", "");
    let plan = document(
        &[
            "plan",
            "--config",
            path,
            "--json",
            "--out",
            saved.to_str().unwrap(),
        ],
        0,
        "plan",
        "ok",
    );
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    assert_follows_schema(&saved);
    assert_eq!(saved["kind"], "saved-plan");
    assert_eq!(saved["plan"]["steps"], plan["steps"]);
    seen.borrow_mut().insert("saved-plan".to_owned());
    assert_eq!(plan["changes"], true);
    assert_eq!(plan["refusals"], serde_json::json!([]), "empty lists stay");
    assert_eq!(
        plan["held_by"],
        serde_json::Value::Null,
        "missing values are null"
    );
    let detailed = run(&["plan", "--config", path, "--detailed-exitcode"], &ENV);
    assert_eq!(detailed.code, 6, "{}", detailed.stderr);
    document(
        &["plan", "--config", path, "--json", "--detailed-exitcode"],
        6,
        "plan",
        "ok",
    );

    document(
        &["apply", "--config", path, "--yes", "--json"],
        4,
        "apply",
        "pending",
    );
    let plan = document(
        &["plan", "--config", path, "--json", "--detailed-exitcode"],
        0,
        "plan",
        "ok",
    );
    assert_eq!(plan["changes"], false);
    document(
        &["verify", "--config", path, "--json"],
        4,
        "verify",
        "pending",
    );
    let preview = document(
        &["teardown", "--config", path, "--dry-run", "--json"],
        0,
        "teardown-plan",
        "ok",
    );
    assert_eq!(preview["changes"], true);
    document(
        &["rotate-secret", "--config", path, "--yes", "--json"],
        4,
        "rotate-secret",
        "pending",
    );
    document(
        &["repair", "--config", path, "--yes", "--json"],
        0,
        "repair",
        "ok",
    );
    let confirmed = document(
        &[
            "confirm",
            "integration_account",
            "--by",
            "ops",
            "--config",
            path,
            "--yes",
            "--json",
        ],
        0,
        "confirm",
        "ok",
    );
    assert_eq!(confirmed["step"], "integration_account");
    // A fleet of one row over the same spec: its row carries the row's own
    // verify document, checked by the fleet schema's row branch.
    let inventory = config_file(
        "contract-fleet.toml",
        &format!(
            "template = \"contract.toml\"\n[[row]]\nname = \"only\"\ninstance = \"{}\"\ntenant = \"{}\"\n",
            sn.url(),
            bp.url()
        ),
    );
    let fleet = document(
        &[
            "fleet",
            "verify",
            "--inventory",
            inventory.to_str().unwrap(),
            "--json",
        ],
        4,
        "fleet",
        "pending",
    );
    assert_eq!(fleet["rows"][0]["report"]["kind"], "verify", "{fleet}");
    document(
        &["teardown", "--config", path, "--yes", "--json"],
        0,
        "teardown",
        "ok",
    );

    // A failure under --json: standard output still holds one document.
    let missing = document(
        &["plan", "--config", "/no/such/bp.toml", "--json"],
        2,
        "plan",
        "error",
    );
    assert_eq!(missing["exit_code"], 2);
    assert!(
        missing["error"]
            .as_str()
            .unwrap()
            .contains("does not exist"),
        "{missing}"
    );
    let published: std::collections::BTreeSet<String> =
        std::fs::read_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter_map(|name| name.strip_suffix(".schema.json").map(str::to_owned))
            .collect();
    assert_eq!(
        *seen.borrow(),
        published,
        "every published kind is printed here"
    );
    stop((sn, bp)).await;
}

/// The OAuth secret is shown once, where it is born: on a terminal, the apply
/// that creates the application shows it in the checklist; piped, it is masked
/// and the mask names the flag; a later run points at rotate-secret.
#[tokio::test(flavor = "multi_thread")]
async fn the_secret_is_shown_on_a_terminal_by_the_run_that_creates_it() {
    let (sn, bp, path) = fakes_with_config("born.toml").await;
    let path = path.to_str().unwrap();
    // `script` gives the program a terminal for standard output.
    let bin = env!("CARGO_BIN_EXE_bp-servicenow");
    let mut cmd = Command::new("script");
    cmd.args(["-q", "-e", "-c"])
        .arg(format!("{bin} apply --yes --config {path}"))
        .arg("/dev/null")
        .stdin(Stdio::null())
        .env("NO_COLOR", "1");
    for (k, v) in ENV {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("script(1) runs the tool on a terminal");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(4), "{shown}");
    let secret = sn.table("oauth_entity")[0]["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(shown.contains(&secret), "shown once on a terminal: {shown}");

    // Piped, a later run cannot know it and says how to get a new one.
    let later = run(&["apply", "--yes", "--config", path], &ENV);
    assert!(!later.stdout.contains(&secret));
    assert!(
        later
            .stdout
            .contains("`bp-servicenow rotate-secret` makes a new one"),
        "{}",
        later.stdout
    );
    // Piped, the run that rotates it masks nothing (showing it is the point),
    // and a run that knows a secret but is piped names the flag.
    let rotated = run(&["rotate-secret", "--yes", "--config", path], &ENV);
    assert_eq!(rotated.code, 4, "{}", rotated.stderr);
    assert!(!rotated.stdout.contains("masked"), "{}", rotated.stdout);
    assert!(brightpattern_servicenow::report::MASK.contains("--reveal-secrets"));
    stop((sn, bp)).await;
}

/// On a terminal, `init` asks for the ServiceNow instance and the Bright
/// Pattern tenant by their names, and asks again on an empty answer.
#[test]
fn init_asks_for_each_platform_by_name_and_again_on_an_empty_answer() {
    let dir = std::env::temp_dir().join(format!("bp-init-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("asked.toml");
    let _ = std::fs::remove_file(&file);
    let bin = env!("CARGO_BIN_EXE_bp-servicenow");
    let mut child = Command::new("script")
        .args(["-q", "-e", "-c"])
        // No echo: the answers typed ahead would otherwise land amid the prompts.
        .arg(format!(
            "stty -echo; {bin} init --config {}",
            file.display()
        ))
        .arg("/dev/null")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("script(1) runs the tool on a terminal");
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"\ndev12345\n\nexample\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    for prompt in [
        "ServiceNow instance (for example dev12345): ",
        "the ServiceNow instance is needed",
        "Bright Pattern tenant (for example example): ",
        "the Bright Pattern tenant is needed",
    ] {
        assert!(shown.contains(prompt), "{prompt:?} in {shown}");
    }
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(written.contains("instance = \"dev12345\""), "{written}");
    assert!(written.contains("tenant = \"example\""), "{written}");
}

/// The manual step is finished by a person's word: `confirm` records it,
/// verify (with the client secret, so the OAuth proof runs) exits 0, and
/// teardown forgets it.
#[tokio::test(flavor = "multi_thread")]
async fn confirming_the_manual_step_turns_verify_to_exit_0() {
    let (sn, bp, path) = fakes_with_config("confirm.toml").await;
    let path = path.to_str().unwrap();
    assert_eq!(run(&["apply", "--yes", "--config", path], &ENV).code, 4);
    let secret = sn.table("oauth_entity")[0]["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut env = ENV.to_vec();
    env.push(("SERVICENOW_OAUTH_CLIENT_SECRET", &secret));
    assert_eq!(run(&["verify", "--config", path], &env).code, 4);
    let refused = run(&["confirm", "cors", "--yes", "--config", path], &env);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert_eq!(
        run(&["confirm", "nothing", "--yes", "--config", path], &env).code,
        2
    );
    assert!(
        refused.stderr.contains("not a manual step"),
        "{}",
        refused.stderr
    );

    let confirmed = run(
        &[
            "confirm",
            "integration_account",
            "--yes",
            "--by",
            "ops",
            "--config",
            path,
            "--json",
        ],
        &env,
    );
    assert_eq!(confirmed.code, 0, "{}", confirmed.stderr);
    let doc = json(&confirmed);
    assert_eq!(doc["kind"], "confirm");
    assert_eq!(doc["confirmation"]["by"], "ops");
    let verify = run(&["verify", "--config", path], &env);
    assert_eq!(verify.code, 0, "{}\n{}", verify.stdout, verify.stderr);
    assert!(
        verify.stdout.contains("confirmed by ops on"),
        "{}",
        verify.stdout
    );
    let plan = run(&["plan", "--config", path, "--detailed-exitcode"], &env);
    assert_eq!(plan.code, 0, "{}", plan.stdout);
    let teardown = run(&["teardown", "--yes", "--config", path], &env);
    assert_eq!(teardown.code, 0, "{}", teardown.stderr);
    assert!(
        teardown
            .stdout
            .contains("the confirmation that a person did step integration_account"),
        "{}",
        teardown.stdout
    );
    stop((sn, bp)).await;
}

/// In the default manual mode the tool needs no Bright Pattern API user: plan,
/// apply and verify run without one and ask the tenant for no token.
#[tokio::test(flavor = "multi_thread")]
async fn the_manual_mode_needs_no_bright_pattern_api_user() {
    let (sn, bp, path) = fakes_with_config("manual-no-bp.toml").await;
    let path = path.to_str().unwrap();
    let env = &ENV[..2]; // the ServiceNow administrator only
    assert_eq!(run(&["plan", "--config", path], env).code, 0);
    let apply = run(&["apply", "--yes", "--config", path], env);
    assert_eq!(apply.code, 4, "{}", apply.stderr);
    let verify = run(&["verify", "--config", path], env);
    assert_eq!(verify.code, 4, "{}", verify.stderr);
    assert!(
        bp.requests().iter().all(|r| !r.path.contains("token")),
        "no token asked of the tenant: {:?}",
        bp.requests()
    );
    stop((sn, bp)).await;
}

/// `method = "refresh_token"`: a refresh token issued earlier (here by a
/// password grant) and the client secret, from the environment; neither is
/// ever printed.
#[tokio::test(flavor = "multi_thread")]
async fn a_refresh_token_authenticates_the_tool() {
    let sn = FakeInstance::start().await;
    let bp = FakeTenant::start().await;
    sn.add_user("agent.1");
    sn.register_oauth_client("Automation", "auto-id", "auto-secret-never-shown");
    let answer = reqwest::Client::new()
        .post(sn.token_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=password&client_id=auto-id&client_secret=auto-secret-never-shown&username={ADMIN_USER}&password={ADMIN_PASSWORD}"
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let issued: serde_json::Value = serde_json::from_str(&answer).unwrap();
    let refresh = issued["refresh_token"].as_str().unwrap().to_owned();
    let file = config_file(
        "refresh.toml",
        &config(&sn, &bp).replacen(
            "[brightpattern]",
            "[servicenow.auth]\nmethod = \"refresh_token\"\nclient_id = \"auto-id\"\n[brightpattern]",
            1,
        ),
    );
    let path = file.to_str().unwrap();
    let env = [
        ("SERVICENOW_CLIENT_SECRET", "auto-secret-never-shown"),
        ("SERVICENOW_REFRESH_TOKEN", refresh.as_str()),
        ("SERVICENOW_INTEGRATION_USERNAME", ADMIN_USER),
        ("SERVICENOW_INTEGRATION_PASSWORD", ADMIN_PASSWORD),
    ];
    let missing = run(&["plan", "--config", path], &env[..1]);
    assert_eq!(missing.code, 2);
    assert!(
        missing.stderr.contains("SERVICENOW_REFRESH_TOKEN"),
        "{}",
        missing.stderr
    );
    let plan = run(&["plan", "--config", path], &env);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(
        plan.stdout.starts_with(&format!(
            "ServiceNow {} as OAuth refresh token (client id auto-id)",
            sn.url().as_str()
        )),
        "{}",
        plan.stdout
    );
    assert!(
        sn.requests()
            .iter()
            .any(|r| r.path.contains("oauth_token.do")),
        "the refresh grant was used"
    );
    assert_no_secrets(&[&plan, &missing], &[&refresh, "auto-secret-never-shown"]);
    stop((sn, bp)).await;
}

/// Ctrl-C stops a run cleanly and gives the lease back at once (the next run
/// does not wait ten minutes for it to expire).
#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_gives_the_lease_back() {
    let sn = FakeInstance::start().await;
    let bp = FakeTenant::start().await;
    sn.add_user("agent.1");
    let path = config_file("interrupted.toml", &config(&sn, &bp));
    // Slow enough to be interrupted mid-apply.
    sn.set_latency(std::time::Duration::from_millis(150));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bp-servicenow"));
    cmd.args(["apply", "--yes", "--config", path.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in ENV {
        cmd.env(k, v);
    }
    let child = cmd.spawn().unwrap();
    let leases = |sn: &FakeInstance| {
        sn.table("sys_properties")
            .iter()
            .filter(|r| r["name"].as_str().unwrap_or_default().contains(".lease."))
            .count()
    };
    let started = std::time::Instant::now();
    while leases(&sn) == 0 {
        assert!(
            started.elapsed().as_secs() < 30,
            "the run never took its lease"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("interrupted: "), "{stderr}");
    assert!(stderr.contains("given back"), "{stderr}");
    assert_eq!(leases(&sn), 0, "the lease is given back: {stderr}");
    stop((sn, bp)).await;
}

/// Timeouts by flag and in the spec: the whole command (`--timeout`) stops
/// and gives its lease back; one request (`--request-timeout`) fails as a
/// timeout naming the host; 0 is refused.
#[tokio::test(flavor = "multi_thread")]
async fn timeouts_for_the_command_and_for_each_request() {
    let (sn, bp, path) = fakes_with_config("timeouts.toml").await;
    let path = path.to_str().unwrap();
    sn.set_latency(std::time::Duration::from_millis(200));
    let overall = run(
        &["apply", "--yes", "--timeout", "1", "--config", path],
        &ENV,
    );
    assert_eq!(overall.code, 1, "{}", overall.stderr);
    assert!(
        overall.stderr.contains("timed out after 1 s"),
        "{}",
        overall.stderr
    );
    let leases = sn
        .table("sys_properties")
        .iter()
        .filter(|r| r["name"].as_str().unwrap_or_default().contains(".lease."))
        .count();
    assert_eq!(leases, 0, "given back: {}", overall.stderr);

    sn.set_latency(std::time::Duration::from_millis(1500));
    let request = run(&["plan", "--request-timeout", "1", "--config", path], &ENV);
    assert_eq!(request.code, 1, "{}", request.stderr);
    assert!(
        request.stderr.contains("did not answer in time"),
        "{}",
        request.stderr
    );
    sn.set_latency(std::time::Duration::ZERO);
    let zero = config_file(
        "zero.toml",
        &format!("{}[network]\nrequest_timeout_secs = 0\n", config(&sn, &bp)),
    );
    let zero = run(&["plan", "--config", zero.to_str().unwrap()], &ENV);
    assert_eq!(zero.code, 2, "{}", zero.stderr);
    assert!(
        zero.stderr.contains("network.request_timeout_secs"),
        "{}",
        zero.stderr
    );
    stop((sn, bp)).await;
}

/// The published schemas (examples/schemas) are what `bp-servicenow schema`
/// prints: one file per kind, none stale, none missing.
#[test]
fn the_published_schemas_are_what_the_tool_prints() {
    let dir = std::env::temp_dir().join(format!("bp-schemas-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let written = run(&["schema", "--out-dir", dir.to_str().unwrap()], &[]);
    assert_eq!(written.code, 0, "{}", written.stderr);
    let names = |dir: &std::path::Path| -> std::collections::BTreeSet<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect()
    };
    let published = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    assert_eq!(names(&dir), names(&published));
    for name in names(&dir) {
        assert!(
            std::fs::read_to_string(dir.join(&name)).unwrap()
                == std::fs::read_to_string(published.join(&name)).unwrap(),
            "examples/schemas/{name} is stale: run `bp-servicenow schema --out-dir examples/schemas`"
        );
    }
    let one = run(&["schema", "plan"], &[]);
    assert_eq!(one.code, 0);
    assert!(
        one.stdout == std::fs::read_to_string(published.join("plan.schema.json")).unwrap(),
        "`schema plan` prints the published file"
    );
    let unknown = run(&["schema", "plans"], &[]);
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("one of plan, apply"),
        "{}",
        unknown.stderr
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The schema check of `json` fails on what the schemas do not allow: a key
/// they do not name, a value of the wrong type, a missing key, a status the
/// kind never has.
#[test]
fn the_schema_check_refuses_what_the_schema_does_not_allow() {
    let base = serde_json::json!({
        "schema_version": 1,
        "kind": "repair",
        "status": "ok",
        "claimed": ["x"],
        "unproven": [],
        "lost": [],
        "writes": 0,
        "lease_broken": [],
        "bookkeeping": [],
        "update_set": null,
    });
    assert_follows_schema(&base);
    let error = serde_json::json!({
        "schema_version": 1, "kind": "repair", "status": "error", "exit_code": 2, "error": "no",
    });
    assert_follows_schema(&error);
    let broken = |change: &dyn Fn(&mut serde_json::Value)| {
        let mut doc = base.clone();
        change(&mut doc);
        std::panic::catch_unwind(|| assert_follows_schema(&doc)).is_err()
    };
    assert!(broken(&|d| d["surprise"] = 1.into()), "an unknown key");
    assert!(broken(&|d| d["writes"] = "none".into()), "a wrong type");
    assert!(
        broken(&|d| {
            d.as_object_mut().unwrap().remove("lost");
        }),
        "a missing key"
    );
    assert!(
        broken(&|d| d["status"] = "pending".into()),
        "a status repair never has"
    );
    assert!(
        broken(&|d| d["schema_version"] = 2.into()),
        "another version"
    );
}

/// `plan --out FILE` saves the plan; `apply FILE` applies exactly it without
/// asking, and refuses (exit 2, nothing written) a plan the instance moved
/// away from, a plan for another instance, or a file that is no saved plan.
#[tokio::test(flavor = "multi_thread")]
async fn a_saved_plan_is_applied_exactly_or_refused() {
    /// The run exited `code` and its standard error says `text`.
    fn assert_exit(out: &Run, code: i32, text: &str) {
        assert_eq!(out.code, code, "{}", out.stderr);
        assert!(out.stderr.contains(text), "{text:?} in {}", out.stderr);
    }
    let (sn, bp, path) = fakes_with_config("saved.toml").await;
    let path = path.to_str().unwrap();
    let file = config_file("saved.plan.json", "");
    let file = file.to_str().unwrap();
    let planned = run(&["plan", "--config", path, "--out", file], &ENV);
    assert_eq!(planned.code, 0, "{}", planned.stderr);
    assert!(
        planned
            .stderr
            .contains(&format!("saved the plan to {file}")),
        "{}",
        planned.stderr
    );
    assert_eq!(
        sn.write_count(),
        0,
        "plan --out writes nothing to the instance"
    );

    // Not a terminal, no --yes: the saved plan is what was reviewed.
    let applied = run(&["apply", file, "--config", path, "--json"], &ENV);
    assert_eq!(applied.code, 4, "{}\n{}", applied.stdout, applied.stderr);
    let report = json(&applied);
    assert!(
        report["steps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["step"] == "cors" && s["outcome"] == "done"),
        "{report}"
    );

    // Applied, the same file is stale.
    let writes = sn.write_count();
    let again = run(&["apply", file, "--config", path], &ENV);
    assert_exit(&again, 2, "the instance moved away from the saved plan");
    assert_exit(&again, 2, "step cors: planned create, now unchanged");
    assert_eq!(sn.write_count(), writes, "nothing was written");
    let as_json = run(&["apply", file, "--config", path, "--json"], &ENV);
    assert_eq!(as_json.code, 2);
    assert_eq!(json(&as_json)["status"], "error");

    // Made for another instance.
    let other = FakeInstance::start().await;
    other.add_user("agent.1");
    let elsewhere = config_file("elsewhere.toml", &config(&other, &bp));
    let refused = run(
        &["apply", file, "--config", elsewhere.to_str().unwrap()],
        &ENV,
    );
    assert_exit(&refused, 2, "was made for the instance");
    assert_eq!(other.write_count(), 0);

    // Not a saved plan: `plan --json` output is refused by its kind.
    let printed = run(&["plan", "--config", path, "--json"], &ENV);
    let not_saved = config_file("printed.json", &printed.stdout);
    let refused = run(
        &["apply", not_saved.to_str().unwrap(), "--config", path],
        &ENV,
    );
    assert_exit(&refused, 2, "its kind is \"plan\", not \"saved-plan\"");
    stop((sn, bp, other)).await;
}
