//! What every answer and every state-changing request goes through: security headers on all
//! answers, and for every POST/PUT/PATCH/DELETE a JSON content type or an `X-Requested-With`
//! header (a cross-site form or `navigator.sendBeacon` can send neither without a CORS
//! preflight, which this service never grants; requests with their own `Authorization` are
//! exempt, a browser never adds one cross-site) and, when the browser says where the request
//! comes from (`Origin`), that origin being the service's own or one the settings allow.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::http::Shared;

/// The console's Content-Security-Policy without its `frame-ancestors` (a setting). antd
/// writes its styles at run time (CSS-in-JS): inline styles are allowed, inline scripts not.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; \
     base-uri 'self'; form-action 'self'";

/// Security headers on every answer (console, admin API, agent API, errors).
pub async fn security_headers(State(app): State<Shared>, req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    let ancestors = &app.settings.frame_ancestors;
    if let Ok(csp) = HeaderValue::from_str(&format!("{CSP}; frame-ancestors {ancestors}")) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    // Older browsers without frame-ancestors: the same rule where it can be said.
    match ancestors.trim() {
        "'none'" => {
            headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        }
        "'self'" => {
            headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("SAMEORIGIN"));
        }
        _ => {}
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if app.settings.tls_enabled() {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000"));
    }
    response
}

fn is_json(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(crate::http::is_json_type)
}

/// The authority (`host[:port]`) of an `Origin` value; None for `null` or garbage.
fn origin_authority(origin: &str) -> Option<&str> {
    let rest = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://"))?;
    (!rest.is_empty() && !rest.contains('/')).then_some(rest)
}

/// Refuse a state-changing request that a browser could have sent from another site.
pub async fn refuse_cross_site_writes(State(app): State<Shared>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or_default().trim().to_ascii_lowercase();
        let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
        let own = origin_authority(&origin).is_some_and(|a| a.eq_ignore_ascii_case(host));
        let allowed = app
            .settings
            .allowed_origins
            .iter()
            .any(|o| o.trim_end_matches('/').eq_ignore_ascii_case(&origin));
        if !(own || allowed) {
            return ApiError::Forbidden(format!(
                "origin {origin:?} may not change anything here (not this service's own origin nor in allowed_origins)"
            ))
            .into_response();
        }
    }
    // A raw upload (the inventory CSV) from the console says so with a header a cross-site
    // form cannot send; a request with its own Authorization (agent or API token) cannot be
    // forged by a browser at all.
    let declared =
        req.headers().contains_key("x-requested-with") || req.headers().contains_key(header::AUTHORIZATION);
    if !is_json(&req) && !declared {
        return ApiError::UnsupportedMediaType(
            "send the body as Content-Type: application/json (also for requests without a body)".into(),
        )
        .into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_read_as_their_authority_only() {
        assert_eq!(origin_authority("https://ops.example.com"), Some("ops.example.com"));
        assert_eq!(origin_authority("http://127.0.0.1:8790"), Some("127.0.0.1:8790"));
        assert_eq!(origin_authority("null"), None);
        assert_eq!(origin_authority("https://evil.example/x"), None);
        assert_eq!(origin_authority("https://"), None);
    }
}
