//! HTTPS: with a certificate and key configured, agents register and pull config over TLS
//! (the client trusts only the test CA in `tests/fixtures/tls/`).

#![allow(clippy::unwrap_used)]

mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use pushagent_config::Settings;
use pushagent_proto::agent::{CONFIG_PATH, REGISTER_PATH};
use support::{register_body, reply_json, Server};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls").join(name)
}

fn tls_client() -> ureq::Agent {
    let ca = ureq::tls::Certificate::from_pem(&std::fs::read(fixture("ca.pem")).unwrap()).unwrap().to_owned();
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::Specific(Arc::new(vec![ca])))
        .build();
    ureq::Agent::config_builder()
        .tls_config(tls)
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

#[test]
fn agents_register_and_pull_config_over_https() {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        tls_cert_path: Some(fixture("cert.pem")),
        tls_key_path: Some(fixture("key.pem")),
        ..support::settings(dir.path())
    };
    let server = Server::start_with(settings);
    let https = server.base.replace("http://", "https://");
    let body = register_body("m-1", "web-01", "aa:bb:cc:dd:ee:01").to_string();
    let (status, answer) = reply_json(
        tls_client()
            .post(format!("{https}{REGISTER_PATH}"))
            .header("Content-Type", "application/json")
            .send(body.as_bytes()),
    );
    assert_eq!(status, 200, "{answer}");
    let token = answer["agent_token"].as_str().unwrap();
    let (status, config) = reply_json(
        tls_client()
            .get(format!("{https}{CONFIG_PATH}"))
            .header("Authorization", format!("Bearer {token}"))
            .call(),
    );
    assert_eq!((status, config["version"].as_i64()), (200, Some(1)), "{config}");
    // Plain HTTP on the TLS port gets no answer.
    assert!(support::client().get(format!("{}{CONFIG_PATH}", server.base)).call().is_err());
    server.stop();
}

#[test]
fn a_half_configured_tls_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings { tls_cert_path: Some(fixture("cert.pem")), ..support::settings(dir.path()) };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let result = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        pushagent_config::serve(settings, listener, async {}).await
    });
    assert!(result.unwrap_err().to_string().contains("tls_key_path"));
}
