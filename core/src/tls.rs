//! Which TLS library the transport uses, chosen at compile time.
//!
//! A transport that cannot speak TLS could only fail at run time, on the first
//! request to an `https` origin; so building the `client` feature without a
//! backend is a compile error that names the features to turn on. With both
//! `rustls` and `native-tls` on (as `--all-features` does), rustls is used, and
//! selected explicitly rather than left to the HTTP stack's defaults.

#[cfg(not(any(feature = "rustls", feature = "native-tls")))]
compile_error!(
    "bpsn-core's `client` feature needs a TLS backend: turn on the `rustls` feature (the default of servicenow-client and brightpattern-client) or `native-tls`; a client without one could only fail at run time"
);

/// The backend this build uses: `"rustls"` or `"native-tls"`.
pub const BACKEND: &str = if cfg!(feature = "rustls") {
    "rustls"
} else {
    "native-tls"
};

/// Selects this build's backend on a `reqwest` client builder.
pub(crate) fn select(builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
    #[cfg(feature = "rustls")]
    {
        builder.tls_backend_rustls()
    }
    #[cfg(all(feature = "native-tls", not(feature = "rustls")))]
    {
        builder.tls_backend_native()
    }
    #[cfg(not(any(feature = "rustls", feature = "native-tls")))]
    {
        builder // unreachable: the compile error above stops the build
    }
}
