//! RFC 9457 `application/problem+json` answers: the only error body any
//! service sends.
//!
//! Each service maps its own error type to a [`Problem`] in one exhaustive
//! match; the status of every machine-readable code is declared beside the
//! code in `domain::ErrorCode`. Building a `Problem` has no side effect: the
//! cause of a 5xx rides along in [`Problem::cause`], is never sent, and the
//! conventions middleware logs it once, with the request id
//! (`platform::http::conventions`). 5xx problems never carry a detail.

use std::fmt;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use domain::{ErrorCode, FieldError};
use serde::Serialize;

use crate::request_id;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The HTTP status of a machine-readable code.
pub fn status_of(code: ErrorCode) -> StatusCode {
    StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// Why a request failed on our side, kept in the answer's extensions for the
/// middleware to log; never serialised.
#[derive(Debug, Clone)]
pub struct Cause(pub Arc<str>);

/// An error answer under construction.
#[derive(Debug, Clone)]
pub struct Problem {
    code: ErrorCode,
    status: StatusCode,
    detail: Option<String>,
    errors: Vec<FieldError>,
    headers: Vec<(HeaderName, HeaderValue)>,
    cause: Option<Arc<str>>,
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
    code: &'a str,
    request_id: String,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    errors: &'a [FieldError],
}

impl Problem {
    pub fn new(code: ErrorCode) -> Self {
        Self {
            code,
            status: status_of(code),
            detail: None,
            errors: Vec::new(),
            headers: Vec::new(),
            cause: None,
        }
    }

    /// A 500 whose cause is logged by the middleware, never sent.
    pub fn internal(cause: impl fmt::Display) -> Self {
        Self::new(ErrorCode::Internal).cause(cause)
    }

    /// A 503 with `Retry-After` whose cause (a database or other dependency
    /// down) is logged by the middleware, never sent.
    pub fn unavailable(cause: impl fmt::Display, retry_after_s: u64) -> Self {
        Self::new(ErrorCode::ServiceUnavailable)
            .retry_after(retry_after_s)
            .cause(cause)
    }

    /// What went wrong on our side, for the log only.
    pub fn cause(mut self, cause: impl fmt::Display) -> Self {
        self.cause = Some(Arc::from(cause.to_string()));
        self
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// A human explanation, safe to show the client. Ignored on 5xx.
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn errors(mut self, errors: impl IntoIterator<Item = FieldError>) -> Self {
        self.errors.extend(errors);
        self
    }

    pub fn field(mut self, field: impl Into<String>, message: impl Into<String>) -> Self {
        self.errors.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
        self
    }

    /// Overrides the status implied by the code (e.g. a 404 for a method on
    /// an unknown route).
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// `Retry-After` in whole seconds (at least 1).
    pub fn retry_after(self, seconds: u64) -> Self {
        self.header(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)))
    }

    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The problem for a bare status, used when something other than our
    /// handlers (a framework default) produced an error answer.
    pub fn for_status(status: StatusCode) -> Self {
        let code = match status.as_u16() {
            401 => ErrorCode::Unauthorized,
            403 => ErrorCode::Forbidden,
            404 => ErrorCode::NotFound,
            405 => ErrorCode::MethodNotAllowed,
            409 => ErrorCode::Conflict,
            412 => ErrorCode::PreconditionFailed,
            413 => ErrorCode::PayloadTooLarge,
            415 => ErrorCode::UnsupportedMediaType,
            422 => ErrorCode::ValidationFailed,
            428 => ErrorCode::PreconditionRequired,
            429 => ErrorCode::TooManyRequests,
            503 => ErrorCode::ServiceUnavailable,
            400..=499 => ErrorCode::BadRequest,
            _ => ErrorCode::Internal,
        };
        Self::new(code).with_status(status)
    }

    pub fn to_response(&self) -> HttpResponse {
        let server_error = self.status.is_server_error();
        let body = Body {
            kind: format!("/docs/problems#{}", self.code.as_str()),
            title: self.code.title(),
            status: self.status.as_u16(),
            detail: if server_error {
                None
            } else {
                self.detail.as_deref()
            },
            code: self.code.as_str(),
            request_id: request_id::current().unwrap_or_default(),
            errors: if server_error { &[] } else { &self.errors },
        };
        let mut response = HttpResponse::build(self.status);
        response.insert_header((header::CONTENT_TYPE, PROBLEM_JSON));
        if let Some(cause) = &self.cause {
            response.extensions_mut().insert(Cause(cause.clone()));
        }
        for (name, value) in &self.headers {
            response.insert_header((name.clone(), value.clone()));
        }
        // Serialising plain strings and numbers cannot fail.
        response.body(serde_json::to_vec(&body).unwrap_or_default())
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.code.as_str(), self.status)?;
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        Ok(())
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        self.to_response()
    }
}

impl actix_web::Responder for Problem {
    type Body = actix_web::body::BoxBody;

    fn respond_to(self, _req: &actix_web::HttpRequest) -> HttpResponse {
        self.to_response()
    }
}
