//! The vocabulary every other module speaks, and nothing else: step ids,
//! actions and changes, what a person must do by hand, role needs and
//! preflight problems. Pure data with its text; it imports nothing of the
//! crate, so any module may use it.

use std::borrow::Cow;
use std::fmt;

use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use servicenow_client::release::Family;

/// A step's name, as in JSON output: one of the built-in steps' constants, or a
/// step of the caller's own ([`StepId::custom`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(transparent)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct StepId(Cow<'static, str>);

impl StepId {
    /// 1. The plugins are active.
    pub const PLUGINS: StepId = StepId(Cow::Borrowed("plugins"));
    /// 2 and 7. The OpenFrame configuration (URL, size, title) and the postMessage allow-list.
    pub const OPENFRAME: StepId = StepId(Cow::Borrowed("openframe"));
    /// 3. `sn_openframe_user` for the listed users and groups.
    pub const ACCESS: StepId = StepId(Cow::Borrowed("access"));
    /// 4. The CORS rule for the tenant.
    pub const CORS: StepId = StepId(Cow::Borrowed("cors"));
    /// 5. The OAuth endpoint for the integration account.
    pub const OAUTH_ENDPOINT: StepId = StepId(Cow::Borrowed("oauth_endpoint"));
    /// 6. The Bright Pattern integration account, its refresh token and connection.
    pub const INTEGRATION_ACCOUNT: StepId = StepId(Cow::Borrowed("integration_account"));
    /// Not a step: the run itself (the preflight, the lease, the update set),
    /// for the events and warnings that belong to no step.
    pub const RUN: StepId = StepId(Cow::Borrowed("run"));

    /// The built-in steps, in procedure order.
    pub const BUILT_IN: [StepId; 6] = [
        StepId::PLUGINS,
        StepId::OPENFRAME,
        StepId::ACCESS,
        StepId::CORS,
        StepId::OAUTH_ENDPOINT,
        StepId::INTEGRATION_ACCOUNT,
    ];

    /// The id of a step of the caller's own (`[a-z0-9_]`, not a built-in name;
    /// checked when the step is registered).
    pub fn custom(name: impl Into<Cow<'static, str>>) -> Self {
        StepId(name.into())
    }

    /// The step's name, as in JSON output.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StepId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a step will do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub enum Action {
    /// Create what is missing.
    Create,
    /// Change what differs.
    Update,
    /// Take over an existing record the spec names (its previous values are
    /// recorded, and teardown restores them), changing what differs.
    Adopt,
    /// Nothing to do.
    Unchanged,
    /// A person must do it (the values to enter are given).
    Manual,
    /// A record with the configured name exists and was not made by this
    /// integration: apply refuses to touch it unless the spec says to adopt it.
    Refuse,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Adopt => "adopt",
            Action::Unchanged => "unchanged",
            Action::Manual => "manual",
            Action::Refuse => "refuse",
        })
    }
}

/// One field that changes: old value (absent when created) → new value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[non_exhaustive]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct FieldChange {
    /// The field.
    pub field: String,
    /// The value now, when there is one.
    pub old: Option<String>,
    /// The value after the change.
    pub new: String,
}

impl FieldChange {
    /// A change of `field` from `old` to `new`.
    pub fn new(field: impl Into<String>, old: Option<String>, new: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            old,
            new: new.into(),
        }
    }

    /// The change when `old` differs from `new`.
    pub fn diff(field: &str, old: impl ToString, new: impl ToString) -> Option<Self> {
        let (old, new) = (old.to_string(), new.to_string());
        (old != new).then(|| Self::new(field, Some(old), new))
    }
}

impl fmt::Display for FieldChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.old {
            Some(old) => write!(f, "{}: {old:?} → {:?}", self.field, self.new),
            None => write!(f, "{}: {:?}", self.field, self.new),
        }
    }
}

/// The change a step computed from what it observed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Change {
    /// What will be done.
    pub action: Action,
    /// The fields that change.
    pub changes: Vec<FieldChange>,
    /// Things a person should know (for example a configuration that shadows ours).
    pub warnings: Vec<String>,
    /// For a manual step: what to do by hand.
    pub manual: Option<ManualStep>,
}

impl Change {
    /// Nothing to do.
    pub fn unchanged() -> Self {
        Self::of(Action::Unchanged, Vec::new())
    }

    /// An action with its field changes.
    pub fn of(action: Action, changes: Vec<FieldChange>) -> Self {
        Self {
            action,
            changes,
            warnings: Vec::new(),
            manual: None,
        }
    }

    /// Adds something a person should know.
    pub fn with_warning(mut self, warning: impl Into<String>) -> Self {
        self.warnings.push(warning.into());
        self
    }

    /// Makes it a step a person must do by hand, as `manual` says.
    pub fn with_manual(mut self, manual: ManualStep) -> Self {
        self.manual = Some(manual);
        self
    }

