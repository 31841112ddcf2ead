//! The console is served at `/` by the rule "asset or index.html", and the API never answers
//! with the console's HTML.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod support;

use pushagent_config::settings::ConsoleTheme;
use pushagent_config::web_assets::{index_html, resolve, Assets, Served, NOT_BUILT_PAGE};
use support::{client, register_body, Server};

fn built(name: &str) -> bool {
    ["index.html", "favicon.svg", "assets/index-abc123.js", "assets/index-abc123.css"].contains(&name)
}

#[test]
fn files_of_the_build_are_served_as_assets() {
    assert_eq!(resolve("/assets/index-abc123.js", built), Served::Asset("assets/index-abc123.js".into()));
    assert_eq!(resolve("/favicon.svg", built), Served::Asset("favicon.svg".into()));
}

#[test]
fn console_pages_get_index_html() {
    for page in ["/", "/index.html", "/login", "/machines", "/history", "/machines/12/detail"] {
        assert_eq!(resolve(page, built), Served::Index, "{page}");
    }
}

#[test]
fn api_paths_are_never_html() {
    for path in ["/api", "/api/", "/api/nope", "/api/machines/x/y", "/agent/nope/", "/metrics/x"] {
        assert_eq!(resolve(path, built), Served::ApiNotFound, "{path}");
    }
    // A page whose name only starts like the API is still a page.
    assert_eq!(resolve("/apiary", built), Served::Index);
}

#[test]
fn missing_files_are_404_not_index_html() {
    assert_eq!(resolve("/assets/index-old999.js", built), Served::FileNotFound);
    assert_eq!(resolve("/robots.txt", built), Served::FileNotFound);
}

fn get(server: &Server, path: &str) -> (u16, String, String) {
    let mut response = client().get(server.url(path)).call().unwrap();
    let content_type =
        response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (response.status().as_u16(), content_type, response.body_mut().read_to_string().unwrap())
}

#[test]
fn the_real_server_follows_the_rule() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());

    let (status, content_type, body) = get(&server, "/api/no-such-thing");
    assert_eq!(status, 404);
    assert!(content_type.starts_with("application/json"), "{content_type}");
    assert!(body.contains("\"not_found\""), "{body}");

    let (status, content_type, _) = get(&server, "/agent/no-such-thing/");
    assert_eq!((status, content_type.starts_with("application/json")), (404, true));

    // The routes themselves are untouched by the fallback.
    let (status, content_type, _) = get(&server, "/api/openapi.json");
    assert_eq!((status, content_type.as_str()), (200, "application/json"));

    // A console page: the build's index.html when the console was built, else the page
    // that says it was not; HTML either way.
    let (status, content_type, body) = get(&server, "/machines");
    assert!(content_type.starts_with("text/html"), "{content_type}");
    match Assets::get("index.html") {
        Some(index) => {
            assert_eq!(status, 200);
            assert_eq!(body, index_html(&String::from_utf8_lossy(&index.data), "", ConsoleTheme::Default));
            assert!(body.contains("<base href=\"/\" />"), "{body}");
            // Every file of the build is served with its type.
            for name in Assets::iter() {
                let (status, content_type, _) = get(&server, &format!("/{name}"));
                assert_eq!(status, 200, "{name}");
                if name.ends_with(".js") {
                    assert!(content_type.contains("javascript"), "{name}: {content_type}");
                }
            }
        }
        None => {
            assert_eq!((status, body.as_str()), (503, NOT_BUILT_PAGE));
        }
    }
    // gzip when the client asks (what browsers do); the bytes are the build's.
    for name in Assets::iter().filter(|n| n.ends_with(".js")).take(3) {
        let mut response =
            client().get(server.url(&format!("/{name}"))).header("Accept-Encoding", "gzip").call().unwrap();
        assert_eq!(
            response.headers().get("content-encoding").map(|v| v.to_str().unwrap()),
            Some("gzip"),
            "{name}"
        );
        let compressed = response.body_mut().with_config().limit(50 << 20).read_to_vec().unwrap();
        let mut plain = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&compressed[..]), &mut plain).unwrap();
        let original = Assets::get(&name).unwrap().data;
        assert_eq!(plain, &original[..], "{name}");
        if original.len() > 64 * 1024 {
            assert!(
                compressed.len() * 2 < original.len(),
                "{name}: {} -> {}",
                original.len(),
                compressed.len()
            );
        }
    }
    // Not asked: not compressed.
    let response = client().get(server.url("/api/openapi.json")).call().unwrap();
    assert!(response.headers().get("content-encoding").is_none());

    let (status, content_type, _) = get(&server, "/assets/missing-000.js");
    assert_eq!(status, 404);
    assert!(!content_type.starts_with("text/html"), "{content_type}");

    // Writing to a page path is not a route.
    let (status, _) = server.send("POST", "/machines", &serde_json::json!({}), None);
    assert_eq!(status, 404);
    server.stop();
}

