//! How requests are authenticated: basic credentials, a static bearer token, or
//! OAuth tokens obtained from a [`TokenSource`] and kept in a [`TokenCache`].
//!
//! The cache renews a token shortly before it expires, lets only one renewal run at
//! a time (concurrent callers wait for it and share its result), and after a 401
//! renews once: the transport then retries the call once, never in a loop.

use std::fmt;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine as _;
use http::{HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;

use crate::error::{InvalidInput, Result};

/// A credential header (`Authorization`, or an API key's own header) with its
/// value marked sensitive, and the generation of the token it came from. Its
/// `Debug` never shows the value.
#[derive(Clone)]
pub struct Credential {
    name: HeaderName,
    header: HeaderValue,
    generation: u64,
}

impl Credential {
    fn new(value: &str, generation: u64) -> Result<Self> {
        Self::named(http::header::AUTHORIZATION, value, generation)
    }

    fn named(name: HeaderName, value: &str, generation: u64) -> Result<Self> {
        // Whatever the header carries is a secret a server may echo.
        crate::redact::register_header_value(value);
        let mut header = HeaderValue::from_str(value).map_err(|_| {
            InvalidInput::new("credential", "holds characters an HTTP header cannot carry")
        })?;
        header.set_sensitive(true);
        Ok(Self {
            name,
            header,
            generation,
        })
    }

    /// The header it is sent in (`Authorization` unless an API key names another).
    pub fn header_name(&self) -> &HeaderName {
        &self.name
    }

    /// The header value (marked sensitive, so `http` and `reqwest` never print it).
    pub fn header_value(&self) -> &HeaderValue {
        &self.header
    }

    /// Which token this credential came from; renewals increase it.
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("header", &"[redacted]")
            .field("generation", &self.generation)
            .finish()
    }
}

/// Supplies the `Authorization` header of each request.
#[async_trait]
pub trait Authenticator: Send + Sync + fmt::Debug {
    /// The credential to send, or `None` for an anonymous request.
    async fn credential(&self) -> Result<Option<Credential>>;

    /// Called once after the service answered 401 to a request sent with `sent`.
    /// Returns `true` when a fresh credential may succeed (the transport then
    /// retries once), `false` when retrying cannot help (fixed credentials).
    async fn rejected(&self, sent: &Credential) -> bool;
}

/// No authentication (used for token endpoints, whose credentials are in the body).
#[derive(Debug, Clone, Copy, Default)]
pub struct Anonymous;

#[async_trait]
impl Authenticator for Anonymous {
    async fn credential(&self) -> Result<Option<Credential>> {
        Ok(None)
    }

    async fn rejected(&self, _sent: &Credential) -> bool {
        false
    }
}

/// HTTP basic authentication with a user name and password.
pub struct BasicAuth {
    credential: Credential,
}

impl BasicAuth {
    /// Builds the header once; the password is never kept in clear elsewhere.
    pub fn new(username: &str, password: &SecretString) -> Result<Self> {
        let raw = format!("{username}:{}", password.expose_secret());
        let encoded = base64::engine::general_purpose::STANDARD.encode(raw.as_bytes());
        Ok(Self {
            credential: Credential::new(&format!("Basic {encoded}"), 0)?,
        })
    }
}

impl fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BasicAuth([redacted])")
    }
}

#[async_trait]
impl Authenticator for BasicAuth {
    async fn credential(&self) -> Result<Option<Credential>> {
        Ok(Some(self.credential.clone()))
    }

    async fn rejected(&self, _sent: &Credential) -> bool {
        false
    }
}

/// An API key sent in a header of its own (ServiceNow: `x-sn-apikey`), never
/// renewed.
pub struct ApiKeyAuth {
    credential: Credential,
}

impl ApiKeyAuth {
    /// Sends `key` in the header `name`.
    pub fn new(name: HeaderName, key: &SecretString) -> Result<Self> {
        Ok(Self {
            credential: Credential::named(name, key.expose_secret(), 0)?,
        })
    }
}

impl fmt::Debug for ApiKeyAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKeyAuth({}: [redacted])", self.credential.name)
    }
}

#[async_trait]
impl Authenticator for ApiKeyAuth {
    async fn credential(&self) -> Result<Option<Credential>> {
        Ok(Some(self.credential.clone()))
    }

    async fn rejected(&self, _sent: &Credential) -> bool {
        false
    }
}

/// A static bearer token supplied by the caller (never renewed).
pub struct BearerAuth {
    credential: Credential,
}

impl BearerAuth {
    /// Wraps a token obtained elsewhere.
    pub fn new(token: &SecretString) -> Result<Self> {
        Ok(Self {
            credential: Credential::new(&format!("Bearer {}", token.expose_secret()), 0)?,
        })
    }
}

impl fmt::Debug for BearerAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerAuth([redacted])")
    }
}

#[async_trait]
impl Authenticator for BearerAuth {
    async fn credential(&self) -> Result<Option<Credential>> {
        Ok(Some(self.credential.clone()))
    }

    async fn rejected(&self, _sent: &Credential) -> bool {
        false
    }
}

