//! Validation of service origins (`https://host[:port]`), shared by the ServiceNow
//! instance URL and the Bright Pattern tenant URL.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use url::{Host, Url};

/// The default domain of hosted ServiceNow instances (`<name>.service-now.com`).
pub const SERVICE_NOW_DOMAIN: &str = "service-now.com";

/// The default domain of hosted Bright Pattern tenants (`<name>.brightpattern.com`).
pub const BRIGHT_PATTERN_DOMAIN: &str = "brightpattern.com";

/// A validated origin: a scheme, a host and an optional port, nothing else.
///
/// Built by [`Origin::parse_or_expand`], which accepts either a bare name (expanded
/// under a service's default domain) or a full origin. Plain `http` is accepted only
/// for loopback hosts, so local test servers work and nothing else travels in clear.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    url: Url,
}

/// Why a string is not an acceptable origin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OriginError {
    /// The input was empty or only white space.
    #[error("the URL is empty")]
    Empty,
    /// A bare name held characters a DNS label cannot hold.
    #[error("`{0}` is neither a valid name (letters, digits and `-`) nor a full https URL")]
    InvalidName(String),
    /// The input could not be parsed as a URL.
    #[error("`{input}` is not a valid URL: {reason}")]
    Unparsable {
        /// The input as given.
        input: String,
        /// What the URL parser said.
        reason: String,
    },
    /// The scheme is neither `https` nor (for loopback hosts) `http`.
    #[error(
        "`{input}` uses the scheme `{scheme}`; only https is allowed (http only for loopback hosts)"
    )]
    Scheme {
        /// The input as given.
        input: String,
        /// The scheme found.
        scheme: String,
    },
    /// The URL carries a user name or password.
    #[error("`{0}` carries credentials in the URL; pass credentials separately")]
    Userinfo(String),
    /// The URL has a path other than `/`.
    #[error("`{input}` has the path `{path}`; give the origin only (scheme, host, port)")]
    Path {
        /// The input as given.
        input: String,
        /// The path found.
        path: String,
    },
    /// The URL has a query string.
    #[error("`{0}` has a query string; give the origin only (scheme, host, port)")]
    Query(String),
    /// The URL has a fragment.
    #[error("`{0}` has a fragment; give the origin only (scheme, host, port)")]
    Fragment(String),
    /// The URL has no host.
    #[error("`{0}` has no host")]
    NoHost(String),
    /// The port is 0, which no service listens on (ports are 1–65535).
    #[error("`{0}` names port 0; a port is 1–65535")]
    PortZero(String),
}

impl Origin {
    /// Parses `input` as a full origin, or, when it holds no `:`, `/` or `.`, expands the
    /// bare name to `https://{name}.{default_domain}`.
    ///
    /// Userinfo, paths (other than a lone `/`), queries, fragments and schemes other
    /// than https are rejected; `http` is allowed for loopback hosts only.
    ///
    /// ```
    /// use bpsn_core::Origin;
    /// let o = Origin::parse_or_expand("dev12345", "service-now.com").unwrap();
    /// assert_eq!(o.as_str(), "https://dev12345.service-now.com");
    /// let o = Origin::parse_or_expand("https://itsm.example.org/", "service-now.com").unwrap();
    /// assert_eq!(o.as_str(), "https://itsm.example.org");
    /// assert!(Origin::parse_or_expand("http://example.org", "service-now.com").is_err());
    /// ```
    pub fn parse_or_expand(input: &str, default_domain: &str) -> Result<Self, OriginError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(OriginError::Empty);
        }
        if !trimmed.contains([':', '/', '.']) {
            if !is_dns_label(trimmed) {
                return Err(OriginError::InvalidName(trimmed.to_owned()));
            }
            let url = Url::parse(&format!(
                "https://{}.{default_domain}",
                trimmed.to_ascii_lowercase()
            ))
            .map_err(|e| OriginError::Unparsable {
                input: trimmed.to_owned(),
                reason: e.to_string(),
            })?;
            return Ok(Self { url });
        }
        Self::parse(trimmed)
    }

    /// Parses a full origin (`https://host[:port]`, optionally with a trailing `/`).
    ///
    /// ```
    /// use bpsn_core::Origin;
    /// assert!(Origin::parse("https://example.org:8443").is_ok());
    /// assert!(Origin::parse("https://example.org:0").is_err());
    /// assert!(Origin::parse("https://example.org:65536").is_err());
    /// ```
    pub fn parse(input: &str) -> Result<Self, OriginError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(OriginError::Empty);
        }
        let url = Url::parse(input).map_err(|e| OriginError::Unparsable {
            input: input.to_owned(),
            reason: e.to_string(),
        })?;
        let host = url
            .host()
            .ok_or_else(|| OriginError::NoHost(input.to_owned()))?;
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&host) => {}
            other => {
                return Err(OriginError::Scheme {
                    input: input.to_owned(),
                    scheme: other.to_owned(),
                });
            }
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(OriginError::Userinfo(redact_userinfo(&url)));
        }
        if url.path() != "/" && !url.path().is_empty() {
            return Err(OriginError::Path {
                input: input.to_owned(),
                path: url.path().to_owned(),
            });
        }
        if url.port() == Some(0) {
            return Err(OriginError::PortZero(input.to_owned()));
        }
        if url.query().is_some() {
            return Err(OriginError::Query(input.to_owned()));
        }
        if url.fragment().is_some() {
            return Err(OriginError::Fragment(input.to_owned()));
        }
        Ok(Self { url })
    }

    /// The origin as text, without a trailing slash: `https://host[:port]`.
    pub fn as_str(&self) -> &str {
        self.url.as_str().trim_end_matches('/')
    }

    /// The origin as a [`Url`] (its path is `/`).
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The host name (or address), without port.
    pub fn host(&self) -> &str {
        self.url.host_str().unwrap_or_default()
    }

    /// The host with the port when one is given explicitly (`host` or `host:port`).
    pub fn authority(&self) -> String {
        match self.url.port() {
            Some(port) => format!("{}:{port}", self.host()),
            None => self.host().to_owned(),
        }
    }

    /// Whether the host is a loopback address or `localhost`.
    pub fn is_loopback(&self) -> bool {
        self.url.host().is_some_and(|h| is_loopback(&h))
    }

    /// Joins a path (which must start with `/`) and optional query onto this origin.
    pub fn join(&self, path_and_query: &str) -> Result<Url, url::ParseError> {
        self.url.join(path_and_query)
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Origin({})", self.as_str())
    }
}

