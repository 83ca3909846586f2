//! Wire values: ServiceNow sends every value as a string, and reference fields in
//! one of three shapes.
//!
//! - [`string_bool`] and [`string_number`] (with `::option` forms where `""` means
//!   none) read `"true"` / `"1800"` and write them back as strings.
//! - [`Reference`] reads all reference shapes: a plain sys_id string
//!   (`sysparm_exclude_reference_link=true`), `{"link","value"}` (the default),
//!   `{"display_value","link"}` (`sysparm_display_value=true`) and
//!   `{"display_value","value","link"}` (`all`).
//! - [`SysId`] is a checked 32-hex-digit record id.
//!
//! ```
//! use serde::Deserialize;
//! use servicenow_client::wire::{self, Reference, SysId};
//!
//! #[derive(Deserialize)]
//! struct Grant {
//!     sys_id: SysId,
//!     role: Reference,
//!     #[serde(with = "wire::string_bool")]
//!     inherited: bool,
//! }
//!
//! let g: Grant = serde_json::from_str(r#"{
//!     "sys_id": "0123456789abcdef0123456789abcdef",
//!     "role": {"link": "https://x/api/now/table/sys_user_role/fedcba9876543210fedcba9876543210",
//!              "value": "fedcba9876543210fedcba9876543210"},
//!     "inherited": "false"
//! }"#).unwrap();
//! assert_eq!(g.role.sys_id(), Some("fedcba9876543210fedcba9876543210"));
//! assert!(!g.inherited);
//! ```

use std::fmt;
use std::str::FromStr;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use bpsn_core::wire::{parse_bool, string_bool, string_number, utc_date_time};

use crate::error::InvalidInput;

/// A record's `sys_id`: 32 hexadecimal digits.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SysId(String);

impl SysId {
    /// Checks and wraps a sys_id.
    pub fn parse(text: &str) -> Result<Self, InvalidInput> {
        if text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Self(text.to_ascii_lowercase()))
        } else {
            Err(InvalidInput::new(
                "sys_id",
                format!("{text:?} is not a sys_id (32 hexadecimal digits)"),
            ))
        }
    }

    /// A new random sys_id, for creating a record whose id is known before the
    /// create is sent (so a create whose answer is lost can still be found).
    pub fn generate() -> Self {
        use rand::Rng as _;
        let mut rng = rand::rng();
        Self(format!(
            "{:016x}{:016x}",
            rng.random::<u64>(),
            rng.random::<u64>()
        ))
    }

    /// The sys_id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SysId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SysId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SysId({})", self.0)
    }
}

impl FromStr for SysId {
    type Err = InvalidInput;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl AsRef<str> for SysId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Serialize for SysId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// A string of 32 hexadecimal digits.
#[cfg(feature = "json-schema")]
impl schemars::JsonSchema for SysId {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SysId".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A record's sys_id: 32 hexadecimal digits.",
            "type": "string",
            "pattern": "^[0-9a-fA-F]{32}$"
        })
    }
}

impl<'de> Deserialize<'de> for SysId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        SysId::parse(&text).map_err(de::Error::custom)
    }
}

/// A reference field, in whichever shape it arrived.
///
/// A plain string is read as the referenced sys_id (the shape of
/// `sysparm_exclude_reference_link=true` with display values off, the client's
/// default). Written back, a reference is its sys_id, which is what the Table API
/// expects on writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reference {
    value: Option<String>,
    display_value: Option<String>,
    link: Option<String>,
}

impl Reference {
    /// A reference to `sys_id`, for writing.
    pub fn to(sys_id: &SysId) -> Self {
        Self {
            value: Some(sys_id.as_str().to_owned()),
            ..Self::default()
        }
    }

    /// The referenced record's sys_id, when the shape carried it.
    pub fn sys_id(&self) -> Option<&str> {
        self.value.as_deref().filter(|v| !v.is_empty())
    }

    /// The display value, when the shape carried it.
    pub fn display_value(&self) -> Option<&str> {
        self.display_value.as_deref()
    }

    /// The API link to the referenced record, when the shape carried it.
    pub fn link(&self) -> Option<&str> {
        self.link.as_deref()
    }

    /// Whether the reference points nowhere (`""`).
    pub fn is_empty(&self) -> bool {
        self.sys_id().is_none() && self.display_value.as_deref().is_none_or(str::is_empty)
    }
}

impl Serialize for Reference {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.value.as_deref().unwrap_or(""))
    }
}

impl<'de> Deserialize<'de> for Reference {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct RefVisitor;

        impl<'de> Visitor<'de> for RefVisitor {
            type Value = Reference;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a sys_id string or an object with link, value and/or display_value")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Reference, E> {
                Ok(Reference {
                    value: Some(v.to_owned()),
                    ..Reference::default()
                })
            }

            fn visit_unit<E: de::Error>(self) -> Result<Reference, E> {
                Ok(Reference::default())
            }

            fn visit_none<E: de::Error>(self) -> Result<Reference, E> {
                Ok(Reference::default())
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Reference, A::Error> {
                let mut r = Reference::default();
                while let Some(key) = map.next_key::<String>()? {
                    let value: Option<String> = map.next_value()?;
                    match key.as_str() {
                        "value" => r.value = value,
                        "display_value" => r.display_value = value,
                        "link" => r.link = value,
                        _ => {}
                    }
                }
                Ok(r)
            }
        }

        d.deserialize_any(RefVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "fedcba9876543210fedcba9876543210";

    #[test]
    fn reads_every_reference_shape() {
        let plain: Reference = serde_json::from_str(&format!("\"{ID}\"")).unwrap();
        assert_eq!(plain.sys_id(), Some(ID));
        assert_eq!(plain.display_value(), None);

        let default: Reference =
            serde_json::from_str(&format!(r#"{{"link":"https://x/{ID}","value":"{ID}"}}"#))
                .unwrap();
        assert_eq!(default.sys_id(), Some(ID));
        assert_eq!(default.link(), Some(format!("https://x/{ID}").as_str()));

        let display: Reference =
            serde_json::from_str(r#"{"display_value":"admin","link":"https://x/y"}"#).unwrap();
        assert_eq!(display.sys_id(), None);
        assert_eq!(display.display_value(), Some("admin"));

        let all: Reference = serde_json::from_str(&format!(
            r#"{{"display_value":"admin","value":"{ID}","link":"https://x/y"}}"#
        ))
        .unwrap();
        assert_eq!(
            (all.sys_id(), all.display_value()),
            (Some(ID), Some("admin"))
        );

        let empty: Reference = serde_json::from_str(r#""""#).unwrap();
        assert!(empty.is_empty());
        let null: Reference = serde_json::from_str("null").unwrap();
        assert!(null.is_empty());
    }

    #[test]
    fn writes_the_sys_id() {
        let r = Reference::to(&SysId::parse(ID).unwrap());
        assert_eq!(serde_json::to_string(&r).unwrap(), format!("\"{ID}\""));
    }

    #[test]
    fn sys_id_is_checked() {
        assert!(SysId::parse(ID).is_ok());
        assert_eq!(SysId::parse(&ID.to_uppercase()).unwrap().as_str(), ID);
        for bad in [
            "",
            "abc",
            &format!("{ID}0"),
            "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
            "../../etc/passwd",
        ] {
            assert!(SysId::parse(bad).is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<SysId>("\"nope\"").is_err());
    }
}
