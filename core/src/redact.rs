//! One redactor for the process: every secret the clients hold is registered
//! here as it is created, and every text that came from a server is scrubbed
//! of all of them before it reaches an error, a log line or a report.
//!
//! A server, a proxy or a load balancer may echo the request it got — its
//! `Authorization` header, its form body — in an error message. A list of
//! patterns cannot know what a secret looks like; the types that hold secrets
//! do. So they register themselves:
//!
//! - a credential header ([`Credential`](crate::auth::Credential)): the whole
//!   value, a Basic credential's base64 and its plain `user:password` and
//!   password, a bearer token, an API key;
//! - a token request: the client secret, the password, the refresh token, the
//!   assertion; and every access and refresh token a token endpoint issues;
//! - a proxy's credentials;
//! - any other secret a caller holds ([`register`]), such as a generated OAuth
//!   client secret.
//!
//! Each secret is registered in the forms it may come back in: as sent, form-
//! (percent-) encoded, JSON-escaped and HTML-escaped. [`scrub`] replaces every
//! registered form with [`REDACTED`]. The register is bounded
//! ([`MAX_SECRETS`]; the oldest are forgotten first), so that a long-running
//! service that renews tokens for days does not grow without end.
//!
//! ```
//! use bpsn_core::redact;
//! redact::register("s3cr3t-t0ken");
//! assert_eq!(
//!     redact::scrub("sent: auth=Bearer s3cr3t-t0ken"),
//!     "sent: auth=Bearer [redacted]"
//! );
//! redact::register_basic("admin", "pa ss");
//! // base64("admin:pa ss"), the plain pair, and the form-encoded password.
//! assert_eq!(redact::scrub("YWRtaW46cGEgc3M= admin:pa ss pa+ss"), "[redacted] [redacted] [redacted]");
//! ```

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::{Mutex, OnceLock};

use base64::Engine as _;

/// What a secret is replaced with.
pub const REDACTED: &str = "[redacted]";

/// How many forms the register keeps (the oldest are forgotten first).
pub const MAX_SECRETS: usize = 4096;

/// The registered forms, oldest first, at most `max`.
#[derive(Debug)]
struct Register {
    forms: VecDeque<String>,
    max: usize,
}

impl Register {
    fn add(&mut self, secret: &str) {
        for form in forms(secret) {
            if self.forms.contains(&form) {
                continue;
            }
            if self.forms.len() >= self.max {
                self.forms.pop_front();
            }
            self.forms.push_back(form);
        }
    }

    fn scrub<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let mut present: Vec<&String> = self
            .forms
            .iter()
            .filter(|s| text.contains(s.as_str()))
            .collect();
        if present.is_empty() {
            return Cow::Borrowed(text);
        }
        present.sort_by_key(|s| std::cmp::Reverse(s.len()));
        let mut out = text.to_owned();
        for secret in present {
            out = out.replace(secret.as_str(), REDACTED);
        }
        Cow::Owned(out)
    }
}

fn register_store() -> &'static Mutex<Register> {
    static STORE: OnceLock<Mutex<Register>> = OnceLock::new();
    STORE.get_or_init(|| {
        Mutex::new(Register {
            forms: VecDeque::new(),
            max: MAX_SECRETS,
        })
    })
}

fn forms(secret: &str) -> Vec<String> {
    let mut forms = vec![secret.to_owned()];
    let form_encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    let json = serde_json::to_string(secret).unwrap_or_default();
    let json = json
        .strip_prefix('"')
        .and_then(|j| j.strip_suffix('"'))
        .unwrap_or(secret)
        .to_owned();
    let html = secret
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;");
    let percent: String = secret
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    for form in [form_encoded, json, html, percent] {
        if !forms.contains(&form) {
            forms.push(form);
        }
    }
    forms
}

/// The shortest secret registered: scrubbing a shorter one (a token `t` of a
/// test, a password `pw`) would garble every text the process writes, where
/// the letters occur in words, and protects nothing (such a secret is guessed
/// at once).
pub const MIN_SECRET_LEN: usize = 4;

