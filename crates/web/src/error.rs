//! The web role's errors and the one place they become HTTP status codes.

use axum::http::StatusCode;

/// Errors answering a request.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum WebError {
    /// Invalid parameters: 400 with graphite-web's plain-text message.
    #[error("{0}")]
    BadRequest(String),
    /// A request bound was exceeded (matches, series, points): 400 saying which.
    #[error("{0}")]
    Limit(String),
    /// The request body is larger than allowed: 413.
    #[error("request body larger than {0} bytes")]
    BodyTooLarge(usize),
    /// Unknown resource (e.g. `/functions/<unknown>`): 404.
    #[error("{0}")]
    NotFound(String),
    /// Something failed while fetching or evaluating: 500.
    #[error("{0}")]
    Internal(String),
    /// The format is recognised but not implemented yet: 400.
    #[error("format {0:?} not supported yet")]
    UnsupportedFormat(String),
}

impl WebError {
    /// The status code this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            WebError::BadRequest(_) | WebError::Limit(_) | WebError::UnsupportedFormat(_) => {
                StatusCode::BAD_REQUEST
            }
            WebError::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            WebError::NotFound(_) => StatusCode::NOT_FOUND,
            WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl axum::response::IntoResponse for WebError {
    fn into_response(self) -> axum::response::Response {
        let status = self.status();
        // graphite-web answers its errors with Django's default content type and a plain-text body
        (
            status,
            [(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
            self.to_string(),
        )
            .into_response()
    }
}
