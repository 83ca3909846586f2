//! Users of the Configuration API (`/configapi/v2/user`), and their lock state.
//!
//! The documented body fields are typed; any other field the tenant sends is kept
//! in [`User::other`] and sent back on update, so nothing is lost by a round trip.
//!
//! ```no_run
//! # async fn run(client: brightpattern_client::Client) -> brightpattern_client::Result<()> {
//! use brightpattern_client::users::User;
//! let mut user = User::new("agent.007");
//! user.first_name = Some("James".into());
//! user.team = Some("Support".into());
//! client.users().create(&user).await?;
//! let stored = client.users().get("agent.007").await?;
//! assert_eq!(stored.team.as_deref(), Some("Support"));
//! # Ok(()) }
//! ```

use bpsn_core::Request;
use bpsn_core::transport::path_segment;
use serde::{Deserialize, Serialize};

use crate::client::Client;
use crate::error::{InvalidInput, Result};

const USER_PATH: &str = "/configapi/v2/user";

/// A Bright Pattern user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
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
    /// Skills, as the tenant represents them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skills: Vec<serde_json::Value>,
    /// Whether the user is disabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    /// Every other field the tenant sent, kept for updates.
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
            skills: Vec::new(),
            disabled: None,
            other: serde_json::Map::new(),
        }
    }
}

/// Whether a user is locked out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockState {
    /// Locked out (too many failed logins, or by an administrator). Read as a
    /// boolean or its string form, written as a JSON boolean.
    #[serde(deserialize_with = "bpsn_core::wire::string_bool::deserialize")]
    pub locked: bool,
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
    fn item(login: &str) -> String {
        format!("{USER_PATH}/{}", path_segment(login))
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
            .send(Request::get(Self::item(login)).api("user"))
            .await?
            .json()
    }

    /// Replaces a user's fields.
    pub async fn update(&self, user: &User) -> Result<()> {
        check_login(&user.login_id)?;
        self.client
            .transport()
            .send(
                Request::put(Self::item(&user.login_id))
                    .json(user)?
                    .api("user"),
            )
            .await?;
        Ok(())
    }

    /// Deletes a user.
    pub async fn delete(&self, login: &str) -> Result<()> {
        check_login(login)?;
        self.client
            .transport()
            .send(Request::delete(Self::item(login)).api("user"))
            .await?;
        Ok(())
    }

    /// Whether the user is locked out (`GET /configapi/v2/user/lock/{login}`).
    pub async fn lock_state(&self, login: &str) -> Result<LockState> {
        check_login(login)?;
        self.client
            .transport()
            .send(Request::get(format!("{USER_PATH}/lock/{}", path_segment(login))).api("user"))
            .await?
            .json()
    }

    /// Locks or unlocks the user (`PUT /configapi/v2/user/lock/{login}` with
    /// `{"locked": bool}`; the body shape is unverified and a tenant that wants
    /// another answers 400).
    pub async fn set_locked(&self, login: &str, locked: bool) -> Result<()> {
        check_login(login)?;
        self.client
            .transport()
            .send(
                Request::put(format!("{USER_PATH}/lock/{}", path_segment(login)))
                    .json(&LockState { locked })?
                    .api("user"),
            )
            .await?;
        Ok(())
    }
}
