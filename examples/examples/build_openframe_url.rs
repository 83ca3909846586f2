//! Build the Agent Desktop URL for OpenFrame, with `topDomain`, and diagnose a
//! hand-made one. No network.

#![allow(clippy::print_stdout)]

use servicenow_openframe::{AgentDesktopUrl, instance_origin, tenant_origin};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tenant = tenant_origin("example")?;
    let instance = instance_origin("dev12345")?;
    let url = AgentDesktopUrl::new(&tenant, &instance)?;
    println!("OpenFrame URL: {url}");
    println!("CORS domain and allow-list entry: {}", url.tenant());

    let hand_made = "https://example.brightpattern.com/agentdesktop/";
    println!("\nChecking {hand_made}:");
    for problem in AgentDesktopUrl::check(hand_made, &tenant, &instance) {
        println!("  - {problem}");
    }
    Ok(())
}
