//! Step 6: the Bright Pattern integration account of type ServiceNow, with the
//! OAuth client id and secret of step 5, its refresh token requested with the
//! integration user's ServiceNow credentials, and the connection tested.
//!
//! Bright Pattern documents no API for integration accounts, so the step is
//! **manual by default**: plan, apply and verify give the exact values to enter in
//! Contact Center Administrator (the secret masked unless the caller asks to
//! reveal it), and verify reports the step as pending — never ok. With
//! `[integration_account] api = "assumed"` the step calls the SDK's assumed
//! (unverified) endpoints; a tenant that answers the first read of the collection
//! with 404/405/501, or with the 500 the documentation gives for an unknown
//! endpoint, turns the step manual again, and the report quotes the status.

use async_trait::async_trait;
use brightpattern_client::integration_accounts::{
    RefreshTokenState, ServiceNowAccountSpec, ServiceNowIntegrationAccount,
};
use secrecy::SecretString;
use servicenow_client::oauth::OAuthApplication;

use crate::oauth_secret::{GeneratedSecret, SECRET_SHOWN, known_secret, secret_for};
use crate::report::{Check, ManualField, ManualStep, ManualValue, Removal, RemovalOutcome};
use crate::spec::AccountApi;
use crate::step::{
    Action, Applied, Change, Context, Damaged, FieldChange, Repaired, Step, StepError, StepId,
    StepResult, Upstream,
};

/// Step 6.
#[derive(Debug, Clone, Copy, Default)]
pub struct IntegrationAccountStep;

/// The account as the tenant reports it, and the OAuth application of step 5.
#[derive(Debug, Clone)]
pub struct IntegrationAccountState {
    /// `Err(why)`: the step is manual (by configuration, or the tenant lacks the
    /// endpoints).
    account: std::result::Result<Option<ServiceNowIntegrationAccount>, String>,
    application: Option<OAuthApplication>,
}

/// Why the step is manual when the spec does not opt in.
pub const MANUAL_BY_DEFAULT: &str = "Bright Pattern documents no API for integration accounts, so this step is manual (set [integration_account] api = \"assumed\" to try the SDK's unverified endpoints)";

/// What the step will do to the account, decided once from what it observed:
/// `change` renders it, `apply` carries it out.
enum AccountPlan {
    /// A person does it (by configuration, or the tenant lacks the endpoints).
    Manual(String),
    /// No account has the name: create it, request its refresh token, test it.
    Create,
    /// The account differs from the spec in these properties: replace it (with
    /// the client secret), request a refresh token, test it.
    Replace(Vec<FieldChange>),
    /// As it should be, but without a refresh token: request one, test it.
    RefreshToken,
    /// As it should be.
    Unchanged,
}

fn plan(ctx: &Context, state: &IntegrationAccountState) -> AccountPlan {
    match &state.account {
        Err(why) => AccountPlan::Manual(why.clone()),
        Ok(None) => AccountPlan::Create,
        Ok(Some(account)) => {
            let differing = property_changes(ctx, state, account);
            match (differing.is_empty(), account.refresh_token) {
                (false, _) => AccountPlan::Replace(differing),
                (true, RefreshTokenState::Missing) => AccountPlan::RefreshToken,
                (true, _) => AccountPlan::Unchanged,
            }
        }
    }
}

/// The OAuth client id the account is to carry (a placeholder before step 5
/// has made the application).
fn client_id(state: &IntegrationAccountState) -> String {
    state
        .application
        .as_ref()
        .map(|a| a.client_id.clone())
        .unwrap_or_else(|| "(from the oauth_endpoint step)".into())
}