/// Registers a secret the process holds: from now on [`scrub`] removes it (in
/// every form it may come back in) from any text. A secret shorter than
/// [`MIN_SECRET_LEN`] characters is ignored.
pub fn register(secret: &str) {
    if secret.chars().count() < MIN_SECRET_LEN {
        return;
    }
    register_store()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .add(secret);
}

/// Registers a Basic credential: the password, the plain `user:password` and
/// its base64 (what the `Authorization` header carries).
pub fn register_basic(username: &str, password: &str) {
    if password.is_empty() {
        return;
    }
    let pair = format!("{username}:{password}");
    register(&base64::engine::general_purpose::STANDARD.encode(pair.as_bytes()));
    register(&pair);
    register(password);
}

/// Registers what a credential header's value holds: the value, and for
/// `Basic` its base64 and the decoded pair, for `Bearer` the token.
pub fn register_header_value(value: &str) {
    register(value);
    if let Some((scheme, rest)) = value.split_once(' ') {
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("basic") {
            register(rest);
            if let Some(pair) = base64::engine::general_purpose::STANDARD
                .decode(rest)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
            {
                match pair.split_once(':') {
                    Some((user, password)) => register_basic(user, password),
                    None => register(&pair),
                }
            }
        } else {
            register(rest);
        }
    }
}

/// `text` with every registered secret replaced by [`REDACTED`] (the
/// longest first, so that a secret inside another is not left half shown).
pub fn scrub(text: &str) -> Cow<'_, str> {
    register_store()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .scrub(text)
}

/// [`scrub`] for an owned or optional text.
pub fn scrub_owned(text: String) -> String {
    match scrub(&text) {
        Cow::Borrowed(_) => text,
        Cow::Owned(clean) => clean,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_of_a_secret_is_scrubbed_and_other_text_kept() {
        register("a&b<c>\"d e/f");
        let text = "raw a&b<c>\"d e/f, form a%26b%3Cc%3E%22d+e%2Ff, json a&b<c>\\\"d e/f, html a&amp;b&lt;c&gt;&quot;d e/f, pct a%26b%3Cc%3E%22d%20e%2Ff.";
        assert_eq!(
            scrub(text),
            "raw [redacted], form [redacted], json [redacted], html [redacted], pct [redacted]."
        );
        assert!(matches!(scrub("nothing secret here"), Cow::Borrowed(_)));
    }

    #[test]
    fn a_basic_header_registers_its_parts() {
        register_header_value("Basic dXNlcjE6c2VjcmV0LXB3ZC0x");
        assert_eq!(
            scrub("user1:secret-pwd-1 / secret-pwd-1 / dXNlcjE6c2VjcmV0LXB3ZC0x"),
            "[redacted] / [redacted] / [redacted]"
        );
        // The user name alone is not a secret.
        assert_eq!(scrub("user1"), "user1");
    }

    #[test]
    fn the_register_is_bounded_and_forgets_the_oldest() {
        let mut register = Register {
            forms: VecDeque::new(),
            max: 8,
        };
        for i in 0..20 {
            register.add(&format!("bounded-secret-{i:02}"));
        }
        assert_eq!(register.forms.len(), 8);
        assert_eq!(register.scrub("bounded-secret-19"), REDACTED);
        assert_eq!(register.scrub("bounded-secret-00"), "bounded-secret-00");
    }

    #[test]
    fn a_secret_too_short_to_scrub_leaves_every_text_alone() {
        // A test's token "t" would otherwise turn "Integrity violation" into
        // "In[redacted]egri[redacted]y ...".
        register("t");
        register_basic("u", "pw");
        assert_eq!(
            scrub("Integrity violation: property 'team' (pw)"),
            "Integrity violation: property 'team' (pw)"
        );
        register("tttt");
        assert_eq!(scrub("a tttt b"), "a [redacted] b");
    }

    #[test]
    fn a_secret_inside_another_leaves_nothing_half_shown() {
        register("inner-secret-xyz");
        register("outer-inner-secret-xyz-tail");
        assert_eq!(scrub("outer-inner-secret-xyz-tail"), REDACTED);
    }
}
