//! Which redirects are followed: GET and HEAD only, within the origin.

use super::*;

/// The most redirects followed for one request.
pub const MAX_REDIRECTS: usize = 10;

/// Where a redirect answer may be followed: for GET and HEAD only, to a
/// `Location` within the same origin. Anything else comes back as the answer
/// (and [`Transport::send`] turns it into [`Error::Redirected`]), so neither a
/// body nor a credential is ever sent elsewhere. (The platforms do not redirect
/// API calls; a 3xx comes from something in between, such as an SSO proxy.)
pub(super) fn follow(
    method: &Method,
    from: &url::Url,
    status: StatusCode,
    headers: &HeaderMap,
) -> Option<url::Url> {
    if !status.is_redirection() || !(method == Method::GET || method == Method::HEAD) {
        return None;
    }
    let target = from.join(header_str(headers, "location")?).ok()?;
    (target.origin() == from.origin()).then_some(target)
}

/// The origin (scheme, host, port) of a redirect's `Location`, for errors: a path
/// or query may carry a token.
pub(super) fn location_origin(origin: &Origin, headers: &HeaderMap) -> String {
    match header_str(headers, "location").map(|l| origin.url().join(l)) {
        Some(Ok(url)) => url.origin().ascii_serialization(),
        Some(Err(_)) => "an unreadable location".to_owned(),
        None => "(no Location header)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn located(location: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("location", HeaderValue::from_str(location).unwrap());
        headers
    }

    #[test]
    fn only_reads_are_followed_and_only_within_the_origin() {
        let from = url::Url::parse("https://dev1.service-now.com/api/now/table/x").unwrap();
        let found = StatusCode::FOUND;
        assert_eq!(
            follow(&Method::GET, &from, found, &located("/login?next=1")).map(String::from),
            Some("https://dev1.service-now.com/login?next=1".to_owned())
        );
        assert!(follow(&Method::HEAD, &from, found, &located("/a")).is_some());
        for method in [Method::POST, Method::PATCH, Method::PUT, Method::DELETE] {
            assert!(
                follow(&method, &from, found, &located("/a")).is_none(),
                "{method}"
            );
        }
        assert!(
            follow(
                &Method::GET,
                &from,
                found,
                &located("https://sso.example.com/")
            )
            .is_none()
        );
        assert!(
            follow(
                &Method::GET,
                &from,
                found,
                &located("http://dev1.service-now.com/a")
            )
            .is_none()
        );
        assert!(follow(&Method::GET, &from, StatusCode::OK, &located("/a")).is_none());
        assert!(follow(&Method::GET, &from, found, &HeaderMap::new()).is_none());
    }

    #[test]
    fn a_location_is_named_by_its_origin_only() {
        let origin = Origin::parse("https://dev1.service-now.com").unwrap();
        assert_eq!(
            location_origin(&origin, &located("https://sso.example.com/cb?token=secret")),
            "https://sso.example.com"
        );
        assert_eq!(
            location_origin(&origin, &HeaderMap::new()),
            "(no Location header)"
        );
    }
}
