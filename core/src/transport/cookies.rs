//! The session cookies a client keeps per credential, as RFC 6265 keeps
//! them (`cookie_store`): `Expires` and `Max-Age`, `Path`, `Domain`,
//! `Secure` (sent over https only; loopback counts as secure, as browsers
//! treat it) and `HttpOnly`.

use super::*;
use url::Url;

/// A client's session cookies, kept per credential.
#[derive(Debug, Default)]
pub(super) struct SessionCookies(std::sync::Mutex<cookie_store::CookieStore>);

impl SessionCookies {
    pub(super) fn new_shared() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, cookie_store::CookieStore> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The `Cookie` header to send to `url`, when a kept cookie matches it:
    /// longer paths first (RFC 6265 §5.4), then by name.
    pub(super) fn header(&self, url: &Url) -> Option<HeaderValue> {
        let jar = self.lock();
        let mut cookies: Vec<(usize, &str, &str)> = jar
            .matches(url)
            .into_iter()
            .map(|c| (c.path.as_ref().len(), c.name(), c.value()))
            .collect();
        if cookies.is_empty() {
            return None;
        }
        cookies.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
        let text = cookies
            .iter()
            .map(|(_, n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        HeaderValue::from_str(&text).ok()
    }

    /// Takes in the `Set-Cookie` headers of the answer from `url`: a cookie
    /// already expired (`Max-Age` ≤ 0, `Expires` past) removes the one kept;
    /// one the URL may not set (another domain, `Secure` over plain http to
    /// a host that is not loopback) is ignored.
    pub(super) fn store(&self, headers: &HeaderMap, url: &Url) {
        let mut jar = self.lock();
        for value in headers.get_all(http::header::SET_COOKIE) {
            if let Ok(text) = value.to_str() {
                // A malformed or refused cookie is not kept; nothing else to do.
                let _ = jar.parse(text, url);
            }
        }
    }

    pub(super) fn clear(&self) {
        self.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_cookies(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(http::header::SET_COOKIE, HeaderValue::from_str(v).unwrap());
        }
        headers
    }

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    fn sent(jar: &SessionCookies, to: &str) -> Option<String> {
        jar.header(&url(to)).map(|h| h.to_str().unwrap().to_owned())
    }

    #[test]
    fn cookies_are_kept_replaced_and_expired() {
        let instance = "https://dev1.service-now.com/api/now/table/x";
        let jar = SessionCookies::default();
        assert!(sent(&jar, instance).is_none());
        jar.store(
            &set_cookies(&[
                "JSESSIONID=abc; Path=/; HttpOnly",
                "glide_user_route=glide.1; Secure",
            ]),
            &url(instance),
        );
        assert_eq!(
            sent(&jar, instance).unwrap(),
            "glide_user_route=glide.1; JSESSIONID=abc"
        );
        jar.store(&set_cookies(&["JSESSIONID=def; Path=/"]), &url(instance));
        assert_eq!(
            sent(&jar, instance).unwrap(),
            "glide_user_route=glide.1; JSESSIONID=def"
        );
        jar.store(
            &set_cookies(&[
                "JSESSIONID=x; Path=/; Max-Age=0",
                "glide_user_route=gone; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
            ]),
            &url(instance),
        );
        assert!(sent(&jar, instance).is_none(), "expired: removed");
        jar.store(&set_cookies(&["a=1", "=nameless", "junk"]), &url(instance));
        assert_eq!(sent(&jar, instance).unwrap(), "a=1");
        jar.clear();
        assert!(sent(&jar, instance).is_none());
    }

    #[test]
    fn path_domain_and_secure_are_honoured() {
        let jar = SessionCookies::default();
        let from = url("https://dev1.service-now.com/api/now/table/x");
        jar.store(
            &set_cookies(&[
                "scoped=1; Path=/api/now",
                "everywhere=2; Path=/",
                "secure_only=3; Path=/; Secure",
                "elsewhere=4; Domain=example.com; Path=/",
            ]),
            &from,
        );
        assert_eq!(
            sent(&jar, "https://dev1.service-now.com/api/now/cmdb").unwrap(),
            "scoped=1; everywhere=2; secure_only=3",
            "longer paths first"
        );
        assert_eq!(
            sent(&jar, "https://dev1.service-now.com/oauth_token.do").unwrap(),
            "everywhere=2; secure_only=3",
            "Path=/api/now is not sent elsewhere"
        );
        assert_eq!(
            sent(&jar, "http://dev1.service-now.com/").unwrap(),
            "everywhere=2",
            "Secure is not sent over plain http"
        );
        assert!(
            sent(&jar, "https://dev2.service-now.com/").is_none(),
            "host-only: never to another host"
        );
        // A cookie that lives a while is kept until it expires.
        let jar = SessionCookies::default();
        jar.store(
            &set_cookies(&["later=5; Path=/; Expires=Fri, 01 Jan 2100 00:00:00 GMT"]),
            &from,
        );
        assert_eq!(
            sent(&jar, "https://dev1.service-now.com/").unwrap(),
            "later=5"
        );
    }
}
