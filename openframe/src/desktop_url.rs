//! The Agent Desktop URL OpenFrame loads, with its `topDomain` parameter.
//!
//! Bright Pattern's Agent Desktop posts activity history to ServiceNow records only
//! when its URL names the ServiceNow instance origin in `topDomain`; without it the
//! widget loads but history is silently lost. [`AgentDesktopUrl`] builds that URL
//! correctly (the instance origin exactly: scheme, host, optional port, no path, no
//! trailing slash, percent-encoded), and [`AgentDesktopUrl::check`] explains what is
//! wrong with a hand-made one.
//!
//! ```
//! use servicenow_openframe::{AgentDesktopUrl, instance_origin, tenant_origin};
//!
//! let tenant = tenant_origin("example").unwrap();
//! let instance = instance_origin("dev12345").unwrap();
//! let url = AgentDesktopUrl::new(&tenant, &instance).unwrap();
//! assert_eq!(
//!     url.as_str(),
//!     "https://example.brightpattern.com/agentdesktop/?topDomain=https%3A%2F%2Fdev12345.service-now.com"
//! );
//!
//! let problems = AgentDesktopUrl::check("https://example.brightpattern.com/agentdesktop/", &tenant, &instance);
//! assert!(problems[0].to_string().contains("activity history"));
//! ```

use std::fmt;

use bpsn_core::Origin;
use url::Url;

/// The default entry path of Agent Desktop on a tenant. The vendor's exact
/// OpenFrame entry path varies by release; override it with
/// [`AgentDesktopUrl::with_entry_path`].
pub const DEFAULT_ENTRY_PATH: &str = "/agentdesktop/";

/// The query parameter naming the ServiceNow instance origin.
pub const TOP_DOMAIN: &str = "topDomain";

/// The longest URL OpenFrame's client API accepts.
pub const MAX_URL_LENGTH: usize = 2083;

/// What is wrong with an Agent Desktop URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlProblem {
    /// The text is not a URL.
    #[error("not a URL: {reason}")]
    Unparsable {
        /// What the parser said.
        reason: String,
    },
    /// The URL is not https (plain http is accepted for loopback hosts only).
    #[error("the URL uses {scheme}; Agent Desktop must be loaded over https")]
    NotHttps {
        /// The scheme found.
        scheme: String,
    },
    /// The URL's origin is not the tenant's.
    #[error("the URL points at {found}, not at the tenant {expected}")]
    HostNotTenant {
        /// The origin found.
        found: String,
        /// The tenant origin.
        expected: String,
    },
    /// The entry path is not a plain path on the tenant.
    #[error(
        "the entry path {path:?} must be a path on the tenant: start with one `/`, with no backslash, scheme, whitespace, fragment or topDomain of its own"
    )]
    EntryPath {
        /// The path given.
        path: String,
    },
    /// `topDomain` is absent.
    #[error(
        "the URL has no topDomain parameter: Agent Desktop loads, but activity history will not be posted to ServiceNow records"
    )]
    MissingTopDomain,
    /// `topDomain` appears more than once.
    #[error("the URL has {count} topDomain parameters; give exactly one")]
    RepeatedTopDomain {
        /// How many.
        count: usize,
    },
    /// `topDomain` is not an origin (it has a path, a trailing slash, no scheme...).
    #[error(
        "topDomain {found:?} is not an origin (scheme and host, no path, no trailing slash): cross-domain calls will fail"
    )]
    TopDomainNotAnOrigin {
        /// The value found.
        found: String,
    },
    /// `topDomain` names another instance.
    #[error(
        "topDomain {found:?} is not this instance ({expected}): activity history would go to another instance or nowhere"
    )]
    TopDomainMismatch {
        /// The value found.
        found: String,
        /// The instance origin.
        expected: String,
    },
    /// The URL is too long for OpenFrame.
    #[error("the URL is {length} characters long; OpenFrame accepts at most {MAX_URL_LENGTH}")]
    TooLong {
        /// Its length.
        length: usize,
    },
}

/// An Agent Desktop URL for OpenFrame: the tenant origin, an entry path, and
/// `topDomain` set to the ServiceNow instance origin.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct AgentDesktopUrl {
    url: Url,
    tenant: Origin,
    top_domain: Origin,
}

impl AgentDesktopUrl {
    /// The URL at [`DEFAULT_ENTRY_PATH`].
    pub fn new(tenant: &Origin, instance: &Origin) -> Result<Self, UrlProblem> {
        Self::with_entry_path(tenant, instance, DEFAULT_ENTRY_PATH)
    }

