//! The instance URL.

use std::fmt;
use std::str::FromStr;

use bpsn_core::{Origin, OriginError};

/// The default domain of hosted ServiceNow instances.
pub use bpsn_core::SERVICE_NOW_DOMAIN;

/// Where a ServiceNow instance is reached: `https://<name>.service-now.com`, or a
/// full origin for custom domains, `*.servicenowservices.com` and reverse proxies.
///
/// A bare name (no `.`, `:` or `/`) expands under `service-now.com`; a full origin is
/// used exactly as given. User names and passwords, paths, queries, fragments and
/// schemes other than https are rejected; plain http is accepted for loopback hosts
/// only (local test servers).
///
/// ```
/// use servicenow_client::InstanceUrl;
///
/// let dev: InstanceUrl = "dev12345".parse().unwrap();
/// assert_eq!(dev.as_str(), "https://dev12345.service-now.com");
///
/// let custom = InstanceUrl::parse("https://itsm.example.com").unwrap();
/// assert_eq!(custom.as_str(), "https://itsm.example.com");
///
/// assert!(InstanceUrl::parse("https://dev1.service-now.com/now/nav/ui").is_err());
/// assert!(InstanceUrl::parse("http://dev1.service-now.com").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct InstanceUrl(Origin);

impl InstanceUrl {
    /// Parses a bare instance name or a full origin.
    pub fn parse(input: &str) -> Result<Self, OriginError> {
        Origin::parse_or_expand(input, SERVICE_NOW_DOMAIN).map(Self)
    }

    /// The origin as text, without a trailing slash.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The origin.
    pub fn origin(&self) -> &Origin {
        &self.0
    }

    /// The host name.
    pub fn host(&self) -> &str {
        self.0.host()
    }

    /// The token endpoint, `<origin>/oauth_token.do`.
    pub fn token_url(&self) -> String {
        format!("{}/oauth_token.do", self.as_str())
    }
}

impl From<Origin> for InstanceUrl {
    fn from(origin: Origin) -> Self {
        Self(origin)
    }
}

impl FromStr for InstanceUrl {
    type Err = OriginError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for InstanceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for InstanceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InstanceUrl({})", self.as_str())
    }
}