impl FromStr for Origin {
    type Err = OriginError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

fn is_dns_label(s: &str) -> bool {
    s.len() <= 63
        && !s.starts_with('-')
        && !s.ends_with('-')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn is_loopback(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        Host::Ipv4(ip) => IpAddr::V4(*ip).is_loopback(),
        Host::Ipv6(ip) => IpAddr::V6(*ip).is_loopback(),
    }
}

fn redact_userinfo(url: &Url) -> String {
    let mut clean = url.clone();
    // Both setters only fail for URLs that cannot carry userinfo, which this one does.
    let _ = clean.set_username("");
    let _ = clean.set_password(None);
    clean.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SN: &str = "service-now.com";

    #[test]
    fn bare_name_expands_under_default_domain() {
        let o = Origin::parse_or_expand("Dev12345", SN).unwrap();
        assert_eq!(o.as_str(), "https://dev12345.service-now.com");
        assert_eq!(o.host(), "dev12345.service-now.com");
        assert_eq!(o.to_string(), o.as_str());
    }

    #[test]
    fn full_origin_is_kept_as_given() {
        let o = Origin::parse_or_expand("https://acme.servicenowservices.com", SN).unwrap();
        assert_eq!(o.as_str(), "https://acme.servicenowservices.com");
        let o = Origin::parse_or_expand("https://proxy.example.org:8443/", SN).unwrap();
        assert_eq!(o.as_str(), "https://proxy.example.org:8443");
        assert_eq!(o.authority(), "proxy.example.org:8443");
    }

    #[test]
    fn http_is_allowed_for_loopback_only() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://localhost:1",
            "http://[::1]:9",
        ] {
            let o = Origin::parse(ok).unwrap();
            assert!(o.is_loopback(), "{ok}");
        }
        let err = Origin::parse("http://example.org").unwrap_err();
        assert!(
            matches!(err, OriginError::Scheme { ref scheme, .. } if scheme == "http"),
            "{err}"
        );
        assert!(matches!(
            Origin::parse("ftp://127.0.0.1").unwrap_err(),
            OriginError::Scheme { .. }
        ));
    }

    #[test]
    fn rejects_everything_that_is_not_an_origin() {
        assert_eq!(Origin::parse_or_expand("  ", SN), Err(OriginError::Empty));
        assert!(matches!(
            Origin::parse_or_expand("dev_123", SN),
            Err(OriginError::InvalidName(_))
        ));
        assert!(matches!(
            Origin::parse("https://x.example.org/api"),
            Err(OriginError::Path { .. })
        ));
        assert!(matches!(
            Origin::parse("https://x.example.org/?a=b"),
            Err(OriginError::Query(_))
        ));
        assert!(matches!(
            Origin::parse("https://x.example.org/#top"),
            Err(OriginError::Fragment(_))
        ));
        assert!(matches!(
            Origin::parse("not a url"),
            Err(OriginError::Unparsable { .. })
        ));
    }

    #[test]
    fn userinfo_is_rejected_without_echoing_the_password() {
        let err = Origin::parse("https://admin:hunter2@x.example.org").unwrap_err();
        assert!(matches!(err, OriginError::Userinfo(_)));
        let text = format!("{err} {err:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!text.contains("admin"), "{text}");
    }
}
