//! Who may speak for a machine: enrollment tokens (list, create, revoke) and MAC claims (an
//! operator releases a MAC so another machine can report it). Every change is audited.

use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;

use crate::error::ApiError;
use crate::http::{AdminAuth, JsonBody, Shared};
use crate::store::EnrollmentTokenRow;
use crate::{tokens, validate};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseMac {
    mac: String,
}

/// Free a MAC held by a machine: the next machine to report it gets it.
pub async fn release_mac(
    State(app): State<Shared>,
    AdminAuth(who): AdminAuth,
    JsonBody(req, _): JsonBody<ReleaseMac>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let mac = validate::mac("mac", &req.mac).map_err(ApiError::BadRequest)?;
    let now = app.now();
    let shown = mac.clone();
    if !app.with_store(move |s| s.release_mac(&mac, &who, now)).await? {
        return Err(ApiError::NotFound(format!("no machine holds mac {shown}")));
    }
    Ok(Json(serde_json::json!({ "mac": shown, "released": true })))
}

/// The enrollment tokens (never their value: only a hash is stored), and whether a fixed one
/// is set in the service's settings (changed there, not here).
pub async fn enrollment_tokens(
    State(app): State<Shared>,
    AdminAuth(_): AdminAuth,
) -> Result<Json<serde_json::Value>, ApiError> {
    let items: Vec<EnrollmentTokenRow> = app.with_store(|s| s.enrollment_tokens()).await?;
    Ok(Json(serde_json::json!({
        "items": items,
        "settings_token": app.settings.enrollment_token.is_some(),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewEnrollmentToken {
    /// Revoke every other stored token at the same time (a rotation).
    #[serde(default)]
    revoke_others: bool,
}

/// A new enrollment token, shown in this answer only.
pub async fn create_enrollment_token(
    State(app): State<Shared>,
    AdminAuth(who): AdminAuth,
    JsonBody(req, _): JsonBody<NewEnrollmentToken>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let token = tokens::new_token("pa_enroll_").map_err(ApiError::Internal)?;
    let hash = tokens::token_hash(&token);
    let now = app.now();
    let (id, revoked) =
        app.with_store(move |s| s.create_enrollment_token(&hash, &who, req.revoke_others, now)).await?;
    Ok(Json(serde_json::json!({ "id": id, "token": token, "revoked": revoked })))
}

/// Revoke a stored enrollment token: agents can no longer register with it (registered ones
/// keep their own tokens).
pub async fn revoke_enrollment_token(
    State(app): State<Shared>,
    AdminAuth(who): AdminAuth,
    Path(id): Path<i64>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let now = app.now();
    app.with_store(move |s| s.revoke_enrollment_token(id, &who, now)).await?;
    Ok(Json(serde_json::json!({ "id": id, "revoked": true })))
}
