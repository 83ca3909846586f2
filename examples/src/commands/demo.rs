//! `bp-servicenow demo`: the whole job on fakes started in this process.

use std::error::Error;

use brightpattern_fake::FakeTenant;
use brightpattern_servicenow::{
    Event, IntegrationSpec, ServiceNowLogin, Status, Workflow, WorkflowOptions,
};
use servicenow_client::plugins::WaitOptions;
use servicenow_fake::{ADMIN_PASSWORD, ADMIN_USER, FakeInstance};

use crate::exit::{EXIT_OK, Exit};
use crate::output::Output;

/// The demo's configuration, for the two fakes' origins.
pub(crate) fn demo_config(instance: &str, tenant: &str) -> String {
    format!(
        r#"# The same format as a real configuration file (see bp-servicenow.example.toml).
[servicenow]
instance = "{instance}"

[brightpattern]
tenant = "{tenant}"

[openframe]
name = "Bright Pattern Agent Desktop"
title = "Agent Desktop"
width = 300
height = 750

[access]
users = ["agent.1", "agent.2", "agent.3"]
groups = ["Tier 1 Agents"]
"#
    )
}

/// Runs plan → apply → verify → confirm → apply again → teardown (previewed, then done)
/// on fakes, narrating.
pub(crate) async fn exec(out: &Output) -> Result<u8, Exit> {
    run(out).await.map_err(|e| Exit::failure(e.to_string()))
}

async fn run(out: &Output) -> Result<u8, Box<dyn Error>> {
    out.heading(
        "Starting a fake ServiceNow instance and a fake Bright Pattern tenant on 127.0.0.1",
    );
    let sn = FakeInstance::start().await;
    let bp = FakeTenant::start().await;
    for user in ["agent.1", "agent.2", "agent.3", "agent.4"] {
        sn.add_user(user);
    }
    sn.add_group("Tier 1 Agents");
    sn.add_group_member("agent.4", "Tier 1 Agents");
    out.say(&format!(
        "ServiceNow instance:  {}  (admin user {ADMIN_USER:?})",
        sn.url()
    ));
    out.say(&format!("Bright Pattern tenant: {}", bp.url()));

    let config = demo_config(sn.url().as_str(), bp.url().as_str());
    out.heading("Configuration");
    out.say(config.trim_end());
    let spec = IntegrationSpec::from_toml(&config)?.resolve()?;

    let narrator = *out;
    let workflow = Workflow::builder(
        spec,
        sn.client_as_admin(),
        bp.client(),
        ServiceNowLogin {
            username: ADMIN_USER.into(),
            password: ADMIN_PASSWORD.into(),
        },
    )
    .options(WorkflowOptions::default().plugin_wait(WaitOptions::fast()))
    .on_event(move |event| match event {
        Event::Progress {
            message, percent, ..
        } => narrator.say(&format!("  … {message}: {percent}%")),
        Event::Warning { step, message } => narrator.say(&format!("  ! {step}: {message}")),
        _ => {}
    })
    .build();

    out.heading("1. plan: what apply would change (reads only)");
    let auth = format!("ServiceNow {} as basic ({ADMIN_USER})", sn.url());
    out.plan(&workflow.plan().await?, false, &auth);

    out.heading("2. apply");
    let report = workflow.apply().await?;
    out.apply(&report, false);

    out.heading("3. verify: every record read back, every effect proven");
    let health = workflow.verify().await?;
    out.verify(&health, false, &auth);
    out.say(&format!(
        "{} checks proved by effect (OAuth round trip, CORS preflight, Agent Desktop page, the configuration each agent gets); the integration account waits for a person, so verify exits 4 until it is made and confirmed.",
        health.checks.iter().filter(|c| c.effect && c.is_ok()).count()
    ));

    out.heading("4. confirm: a person made the integration account, verify turns ok");
    let confirmation = workflow
        .confirm(
            &brightpattern_servicenow::StepId::INTEGRATION_ACCOUNT,
            "the demo's administrator",
        )
        .await?;
    out.confirmation(
        &brightpattern_servicenow::StepId::INTEGRATION_ACCOUNT,
        &confirmation,
    );
    let confirmed = workflow.verify().await?;
    out.verify(&confirmed, false, &auth);
    if confirmed.status != Status::Ok {
        return Err(format!("verify after the confirmation: {}", confirmed.summary()).into());
    }
    out.say("bp-servicenow confirm integration_account records the same; verify exits 0.");

    out.heading("5. apply again: nothing to do");
    sn.clear_requests();
    bp.clear_requests();
    let again = workflow.apply().await?;
    out.apply(&again, false);
    out.say(&format!(
        "Write requests: {} to ServiceNow besides the run's lease (taken and given back), {} to Bright Pattern.",
        sn.write_count().saturating_sub(2),
        bp.write_count()
    ));

    out.heading("6. teardown --dry-run: what teardown would do (reads only)");
    let writes = (sn.write_count(), bp.write_count());
    out.teardown_plan(&workflow.teardown_plan().await?);
    out.say(&format!(
        "Write requests: {} to ServiceNow, {} to Bright Pattern.",
        sn.write_count() - writes.0,
        bp.write_count() - writes.1
    ));

    out.heading("7. teardown: remove what apply created");
    out.teardown(&workflow.teardown().await?);
    out.say(&format!(
        "Left on the instance: {} OpenFrame configurations, {} CORS rules, {} OAuth applications; {} integration accounts on the tenant. Plugins stay active.",
        sn.table("sn_openframe_configuration").len(),
        sn.table("sys_cors_rule").len(),
        sn.table("oauth_entity").len(),
        bp.accounts().len()
    ));
    let unexpected: Vec<&str> = health
        .problems()
        .filter(|c| c.status == Status::Failed || c.manual.is_none())
        .map(|c| c.check.as_str())
        .collect();
    if !unexpected.is_empty() {
        return Err(format!("verify found problems: {}", unexpected.join(", ")).into());
    }
    out.heading("Demo finished");
    Ok(EXIT_OK)
}
