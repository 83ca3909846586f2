//! The transport settings of a client builder, written once.
//!
//! Every client of the workspace has the same transport settings: retries,
//! timeouts, a proxy, TLS roots and a client certificate, the body limit,
//! compression, session cookies and a shared request budget. They live in
//! [`TransportOptions`](crate::TransportOptions); [`transport_settings!`](crate::transport_settings)
//! gives a client builder that holds a `TransportOptions` each of them as a
//! builder method, with its documentation, so no client writes them again.

/// Adds the [transport settings](crate::settings) to a client builder: put it
/// inside `impl ClientBuilder { … }` of a builder with a field
/// `options: TransportOptions`. `$krate` is the client crate's name and
/// `$builder` an expression that makes its builder, both for the examples.
#[macro_export]
macro_rules! transport_settings {
    (crate: $krate:literal, builder: $builder:literal) => {
        /// Sets the retry policy (see its documentation for what is retried).
        pub fn retry_policy(mut self, retry: $crate::RetryPolicy) -> Self {
            self.options = self.options.retry_policy(retry);
            self
        }

        /// Sets the timeout of one attempt (default 60 s).
        pub fn timeout(mut self, timeout: ::std::time::Duration) -> Self {
            self.options = self.options.timeout(timeout);
            self
        }

        /// Sends every request through `proxy` instead of what `HTTPS_PROXY`,
        /// `HTTP_PROXY` and `NO_PROXY` say (honoured by default). A proxy's own
        /// refusal is [`Error::ProxyAuthentication`](crate::Error::ProxyAuthentication).
        ///
        #[doc = concat!(
            "```\n# fn main() -> Result<(), Box<dyn std::error::Error>> {\nuse ", $krate, "::Proxy;\n",
            "let proxy = Proxy::new(\"http://proxy.corp.example:3128\")?\n",
            "    .with_credentials(\"svc-bp\", std::env::var(\"PROXY_PASSWORD\").unwrap_or_default().into());\n",
            "let builder = ", $builder, ".proxy(proxy);\n# let _ = builder; Ok(()) }\n```"
        )]
        pub fn proxy(mut self, proxy: $crate::Proxy) -> Self {
            self.options = self.options.proxy(proxy);
            self
        }

        /// Trusts the root certificates of a PEM bundle as well as the platform's
        /// ([`RootCertificates::added`](crate::RootCertificates::added)) or instead of
        /// them ([`RootCertificates::only`](crate::RootCertificates::only)). A
        /// handshake that fails is [`Error::Tls`](crate::Error::Tls), saying whether
        /// the certificate was unknown, expired or for another name.
        ///
        #[doc = concat!(
            "```no_run\n# fn main() -> Result<(), Box<dyn std::error::Error>> {\n",
            "let pem = std::fs::read(\"/etc/ssl/company-root.pem\")?;\n",
            "let builder = ", $builder, "\n    .root_certificates(", $krate, "::RootCertificates::added(&pem)?);\n",
            "# let _ = builder; Ok(()) }\n```"
        )]
        pub fn root_certificates(mut self, roots: $crate::RootCertificates) -> Self {
            self.options = self.options.root_certificates(roots);
            self
        }

        /// Presents a client certificate when the server asks (mutual TLS), with any
        /// credential kind.
        ///
        #[doc = concat!(
            "```no_run\n# fn main() -> Result<(), Box<dyn std::error::Error>> {\n",
            "let pem = std::fs::read_to_string(\"client.pem\")? + &std::fs::read_to_string(\"client.key\")?;\n",
            "let builder = ", $builder, "\n    .client_identity(", $krate, "::ClientIdentity::from_pem(pem.into())?);\n",
            "# let _ = builder; Ok(()) }\n```"
        )]
        pub fn client_identity(mut self, identity: $crate::ClientIdentity) -> Self {
            self.options = self.options.client_identity(identity);
            self
        }

        /// Sets the largest response body read (default 64 MiB, counted after
        /// decompression); a longer answer is [`Error::BodyTooLarge`](crate::Error::BodyTooLarge).
        pub fn max_body_bytes(mut self, limit: u64) -> Self {
            self.options = self.options.max_body_bytes(limit);
            self
        }

        /// Asks for gzip, deflate or brotli answers and decodes them (default on;
        /// JSON compresses 5–8×).
        pub fn compression(mut self, on: bool) -> Self {
            self.options = self.options.compression(on);
            self
        }

        /// Keeps the service's session cookies and sends them back (default on), so
        /// that it does not open a new session for every request; dropped on a 401.
        pub fn session_cookies(mut self, on: bool) -> Self {
            self.options = self.options.session_cookies(on);
            self
        }

        /// Shares a requests-per-second budget with every other client holding it
        /// (for many integrations at once: see `bpsn_core::budget`).
        pub fn request_budget(mut self, budget: $crate::RequestBudget) -> Self {
            self.options = self.options.request_budget(budget);
            self
        }

        /// Sets every transport setting at once (timeouts, retries, `User-Agent`
        /// suffix, proxy, TLS, body limit, compression, session cookies).
        pub fn transport_options(mut self, options: $crate::TransportOptions) -> Self {
            self.options = options;
            self
        }
    };
}
