//! A hostile server for tests: it answers every request with an error that
//! echoes what it was sent — the credential headers and the body — as proxies,
//! load balancers and debug builds of scripts do. A client under test must
//! print none of it.
//!
//! ```
//! use bpsn_fake::echo::{Echo, EchoShape};
//! use wiremock::{Mock, matchers::any};
//!
//! // Mount it on a `wiremock::MockServer` that stands for the service.
//! let every_request = Mock::given(any()).respond_with(Echo::new(500, EchoShape::Json));
//! # drop(every_request);
//! ```

use std::io::Write as _;

use wiremock::{Request, Respond, ResponseTemplate};

/// How the echo is wrapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EchoShape {
    /// `text/plain`.
    Plain,
    /// ServiceNow's error envelope, the echo in `error.detail`.
    Json,
    /// An OAuth error (`error`, `error_description`), the echo in the description.
    OAuth,
    /// An HTML error page, the echo HTML-escaped.
    Html,
    /// `text/plain`, gzip-compressed (`Content-Encoding: gzip`).
    Gzip,
}

impl EchoShape {
    /// Every shape.
    pub const ALL: [EchoShape; 5] = [
        EchoShape::Plain,
        EchoShape::Json,
        EchoShape::OAuth,
        EchoShape::Html,
        EchoShape::Gzip,
    ];
}

/// Answers with `status` and the request's credential headers and body echoed.
#[derive(Debug, Clone, Copy)]
pub struct Echo {
    status: u16,
    shape: EchoShape,
}

impl Echo {
    /// An echo answering `status` in `shape`.
    pub fn new(status: u16, shape: EchoShape) -> Self {
        Self { status, shape }
    }

    /// What the server says it was sent.
    pub fn echoed(request: &Request) -> String {
        let header = |name: &str| {
            request
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        format!(
            "sent: auth={} apikey={} proxy={} cookie={} body={}",
            header("authorization"),
            header("x-sn-apikey"),
            header("proxy-authorization"),
            header("cookie"),
            String::from_utf8_lossy(&request.body)
        )
    }
}

impl Respond for Echo {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let echoed = Self::echoed(request);
        let template = ResponseTemplate::new(self.status);
        match self.shape {
            EchoShape::Plain => template.set_body_raw(echoed, "text/plain"),
            EchoShape::Json => template.set_body_json(serde_json::json!({
                "error": {"message": "Internal error", "detail": echoed},
                "status": "failure"
            })),
            EchoShape::OAuth => template.set_body_json(serde_json::json!({
                "error": "server_error", "error_description": echoed
            })),
            EchoShape::Html => {
                let escaped = echoed
                    .replace('&', "&amp;")
                    .replace('<', "&lt;")
                    .replace('>', "&gt;")
                    .replace('"', "&quot;");
                template.set_body_raw(
                    format!("<html><body><h1>Error</h1><pre>{escaped}</pre></body></html>"),
                    "text/html",
                )
            }
            EchoShape::Gzip => {
                let mut encoder =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                let _ = encoder.write_all(echoed.as_bytes());
                let body = encoder.finish().unwrap_or_default();
                template
                    .set_body_raw(body, "text/plain")
                    .insert_header("content-encoding", "gzip")
            }
        }
    }
}
