//! Activate a ServiceNow plugin through the CI/CD API and wait for it, showing
//! progress.
//!
//! Runs against a fake instance started here. Against a real one, build the
//! client with `Client::new(InstanceUrl::parse("dev12345")?, Credentials::basic(user, password))`.

#![allow(clippy::print_stdout)]

use servicenow_client::plugins::{PluginState, WaitOptions, ids};
use servicenow_fake::FakeInstance;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sn = FakeInstance::start().await;
    let client = sn.client_as_admin();
    let plugins = client.plugins();

    println!(
        "{} is {:?}",
        ids::OPENFRAME,
        plugins.state(ids::OPENFRAME).await?
    );
    let activation = plugins.activate(ids::OPENFRAME).await?;
    let done = activation
        .wait(&WaitOptions::fast(), |p| {
            println!("  {} {}%", p.status, p.percent_complete)
        })
        .await?;
    println!("finished: {}", done.status_message);
    assert_eq!(plugins.state(ids::OPENFRAME).await?, PluginState::Active);

    // Already active: no activation request is sent.
    println!(
        "again, already active: {}",
        plugins.activate(ids::OPENFRAME).await?.is_unnecessary()
    );
    Ok(())
}
