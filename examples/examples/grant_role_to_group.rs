//! Grant `sn_openframe_user` to a group, idempotently, and see who holds it.
//!
//! Runs against a fake instance started here.

#![allow(clippy::print_stdout)]

use servicenow_client::roles::GrantOutcome;
use servicenow_fake::FakeInstance;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sn = FakeInstance::start().await;
    sn.add_group("Tier 1 Agents");
    sn.add_user("agent.1");
    sn.add_group_member("agent.1", "Tier 1 Agents");
    let roles = sn.client_as_admin().roles();

    for attempt in 1..=2 {
        match roles
            .grant_to_group("Tier 1 Agents", "sn_openframe_user")
            .await?
        {
            GrantOutcome::Created(id) => println!("attempt {attempt}: granted ({id})"),
            GrantOutcome::AlreadyGranted(id) => {
                println!("attempt {attempt}: already granted ({id}); nothing written")
            }
            other => println!("attempt {attempt}: {other:?}"),
        }
    }
    let status = roles.user_status("agent.1", "sn_openframe_user").await?;
    println!(
        "agent.1 holds it through {} group(s), directly: {}",
        status.via_groups.len(),
        status.direct.is_some()
    );
    Ok(())
}
