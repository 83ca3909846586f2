//! Users of the Configuration API (`/configapi/v2/user`), and their lock state,
//! in the shapes Bright Pattern documents.
//!
//! - `skills` is an object, skill name → level (`{"Support": 100}`).
//! - A user PUT updates only `skills`, `disabled`, `password`, `changePassword`
//!   and `team`: [`Users::update`] takes a [`UserUpdate`] holding exactly those, so
//!   a change of any other field cannot be sent believing it took effect.
//! - The lock state is `{"lockedOut": bool}`; the documented PUT only clears a
//!   lock, so there is [`Users::unlock`] and no way to lock.
//!
//! Fields the tenant sends that are not typed here are kept in [`User::other`].
//!
//! ```no_run
//! # async fn run(client: brightpattern_client::Client) -> brightpattern_client::Result<()> {
//! use brightpattern_client::users::{User, UserUpdate};
//! let mut user = User::new("agent.007");
//! user.first_name = Some("James".into());
//! user.team = Some("Support".into());
//! user.skills.insert("Support".into(), 100);
//! client.users().create(&user).await?;
//! client.users().update("agent.007", &UserUpdate::new().team("Sales").skill("Billing", 50)).await?;
//! if client.users().lock_state("agent.007").await?.locked_out {
//!     client.users().unlock("agent.007").await?;
//! }
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::fmt;

use bpsn_core::Request;
use bpsn_core::transport::path_segment;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};

use crate::client::Client;
use crate::error::{InvalidInput, Result};

const USER_PATH: &str = "/configapi/v2/user";

/// Skill levels by skill name.
pub type Skills = BTreeMap<String, u32>;

/// A Bright Pattern user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct User {
    /// The login (the natural key).
    pub login_id: String,
    /// First name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Last name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// E-mail address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The team's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// Role names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Skill levels by skill name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub skills: Skills,
    /// Whether the user is disabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    /// Every other field the tenant sent.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

impl User {
    /// A user with only a login.
    pub fn new(login_id: impl Into<String>) -> Self {
        Self {
            login_id: login_id.into(),
            first_name: None,
            last_name: None,
            email: None,
            team: None,
            roles: Vec::new(),
            skills: Skills::new(),
            disabled: None,
            other: serde_json::Map::new(),
        }
    }
}

/// What a user PUT may change: the documented fields, each sent only when set.
#[derive(Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct UserUpdate {
    /// New skill levels (the whole map).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skills: Option<Skills>,
    /// Disable or enable the user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    /// A new password.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "expose_password"
    )]
    pub password: Option<SecretString>,
    /// Whether the user must change the password at the next login.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_password: Option<bool>,
    /// The team's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
}

fn expose_password<S: Serializer>(
    password: &Option<SecretString>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match password {
        Some(p) => s.serialize_str(p.expose_secret()),
        None => s.serialize_none(),
    }
}

impl fmt::Debug for UserUpdate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserUpdate")
            .field("skills", &self.skills)
            .field("disabled", &self.disabled)
            .field("password", &self.password.as_ref().map(|_| "[REDACTED]"))
            .field("change_password", &self.change_password)
            .field("team", &self.team)
            .finish()
    }
}

impl UserUpdate {
    /// An update that changes nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the user to a team.
    pub fn team(mut self, team: impl Into<String>) -> Self {
        self.team = Some(team.into());
        self
    }

    /// Sets one skill's level (the other skills sent are the ones set so far).
    pub fn skill(mut self, skill: impl Into<String>, level: u32) -> Self {
        self.skills
            .get_or_insert_with(Skills::new)
            .insert(skill.into(), level);
        self
    }

    /// Replaces the skills.
    pub fn skills(mut self, skills: Skills) -> Self {
        self.skills = Some(skills);
        self
    }

    /// Disables (or enables) the user.
    pub fn disabled(mut self, disabled: bool) -> Self {
        self.disabled = Some(disabled);
        self
    }

    /// Sets a new password, and whether it must be changed at the next login.
    pub fn password(mut self, password: SecretString, change_at_next_login: bool) -> Self {
        self.password = Some(password);
        self.change_password = Some(change_at_next_login);
        self
    }

    fn is_empty(&self) -> bool {
        self.skills.is_none()
            && self.disabled.is_none()
            && self.password.is_none()
            && self.change_password.is_none()
            && self.team.is_none()
    }
}

/// Whether a user is locked out (`{"lockedOut": bool}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LockState {
    /// Locked out (too many failed logins, or by an administrator). Read as a
    /// boolean or its string form.
    #[serde(deserialize_with = "bpsn_core::wire::string_bool::deserialize")]
    pub locked_out: bool,
}

/// The users of one tenant.
#[derive(Debug, Clone)]
pub struct Users {
    client: Client,
}

impl Client {
    /// The users of this tenant.
    pub fn users(&self) -> Users {
        Users {
            client: self.clone(),
        }
    }
}

fn check_login(login: &str) -> Result<()> {
    if login.trim().is_empty() {
        return Err(InvalidInput::new("login", "the login is empty").into());
    }
    Ok(())
}

impl Users {
    fn item(login: &str) -> Result<String> {
        Ok(format!("{USER_PATH}/{}", path_segment(login)?))
    }

    fn lock_path(login: &str) -> Result<String> {
        Ok(format!("{USER_PATH}/lock/{}", path_segment(login)?))
    }

    /// Creates a user (409 when the login exists).
    pub async fn create(&self, user: &User) -> Result<()> {
        check_login(&user.login_id)?;
        self.client
            .transport()
            .send(Request::post(USER_PATH).json(user)?.api("user"))
            .await?;
        Ok(())
    }

    /// Reads a user (404 when absent).
    pub async fn get(&self, login: &str) -> Result<User> {
        check_login(login)?;
        self.client
            .transport()
            .send(Request::get(Self::item(login)?).api("user"))
            .await?
            .json()
    }

    /// Changes the documented updatable fields of a user (PUT with only the fields
    /// set). An empty update is refused before anything is sent.
    pub async fn update(&self, login: &str, update: &UserUpdate) -> Result<()> {
        check_login(login)?;
        if update.is_empty() {
            return Err(InvalidInput::new("user update", "nothing to change").into());
        }
        let mut request = Request::put(Self::item(login)?).json(update)?.api("user");
        if update.password.is_some() {
            request = request.sensitive();
        }
        self.client.transport().send(request).await?;
        Ok(())
    }

    /// Deletes a user.
    pub async fn delete(&self, login: &str) -> Result<()> {
        check_login(login)?;
        self.client
            .transport()
            .send(Request::delete(Self::item(login)?).api("user"))
            .await?;
        Ok(())
    }

    /// Whether the user is locked out (`GET /configapi/v2/user/lock/{login}`).
    pub async fn lock_state(&self, login: &str) -> Result<LockState> {
        check_login(login)?;
        self.client
            .transport()
            .send(Request::get(Self::lock_path(login)?).api("user"))
            .await?
            .json()
    }

    /// Clears a lockout (`PUT /configapi/v2/user/lock/{login}` with
    /// `{"lockedOut": false}`), the only lock change the API documents.
    pub async fn unlock(&self, login: &str) -> Result<()> {
        check_login(login)?;
        self.client
            .transport()
            .send(
                Request::put(Self::lock_path(login)?)
                    .json(&LockState { locked_out: false })?
                    .api("user"),
            )
            .await?;
        Ok(())
    }
}
