//! The one error type of the HTTP API and the ONE place that turns it into an answer.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use pushagent_proto::agent::{ErrorBody, MAX_BODY_BYTES};

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Conflict(String),
    #[error("the request body is larger than {MAX_BODY_BYTES} bytes")]
    PayloadTooLarge,
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("too many failed logins: locked for {retry_after_secs} more seconds")]
    Locked { retry_after_secs: i64 },
    #[error("{message}")]
    Busy { message: String, retry_after_secs: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("internal error: {0}")]
    Internal(String),
}

/// Status and stable error code of each error: exhaustive, so a new variant must be placed.
fn status_and_code(error: &ApiError) -> (StatusCode, &'static str) {
    match error {
        ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
        ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
        ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
        ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
        ApiError::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
        ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
        ApiError::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
        ApiError::UnsupportedMediaType(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        ApiError::Locked { .. } => (StatusCode::TOO_MANY_REQUESTS, "locked"),
        ApiError::Busy { .. } => (StatusCode::TOO_MANY_REQUESTS, "busy"),
        ApiError::Store(StoreError::NotFound(_)) => (StatusCode::NOT_FOUND, "not_found"),
        ApiError::Store(StoreError::Conflict(_)) => (StatusCode::CONFLICT, "conflict"),
        ApiError::Store(
            StoreError::Open { .. } | StoreError::TooNew { .. } | StoreError::Db(_) | StoreError::Corrupt(_),
        ) => (StatusCode::INTERNAL_SERVER_ERROR, "store_error"),
        ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal_error"),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = status_and_code(&self);
        let message = if status.is_server_error() {
            log::error!("{self}");
            // Details stay in the log: a client learns only that the service failed.
            "the service failed to handle this request; see its log".to_owned()
        } else {
            self.to_string()
        };
        let mut response = (status, Json(ErrorBody { error: code.to_owned(), message })).into_response();
        if let ApiError::Locked { retry_after_secs } | ApiError::Busy { retry_after_secs, .. } = self {
            if let Ok(value) = retry_after_secs.to_string().parse() {
                response.headers_mut().insert(axum::http::header::RETRY_AFTER, value);
            }
        }
        response
    }
}
