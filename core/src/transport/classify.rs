//! Reading failures: a proxy's refusal among connection errors, an OAuth
//! error body.

use super::*;

/// Whether a connection failed because the proxy refused the tunnel for want of
/// credentials (a 407 answer to `CONNECT`, which the HTTP stack reports as
/// "proxy authorization required"). Only that phrase counts: the chain's texts
/// also carry the URL, whose port or path may hold any digits (a port 40755
/// once made an expired certificate look like a proxy refusal).
pub(super) fn refused_by_proxy(error: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if says_proxy_wants_credentials(&e.to_string()) {
            return true;
        }
        source = e.source();
    }
    false
}

pub(super) fn says_proxy_wants_credentials(text: &str) -> bool {
    let text = text.to_ascii_lowercase();
    text.contains("proxy authorization required") || text.contains("proxy authentication required")
}

/// Reads an OAuth error body (`{"error": ..., "error_description": ...}`).
pub(super) fn parse_oauth_error(body: &[u8]) -> Option<ErrorBody> {
    #[derive(serde::Deserialize)]
    pub(super) struct OAuthError {
        error: String,
        error_description: Option<String>,
    }
    let parsed: OAuthError = serde_json::from_slice(body).ok()?;
    Some(ErrorBody {
        message: Some(crate::redact::scrub_owned(parsed.error)),
        detail: parsed.error_description.map(crate::redact::scrub_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::says_proxy_wants_credentials;

    #[test]
    fn only_the_proxy_s_refusal_counts_not_digits_in_the_url() {
        assert!(says_proxy_wants_credentials(
            "client error (Connect): proxy authorization required"
        ));
        assert!(!says_proxy_wants_credentials(
            "error sending request for url (https://localhost:40755/api): invalid peer certificate: Expired"
        ));
    }
}
