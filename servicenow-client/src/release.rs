//! The instance's release: its family (Tokyo, Washington DC, Zurich, …) and
//! patch, read from its build properties.
//!
//! ServiceNow's REST documentation names no endpoint for the release. The build
//! properties `glide.buildname` (`Washington DC`) and `glide.war`
//! (`glide-washingtondc-12-20-2023__patch4-04-17-2024_….zip`) carry it on the
//! instances we know; [`glide.buildtag`](BUILD_PROPERTIES) is read as a
//! fallback. When none of them says, the release is *unknown* — never guessed —
//! and whatever depends on it says so ([`Release::at_least`] answers `None`).
//!
//! ```
//! use servicenow_client::release::{Family, Release};
//!
//! let release = Release::from_properties([
//!     ("glide.buildname", "Washington DC"),
//!     ("glide.war", "glide-washingtondc-12-20-2023__patch4-04-17-2024_05-02-2024_1042.zip"),
//! ]);
//! assert_eq!(release.family, Some(Family::WashingtonDc));
//! assert_eq!(release.patch.as_deref(), Some("Patch 4"));
//! assert_eq!(release.at_least(Family::Tokyo), Some(true));
//! assert_eq!(release.to_string(), "Washington DC Patch 4");
//!
//! let unknown = Release::from_properties([("glide.buildname", "")]);
//! assert_eq!(unknown.at_least(Family::Tokyo), None);
//! ```

use std::fmt;

use futures_util::TryStreamExt as _;
use serde::{Deserialize, Serialize};

use crate::client::Client;
use crate::error::Result;
use crate::properties::SystemProperty;
use crate::query::Query;

/// The build properties the release is read from, most telling first.
pub const BUILD_PROPERTIES: [&str; 3] = ["glide.buildname", "glide.war", "glide.buildtag"];

/// A release family, in release order. ServiceNow names them alphabetically;
/// a name this version does not know is [`Family::Other`], which compares with
/// nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub enum Family {
    /// Madrid (2019), the release the 5.3 vendor page was written for.
    Madrid,
    /// New York.
    NewYork,
    /// Orlando.
    Orlando,
    /// Paris.
    Paris,
    /// Quebec.
    Quebec,
    /// Rome.
    Rome,
    /// San Diego.
    SanDiego,
    /// Tokyo: CI/CD operations queue behind an instance lock from here; the
    /// 5.19 Store application needs it.
    Tokyo,
    /// Utah.
    Utah,
    /// Vancouver.
    Vancouver,
    /// Washington DC: the client-credentials grant for inbound REST from here.
    WashingtonDc,
    /// Xanadu.
    Xanadu,
    /// Yokohama.
    Yokohama,
    /// Zurich: CTI Softphone is no longer deployed on new instances, and the
    /// OAuth registry type `client` is deprecated.
    Zurich,
    /// A family this version does not know (kept as the instance named it).
    Other(String),
}

const KNOWN: [(Family, &str, &str); 14] = [
    (Family::Madrid, "Madrid", "madrid"),
    (Family::NewYork, "New York", "newyork"),
    (Family::Orlando, "Orlando", "orlando"),
    (Family::Paris, "Paris", "paris"),
    (Family::Quebec, "Quebec", "quebec"),
    (Family::Rome, "Rome", "rome"),
    (Family::SanDiego, "San Diego", "sandiego"),
    (Family::Tokyo, "Tokyo", "tokyo"),
    (Family::Utah, "Utah", "utah"),
    (Family::Vancouver, "Vancouver", "vancouver"),
    (Family::WashingtonDc, "Washington DC", "washingtondc"),
    (Family::Xanadu, "Xanadu", "xanadu"),
    (Family::Yokohama, "Yokohama", "yokohama"),
    (Family::Zurich, "Zurich", "zurich"),
];

impl Family {
    /// Reads a family name as the build properties write it: `Washington DC`,
    /// `washingtondc`, `Washington`; anything else is [`Family::Other`]. An
    /// empty name is `None`.
    pub fn parse(name: &str) -> Option<Self> {
        let key: String = name
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_lowercase();
        if key.is_empty() {
            return None;
        }
        Some(
            KNOWN
                .iter()
                .find(|(_, _, k)| *k == key || (key == "washington" && *k == "washingtondc"))
                .map(|(f, _, _)| f.clone())
                .unwrap_or_else(|| Family::Other(name.trim().to_owned())),
        )
    }

