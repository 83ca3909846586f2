//! Teams of the Configuration API (`GET /configapi/v2/team`).
//!
//! ```no_run
//! # async fn run(client: brightpattern_client::Client) -> brightpattern_client::Result<()> {
//! let names: Vec<String> = client.teams().list().await?.into_iter().map(|t| t.name).collect();
//! # Ok(()) }
//! ```

use bpsn_core::Request;
use serde::Deserialize;

use crate::client::Client;
use crate::error::Result;

/// A team.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Team {
    /// The team's name.
    pub name: String,
    /// Every other field the tenant sent.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// The teams of one tenant.
#[derive(Debug, Clone)]
pub struct Teams {
    client: Client,
}

impl Client {
    /// The teams of this tenant.
    pub fn teams(&self) -> Teams {
        Teams {
            client: self.clone(),
        }
    }
}

impl Teams {
    /// Every team.
    pub async fn list(&self) -> Result<Vec<Team>> {
        self.client
            .transport()
            .send(Request::get("/configapi/v2/team").api("team"))
            .await?
            .json()
    }
}
