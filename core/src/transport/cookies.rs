//! The session cookies a client keeps per credential.

use super::*;

/// A client's session cookies (name → value), kept per credential.
#[derive(Debug, Default)]
pub(super) struct SessionCookies(std::sync::Mutex<Vec<(String, String)>>);

impl SessionCookies {
    pub(super) fn new_shared() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(String, String)>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The `Cookie` header to send, when there are cookies.
    pub(super) fn header(&self) -> Option<HeaderValue> {
        let jar = self.lock();
        if jar.is_empty() {
            return None;
        }
        let text = jar
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        HeaderValue::from_str(&text).ok()
    }

    /// Takes in the answer's `Set-Cookie` headers: a cookie set to an empty
    /// value or with `Max-Age` ≤ 0 is removed.
    pub(super) fn store(&self, headers: &HeaderMap) {
        let mut jar = self.lock();
        for value in headers.get_all(http::header::SET_COOKIE) {
            let Ok(text) = value.to_str() else { continue };
            let mut parts = text.split(';');
            let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else {
                continue;
            };
            let (name, value) = (name.trim(), value.trim());
            if name.is_empty() {
                continue;
            }
            let expired = value.is_empty()
                || parts.any(|a| {
                    a.trim().split_once('=').is_some_and(|(k, v)| {
                        k.trim().eq_ignore_ascii_case("max-age")
                            && v.trim().parse::<i64>().is_ok_and(|n| n <= 0)
                    })
                });
            jar.retain(|(n, _)| n != name);
            if !expired {
                jar.push((name.to_owned(), value.to_owned()));
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

    #[test]
    fn cookies_are_kept_replaced_and_expired() {
        let jar = SessionCookies::default();
        assert!(jar.header().is_none());
        jar.store(&set_cookies(&[
            "JSESSIONID=abc; Path=/; HttpOnly",
            "glide_user_route=glide.1; Secure",
        ]));
        assert_eq!(
            jar.header().unwrap(),
            "JSESSIONID=abc; glide_user_route=glide.1"
        );
        jar.store(&set_cookies(&["JSESSIONID=def"]));
        assert_eq!(
            jar.header().unwrap(),
            "glide_user_route=glide.1; JSESSIONID=def"
        );
        jar.store(&set_cookies(&[
            "JSESSIONID=x; Max-Age=0",
            "glide_user_route=",
        ]));
        assert!(jar.header().is_none());
        jar.store(&set_cookies(&["a=1", "=nameless", "junk"]));
        assert_eq!(jar.header().unwrap(), "a=1");
        jar.clear();
        assert!(jar.header().is_none());
    }
}
