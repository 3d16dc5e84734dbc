//! [`ApiError`]: every way a call can fail, as HTTP and as gRPC.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Why a call failed. Its `Display` text is the message the client gets and
/// the `reason` of the audit entry (`#[audited]` takes it from the `Err`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// No credentials, or credentials that are not known (401).
    #[error("missing or unknown credentials")]
    Unauthenticated,
    /// The caller may not do this (403).
    #[error("{0}")]
    Forbidden(String),
    /// No such resource in the caller's tenant (404).
    #[error("{kind} {id} not found")]
    NotFound {
        /// `project`, `api_key`, `member`.
        kind: &'static str,
        /// The id that was asked for.
        id: String,
    },
    /// The change conflicts with the current state, e.g. a duplicate name (409).
    #[error("{0}")]
    Conflict(String),
    /// The request is well formed but not valid (422).
    #[error("{field}: {message}")]
    Validation {
        /// The offending field.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// Something on the server's side went wrong (500).
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// A 404 for a resource of `kind`.
    pub fn not_found(kind: &'static str, id: impl Into<String>) -> Self {
        Self::NotFound { kind, id: id.into() }
    }

    /// A 422 for a field.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Validation { field, message: message.into() }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound { .. } => "not_found",
            Self::Conflict(_) => "conflict",
            Self::Validation { .. } => "validation_failed",
            Self::Internal(_) => "internal",
        }
    }
}

/// `{"error": {"code": "not_found", "message": "project p_9 not found"}}`.
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({"code": self.code(), "message": self.to_string()});
        if let Self::Validation { field, .. } = &self {
            error["field"] = json!(field);
        }
        let mut response = (self.status(), Json(json!({ "error": error }))).into_response();
        if matches!(self, Self::Unauthenticated) {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"saas-api\""),
            );
        }
        response
    }
}

impl From<ApiError> for tonic::Status {
    fn from(e: ApiError) -> Self {
        let message = e.to_string();
        match e {
            ApiError::Unauthenticated => Self::unauthenticated(message),
            ApiError::Forbidden(_) => Self::permission_denied(message),
            ApiError::NotFound { .. } => Self::not_found(message),
            ApiError::Conflict(_) => Self::already_exists(message),
            ApiError::Validation { .. } => Self::invalid_argument(message),
            ApiError::Internal(_) => Self::internal(message),
        }
    }
}
