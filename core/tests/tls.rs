//! TLS against a local server whose certificate comes from a private root:
//! refused without the root (and the reason named), accepted with it; mutual
//! TLS with a client certificate; expired and wrong-name certificates named as
//! such.

use std::sync::Arc;

use bpsn_core::{ClientIdentity, Error, Origin, Request, RootCertificates, TlsProblem, Transport};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const CA: &str = include_str!("tls/ca.pem");

fn certs(pem: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .map(Result::unwrap)
        .collect()
}

/// An https server on 127.0.0.1 with `name`'s certificate; with
/// `require_client`, only clients presenting a certificate from the test root
/// get in. Answers every request with 200 `{}`.
async fn server(name: &str, require_client: bool) -> String {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tls/");
    let chain = certs(&std::fs::read_to_string(format!("{dir}{name}.pem")).unwrap());
    let key = PrivateKeyDer::from_pem_file(format!("{dir}{name}.key")).unwrap();
    let builder = rustls::ServerConfig::builder();
    let builder = if require_client {
        let mut roots = rustls::RootCertStore::empty();
        for c in certs(CA) {
            roots.add(c).unwrap();
        }
        builder.with_client_cert_verifier(
            rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
                .build()
                .unwrap(),
        )
    } else {
        builder.with_no_client_auth()
    };
    let config = builder.with_single_cert(chain, key).unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(socket).await else {
                    return;
                };
                let mut buf = [0u8; 4096];
                let _ = tls.read(&mut buf).await;
                let _ = tls
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}")
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    format!("https://localhost:{port}")
}

fn transport(
    origin: &str,
    roots: Option<RootCertificates>,
    identity: Option<ClientIdentity>,
) -> Transport {
    let mut builder = Transport::builder(Origin::parse(origin).unwrap());
    if let Some(roots) = roots {
        builder = builder.root_certificates(roots);
    }
    if let Some(identity) = identity {
        builder = builder.client_identity(identity);
    }
    builder.build().unwrap()
}

fn tls_problem(err: &Error) -> Option<TlsProblem> {
    match err {
        Error::Tls { problem, .. } => Some(*problem),
        _ => None,
    }
}

#[tokio::test]
async fn a_private_root_is_refused_until_it_is_trusted() {
    let origin = server("server", false).await;
    let err = transport(&origin, None, None)
        .send(Request::get("/api"))
        .await
        .unwrap_err();
    assert_eq!(
        tls_problem(&err),
        Some(TlsProblem::UnknownIssuer),
        "{err:?}"
    );
    assert!(err.to_string().contains("unknown root"), "{err}");
    for roots in [
        RootCertificates::added(CA.as_bytes()).unwrap(),
        RootCertificates::only(CA.as_bytes()).unwrap(),
    ] {
        let ok = transport(&origin, Some(roots), None)
            .send(Request::get("/api"))
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);
    }
}

#[tokio::test]
async fn expired_and_wrong_name_certificates_are_named() {
    let roots = || Some(RootCertificates::added(CA.as_bytes()).unwrap());
    let expired = server("expired", false).await;
    let err = transport(&expired, roots(), None)
        .send(Request::get("/api"))
        .await
        .unwrap_err();
    assert_eq!(tls_problem(&err), Some(TlsProblem::Expired), "{err:?}");
    let other = server("othername", false).await;
    let err = transport(&other, roots(), None)
        .send(Request::get("/api"))
        .await
        .unwrap_err();
    assert_eq!(tls_problem(&err), Some(TlsProblem::WrongName), "{err:?}");
}

#[tokio::test]
async fn mutual_tls_presents_the_client_certificate() {
    let origin = server("server", true).await;
    let roots = || Some(RootCertificates::added(CA.as_bytes()).unwrap());
    let err = transport(&origin, roots(), None)
        .send(Request::get("/api"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Tls { .. } | Error::Transport { .. }),
        "refused without a client certificate: {err:?}"
    );
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tls/");
    let pem = format!(
        "{}{}",
        std::fs::read_to_string(format!("{dir}client.pem")).unwrap(),
        std::fs::read_to_string(format!("{dir}client.key")).unwrap()
    );
    let identity = ClientIdentity::from_pem(pem.clone().into()).unwrap();
    assert!(!format!("{identity:?}").contains("PRIVATE KEY"));
    let ok = transport(&origin, roots(), Some(identity))
        .send(Request::get("/api"))
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert!(ClientIdentity::from_pem("not a pem".to_owned().into()).is_err());
}