    /// Its place in release order (`None` for [`Family::Other`]).
    pub fn ordinal(&self) -> Option<usize> {
        KNOWN.iter().position(|(f, _, _)| f == self)
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Family::Other(name) => f.write_str(name),
            known => f.write_str(
                KNOWN
                    .iter()
                    .find(|(k, _, _)| k == known)
                    .map_or("?", |(_, name, _)| name),
            ),
        }
    }
}

/// What the instance says of its release.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct Release {
    /// The family, when a build property names one.
    pub family: Option<Family>,
    /// The patch (`Patch 4`, `Patch 4 Hotfix 1`), when the build says.
    pub patch: Option<String>,
    /// The build property the release was read from (`glide.war`), and its value.
    pub source: Option<(String, String)>,
}

impl Release {
    /// Reads the release from build properties (name, value), as
    /// [`BUILD_PROPERTIES`] names them. Unknown names are ignored.
    pub fn from_properties<'a>(properties: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let found: Vec<(&str, &str)> = properties
            .into_iter()
            .filter(|(_, v)| !v.trim().is_empty())
            .collect();
        let value = |name: &str| found.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
        let build = value("glide.war").or(value("glide.buildtag"));
        let family = value("glide.buildname")
            .and_then(Family::parse)
            .or_else(|| build.and_then(family_of_build));
        let patch = build.and_then(patch_of_build);
        let source = BUILD_PROPERTIES
            .iter()
            .find_map(|n| value(n).map(|v| ((*n).to_owned(), v.to_owned())));
        Release {
            family,
            patch,
            source,
        }
    }

    /// Whether the release is `family` or later; `None` when that cannot be told
    /// (the family is unknown, or not one this version knows).
    pub fn at_least(&self, family: Family) -> Option<bool> {
        Some(self.family.as_ref()?.ordinal()? >= family.ordinal()?)
    }

    /// Whether the family is known.
    pub fn is_known(&self) -> bool {
        self.family.is_some()
    }
}

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.family, &self.patch) {
            (Some(family), Some(patch)) => write!(f, "{family} {patch}"),
            (Some(family), None) => write!(f, "{family}"),
            (None, _) => f.write_str("unknown (no build property names it)"),
        }
    }
}

/// `glide-washingtondc-12-20-2023__patch4-…` → Washington DC.
fn family_of_build(build: &str) -> Option<Family> {
    let rest = build.trim().strip_prefix("glide-")?;
    let name = rest.split(['-', '_']).next()?;
    Family::parse(name)
}

/// `…__patch4-hotfix1-…` → `Patch 4 Hotfix 1`.
fn patch_of_build(build: &str) -> Option<String> {
    let (_, after) = build.split_once("__")?;
    let mut words = Vec::new();
    for part in after.split(['-', '_']) {
        for kind in ["patch", "hotfix"] {
            if let Some(n) = part.strip_prefix(kind)
                && !n.is_empty()
                && n.bytes().all(|b| b.is_ascii_digit())
            {
                let mut word = kind.to_owned();
                word[..1].make_ascii_uppercase();
                words.push(format!("{word} {n}"));
            }
        }
    }
    (!words.is_empty()).then(|| words.join(" "))
}

impl Client {
    /// Reads the instance's release from its build properties (one request).
    pub async fn release(&self) -> Result<Release> {
        let rows: Vec<SystemProperty> = self
            .table::<SystemProperty>()
            .list(Query::new().is_in("name", BUILD_PROPERTIES))
            .try_collect()
            .await?;
        Ok(Release::from_properties(
            rows.iter().map(|p| (p.name.as_str(), p.value.as_str())),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_and_patches_are_read_from_every_build_property() {
        let r = Release::from_properties([(
            "glide.buildtag",
            "glide-tokyo-07-08-2022__patch4-hotfix1-12-01-2022",
        )]);
        assert_eq!(r.family, Some(Family::Tokyo));
        assert_eq!(r.patch.as_deref(), Some("Patch 4 Hotfix 1"));
        let r = Release::from_properties([("glide.buildname", "Zurich")]);
        assert_eq!((r.family, r.patch), (Some(Family::Zurich), None));
        let r = Release::from_properties([("glide.buildname", "Australia")]);
        assert_eq!(r.family, Some(Family::Other("Australia".into())));
        assert_eq!(
            r.at_least(Family::Tokyo),
            None,
            "an unknown family is not guessed"
        );
        let r = Release::from_properties([("glide.war", "build.zip")]);
        assert!(!r.is_known());
        assert_eq!(
            Release::from_properties([("glide.buildname", "San Diego")]).at_least(Family::Tokyo),
            Some(false)
        );
    }
}
