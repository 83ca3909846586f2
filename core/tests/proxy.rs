//! Requests through a proxy on 127.0.0.1 that records what it is asked, and a
//! proxy's own refusal named as the proxy's.

use std::sync::{Arc, Mutex};

use bpsn_core::{BasicAuth, Error, Origin, Proxy, Request, Transport};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// A proxy that records each request head and answers `status` itself.
async fn recording_proxy(status: u16) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                log.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&head).into_owned());
                let body = r#"{"result":[]}"#;
                let answer = match status {
                    407 => "HTTP/1.1 407 Proxy Authentication Required\r\nproxy-authenticate: Basic realm=\"corp\"\r\ncontent-length: 0\r\n\r\n".to_owned(),
                    _ => format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    ),
                };
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    (url, seen)
}

fn through(origin: &str, proxy: Proxy) -> Transport {
    Transport::builder(Origin::parse(origin).unwrap())
        .authenticator(Arc::new(
            BasicAuth::new("admin", &"pw-of-admin".into()).unwrap(),
        ))
        .proxy(Some(proxy))
        .build()
        .unwrap()
}

#[tokio::test]
async fn requests_go_through_the_configured_proxy_with_its_credentials() {
    let (proxy_url, seen) = recording_proxy(200).await;
    // The service itself is never dialled: the proxy answers.
    let service = "http://127.0.0.1:9";
    let proxy = Proxy::new(&proxy_url)
        .unwrap()
        .with_credentials("svc-bp", "proxy-pw-never-shown".into());
    let t = through(service, proxy.clone());
    t.send(Request::get("/api/now/table/sys_user").query("sysparm_limit", "1"))
        .await
        .unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    let head = seen[0].to_ascii_lowercase();
    assert!(
        head.starts_with("get http://127.0.0.1:9/api/now/table/sys_user?sysparm_limit=1 http/1.1"),
        "{head}"
    );
    // Basic base64("svc-bp:proxy-pw-never-shown")
    assert!(
        head.contains("proxy-authorization: basic c3zjlwjwonbyb3h5lxb3lw5ldmvylxnob3du"),
        "{head}"
    );
    assert!(!format!("{proxy:?} {t:?}").contains("proxy-pw-never-shown"));
}

#[tokio::test]
async fn a_proxy_s_407_is_named_as_the_proxy_s() {
    let (proxy_url, seen) = recording_proxy(407).await;
    let proxy = Proxy::new(&proxy_url).unwrap();
    let host = proxy.host();
    // Plain http through the proxy: the 407 is its answer.
    let err = through("http://127.0.0.1:9", proxy.clone())
        .send(Request::get("/api/now/table/sys_user"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::ProxyAuthentication { proxy, .. } if *proxy == host),
        "{err}"
    );
    assert!(
        err.to_string().contains("the service was not reached"),
        "{err}"
    );
    // https through the proxy: a refused CONNECT, never retried.
    let err = through("https://instance.example.com", proxy)
        .send(Request::get("/api/now/table/sys_user"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::ProxyAuthentication { proxy, .. } if *proxy == host),
        "{err:?}"
    );
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "one try each: {seen:?}");
    assert!(
        seen[1].starts_with("CONNECT instance.example.com:443"),
        "{}",
        seen[1]
    );
}
