//! Console login. Every attempt is counted against its user name BEFORE its password is
//! checked (known and unknown names alike, so both answer the same): at most
//! `LOGIN_MAX_FAILURES` failed or in-flight attempts of one name are checked (a success takes
//! back only its own), the next locks the name for `LOGIN_LOCK_SECS`, however many arrive at
//! once; counts are forgotten a lock period after the name's last attempt. Password hashing (argon2, ~19 MiB
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

/// `login_hash_concurrency` threads that check passwords, each with its own argon2 memory,
/// allocated once and reused: the service's memory for logins is bounded by their number.
pub struct PasswordCheckers {
    jobs: std::sync::Mutex<std::sync::mpsc::Sender<CheckJob>>,
}

type CheckJob = (String, String, tokio::sync::oneshot::Sender<bool>);

impl PasswordCheckers {
    pub fn start(threads: usize) -> PasswordCheckers {
        let (jobs, queue) = std::sync::mpsc::channel::<CheckJob>();
        let queue = std::sync::Arc::new(std::sync::Mutex::new(queue));
        for n in 0..threads.max(1) {
            let queue = std::sync::Arc::clone(&queue);
            let started = std::thread::Builder::new().name(format!("password-check-{n}")).spawn(move || {
                let mut blocks = Vec::new();
                loop {
                    let job = queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner).recv();
                    // The service is gone (every sender dropped): the thread ends.
                    let Ok((password, stored, answer)) = job else { break };
                    let _ = answer.send(tokens::verify_password_in(&password, &stored, &mut blocks));
                }
            });
            if let Err(e) = started {
                log::error!("cannot start a password check thread: {e}");
            }
        }
        PasswordCheckers { jobs: std::sync::Mutex::new(jobs) }
    }

    /// Check `password` against `stored` on a checker thread; None: no checker answered.
    pub async fn verify(&self, password: String, stored: String) -> Option<bool> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        self.jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .send((password, stored, answer))
            .ok()?;
        answered.await.ok()
    }
}

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
    let ok = app
        .password_checkers
        .verify(login.password, stored)
        .await
        .ok_or_else(|| ApiError::Internal("no password check thread answered".into()))?;
    drop(permit);
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
        s.login_checked_ok(&name)?;
        s.login_succeeded(user.id, &hash, expires_at)
    })
    .await?;
    // Secure whenever the service itself speaks TLS (or is told it is behind HTTPS).
    let secure = if app.settings.cookie_secure || app.settings.tls_enabled() { "; Secure" } else { "" };
    // Under a base path the cookie stays there: the ops platform on the same origin never gets it.
    let path = format!("{}/", app.settings.base_path);
    let cookie =
        format!("{SESSION_COOKIE}={session}; HttpOnly; SameSite=Strict; Path={path}; Max-Age={ttl}{secure}");
    let mut response = Json(serde_json::json!({ "username": login.username })).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(|e| ApiError::Internal(e.to_string()))?,
    );
    Ok(response)
}
