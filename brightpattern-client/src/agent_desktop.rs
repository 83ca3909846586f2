//! The Agent Desktop page: does the URL written into ServiceNow's OpenFrame
//! configuration exist on the tenant?
//!
//! Bright Pattern serves the classic Agent Desktop at `/agentdesktop/` and Agent
//! Desktop 2.0 at `/agent/`. Without credentials a GET of the page most likely
//! answers with the login page (2xx HTML), and a wrong path with 404 (this is not
//! documented, so anything else is reported as "could not confirm", never as a
//! pass). The page is fetched the way a browser's first visit would: without
//! credentials, following redirects only within the tenant origin.
//!
//! ```no_run
//! # async fn run(client: brightpattern_client::Client) -> brightpattern_client::Result<()> {
//! use brightpattern_client::agent_desktop::PageVerdict;
//! let url = "https://example.brightpattern.com/agentdesktop/?topDomain=https%3A%2F%2Fdev1.service-now.com";
//! match client.agent_desktop().probe(url).await?.verdict() {
//!     PageVerdict::Exists => println!("the page is there"),
//!     PageVerdict::Missing => println!("wrong entry path"),
//!     PageVerdict::Unconfirmed(why) => println!("could not confirm: {why}"),
//!     _ => println!("a verdict this version does not know"),
//! }
//! # Ok(()) }
//! ```

use bpsn_core::Request;

use crate::client::Client;
use crate::error::{InvalidInput, Result};

/// What the tenant answered to a GET of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageAnswer {
    /// The final HTTP status (after redirects within the tenant origin).
    pub status: u16,
    /// `Location`, when the answer is a redirect the transport did not follow
    /// (one towards another origin).
    pub location: Option<String>,
}

/// What a [`PageAnswer`] proves.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PageVerdict {
    /// 2xx: the page exists.
    Exists,
    /// 404: nothing is served there (a wrong entry path).
    Missing,
    /// Anything else, with what came back.
    Unconfirmed(String),
}

impl PageAnswer {
    /// What the answer proves.
    pub fn verdict(&self) -> PageVerdict {
        match (self.status, &self.location) {
            (200..=299, _) => PageVerdict::Exists,
            (404, _) => PageVerdict::Missing,
            (300..=399, Some(location)) => PageVerdict::Unconfirmed(format!(
                "HTTP {} redirects to another origin ({location}); not followed",
                self.status
            )),
            (status, _) => PageVerdict::Unconfirmed(format!("HTTP {status}")),
        }
    }
}

/// Pages of the tenant's web applications.
#[derive(Debug, Clone)]
pub struct AgentDesktop {
    client: Client,
}

impl Client {
    /// The tenant's Agent Desktop pages.
    pub fn agent_desktop(&self) -> AgentDesktop {
        AgentDesktop {
            client: self.clone(),
        }
    }
}

impl AgentDesktop {
    /// GETs `url` (which must be on the tenant origin) without credentials and
    /// reports the answer. A URL on another origin is refused before anything is
    /// sent.
    pub async fn probe(&self, url: &str) -> Result<PageAnswer> {
        let parsed = url::Url::parse(url)
            .map_err(|e| InvalidInput::new("Agent Desktop URL", format!("{url:?}: {e}")))?;
        let tenant = self.client.tenant().origin().url().origin();
        if parsed.origin() != tenant {
            return Err(InvalidInput::new(
                "Agent Desktop URL",
                format!(
                    "{url:?} is not on the tenant origin {}",
                    tenant.ascii_serialization()
                ),
            )
            .into());
        }
        let path = match parsed.query() {
            Some(q) => format!("{}?{q}", parsed.path()),
            None => parsed.path().to_owned(),
        };
        let response = self
            .client
            .transport()
            .anonymous()
            .send_raw(Request::get(path).api("agent desktop page"))
            .await?;
        let status = response.status().as_u16();
        Ok(PageAnswer {
            status,
            location: (300..400)
                .contains(&status)
                .then(|| response.header("location").map(str::to_owned))
                .flatten(),
        })
    }
}
