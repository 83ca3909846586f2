//! What the workflow tests share: a fake instance and a fake tenant, paired.
#![allow(dead_code, unreachable_pub)]

use brightpattern_fake::FakeTenant;
use servicenow_fake::FakeInstance;

/// A fake instance and a fake tenant.
pub struct Pair {
    pub sn: FakeInstance,
    pub bp: FakeTenant,
}

/// Three agents; `agent.3` is a member of the group "Agents".
pub async fn pair() -> Pair {
    let sn = FakeInstance::start().await;
    for u in ["agent.1", "agent.2", "agent.3"] {
        sn.add_user(u);
    }
    sn.add_group("Agents");
    sn.add_group_member("agent.3", "Agents");
    Pair {
        sn,
        bp: FakeTenant::start().await,
    }
}

/// A workflow for the pair: the spec's `[servicenow]` and `[brightpattern]`
/// sections pointing at the fakes, then `extra` (more TOML); the admin
/// configures, with fast plugin polling.
pub fn workflow(p: &Pair, extra: &str) -> brightpattern_servicenow::Workflow {
    workflow_as(p, extra, p.sn.client_as_admin())
}

/// As [`workflow`], configuring with `servicenow` instead of the admin.
pub fn workflow_as(
    p: &Pair,
    extra: &str,
    servicenow: servicenow_client::Client,
) -> brightpattern_servicenow::Workflow {
    builder_as(p, extra, servicenow).build()
}

/// The builder of [`workflow`], to register steps or an event handler first.
pub fn builder(p: &Pair, extra: &str) -> brightpattern_servicenow::WorkflowBuilder {
    builder_as(p, extra, p.sn.client_as_admin())
}

/// The builder of [`workflow_as`].
pub fn builder_as(
    p: &Pair,
    extra: &str,
    servicenow: servicenow_client::Client,
) -> brightpattern_servicenow::WorkflowBuilder {
    use brightpattern_servicenow::{IntegrationSpec, ServiceNowLogin, Workflow, WorkflowOptions};
    let spec = IntegrationSpec::from_toml(&format!(
        "[servicenow]\ninstance = \"{}\"\n[brightpattern]\ntenant = \"{}\"\n{extra}",
        p.sn.url(),
        p.bp.url()
    ))
    .unwrap()
    .resolve()
    .unwrap();
    Workflow::builder(
        spec,
        servicenow,
        p.bp.client(),
        ServiceNowLogin {
            username: servicenow_fake::ADMIN_USER.into(),
            password: servicenow_fake::ADMIN_PASSWORD.into(),
        },
    )
    .options(
        WorkflowOptions::default().plugin_wait(servicenow_client::plugins::WaitOptions::fast()),
    )
}
