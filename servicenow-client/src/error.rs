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
///
/// Two shapes are read: the REST envelope `{"error": {"message", "detail"}}`, and
/// the CI/CD API's, which carries a failed or refused operation's text inside
/// `result` (`result.error`, else `result.status_message`; `result.status_detail`
/// as the detail).
pub fn parse_error_envelope(body: &[u8]) -> ErrorBody {
    #[derive(Deserialize)]
    struct Envelope {
        error: Option<Detail>,
        result: Option<CicdResult>,
    }
    #[derive(Deserialize)]
    struct Detail {
        message: Option<String>,
        detail: Option<String>,
    }
    #[derive(Deserialize)]
    struct CicdResult {
        error: Option<String>,
        status_message: Option<String>,
        status_detail: Option<String>,
    }
    let nonempty = |s: Option<String>| s.filter(|v| !v.trim().is_empty());
    match serde_json::from_slice::<Envelope>(body) {
        Ok(Envelope {
            error: Some(error), ..
        }) if error.message.is_some() || error.detail.is_some() => ErrorBody {
            message: nonempty(error.message),
            detail: nonempty(error.detail),
        },
        Ok(Envelope {
            result: Some(result),
            ..
        }) => ErrorBody {
            message: nonempty(result.error).or(nonempty(result.status_message)),
            detail: nonempty(result.status_detail),
        },
        _ => ErrorBody::default(),
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

    #[test]
    fn reads_the_cicd_result_error_before_its_status_message() {
        let body = br#"{"result":{"status":"3","status_message":"Failed","status_detail":"see log","error":"Plugin is not entitled"}}"#;
        let parsed = parse_error_envelope(body);
        assert_eq!(parsed.message.as_deref(), Some("Plugin is not entitled"));
        assert_eq!(parsed.detail.as_deref(), Some("see log"));
        let body = br#"{"result":{"status":"3","status_message":"Another operation is running","error":""}}"#;
        assert_eq!(
            parse_error_envelope(body).message.as_deref(),
            Some("Another operation is running")
        );
    }
}