    /// `Create` when nothing exists, `Update` when fields differ, `Unchanged` otherwise.
    pub fn create_or_update(exists: bool, changes: Vec<FieldChange>) -> Self {
        match (exists, changes.is_empty()) {
            (false, _) => Self::of(Action::Create, changes),
            (true, true) => Self::unchanged(),
            (true, false) => Self::of(Action::Update, changes),
        }
    }
}

/// Roles of which the ServiceNow administrator must hold at least one, and
/// what for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct RoleNeed {
    /// Any one of these will do (`admin` covers every need).
    pub any_of: Vec<String>,
    /// What needs it (`the OAuth application registry`).
    pub purpose: String,
}

impl RoleNeed {
    /// A need met by any one of `roles`.
    pub fn any_of(roles: &[&str], purpose: impl Into<String>) -> Self {
        Self {
            any_of: roles.iter().map(|r| (*r).to_owned()).collect(),
            purpose: purpose.into(),
        }
    }

    /// `admin`, for writing the named tables (their ACLs ask for it).
    pub fn admin(purpose: impl Into<String>) -> Self {
        Self::any_of(&["admin"], purpose)
    }
}

/// A value to enter by hand.
#[derive(Clone)]
#[non_exhaustive]
pub enum ManualValue {
    /// Plain text.
    Text(String),
    /// A secret: masked unless the caller asks to reveal it; `None` when this run
    /// does not know it.
    Secret(Option<SecretString>),
}

impl fmt::Debug for ManualValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(false))
    }
}

impl PartialEq for ManualValue {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (ManualValue::Text(a), ManualValue::Text(b)) => a == b,
            (ManualValue::Secret(a), ManualValue::Secret(b)) => {
                a.as_ref().map(|s| s.expose_secret().to_owned())
                    == b.as_ref().map(|s| s.expose_secret().to_owned())
            }
            _ => false,
        }
    }
}

impl Eq for ManualValue {}

/// What a masked secret shows.
pub const MASK: &str =
    "******** (masked: --reveal-secrets shows it, WorkflowOptions::reveal_secrets in Rust)";
/// What an unknown secret shows.
pub const UNKNOWN_SECRET: &str = "(shown only by the run that creates or rotates it: `bp-servicenow rotate-secret` makes a new one)";

impl ManualValue {
    /// The value for display: a secret is masked unless `reveal`.
    pub fn render(&self, reveal: bool) -> String {
        match self {
            ManualValue::Text(t) => t.clone(),
            ManualValue::Secret(Some(s)) if reveal => s.expose_secret().to_owned(),
            ManualValue::Secret(Some(_)) => MASK.to_owned(),
            ManualValue::Secret(None) => UNKNOWN_SECRET.to_owned(),
        }
    }
}

impl Serialize for ManualValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.render(false))
    }
}

/// Read back as the text it was written as (a secret was written masked).
impl<'de> Deserialize<'de> for ManualValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(ManualValue::Text)
    }
}

/// A string: the text, or a secret as [`ManualValue::render`] shows it
/// unrevealed ([`MASK`], [`UNKNOWN_SECRET`]) or, revealed, in clear.
#[cfg(feature = "json-schema")]
impl schemars::JsonSchema for ManualValue {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ManualValue".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "The value to enter: plain text, or a secret (masked unless revealed).",
            "type": "string"
        })
    }
}

/// One value of a manual step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct ManualField {
    /// The field's label in the administrator UI.
    pub label: String,
    /// The value.
    pub value: ManualValue,
}

/// A step a person must do, with the exact values to enter.
///
/// ```
/// use brightpattern_servicenow::report::{ManualStep, ManualValue};
///
/// let step = ManualStep::new("Contact Center Administrator > Configuration > Integration Accounts")
///     .instruction("Open the ServiceNow integration account and enter:")
///     .field("Client secret", ManualValue::Secret(Some("s3cr3t-value".into())))
///     .instruction("Save.");
/// // Secrets are masked unless asked for.
/// assert!(!step.render(false).contains("s3cr3t-value"));
/// assert!(step.render(true).contains("s3cr3t-value"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct ManualStep {
    /// Where to do it.
    pub title: String,
    /// What to do, in order.
    pub instructions: Vec<String>,
    /// The values to enter.
    pub fields: Vec<ManualField>,
}