/// An access token as a token endpoint returned it.
pub struct Token {
    /// The access token.
    pub access_token: SecretString,
    /// How long it is valid from now, when the endpoint said.
    pub expires_in: Option<Duration>,
    /// The refresh token, when the grant returned one.
    pub refresh_token: Option<SecretString>,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("access_token", &"[redacted]")
            .field("expires_in", &self.expires_in)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// Obtains a new access token (a password, refresh-token or client-credentials grant).
#[async_trait]
pub trait TokenSource: Send + Sync + fmt::Debug {
    /// Requests a new token from the token endpoint.
    async fn fetch_token(&self) -> Result<Token>;
}

struct CachedToken {
    credential: Credential,
    renew_at: Option<Instant>,
}

#[derive(Default)]
struct CacheState {
    current: Option<CachedToken>,
    generation: u64,
    renewals: u64,
}

/// Caches the token of a [`TokenSource`] and renews it shortly before it expires.
///
/// A token is renewed at 90 % of its lifetime, or one minute before it expires,
/// whichever comes first. Renewal runs under a lock, so concurrent callers that find
/// the token stale wait for one renewal and share its result.
pub struct TokenCache<S> {
    source: S,
    state: Mutex<CacheState>,
}

impl<S: TokenSource> TokenCache<S> {
    /// A cache with no token yet: the first call fetches one.
    pub fn new(source: S) -> Self {
        Self {
            source,
            state: Mutex::new(CacheState::default()),
        }
    }

    /// The token source.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// How many tokens have been fetched so far.
    pub async fn renewals(&self) -> u64 {
        self.state.lock().await.renewals
    }

    /// Drops the cached token, so the next call fetches a new one.
    pub async fn clear(&self) {
        self.state.lock().await.current = None;
    }
}

impl<S> fmt::Debug for TokenCache<S>
where
    S: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

fn renew_at(now: Instant, lifetime: Duration) -> Instant {
    let margin = (lifetime / 10).min(Duration::from_secs(60));
    now + lifetime.saturating_sub(margin)
}

#[async_trait]
impl<S: TokenSource> Authenticator for TokenCache<S> {
    async fn credential(&self) -> Result<Option<Credential>> {
        let mut state = self.state.lock().await;
        if let Some(cached) = &state.current
            && cached.renew_at.is_none_or(|at| Instant::now() < at)
        {
            return Ok(Some(cached.credential.clone()));
        }
        let fetched_at = Instant::now();
        let token = self.source.fetch_token().await?;
        state.generation += 1;
        state.renewals += 1;
        let credential = Credential::new(
            &format!("Bearer {}", token.access_token.expose_secret()),
            state.generation,
        )?;
        state.current = Some(CachedToken {
            credential: credential.clone(),
            renew_at: token.expires_in.map(|l| renew_at(fetched_at, l)),
        });
        tracing::debug!(generation = state.generation, "access token renewed");
        Ok(Some(credential))
    }

    async fn rejected(&self, sent: &Credential) -> bool {
        let mut state = self.state.lock().await;
        // Only drop the token that was rejected: if another caller already renewed
        // it, the next `credential()` returns the new one without a second renewal.
        if state
            .current
            .as_ref()
            .is_some_and(|c| c.credential.generation == sent.generation)
        {
            state.current = None;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[derive(Debug, Default)]
    struct Counting {
        calls: AtomicU32,
        lifetime: Option<Duration>,
    }

    #[async_trait]
    impl TokenSource for Arc<Counting> {
        async fn fetch_token(&self) -> Result<Token> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok(Token {
                access_token: SecretString::from(format!("token-{n}")),
                expires_in: self.lifetime,
                refresh_token: None,
            })
        }
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_renewal() {
        let source = Arc::new(Counting::default());
        let cache = Arc::new(TokenCache::new(source.clone()));
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let cache = cache.clone();
                tokio::spawn(async move { cache.credential().await.unwrap().unwrap() })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap().generation(), 1);
        }
        assert_eq!(source.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn rejection_renews_once_even_when_reported_twice() {
        let source = Arc::new(Counting::default());
        let cache = TokenCache::new(source.clone());
        let first = cache.credential().await.unwrap().unwrap();
        assert!(cache.rejected(&first).await);
        let second = cache.credential().await.unwrap().unwrap();
        assert_eq!(second.generation(), 2);
        // A late report about the first token must not discard the second.
        assert!(cache.rejected(&first).await);
        assert_eq!(cache.credential().await.unwrap().unwrap().generation(), 2);
        assert_eq!(source.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn expiring_token_is_renewed_before_it_expires() {
        let source = Arc::new(Counting {
            lifetime: Some(Duration::from_millis(50)),
            ..Counting::default()
        });
        let cache = TokenCache::new(source.clone());
        cache.credential().await.unwrap();
        tokio::time::sleep(Duration::from_millis(60)).await;
        let c = cache.credential().await.unwrap().unwrap();
        assert_eq!(c.generation(), 2);
        assert_eq!(cache.renewals().await, 2);
    }

    #[test]
    fn renewal_margin_is_a_tenth_capped_at_a_minute() {
        let now = Instant::now();
        assert_eq!(
            renew_at(now, Duration::from_secs(100)),
            now + Duration::from_secs(90)
        );
        assert_eq!(
            renew_at(now, Duration::from_secs(1800)),
            now + Duration::from_secs(1740)
        );
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let basic = BasicAuth::new("admin", &SecretString::from("hunter2")).unwrap();
        let bearer = BearerAuth::new(&SecretString::from("tok-secret")).unwrap();
        let token = Token {
            access_token: SecretString::from("tok-secret"),
            expires_in: None,
            refresh_token: Some(SecretString::from("refresh-secret")),
        };
        let text = format!("{basic:?} {bearer:?} {token:?} {:?}", basic.credential);
        for secret in [
            "hunter2",
            "tok-secret",
            "refresh-secret",
            "YWRtaW46aHVudGVyMg",
        ] {
            assert!(!text.contains(secret), "{text}");
        }
    }
}
