//! Serde helpers for services that send every value as a string.
//!
//! ServiceNow sends `"true"`, `"1800"` and `""`; Bright Pattern sends
//! `"expires_in": "3600"`. These helpers read both the string and the native form,
//! write the string form, and reject anything else with an error naming the value.
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use bpsn_core::wire;
//!
//! #[derive(Serialize, Deserialize)]
//! struct Row {
//!     #[serde(with = "wire::string_bool")]
//!     active: bool,
//!     #[serde(with = "wire::string_number")]
//!     order: i64,
//!     #[serde(with = "wire::string_number::option", default)]
//!     max_age: Option<u32>,
//! }
//!
//! let row: Row = serde_json::from_str(r#"{"active":"true","order":"100","max_age":""}"#).unwrap();
//! assert!(row.active);
//! assert_eq!(row.order, 100);
//! assert_eq!(row.max_age, None);
//! assert_eq!(
//!     serde_json::to_string(&row).unwrap(),
//!     r#"{"active":"true","order":"100","max_age":""}"#
//! );
//! ```

use std::fmt::Display;
use std::str::FromStr;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serializer};

/// A scalar as it may arrive: a string or a JSON number or boolean.
#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    Text(String),
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    Bool(bool),
}

impl Scalar {
    fn into_text(self) -> String {
        match self {
            Scalar::Text(s) => s,
            Scalar::Unsigned(n) => n.to_string(),
            Scalar::Signed(n) => n.to_string(),
            Scalar::Float(n) => n.to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}

/// Parses the boolean forms the services use: `true`/`false`, `"true"`/`"false"`,
/// `"1"`/`"0"` (any case). Anything else is an error.
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// A boolean sent as `"true"` / `"false"`.
pub mod string_bool {
    use super::*;

    /// Writes `"true"` or `"false"`.
    pub fn serialize<S: Serializer>(value: &bool, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(if *value { "true" } else { "false" })
    }

    /// Reads a boolean or its string forms (`"true"`, `"false"`, `"1"`, `"0"`).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        let text = Scalar::deserialize(d)?.into_text();
        parse_bool(&text)
            .ok_or_else(|| D::Error::custom(format!("expected a boolean, found {text:?}")))
    }

    /// The same, where the empty string means `None`.
    pub mod option {
        use super::*;

        /// Writes `"true"`, `"false"` or `""`.
        pub fn serialize<S: Serializer>(value: &Option<bool>, s: S) -> Result<S::Ok, S::Error> {
            match value {
                Some(v) => super::serialize(v, s),
                None => s.serialize_str(""),
            }
        }

        /// Reads a boolean, its string forms, `""` or `null`.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
            match Option::<Scalar>::deserialize(d)?.map(Scalar::into_text) {
                None => Ok(None),
                Some(t) if t.is_empty() => Ok(None),
                Some(t) => parse_bool(&t)
                    .map(Some)
                    .ok_or_else(|| D::Error::custom(format!("expected a boolean, found {t:?}"))),
            }
        }
    }
}

/// A number sent as a string (`"1800"`).
pub mod string_number {
    use super::*;

    /// Writes the number as a string.
    pub fn serialize<T: Display, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(value)
    }

    /// Reads a number or its string form.
    pub fn deserialize<'de, T, D>(d: D) -> Result<T, D::Error>
    where
        T: FromStr,
        T::Err: Display,
        D: Deserializer<'de>,
    {
        let text = Scalar::deserialize(d)?.into_text();
        text.trim()
            .parse()
            .map_err(|e| D::Error::custom(format!("expected a number, found {text:?}: {e}")))
    }

    /// The same, where the empty string means `None`.
    pub mod option {
        use super::*;

        /// Writes the number as a string, or `""`.
        pub fn serialize<T: Display, S: Serializer>(
            value: &Option<T>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match value {
                Some(v) => s.collect_str(v),
                None => s.serialize_str(""),
            }
        }

        /// Reads a number, its string form, `""` or `null`.
        pub fn deserialize<'de, T, D>(d: D) -> Result<Option<T>, D::Error>
        where
            T: FromStr,
            T::Err: Display,
            D: Deserializer<'de>,
        {
            match Option::<Scalar>::deserialize(d)?.map(Scalar::into_text) {
                None => Ok(None),
                Some(t) if t.trim().is_empty() => Ok(None),
                Some(t) => {
                    t.trim().parse().map(Some).map_err(|e| {
                        D::Error::custom(format!("expected a number, found {t:?}: {e}"))
                    })
                }
            }
        }
    }
}

#[cfg(feature = "client")]
pub(crate) fn option_u64_from_string_or_number<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<u64>, D::Error> {
    string_number::option::deserialize(d)
}

/// `YYYY-MM-DD hh:mm:ss` in UTC from seconds since the UNIX epoch, as ServiceNow
/// writes date-times.
pub fn utc_date_time(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Flags {
        #[serde(with = "string_bool")]
        a: bool,
        #[serde(with = "string_bool::option", default)]
        b: Option<bool>,
        #[serde(with = "string_number")]
        n: u32,
    }

    #[test]
    fn accepts_every_form_and_writes_strings() {
        for (input, a) in [
            (r#"{"a":"true","n":"5"}"#, true),
            (r#"{"a":"1","n":5}"#, true),
            (r#"{"a":false,"n":"5"}"#, false),
            (r#"{"a":"FALSE","n":"5"}"#, false),
        ] {
            let f: Flags = serde_json::from_str(input).unwrap();
            assert_eq!((f.a, f.b, f.n), (a, None, 5), "{input}");
        }
        let f: Flags = serde_json::from_str(r#"{"a":"0","b":"","n":" 7 "}"#).unwrap();
        assert_eq!(f.b, None);
        assert_eq!(f.n, 7);
        assert_eq!(
            serde_json::to_string(&Flags {
                a: true,
                b: Some(false),
                n: 3
            })
            .unwrap(),
            r#"{"a":"true","b":"false","n":"3"}"#
        );
    }

    #[test]
    fn rejects_unknown_forms_with_the_value_named() {
        let err = serde_json::from_str::<Flags>(r#"{"a":"yes","n":"1"}"#).unwrap_err();
        assert!(err.to_string().contains("\"yes\""), "{err}");
        let err = serde_json::from_str::<Flags>(r#"{"a":"true","n":"ten"}"#).unwrap_err();
        assert!(err.to_string().contains("\"ten\""), "{err}");
    }
}
