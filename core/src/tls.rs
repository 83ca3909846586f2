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

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use crate::error::InvalidInput;

/// The backend this build uses: `"rustls"` or `"native-tls"`.
pub const BACKEND: &str = if cfg!(feature = "rustls") {
    "rustls"
} else {
    "native-tls"
};

/// Root certificates to trust: added to the platform's (a company root next to the
/// public ones), or instead of them.
///
/// ```
/// let pem = "-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n";
/// assert!(bpsn_core::RootCertificates::added(pem.as_bytes()).is_err());
/// ```
#[derive(Clone)]
pub struct RootCertificates {
    certs: Vec<reqwest::Certificate>,
    only: bool,
}

impl RootCertificates {
    /// Trusts the certificates of a PEM bundle as well as the platform's roots.
    pub fn added(pem: &[u8]) -> Result<Self, InvalidInput> {
        Self::new(pem, false)
    }

    /// Trusts only the certificates of a PEM bundle (the platform's roots are
    /// not consulted).
    pub fn only(pem: &[u8]) -> Result<Self, InvalidInput> {
        Self::new(pem, true)
    }

    fn new(pem: &[u8], only: bool) -> Result<Self, InvalidInput> {
        let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| {
            InvalidInput::new(
                "root certificates",
                format!("not a PEM certificate bundle: {e}"),
            )
        })?;
        if certs.is_empty() {
            return Err(InvalidInput::new(
                "root certificates",
                "the PEM bundle holds no certificate",
            ));
        }
        // Parsing PEM checks only the armour: a TLS configuration with them
        // checks each certificate.
        select(reqwest::Client::builder())
            .tls_certs_only(certs.clone())
            .build()
            .map_err(|e| {
                InvalidInput::new("root certificates", format!("not usable as roots: {e}"))
            })?;
        Ok(Self { certs, only })
    }

    fn apply(&self, builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        let certs = self.certs.clone();
        if self.only {
            builder.tls_certs_only(certs)
        } else {
            builder.tls_certs_merge(certs)
        }
    }
}

impl fmt::Debug for RootCertificates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RootCertificates")
            .field("certificates", &self.certs.len())
            .field("only", &self.only)
            .finish()
    }
}

/// A client certificate and its private key (PEM, the key PKCS#8) for mutual
/// TLS. The key is a secret: it never reaches `Debug`, logs or errors.
#[derive(Clone)]
pub struct ClientIdentity {
    pem: SecretString,
}

impl ClientIdentity {
    /// The certificate chain and the private key, both PEM, in one text.
    pub fn from_pem(pem: SecretString) -> Result<Self, InvalidInput> {
        let identity = Self { pem };
        identity.to_reqwest()?;
        Ok(identity)
    }

    #[cfg(feature = "rustls")]
    fn to_reqwest(&self) -> Result<reqwest::Identity, InvalidInput> {
        reqwest::Identity::from_pem(self.pem.expose_secret().as_bytes()).map_err(|_| {
            InvalidInput::new(
                "client certificate",
                "needs a PEM certificate and its PKCS#8 private key",
            )
        })
    }

    #[cfg(not(feature = "rustls"))]
    fn to_reqwest(&self) -> Result<reqwest::Identity, InvalidInput> {
        Err(InvalidInput::new(
            "client certificate",
            "mutual TLS needs the rustls feature",
        ))
    }
}

impl fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientIdentity([REDACTED])")
    }
}

/// The TLS settings of a transport.
#[derive(Clone, Debug, Default)]
pub(crate) struct TlsSettings {
    pub(crate) roots: Option<RootCertificates>,
    pub(crate) identity: Option<ClientIdentity>,
}

impl TlsSettings {
    pub(crate) fn apply(
        &self,
        mut builder: reqwest::ClientBuilder,
    ) -> Result<reqwest::ClientBuilder, InvalidInput> {
        if let Some(roots) = &self.roots {
            builder = roots.apply(builder);
        }
        if let Some(identity) = &self.identity {
            builder = builder.identity(identity.to_reqwest()?);
        }
        Ok(builder)
    }
}

/// Why a TLS handshake failed, as far as the HTTP stack says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsProblem {
    /// The server's certificate is not signed by a trusted root (a company root
    /// not added, or a proxy inspecting traffic).
    UnknownIssuer,
    /// The server's certificate has expired (or is not valid yet).
    Expired,
    /// The server's certificate is for another name.
    WrongName,
    /// The server asked for a client certificate that was not given, or refused
    /// the one given.
    ClientCertificate,
    /// Something else (the causes say what).
    Other,
}

impl fmt::Display for TlsProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsProblem::UnknownIssuer => "the server's certificate is signed by an unknown root: add your company root (root certificates), or check for a proxy that inspects TLS",
            TlsProblem::Expired => "the server's certificate has expired or is not valid yet",
            TlsProblem::WrongName => "the server's certificate is for another name: check the instance or tenant address",
            TlsProblem::ClientCertificate => "the server wants a client certificate that was not given or not accepted",
            TlsProblem::Other => "the TLS handshake failed",
        })
    }
}

/// The TLS problem behind a connection error, if it was one.
pub(crate) fn problem_of(error: &(dyn std::error::Error + 'static)) -> Option<TlsProblem> {
    let mut source = Some(error);
    let mut tls = false;
    while let Some(e) = source {
        let text = e.to_string();
        let lower = text.to_ascii_lowercase();
        if lower.contains("unknownissuer") || lower.contains("unknown issuer") {
            return Some(TlsProblem::UnknownIssuer);
        }
        if lower.contains("expired") || lower.contains("notvalidyet") {
            return Some(TlsProblem::Expired);
        }
        if lower.contains("notvalidforname") || lower.contains("not valid for name") {
            return Some(TlsProblem::WrongName);
        }
        if lower.contains("certificaterequired")
            || lower.contains("certificate required")
            || lower.contains("bad certificate")
            || lower.contains("badcertificate")
        {
            return Some(TlsProblem::ClientCertificate);
        }
        if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake") {
            tls = true;
        }
        source = e.source();
    }
    tls.then_some(TlsProblem::Other)
}

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
