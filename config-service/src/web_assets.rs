//! The web console: the Vite build in `web/dist`, embedded in the binary, served at `/`.
//!
//! The rule for a path that no API route took ("asset or index.html"):
//! - `/api/…`, `/agent/…` and `/metrics…` stay JSON 404s: a client of the API never gets HTML;
//! - a file of the build is served as is (hashed `assets/` files cached for good);
//! - a missing file (under `assets/` or with an extension) is a plain 404, so a stale page
//!   never runs HTML as a script;
//! - anything else is a console page: `index.html`, and the page's router takes over.

use axum::extract::State;
use axum::http::{header, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::settings::ConsoleTheme;

#[derive(rust_embed::Embed)]
#[folder = "web/dist/"]
#[allow_missing = true]
pub struct Assets;

/// What a path resolves to.
#[derive(Debug, PartialEq, Eq)]
pub enum Served {
    /// A file of the build, by its path inside `dist`.
    Asset(String),
    /// The console's `index.html` (a page of the client-side router).
    Index,
    /// An API path: JSON 404.
    ApiNotFound,
    /// A file that is not in the build.
    FileNotFound,
}

/// The "asset or index.html" rule, over any set of files (`has_file`), so it is testable alone.
pub fn resolve(path: &str, has_file: impl Fn(&str) -> bool) -> Served {
    let is_under = |prefix: &str| path == prefix || path.starts_with(&format!("{prefix}/"));
    if is_under("/api") || is_under("/agent") || is_under("/metrics") {
        return Served::ApiNotFound;
    }
    let relative = path.trim_start_matches('/');
    if relative.is_empty() || relative == "index.html" {
        return Served::Index;
    }
    if has_file(relative) {
        return Served::Asset(relative.to_owned());
    }
    let last = relative.rsplit('/').next().unwrap_or_default();
    if relative.starts_with("assets/") || last.contains('.') {
        Served::FileNotFound
    } else {
        Served::Index
    }
}

/// The router's fallback: what no route took (the path is the one under the base path).
pub async fn fallback(State(app): State<crate::http::Shared>, method: Method, uri: Uri) -> Response {
    let path = uri.path();
    let served = resolve(path, |name| Assets::get(name).is_some());
    if served == Served::ApiNotFound || (method != Method::GET && method != Method::HEAD) {
        return ApiError::NotFound(format!("no route {method} {path}")).into_response();
    }
    match served {
        Served::Asset(name) => file(&name, "public, max-age=31536000, immutable"),
        Served::Index => index(&app.settings.base_path, app.settings.console_theme),
        Served::FileNotFound | Served::ApiNotFound => {
            (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "not found")
                .into_response()
        }
    }
}

fn file(name: &str, cache: &'static str) -> Response {
    match Assets::get(name) {
        Some(found) => {
            let mime = found.metadata.mimetype().to_owned();
            ([(header::CONTENT_TYPE, mime), (header::CACHE_CONTROL, cache.to_owned())], found.data)
                .into_response()
        }
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

/// `index.html` is never cached: it names the hashed assets of the current build.
fn index(base_path: &str, theme: ConsoleTheme) -> Response {
    if let Some(found) = Assets::get("index.html") {
        let html = index_html(&String::from_utf8_lossy(&found.data), base_path, theme);
        return (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")],
            html,
        )
            .into_response();
    }
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")],
        NOT_BUILT_PAGE,
    )
        .into_response()
}

/// The build's `index.html` told where it lives: a `<base href>` so its relative asset paths
/// (Vite `base: './'`) resolve under the base path from any page, and meta tags the console
/// reads for its router, its API prefix and its theme. One build serves any base path.
/// (`base_path` is checked by the settings: plain path segments, nothing to escape.)
pub fn index_html(raw: &str, base_path: &str, theme: ConsoleTheme) -> String {
    let theme = match theme {
        ConsoleTheme::Default => "default",
        ConsoleTheme::Spug => "spug",
    };
    let tags = format!(
        "<head>\n    <base href=\"{base_path}/\" />\n    <meta name=\"pushagent-base\" content=\"{base_path}\" />\n    <meta name=\"pushagent-theme\" content=\"{theme}\" />"
    );
    raw.replacen("<head>", &tags, 1)
}

/// Served when the binary was built without the console (no Node at build time).
pub const NOT_BUILT_PAGE: &str = "<!doctype html><meta charset=\"utf-8\"><title>PushAgent</title>\
<p>控制台未构建 / The console was not built into this binary: run <code>scripts/build-web.sh</code> \
and rebuild the service. The API under <code>/api/</code> works.</p>";