impl ManualStep {
    /// A manual step done at `title` (where to do it), with no instructions
    /// or values yet.
    pub fn new(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            instructions: Vec::new(),
            fields: Vec::new(),
        }
    }

    /// Adds the next instruction.
    pub fn instruction(mut self, text: impl Into<String>) -> Self {
        self.instructions.push(text.into());
        self
    }

    /// Adds a value to enter (shown under the first instruction ending in `:`).
    pub fn field(mut self, label: impl Into<String>, value: ManualValue) -> Self {
        self.fields.push(ManualField {
            label: label.into(),
            value,
        });
        self
    }

    /// Turns every secret this run knows into plain text, for a caller that
    /// asked to see secrets in serialised output (`--reveal-secrets --json`):
    /// serialisation masks them otherwise.
    pub fn reveal_secrets(&mut self) {
        for field in &mut self.fields {
            if let ManualValue::Secret(Some(secret)) = &field.value {
                field.value = ManualValue::Text(secret.expose_secret().to_owned());
            }
        }
    }

    /// The instructions as text, the values right under the instruction that
    /// introduces them (the first ending in `:`, else after the last); secrets
    /// are shown only when `reveal`.
    pub fn render(&self, reveal: bool) -> String {
        let width = self.fields.iter().map(|f| f.label.len()).max().unwrap_or(0);
        let fields = || {
            self.fields
                .iter()
                .map(|field| {
                    format!(
                        "     {:width$}  {}\n",
                        field.label,
                        field.value.render(reveal)
                    )
                })
                .collect::<String>()
        };
        let at = self
            .instructions
            .iter()
            .position(|i| i.trim_end().ends_with(':'))
            .unwrap_or(self.instructions.len().saturating_sub(1));
        let mut out = format!("{}\n", self.title);
        for (i, step) in self.instructions.iter().enumerate() {
            out.push_str(&format!("  {}. {step}\n", i + 1));
            if i == at {
                out.push_str(&fields());
            }
        }
        if self.instructions.is_empty() {
            out.push_str(&fields());
        }
        out
    }
}

/// Why a writing operation refused to start (and, in a [`Plan`](crate::Plan), why it would).
///
/// In JSON a problem is an object whose `problem` field names the variant
/// (`missing_roles`, `unknown_user`, `release_too_old`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
#[non_exhaustive]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub enum PreflightProblem {
    /// The ServiceNow administrator holds none of the roles of each of these needs.
    MissingRoles {
        /// The administrator's user name.
        user: String,
        /// Every need not met.
        unmet: Vec<RoleNeed>,
    },
    /// The configured administrator is not a `sys_user` the instance shows, so
    /// its roles cannot be checked.
    UnknownUser {
        /// The user name the credentials carry.
        user: String,
    },
    /// Every update set named by `[servicenow] update_set` is complete or
    /// ignored: nothing more can be captured in it.
    UpdateSetClosed {
        /// The name.
        name: String,
    },
    /// Several update sets in progress have the name `[servicenow]
    /// update_set` gives: which one is meant cannot be told.
    UpdateSetAmbiguous {
        /// The name.
        name: String,
        /// How many are in progress.
        in_progress: usize,
    },
    /// `[servicenow] update_set` is given, but the credentials name no user
    /// whose current update set could be chosen.
    UpdateSetNeedsUser {
        /// The name.
        name: String,
        /// The authentication method.
        method: String,
    },
    /// The spec has a step's own section (`[steps.<id>]`) that no registered
    /// step reads.
    UnknownSection {
        /// The step id the section names.
        section: String,
    },
    /// The instance's release is older than a step needs.
    ReleaseTooOld {
        /// The step.
        step: StepId,
        /// The instance's release.
        release: String,
        /// The oldest release the step works on.
        minimum: Family,
        /// Why.
        reason: String,
    },
}

impl fmt::Display for PreflightProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PreflightProblem::MissingRoles { user, unmet } => {
                write!(f, "the ServiceNow user {user} lacks roles:")?;
                for need in unmet {
                    write!(
                        f,
                        "\n    - {} (for {})",
                        need.any_of.join(" or "),
                        need.purpose
                    )?;
                }
                write!(
                    f,
                    "\n    grant them (User Administration > Users > {user} > Roles), or configure an administrator who holds them"
                )
            }
            PreflightProblem::UnknownSection { section } => write!(
                f,
                "the spec has [steps.{section}], but no registered step reads it: remove the section, or register the step it belongs to (WorkflowBuilder::step)"
            ),
            PreflightProblem::UnknownUser { user } => write!(
                f,
                "the ServiceNow user {user} of the credentials is not in sys_user (or hidden from it), so its roles cannot be checked: configure the administrator's own user name"
            ),
            PreflightProblem::UpdateSetClosed { name } => write!(
                f,
                "every update set named {name:?} is complete or ignored, so nothing more can be captured in it: name a new one in [servicenow] update_set (it is created in progress), or set that one back to In progress"
            ),
            PreflightProblem::UpdateSetAmbiguous { name, in_progress } => write!(
                f,
                "{in_progress} update sets in progress are named {name:?}: rename all but one (System Update Sets > Local Update Sets), or name another in [servicenow] update_set"
            ),
            PreflightProblem::UpdateSetNeedsUser { name, method } => write!(
                f,
                "[servicenow] update_set = {name:?} needs credentials that name the ServiceNow user whose current update set is chosen; {method} credentials name none: use basic, password or jwt authentication, or remove update_set"
            ),
            PreflightProblem::ReleaseTooOld {
                step,
                release,
                minimum,
                reason,
            } => write!(
                f,
                "step {step} needs ServiceNow {minimum} or later ({reason}); the instance runs {release}: upgrade it, or remove the step from the spec"
            ),
        }
    }
}