/// Why the account must be created or replaced, if it must.
fn property_changes(
    ctx: &Context,
    state: &IntegrationAccountState,
    account: &ServiceNowIntegrationAccount,
) -> Vec<FieldChange> {
    let spec = &ctx.spec.integration_account;
    [
        FieldChange::diff("default", account.default, spec.default),
        FieldChange::diff(
            "url",
            account.instance_url.as_str(),
            ctx.spec.instance.as_str(),
        ),
        FieldChange::diff("client_id", &account.client_id, client_id(state)),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The checklist a person follows, with the application's client id and its
/// secret when this run knows them.
fn manual(ctx: &Context, client_id: Option<&str>, secret: Option<SecretString>) -> ManualStep {
    let spec = &ctx.spec.integration_account;
    let text = |label: &str, value: &str| ManualField {
        label: label.to_owned(),
        value: ManualValue::Text(value.to_owned()),
    };
    ManualStep {
        title: "Create the ServiceNow integration account in Contact Center Administrator".to_owned(),
        instructions: vec![
            "Log in to Contact Center Administrator as an administrator; open Configuration > Integration Accounts.".to_owned(),
            "Click Add (+), choose ServiceNow, click OK.".to_owned(),
            "Enter these values, then click Apply:".to_owned(),
            format!("Click Request Refresh Token and sign in as the ServiceNow user {:?}.", ctx.integration_user.username),
            "Click Test connection: it must say \"Connection is valid\".".to_owned(),
        ],
        fields: vec![
            text("Type", "ServiceNow"),
            text("Name", &spec.name),
            text("Default account", if spec.default { "yes (checked)" } else { "no" }),
            text("URL", ctx.spec.instance.as_str()),
            text(
                "Client ID",
                client_id.unwrap_or("(created by the oauth_endpoint step)"),
            ),
            ManualField {
                label: "Client Secret".to_owned(),
                value: ManualValue::Secret(secret),
            },
        ],
    }
}

#[async_trait]
impl Step for IntegrationAccountStep {
    type State = IntegrationAccountState;

    fn id(&self) -> StepId {
        StepId::INTEGRATION_ACCOUNT
    }

    fn identity(&self, spec: &crate::spec::ResolvedSpec) -> Vec<String> {
        vec![spec.integration_account.name.clone()]
    }

    fn depends_on(&self) -> Vec<StepId> {
        vec![StepId::OAUTH_ENDPOINT]
    }

    fn resource(&self, ctx: &Context) -> String {
        format!(
            "Bright Pattern integration account {:?}",
            ctx.spec.integration_account.name
        )
    }

    async fn observe(&self, ctx: &Context) -> StepResult<IntegrationAccountState> {
        if ctx.spec.integration_account.api == AccountApi::Manual {
            return Ok(IntegrationAccountState {
                account: Err(MANUAL_BY_DEFAULT.to_owned()),
                application: ctx.oauth_applications().await?.managed,
            });
        }
        let accounts = ctx.brightpattern.integration_accounts();
        let name = &ctx.spec.integration_account.name;
        let (account, application) =
            futures_util::join!(accounts.get(name), ctx.oauth_applications());
        let account = match account {
            Ok(found) => Ok(found),
            Err(e) if e.is_endpoint_unavailable() => Err(format!(
                "the tenant does not offer integration accounts through its API ({}), so this step is manual",
                e.request()
                    .map(|r| format!("{r} answered HTTP {}", e.status().unwrap_or_default()))
                    .unwrap_or_else(|| e.to_string())
            )),
            Err(e) => return Err(e.into()),
        };
        Ok(IntegrationAccountState {
            account,
            application: application?.managed,
        })
    }

    fn change(
        &self,
        ctx: &Context,
        state: &IntegrationAccountState,
        upstream: &Upstream,
    ) -> Change {
        let refresh = || {
            FieldChange::new(
                "refresh_token",
                Some("missing".into()),
                format!("requested as {}", ctx.integration_user.username),
            )
        };
        match plan(ctx, state) {
            AccountPlan::Manual(why) => {
                let app = state.application.as_ref();
                let secret = app.and_then(|app| known_secret(ctx, app, upstream));
                Change::of(Action::Manual, Vec::new())
                    .with_manual(manual(ctx, app.map(|a| a.client_id.as_str()), secret))
                    .with_warning(why)
            }
            AccountPlan::Create => {
                let spec = &ctx.spec.integration_account;
                Change::of(
                    Action::Create,
                    vec![
                        FieldChange::new("type", None, "ServiceNow"),
                        FieldChange::new("default", None, spec.default.to_string()),
                        FieldChange::new("url", None, ctx.spec.instance.as_str()),
                        FieldChange::new("client_id", None, client_id(state)),
                        FieldChange::new("client_secret", None, SECRET_SHOWN),
                        FieldChange::new("refresh_token", None, refresh().new),
                    ],
                )
            }
            AccountPlan::Replace(mut differing) => {
                differing.push(FieldChange::new("client_secret", None, SECRET_SHOWN));
                differing.push(refresh());
                Change::of(Action::Update, differing)
            }
            AccountPlan::RefreshToken => Change::of(Action::Update, vec![refresh()]),
            AccountPlan::Unchanged => Change::unchanged(),
        }
    }

    async fn apply(
        &self,
        ctx: &Context,
        state: IntegrationAccountState,
        _change: &Change,
        upstream: &Upstream,
    ) -> StepResult<Applied> {
        let (write, existing) = match plan(ctx, &state) {
            AccountPlan::Manual(_) | AccountPlan::Unchanged => {
                return Ok(Applied::new("nothing to do"));
            }
            AccountPlan::Create => (true, false),
            AccountPlan::Replace(_) => (true, true),
            AccountPlan::RefreshToken => (false, true),
        };
        let name = ctx.spec.integration_account.name.clone();
        let accounts = ctx.brightpattern.integration_accounts();
        let app = match &state.application {
            Some(app) => app.clone(),
            None => {
                return Err(StepError::Missing {
                    record: format!("OAuth application {:?}", ctx.spec.oauth.name),
                    hint: "the oauth_endpoint step creates it: apply again".into(),
                });
            }
        };
        let mut done = Vec::new();
        let mut rotated = None;
        if write {
            let (client_secret, new_secret) = secret_for(ctx, &app, upstream).await?;
            rotated = new_secret;
            let spec = ServiceNowAccountSpec {
                name: name.clone(),
                default: ctx.spec.integration_account.default,
                instance_url: ctx.spec.instance.origin().clone(),
                client_id: app.client_id.clone(),
                client_secret,
            };
            if !existing {
                // Recorded before it is sent: an answer lost is still ours.
                ctx.reserve(|l| l.integration_account = Some(name.clone()))
                    .await?;
                accounts.create(&spec).await?;
                done.push("created the account".to_owned());
            } else {
                accounts.replace(&spec).await?;
                done.push("updated the account".to_owned());
            }
        }
        accounts
            .request_refresh_token(
                &name,
                &ctx.integration_user.username,
                &ctx.integration_user.password,
            )
            .await?;
        done.push(format!(
            "refresh token requested as {}",
            ctx.integration_user.username
        ));
        let verdict = accounts.test_connection(&name).await?;
        if !verdict.valid {
            return Err(StepError::Rejected {
                what: format!("the connection test of integration account {name:?}"),
                reason: verdict.message,
                hint: "check the OAuth application is active and the integration user may use the password grant".into(),
            });
        }
        done.push(format!("connection test: {}", verdict.message));
        let applied = Applied::new(done.join("; "));
        // A secret rotated here is handed on, so the OAuth proof can use it.
        Ok(match rotated {
            Some(secret) => applied.with_output(secret),
            None => applied,
        })
    }

    /// The new secret goes into the account by hand: the checklist with it
    /// (the account keeps the old one until a person enters it).
    fn after_rotation(&self, ctx: &Context, upstream: &Upstream) -> Option<ManualStep> {
        let rotated = upstream.output::<GeneratedSecret>()?;
        Some(manual(
            ctx,
            Some(&rotated.client_id),
            Some(rotated.secret.clone()),
        ))
    }

    /// Runs the tenant's "Test connection" for the account, when the tenant's
    /// API offers it.
    async fn prove(
        &self,
        ctx: &Context,
        state: &IntegrationAccountState,
        _upstream: &Upstream,
    ) -> StepResult<Vec<Check>> {
        let Ok(Some(account)) = &state.account else {
            return Ok(Vec::new()); // manual or missing: the plan says so
        };
        let verdict = ctx
            .brightpattern
            .integration_accounts()
            .test_connection(&account.name)
            .await?;
        Ok(vec![Check::when(
            verdict.valid,
            format!("integration account {:?} connection", account.name),
            verdict.message,
            "the refresh token was rejected: run apply to request a new one; check the OAuth application is active",
        )])
    }

    /// Claims the account when the damaged ledger still names the spec's
    /// account name.
    async fn repair(&self, ctx: &Context, damaged: &Damaged) -> StepResult<Repaired> {
        let mut out = Repaired::default();
        let account = &ctx.spec.integration_account.name;
        if damaged.raw.contains(&format!(
            "\"integration_account\":{}",
            serde_json::json!(account)
        )) {
            ctx.record(|l| l.integration_account = Some(account.clone()))
                .await;
            out.claimed.push(format!("integration account {account:?}"));
        }
        Ok(out)
    }

    async fn undo(&self, ctx: &Context) -> StepResult<Vec<Removal>> {
        let ledger = ctx.ledger().await;
        let accounts = ctx.brightpattern.integration_accounts();
        let name = &ctx.spec.integration_account.name;
        let resource = format!("integration account {name:?}");
        if ctx.spec.integration_account.api == AccountApi::Manual {
            return Ok(vec![Removal::new(
                resource,
                RemovalOutcome::LeftAlone,
                "made by a person: delete it in Contact Center Administrator (Configuration > Integration Accounts)",
            )]);
        }
        let found = match accounts.get(name).await {
            Ok(found) => found,
            Err(e) if e.is_endpoint_unavailable() => {
                return Ok(vec![Removal::new(
                    resource,
                    RemovalOutcome::LeftAlone,
                    "the tenant offers no API for it: delete it in Contact Center Administrator",
                )]);
            }
            Err(e) => return Err(e.into()),
        };
        let removal = match (&ledger.integration_account, found) {
            (Some(ours), Some(_)) if ours == name => {
                ctx.write(accounts.delete(name)).await?;
                Removal::new(
                    resource,
                    RemovalOutcome::Removed,
                    "created by bp-servicenow",
                )
            }
            (Some(_), None) => {
                Removal::new(resource, RemovalOutcome::AlreadyGone, "no longer exists")
            }
            (_, Some(_)) => Removal::new(
                resource,
                RemovalOutcome::LeftAlone,
                "not created by bp-servicenow",
            ),
            (None, None) => return Ok(Vec::new()),
        };
        ctx.record(|l| l.integration_account = None).await;
        Ok(vec![removal])
    }
}
