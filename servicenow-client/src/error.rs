//! Errors: the shared [`Error`] type, and how ServiceNow's error envelope is read.
//!
//! ServiceNow answers errors as
//! `{"error": {"message": "...", "detail": "..."}, "status": "failure"}`; the
//! message and detail land in [`ApiError`]. A body in any other shape (an HTML
//! page from a proxy, a truncated answer) is quoted as a bounded snippet instead.

use bpsn_core::ErrorBody;
pub use bpsn_core::{
    ApiError, AuthenticationError, DecodeError, Error, InvalidInput, RateLimited, RequestSummary,
    Result,
};
use serde::Deserialize;

/// Reads ServiceNow's error envelope; an empty [`ErrorBody`] when the body is not one.
pub fn parse_error_envelope(body: &[u8]) -> ErrorBody {
    #[derive(Deserialize)]
    struct Envelope {
        error: Detail,
    }
    #[derive(Deserialize)]
    struct Detail {
        message: Option<String>,
        detail: Option<String>,
    }
    match serde_json::from_slice::<Envelope>(body) {
        Ok(Envelope { error }) => ErrorBody {
            message: error.message.filter(|m| !m.is_empty()),
            detail: error.detail.filter(|d| !d.is_empty()),
        },
        Err(_) => ErrorBody::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_envelope() {
        let body = br#"{"error":{"message":"No Record found","detail":"Record doesn't exist or ACL restricts the record retrieval"},"status":"failure"}"#;
        let parsed = parse_error_envelope(body);
        assert_eq!(parsed.message.as_deref(), Some("No Record found"));
        assert!(parsed.detail.unwrap().contains("ACL"));
        let parsed =
            parse_error_envelope(br#"{"error":{"message":"x","detail":null},"status":"failure"}"#);
        assert_eq!(
            (parsed.message.as_deref(), parsed.detail),
            (Some("x"), None)
        );
        assert_eq!(
            parse_error_envelope(b"<html>Bad gateway</html>"),
            ErrorBody::default()
        );
    }
}