    /// The URL at another entry path (which may carry query parameters of its own).
    pub fn with_entry_path(
        tenant: &Origin,
        instance: &Origin,
        entry_path: &str,
    ) -> Result<Self, UrlProblem> {
        // Anything a URL parser could read as another origin is refused outright:
        // `//host`, a backslash (read as `/` in http URLs: `/\\host`), a scheme,
        // whitespace or control characters.
        let bad = !entry_path.starts_with('/')
            || entry_path.starts_with("//")
            || entry_path
                .chars()
                .any(|c| c == '\\' || c == '#' || c.is_whitespace() || c.is_control())
            || entry_path.contains("://");
        if bad {
            return Err(UrlProblem::EntryPath {
                path: entry_path.to_owned(),
            });
        }
        let mut url = tenant
            .join(entry_path)
            .map_err(|e| UrlProblem::Unparsable {
                reason: e.to_string(),
            })?;
        // Rebuilt and checked: whatever the path, the URL stays on the tenant.
        if url.origin() != tenant.url().origin() {
            return Err(UrlProblem::HostNotTenant {
                found: url.origin().ascii_serialization(),
                expected: tenant.as_str().to_owned(),
            });
        }
        if url.query_pairs().any(|(k, _)| k == TOP_DOMAIN) {
            return Err(UrlProblem::EntryPath {
                path: entry_path.to_owned(),
            });
        }
        url.query_pairs_mut()
            .append_pair(TOP_DOMAIN, instance.as_str());
        let length = url.as_str().len();
        if length > MAX_URL_LENGTH {
            return Err(UrlProblem::TooLong { length });
        }
        Ok(Self {
            url,
            tenant: tenant.clone(),
            top_domain: instance.clone(),
        })
    }

    /// Reads a URL built elsewhere. Its origin is taken as the tenant; every
    /// problem found is returned.
    pub fn parse(text: &str) -> Result<Self, Vec<UrlProblem>> {
        let url = Url::parse(text.trim()).map_err(|e| {
            vec![UrlProblem::Unparsable {
                reason: e.to_string(),
            }]
        })?;
        let mut problems = Vec::new();
        let tenant = match Origin::parse(&url.origin().ascii_serialization()) {
            Ok(origin) => Some(origin),
            Err(_) => {
                problems.push(UrlProblem::NotHttps {
                    scheme: url.scheme().to_owned(),
                });
                None
            }
        };
        let top_domain = read_top_domain(&url, &mut problems);
        let length = url.as_str().len();
        if length > MAX_URL_LENGTH {
            problems.push(UrlProblem::TooLong { length });
        }
        match (tenant, top_domain) {
            (Some(tenant), Some(top_domain)) if problems.is_empty() => Ok(Self {
                url,
                tenant,
                top_domain,
            }),
            _ => Err(problems),
        }
    }

    /// Every problem with `text` as the Agent Desktop URL for `tenant` embedded in
    /// `instance` (empty when it is right).
    pub fn check(text: &str, tenant: &Origin, instance: &Origin) -> Vec<UrlProblem> {
        let url = match Url::parse(text.trim()) {
            Ok(url) => url,
            Err(e) => {
                return vec![UrlProblem::Unparsable {
                    reason: e.to_string(),
                }];
            }
        };
        let mut problems = Vec::new();
        let found = url.origin().ascii_serialization();
        match Origin::parse(&found) {
            Err(_) => problems.push(UrlProblem::NotHttps {
                scheme: url.scheme().to_owned(),
            }),
            Ok(origin) if &origin != tenant => problems.push(UrlProblem::HostNotTenant {
                found,
                expected: tenant.to_string(),
            }),
            Ok(_) => {}
        }
        if let Some(top) = read_top_domain(&url, &mut problems)
            && &top != instance
        {
            problems.push(UrlProblem::TopDomainMismatch {
                found: top.to_string(),
                expected: instance.to_string(),
            });
        }
        let length = url.as_str().len();
        if length > MAX_URL_LENGTH {
            problems.push(UrlProblem::TooLong { length });
        }
        problems
    }

    /// The URL as text.
    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }

    /// The URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The tenant origin (what the CORS rule and the postMessage allow-list need).
    pub fn tenant(&self) -> &Origin {
        &self.tenant
    }

    /// The instance origin named in `topDomain`.
    pub fn top_domain(&self) -> &Origin {
        &self.top_domain
    }

    /// The entry path (without the query).
    pub fn entry_path(&self) -> &str {
        self.url.path()
    }
}

/// Reads `topDomain` as an exact origin, recording problems.
fn read_top_domain(url: &Url, problems: &mut Vec<UrlProblem>) -> Option<Origin> {
    let values: Vec<String> = url
        .query_pairs()
        .filter(|(k, _)| k == TOP_DOMAIN)
        .map(|(_, v)| v.into_owned())
        .collect();
    match values.as_slice() {
        [] => {
            problems.push(UrlProblem::MissingTopDomain);
            None
        }
        [value] => {
            // An origin exactly: `Origin::parse` tolerates one trailing slash, the
            // parameter must not have it.
            let exact = !value.ends_with('/');
            match Origin::parse(value) {
                Ok(origin) if exact => Some(origin),
                _ => {
                    problems.push(UrlProblem::TopDomainNotAnOrigin {
                        found: value.clone(),
                    });
                    None
                }
            }
        }
        many => {
            problems.push(UrlProblem::RepeatedTopDomain { count: many.len() });
            None
        }
    }
}

impl fmt::Display for AgentDesktopUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for AgentDesktopUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AgentDesktopUrl({})", self.as_str())
    }
}

