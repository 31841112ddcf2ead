//! Console login. Every attempt is counted against its user name BEFORE its password is
//! checked (known and unknown names alike, so both answer the same): at most
//! `LOGIN_MAX_FAILURES` attempts of one name are checked until one succeeds, the next locks the
//! name for `LOGIN_LOCK_SECS`, however many arrive at once. Password hashing (argon2, ~19 MiB
//! each) runs at most `login_hash_concurrency` at a time; an attempt that cannot start within
//! `login_wait_secs` is answered 429, so a flood costs bounded memory and CPU.

use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use crate::error::ApiError;
use crate::http::{JsonBody, Shared, SESSION_COOKIE};
use crate::tokens;

/// Failed logins in a row that lock a user name, and for how long.
pub const LOGIN_MAX_FAILURES: i64 = 5;
pub const LOGIN_LOCK_SECS: i64 = 15 * 60;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    username: String,
    password: String,
}

pub async fn login(
    State(app): State<Shared>,
    JsonBody(login, _): JsonBody<Login>,
) -> Result<Response, ApiError> {
    let now = app.now();
    let wrong = || ApiError::Unauthorized("wrong user name or password".into());
    let name = login.username.clone();
    let admitted =
        app.with_store(move |s| s.login_admit(&name, now, LOGIN_MAX_FAILURES, LOGIN_LOCK_SECS)).await?;
    if let Err(retry_after_secs) = admitted {
        return Err(ApiError::Locked { retry_after_secs });
    }
    let name = login.username.clone();
    let user = app.with_store(move |s| s.user_login(&name)).await?;
    // An unknown name is checked against a dummy hash: the same time, the same answer.
    let stored = user.as_ref().map_or_else(|| tokens::dummy_hash().to_owned(), |u| u.password_hash.clone());
    let wait = Duration::from_secs(app.settings.login_wait_secs);
    let Ok(Ok(permit)) = tokio::time::timeout(wait, app.login_hashing.clone().acquire_owned()).await else {
        // Not checked: the attempt does not count.
        let name = login.username.clone();
        app.with_store(move |s| s.login_not_checked(&name)).await?;
        return Err(ApiError::Busy {
            message: "too many logins at once: try again in a few seconds".into(),
            retry_after_secs: 5,
        });
    };
    let password = login.password;
    let ok = tokio::task::spawn_blocking(move || {
        let ok = tokens::verify_password(&password, &stored);
        drop(permit);
        ok
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    let Some(user) = user.filter(|_| ok) else {
        log::warn!("failed login for user {:?}", login.username);
        return Err(wrong());
    };
    let session = tokens::new_token("").map_err(ApiError::Internal)?;
    let hash = tokens::token_hash(&session);
    let ttl = app.settings.session_ttl_secs;
    let expires_at = now.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX));
    let name = login.username.clone();
    app.with_store(move |s| {
        s.login_checked_ok(&name, now)?;
        s.login_succeeded(user.id, &hash, expires_at)
    })
    .await?;
    // Secure whenever the service itself speaks TLS (or is told it is behind HTTPS).
    let secure = if app.settings.cookie_secure || app.settings.tls_enabled() { "; Secure" } else { "" };
    let cookie =
        format!("{SESSION_COOKIE}={session}; HttpOnly; SameSite=Strict; Path=/; Max-Age={ttl}{secure}");
    let mut response = Json(serde_json::json!({ "username": login.username })).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(|e| ApiError::Internal(e.to_string()))?,
    );
    Ok(response)
}
