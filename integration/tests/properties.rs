//! `[[properties]]`: created when missing and deleted by teardown, adopted when
//! present and restored by teardown; a value the instance's type refuses is
//! refused before anything is written.

mod common;

use brightpattern_servicenow::report::RemovalOutcome;
use brightpattern_servicenow::{Action, IntegrationSpec, StepId};
use common::{Pair, pair, workflow};

fn value(p: &Pair, name: &str) -> Option<String> {
    p.sn.table("sys_properties")
        .into_iter()
        .find(|r| r["name"] == name)
        .map(|r| r["value"].as_str().unwrap_or_default().to_owned())
}

const PROPERTIES: &str = "[[properties]]\nname = \"x_bp.activity_history\"\nvalue = \"true\"\ntype = \"true | false\"\ndescription = \"Save activity history (Bright Pattern 5.8)\"\n[[properties]]\nname = \"glide.ui.bp_widget\"\nvalue = \"on\"\n";

#[tokio::test]
async fn created_and_adopted_properties_are_kept_and_teardown_puts_them_back() {
    let p = pair().await;
    p.sn.set_property("glide.ui.bp_widget", "off");
    let wf = workflow(&p, PROPERTIES);
    let plan = wf.plan().await.unwrap();
    let step = plan.step(StepId::custom("properties")).unwrap();
    assert_eq!(step.action, Action::Adopt, "{plan}");
    assert_eq!(step.changes.len(), 2);

    wf.apply().await.unwrap();
    assert_eq!(value(&p, "x_bp.activity_history").as_deref(), Some("true"));
    assert_eq!(value(&p, "glide.ui.bp_widget").as_deref(), Some("on"));
    let health = wf.verify().await.unwrap();
    assert!(
        health
            .checks
            .iter()
            .any(|c| c.check == "2 system properties" && c.is_ok()),
        "{health}"
    );
    assert!(
        !wf.plan().await.unwrap().has_changes(),
        "a second apply changes nothing"
    );

    let removed = wf.teardown().await.unwrap();
    let outcomes: Vec<(String, RemovalOutcome)> = removed
        .removals()
        .filter(|r| r.resource.starts_with("system property"))
        .map(|r| (r.resource.clone(), r.outcome))
        .collect();
    assert_eq!(
        outcomes,
        [
            (
                "system property x_bp.activity_history".to_owned(),
                RemovalOutcome::Removed
            ),
            (
                "system property glide.ui.bp_widget".to_owned(),
                RemovalOutcome::Restored
            ),
        ]
    );
    assert_eq!(value(&p, "x_bp.activity_history"), None);
    assert_eq!(value(&p, "glide.ui.bp_widget").as_deref(), Some("off"));
}

#[tokio::test]
async fn a_value_the_instance_s_type_refuses_is_refused_before_writing() {
    let p = pair().await;
    p.sn.insert(
        "sys_properties",
        serde_json::json!({"name": "glide.ui.max_widgets", "value": "3", "type": "integer"}),
    );
    let wf = workflow(
        &p,
        "[[properties]]\nname = \"glide.ui.max_widgets\"\nvalue = \"many\"\n",
    );
    let err = wf.apply().await.unwrap_err();
    assert!(
        err.to_string().contains("\"many\" is not an integer")
            && err.to_string().contains("nothing was written"),
        "{err}"
    );
    assert_eq!(value(&p, "glide.ui.max_widgets").as_deref(), Some("3"));

    // A choice list's choices (`Label=value` or bare values) are checked too.
    p.sn.insert(
        "sys_properties",
        serde_json::json!({"name": "x_bp.theme", "value": "light", "type": "choicelist", "choices": "Light=light,Dark=dark"}),
    );
    let wf = workflow(
        &p,
        "[[properties]]\nname = \"x_bp.theme\"\nvalue = \"purple\"\n",
    );
    let err = wf.apply().await.unwrap_err();
    assert!(
        err.to_string()
            .contains("\"purple\" is not one of its choices (Light=light,Dark=dark)"),
        "{err}"
    );
    assert_eq!(value(&p, "x_bp.theme").as_deref(), Some("light"));
    let wf = workflow(
        &p,
        "[[properties]]\nname = \"x_bp.theme\"\nvalue = \"dark\"\n",
    );
    wf.apply().await.unwrap();
    assert_eq!(value(&p, "x_bp.theme").as_deref(), Some("dark"));
    // And a spec that says the type itself is refused before any request.
    let err = IntegrationSpec::from_toml(
        "[servicenow]\ninstance = \"dev1\"\n[brightpattern]\ntenant = \"example\"\n[[properties]]\nname = \"a.b\"\nvalue = \"yes\"\ntype = \"true | false\"\n",
    )
    .unwrap()
    .resolve()
    .unwrap_err();
    assert!(
        err.to_string().contains("\"yes\" is not true or false"),
        "{err}"
    );
}