#[test]
fn index_html_is_told_its_base_path_and_theme() {
    let raw = "<!doctype html>\n<html>\n  <head>\n    <script type=\"module\" src=\"./assets/index-1.js\"></script>\n  </head>\n</html>";
    let html = index_html(raw, "/pushagent", ConsoleTheme::Spug);
    assert!(html.contains("<base href=\"/pushagent/\" />"), "{html}");
    assert!(html.contains("<meta name=\"pushagent-base\" content=\"/pushagent\" />"), "{html}");
    assert!(html.contains("<meta name=\"pushagent-theme\" content=\"spug\" />"), "{html}");
    assert!(html.contains("./assets/index-1.js"), "asset paths stay relative to the base: {html}");
}

#[test]
fn under_a_base_path_console_and_api_move_and_agents_reach_both() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = support::settings(dir.path());
    settings.base_path = "/pushagent".into();
    settings.console_theme = ConsoleTheme::Spug;
    let server = Server::start_with(settings);

    let (status, content_type, _) = get(&server, "/pushagent/api/openapi.json");
    assert_eq!((status, content_type.as_str()), (200, "application/json"));
    let (status, answer) = server.admin_get("/pushagent/api/overview");
    assert_eq!(status, 200, "{answer}");
    let (status, content_type, _) = get(&server, "/pushagent/api/nope");
    assert_eq!((status, content_type.starts_with("application/json")), (404, true));
    // The admin API is not at the root any more; nothing is but the agent API.
    let (status, content_type, body) = get(&server, "/api/overview");
    assert_eq!((status, content_type.starts_with("application/json")), (404, true), "{body}");
    let (status, _, _) = get(&server, "/machines");
    assert_eq!(status, 404);

    // The session cookie stays under the base path (the platform on the same origin never
    // sees it).
    let response = client()
        .post(server.url("/pushagent/api/login"))
        .header("Content-Type", "application/json")
        .send(
            serde_json::json!({"username": support::ADMIN, "password": support::ADMIN_PASSWORD})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let cookie = response.headers().get("set-cookie").unwrap().to_str().unwrap().to_owned();
    assert!(cookie.contains("; Path=/pushagent/;"), "{cookie}");

    // Agents through the proxy (service_url ending in /pushagent) and directly.
    let (status, answer) = server.send(
        "POST",
        "/pushagent/agent/register",
        &register_body("m-1", "h1", "02:00:00:00:00:01"),
        None,
    );
    assert_eq!(status, 200, "{answer}");
    let (status, answer) =
        server.send("POST", "/agent/register", &register_body("m-2", "h2", "02:00:00:00:00:02"), None);
    assert_eq!(status, 200, "{answer}");

    for page in ["/pushagent", "/pushagent/", "/pushagent/machines", "/pushagent/inventory"] {
        let (status, content_type, body) = get(&server, page);
        assert!(content_type.starts_with("text/html"), "{page}: {content_type}");
        if Assets::get("index.html").is_some() {
            assert_eq!(status, 200, "{page}");
            assert!(body.contains("<base href=\"/pushagent/\" />"), "{page}: {body}");
            assert!(body.contains("content=\"spug\""), "{page}");
        } else {
            assert_eq!(status, 503, "{page}");
        }
    }
    for name in Assets::iter().take(5) {
        let (status, _, _) = get(&server, &format!("/pushagent/{name}"));
        assert_eq!(status, 200, "{name}");
    }
    server.stop();
}
