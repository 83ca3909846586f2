//! Create an OAuth endpoint on ServiceNow, create the Bright Pattern integration
//! account with its client id and secret, request the refresh token, and test the
//! connection — steps 5 and 6 of the procedure, by hand with the SDK.
//!
//! Runs against a fake instance and a fake tenant started here.

#![allow(clippy::print_stdout)]

use brightpattern_client::integration_accounts::ServiceNowAccountSpec;
use brightpattern_fake::FakeTenant;
use servicenow_client::oauth::NewOAuthApplication;
use servicenow_fake::{ADMIN_PASSWORD, ADMIN_USER, FakeInstance};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sn = FakeInstance::start().await;
    let bp = FakeTenant::start().await;
    // Bright Pattern documents no integration-account API: the fake offers the
    // SDK's assumed endpoints only when asked, as a real tenant may not.
    bp.set_integration_accounts_offered(true);

    let created = sn
        .client_as_admin()
        .oauth_applications()
        .create(&NewOAuthApplication::new("Bright Pattern"))
        .await?;
    println!(
        "OAuth client id: {} (the secret is never printed)",
        created.application.client_id
    );

    let accounts = bp.client().integration_accounts();
    accounts
        .create(&ServiceNowAccountSpec {
            name: "ServiceNow".into(),
            default: true,
            instance_url: sn.url().origin().clone(),
            client_id: created.application.client_id.clone(),
            client_secret: created.client_secret.clone(),
        })
        .await?;
    accounts
        .request_refresh_token("ServiceNow", ADMIN_USER, &ADMIN_PASSWORD.into())
        .await?;
    let verdict = accounts.test_connection("ServiceNow").await?;
    println!("test connection: {} ({})", verdict.valid, verdict.message);
    Ok(())
}
