//! The tenant URL.

use std::fmt;
use std::str::FromStr;

use bpsn_core::{BRIGHT_PATTERN_DOMAIN, Origin, OriginError};

/// Where a Bright Pattern tenant is reached: `https://<tenant>.brightpattern.com`
/// (hosted) or the customer's own origin.
///
/// Same rules as the ServiceNow instance URL: a bare name expands under
/// `brightpattern.com`, a full origin is used as given, and anything but https
/// (plain http on loopback hosts aside) is rejected, as are user names, paths,
/// queries and fragments.
///
/// ```
/// use brightpattern_client::TenantUrl;
/// let tenant: TenantUrl = "example".parse().unwrap();
/// assert_eq!(tenant.as_str(), "https://example.brightpattern.com");
/// assert_eq!(tenant.host(), "example.brightpattern.com");
/// assert!(TenantUrl::parse("http://example.brightpattern.com").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TenantUrl(Origin);

impl TenantUrl {
    /// Parses a bare tenant name or a full origin.
    pub fn parse(input: &str) -> Result<Self, OriginError> {
        Origin::parse_or_expand(input, BRIGHT_PATTERN_DOMAIN).map(Self)
    }

    /// The origin as text, without a trailing slash.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The origin.
    pub fn origin(&self) -> &Origin {
        &self.0
    }

    /// The host name: what the token request names as its scope.
    pub fn host(&self) -> &str {
        self.0.host()
    }
}

impl From<Origin> for TenantUrl {
    fn from(origin: Origin) -> Self {
        Self(origin)
    }
}

impl FromStr for TenantUrl {
    type Err = OriginError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for TenantUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for TenantUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TenantUrl({})", self.as_str())
    }
}