impl serde::Serialize for AgentDesktopUrl {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for AgentDesktopUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        AgentDesktopUrl::parse(&text).map_err(|problems| {
            serde::de::Error::custom(
                problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{instance_origin, tenant_origin};

    fn origins() -> (Origin, Origin) {
        (
            tenant_origin("example").unwrap(),
            instance_origin("dev12345").unwrap(),
        )
    }

    #[test]
    fn builds_the_default_url_with_an_encoded_top_domain() {
        let (tenant, instance) = origins();
        let url = AgentDesktopUrl::new(&tenant, &instance).unwrap();
        assert_eq!(
            url.as_str(),
            "https://example.brightpattern.com/agentdesktop/?topDomain=https%3A%2F%2Fdev12345.service-now.com"
        );
        assert_eq!(url.tenant(), &tenant);
        assert_eq!(url.top_domain(), &instance);
        assert_eq!(url.entry_path(), "/agentdesktop/");
    }

    #[test]
    fn keeps_ports_and_entry_path_queries() {
        let tenant = Origin::parse("https://cc.example.org:8443").unwrap();
        let instance = Origin::parse("https://itsm.example.org:444").unwrap();
        let url = AgentDesktopUrl::with_entry_path(
            &tenant,
            &instance,
            "/agentdesktop/openframe.html?lang=en",
        )
        .unwrap();
        assert_eq!(
            url.as_str(),
            "https://cc.example.org:8443/agentdesktop/openframe.html?lang=en&topDomain=https%3A%2F%2Fitsm.example.org%3A444"
        );
        assert_eq!(AgentDesktopUrl::parse(url.as_str()).unwrap(), url);
    }

    #[test]
    fn rejects_bad_entry_paths() {
        let (tenant, instance) = origins();
        for bad in [
            "agentdesktop/",
            "//evil.com/",
            "/\\evil.example.com/",
            "/\\/evil.example.com/",
            "\\\\evil.example.com/",
            "/https://evil.example.com/",
            "/a b",
            "/a\tb",
            "/a\nb",
            "/a#b",
            "/a?topDomain=x",
        ] {
            assert!(
                matches!(
                    AgentDesktopUrl::with_entry_path(&tenant, &instance, bad),
                    Err(UrlProblem::EntryPath { .. })
                ),
                "{bad}"
            );
        }
        let long = format!("/{}", "a".repeat(2100));
        assert!(matches!(
            AgentDesktopUrl::with_entry_path(&tenant, &instance, &long),
            Err(UrlProblem::TooLong { .. })
        ));
    }

    #[test]
    fn check_names_every_problem_of_a_hand_made_url() {
        let (tenant, instance) = origins();
        assert_eq!(
            AgentDesktopUrl::check(
                "https://example.brightpattern.com/agentdesktop/",
                &tenant,
                &instance
            ),
            vec![UrlProblem::MissingTopDomain]
        );
        let problems = AgentDesktopUrl::check(
            "http://other.brightpattern.com/agentdesktop/?topDomain=https://dev99.service-now.com",
            &tenant,
            &instance,
        );
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(matches!(problems[0], UrlProblem::NotHttps { .. }));
        assert!(matches!(problems[1], UrlProblem::TopDomainMismatch { .. }));
        let problems = AgentDesktopUrl::check(
            "https://other.brightpattern.com/agentdesktop/?topDomain=https://dev12345.service-now.com/",
            &tenant,
            &instance,
        );
        assert!(matches!(problems[0], UrlProblem::HostNotTenant { .. }));
        assert!(matches!(
            problems[1],
            UrlProblem::TopDomainNotAnOrigin { .. }
        ));
        let problems = AgentDesktopUrl::check(
            "https://example.brightpattern.com/?topDomain=a&topDomain=b",
            &tenant,
            &instance,
        );
        assert_eq!(problems, vec![UrlProblem::RepeatedTopDomain { count: 2 }]);
        let long = format!(
            "https://example.brightpattern.com/{}?topDomain=https%3A%2F%2Fdev12345.service-now.com",
            "a".repeat(2100)
        );
        assert!(matches!(
            AgentDesktopUrl::check(&long, &tenant, &instance)[..],
            [UrlProblem::TooLong { .. }]
        ));
        assert!(matches!(
            AgentDesktopUrl::check("::", &tenant, &instance)[..],
            [UrlProblem::Unparsable { .. }]
        ));
        let good = AgentDesktopUrl::new(&tenant, &instance).unwrap();
        assert!(AgentDesktopUrl::check(good.as_str(), &tenant, &instance).is_empty());
    }

    #[test]
    fn serde_round_trips_and_refuses_bad_urls() {
        let (tenant, instance) = origins();
        let url = AgentDesktopUrl::new(&tenant, &instance).unwrap();
        let json = serde_json::to_string(&url).unwrap();
        assert_eq!(serde_json::from_str::<AgentDesktopUrl>(&json).unwrap(), url);
        let err = serde_json::from_str::<AgentDesktopUrl>(
            "\"https://example.brightpattern.com/agentdesktop/\"",
        )
        .unwrap_err();
        assert!(err.to_string().contains("activity history"), "{err}");
    }
}
