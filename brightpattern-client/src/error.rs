//! Errors: the shared [`Error`] type, and how Bright Pattern's sparse error bodies
//! are read.
//!
//! The Configuration API answers errors with bare statuses and little body: 400 an
//! integrity violation (the body may name the offending property), 404 a missing
//! object or referenced object, 409 a duplicate, 415 a wrong media type. The body,
//! JSON or text, becomes [`ApiError::message`]; a property it names becomes
//! [`ApiError::detail`] (see [`integrity_property`]).

use bpsn_core::ErrorBody;
pub use bpsn_core::{
    ApiError, AuthenticationError, DecodeError, Error, InvalidInput, RateLimited, RequestSummary,
    Result,
};

/// Reads an error body: a JSON object's message and property, or plain text.
pub fn parse_error_body(body: &[u8]) -> ErrorBody {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return ErrorBody::default();
    }
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(text) {
        let pick = |keys: &[&str]| {
            keys.iter()
                .find_map(|k| map.get(*k).and_then(|v| v.as_str()))
                .map(str::to_owned)
        };
        let message = pick(&[
            "message",
            "error_description",
            "errorMessage",
            "error",
            "description",
        ]);
        let property = pick(&["property", "propertyName", "field"])
            .or_else(|| message.as_deref().and_then(property_in_text));
        return ErrorBody {
            message,
            detail: property,
        };
    }
    let message: String = text.chars().take(bpsn_core::error::SNIPPET_CHARS).collect();
    ErrorBody {
        detail: property_in_text(&message),
        message: Some(message),
    }
}

/// Finds `property 'x'`, `property "x"` or `property x` in a message.
fn property_in_text(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let at = lower.find("property")? + "property".len();
    let rest = text[at..].trim_start_matches([' ', ':', '=']);
    let rest = rest.trim_start_matches(['\'', '"', '`']);
    let name: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
        .collect();
    (!name.is_empty()).then_some(name)
}

/// The property a 400 integrity violation names, when it names one.
pub fn integrity_property(error: &Error) -> Option<&str> {
    match error {
        Error::Api(api) if api.status == 400 => api.detail.as_deref(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_json_and_text_bodies_and_the_property_they_name() {
        let b = parse_error_body(br#"{"message":"Integrity violation","property":"loginId"}"#);
        assert_eq!(
            (b.message.as_deref(), b.detail.as_deref()),
            (Some("Integrity violation"), Some("loginId"))
        );
        let b =
            parse_error_body(b"Integrity violation: property 'team' refers to a missing object");
        assert_eq!(b.detail.as_deref(), Some("team"));
        let b = parse_error_body(br#"{"error":"Invalid value of property \"email\""}"#);
        assert_eq!(b.detail.as_deref(), Some("email"));
        let b = parse_error_body(b"Not Found");
        assert_eq!((b.message.as_deref(), b.detail), (Some("Not Found"), None));
        assert_eq!(parse_error_body(b"  "), ErrorBody::default());
    }
}
