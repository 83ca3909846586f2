#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
//!
//! # Guide
//!
//! | module | what it holds |
//! |---|---|
//! | [`desktop_url`] | [`AgentDesktopUrl`]: tenant origin + entry path + `topDomain` (the instance origin), and diagnostics for hand-made URLs |
//! | [`size`] | [`Size`]: width × height, the vendor's default 373 × 300 |
//! | [`settings`] | [`OpenFrameSettings`]: name, title, subtitle, URL, size, order and flags, validated all at once; the [`ImpliedOrigins`] |
//!
//! Tenants and instances are [`Origin`]s: [`tenant_origin`] and [`instance_origin`]
//! accept a bare name (`example`, `dev12345`) or a full https origin.
//!
//! ```
//! use servicenow_openframe::{AgentDesktopUrl, OpenFrameSettings, instance_origin, tenant_origin};
//!
//! let tenant = tenant_origin("example").unwrap();
//! let instance = instance_origin("https://acme.servicenowservices.com").unwrap();
//! let settings = OpenFrameSettings::new("Bright Pattern", AgentDesktopUrl::new(&tenant, &instance).unwrap());
//! settings.validate().unwrap();
//! assert_eq!(settings.implied_origins().cors_domain.as_str(), "https://example.brightpattern.com");
//! ```

pub mod desktop_url;
pub mod settings;
pub mod size;

pub use bpsn_core::{Origin, OriginError};
pub use desktop_url::{AgentDesktopUrl, UrlProblem};
pub use settings::{ImpliedOrigins, OpenFrameSettings, SettingsProblem, SettingsProblems};
pub use size::{Size, SizeError};

/// A Bright Pattern tenant: a bare name (`example` becomes
/// `https://example.brightpattern.com`) or a full https origin.
pub fn tenant_origin(input: &str) -> Result<Origin, OriginError> {
    Origin::parse_or_expand(input, bpsn_core::BRIGHT_PATTERN_DOMAIN)
}

/// A ServiceNow instance: a bare name (`dev12345` becomes
/// `https://dev12345.service-now.com`) or a full https origin.
pub fn instance_origin(input: &str) -> Result<Origin, OriginError> {
    Origin::parse_or_expand(input, bpsn_core::SERVICE_NOW_DOMAIN)
}
