//! The error vocabulary every service shares.
//!
//! `ErrorCode` is the one table of machine-readable codes clients may branch on
//! (a problem+json `code`), so two services can never spell one failure two ways.
//! Each code is declared once, with its wire form, its HTTP status (a plain
//! number: this crate knows no HTTP library) and its title, so adding a code
//! is one line and nothing can list it in one table and forget it in another.
//!
//! Validation failures come in two sizes: `Invalid` for one value (a parser
//! knows what is wrong but not where the value sits in a request) and
//! `ValidationErrors` for a whole request body, where every violation is kept
//! with its field path so a client can fix them all in one round trip.

use std::fmt;

use serde::Serialize;

/// Declares [`ErrorCode`] and its tables from one list of
/// `Variant = "wire", status, "Title";` lines.
macro_rules! error_codes {
    ($($variant:ident = $wire:literal, $status:literal, $title:literal;)*) => {
        /// Machine-readable error codes of the whole system, serialised as
        /// their snake_case wire form.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        pub enum ErrorCode {
            $(#[serde(rename = $wire)] $variant,)*
        }

        impl ErrorCode {
            /// Every code, so that tests and documents elsewhere can be
            /// exhaustive without repeating the list.
            pub const ALL: &'static [ErrorCode] = &[$(Self::$variant),*];

            /// The wire form, equal to the serde form.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $wire,)*
                }
            }

            /// The HTTP status a problem with this code answers with.
            pub const fn status(self) -> u16 {
                match self {
                    $(Self::$variant => $status,)*
                }
            }

            /// A short human title for problem+json `title`; it never carries
            /// details of one request, so it is safe on any answer, 5xx
            /// included.
            pub const fn title(self) -> &'static str {
                match self {
                    $(Self::$variant => $title,)*
                }
            }
        }
    };
}

error_codes! {
    BadRequest = "bad_request", 400, "Bad request";
    MalformedJson = "malformed_json", 400, "Malformed JSON";
    UnsupportedMediaType = "unsupported_media_type", 415, "Unsupported media type";
    PayloadTooLarge = "payload_too_large", 413, "Payload too large";
    ValidationFailed = "validation_failed", 422, "Validation failed";
    UnknownField = "unknown_field", 422, "Unknown field";
    InvalidParameter = "invalid_parameter", 400, "Invalid parameter";
    InvalidCursor = "invalid_cursor", 400, "Invalid cursor";
    InvalidConsistencyToken = "invalid_consistency_token", 400, "Invalid consistency token";
    NotFound = "not_found", 404, "Not found";
    MethodNotAllowed = "method_not_allowed", 405, "Method not allowed";
    Unauthorized = "unauthorized", 401, "Unauthorized";
    InvalidToken = "invalid_token", 401, "Invalid token";
    InvalidCredentials = "invalid_credentials", 401, "Invalid credentials";
    RefreshTokenInvalid = "refresh_token_invalid", 401, "Invalid refresh token";
    RefreshTokenReused = "refresh_token_reused", 401, "Refresh token reused";
    InvalidResetToken = "invalid_reset_token", 400, "Invalid password reset token";
    Forbidden = "forbidden", 403, "Forbidden";
    AccountDisabled = "account_disabled", 403, "Account disabled";
    EmailTaken = "email_taken", 409, "Email already taken";
    Conflict = "conflict", 409, "Conflict";
    IdempotencyKeyReused = "idempotency_key_reused", 422, "Idempotency key reused with another request";
    IdempotencyKeyInFlight = "idempotency_key_in_flight", 409, "Request with this idempotency key in progress";
    PreconditionFailed = "precondition_failed", 412, "Precondition failed";
    PreconditionRequired = "precondition_required", 428, "Precondition required";
    TooManyRequests = "too_many_requests", 429, "Too many requests";
    ServiceUnavailable = "service_unavailable", 503, "Service unavailable";
    Internal = "internal", 500, "Internal server error";
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why one value was refused, without saying where it came from.
///
/// The message is written for the end user ("must be at most 200
/// characters") and never echoes the refused value, so secrets such as a
/// too-short password cannot leak into an error body or a log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Invalid {
    message: String,
}

impl Invalid {
    /// Callers outside this crate (query parameters, headers) may phrase
    /// their own refusals in the same shape.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// Places the refusal at a field path.
    pub fn at(self, field: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            message: self.message,
        }
    }
}

/// One violation in a request body: the problem+json `errors[]` item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// A path such as `title`, `subject.specs.megapixels` or `pros[3]`.
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

/// Every violation found in one request body, in the order fields were checked.
///
/// Serialises as the bare array, ready to become problem+json `errors`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ValidationErrors(Vec<FieldError>);

impl ValidationErrors {
    pub fn new() -> Self {
        Self(Vec::new())
    }

    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    pub fn push_invalid(&mut self, field: impl Into<String>, invalid: Invalid) {
        self.0.push(invalid.at(field));
    }

    /// Records a single-value parse under `field` and hands back the value
    /// when it was valid, so aggregate parsers can keep going after a failure
    /// and report every violation at once.
    pub fn check<T>(&mut self, field: &str, result: Result<T, Invalid>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(invalid) => {
                self.push_invalid(field, invalid);
                None
            }
        }
    }

    /// Like `check` for parsers that already report field paths of their
    /// own (lists, nested objects): their paths are put under `prefix`.
    pub fn check_nested<T>(
        &mut self,
        prefix: &str,
        result: Result<T, ValidationErrors>,
    ) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(errors) => {
                self.extend(Self::nested(prefix, errors));
                None
            }
        }
    }

    /// Puts every field of `errors` under `prefix`: `brand` becomes
    /// `subject.brand`, `[3]` becomes `pros[3]`, and an empty field (a
    /// violation of the whole value) becomes `prefix` itself.
    pub fn nested(prefix: &str, errors: ValidationErrors) -> ValidationErrors {
        let prefixed = errors
            .0
            .into_iter()
            .map(|error| FieldError {
                field: join_path(prefix, &error.field),
                message: error.message,
            })
            .collect();
        Self(prefixed)
    }

    pub fn extend(&mut self, other: ValidationErrors) {
        self.0.extend(other.0);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, FieldError> {
        self.0.iter()
    }

    pub fn into_vec(self) -> Vec<FieldError> {
        self.0
    }

    /// `Ok(value)` when nothing was recorded, else every violation.
    pub fn into_result<T>(self, value: impl FnOnce() -> T) -> Result<T, ValidationErrors> {
        if self.is_empty() {
            Ok(value())
        } else {
            Err(self)
        }
    }
}

fn join_path(prefix: &str, field: &str) -> String {
    if prefix.is_empty() {
        field.to_owned()
    } else if field.is_empty() {
        prefix.to_owned()
    } else if field.starts_with('[') {
        format!("{prefix}{field}")
    } else {
        format!("{prefix}.{field}")
    }
}

impl From<FieldError> for ValidationErrors {
    fn from(error: FieldError) -> Self {
        Self(vec![error])
    }
}

impl IntoIterator for ValidationErrors {
    type Item = FieldError;
    type IntoIter = std::vec::IntoIter<FieldError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a ValidationErrors {
    type Item = &'a FieldError;
    type IntoIter = std::slice::Iter<'a, FieldError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("validation failed")?;
        for (i, error) in self.0.iter().enumerate() {
            f.write_str(if i == 0 { ": " } else { "; " })?;
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

/// The field named by serde's `deny_unknown_fields` refusal
/// ("unknown field `editor_id`, expected one of …"), so the web layer can
/// answer `unknown_field` naming it. serde offers no structured form of this
/// error, and its wording has been stable for years; `None` if it changes.
pub fn unknown_field_in(serde_message: &str) -> Option<&str> {
    let rest = serde_message.split("unknown field `").nth(1)?;
    let (field, _) = rest.split_once('`')?;
    Some(field)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::*;

    fn is_snake_case(s: &str) -> bool {
        !s.is_empty()
            && !s.starts_with('_')
            && !s.ends_with('_')
            && !s.contains("__")
            && s.chars().all(|c| c.is_ascii_lowercase() || c == '_')
    }

    #[test]
    fn every_error_code_has_a_distinct_snake_case_string() {
        let mut seen = HashSet::new();
        for code in ErrorCode::ALL {
            assert!(is_snake_case(code.as_str()), "{code:?}");
            assert!(seen.insert(code.as_str()), "duplicate {code:?}");
        }
    }

    #[test]
    fn the_code_string_is_the_variant_name_in_snake_case() {
        for code in ErrorCode::ALL {
            let debug = format!("{code:?}");
            let mut snake = String::new();
            for (i, c) in debug.chars().enumerate() {
                if c.is_ascii_uppercase() {
                    if i > 0 {
                        snake.push('_');
                    }
                    snake.push(c.to_ascii_lowercase());
                } else {
                    snake.push(c);
                }
            }
            assert_eq!(code.as_str(), snake);
        }
    }

    #[test]
    fn every_error_code_serialises_as_its_string_and_has_a_title() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert!(!code.title().is_empty());
            assert_eq!(code.to_string(), code.as_str());
        }
    }

    #[test]
    fn every_status_is_a_client_or_server_error() {
        for code in ErrorCode::ALL {
            assert!((400..600).contains(&code.status()), "{code:?}");
        }
    }

    #[test]
    fn nested_errors_get_dotted_and_indexed_paths() {
        let mut inner = ValidationErrors::new();
        inner.push("brand", "must not be empty");
        inner.push("[3]", "must not be empty");
        inner.push("", "must have at most 20 items");
        let outer = ValidationErrors::nested("subject", inner);
        let fields: Vec<_> = outer.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["subject.brand", "subject[3]", "subject"]);
    }

    #[test]
    fn validation_errors_serialise_as_a_list_of_field_and_message() {
        let mut errors = ValidationErrors::new();
        errors.push("title", "must not be empty");
        let json = serde_json::to_value(&errors).unwrap();
        assert_eq!(
            json,
            serde_json::json!([{"field": "title", "message": "must not be empty"}])
        );
        assert_eq!(
            errors.to_string(),
            "validation failed: title: must not be empty"
        );
    }

    #[test]
    fn checking_keeps_the_value_or_records_the_violation() {
        let mut errors = ValidationErrors::new();
        assert_eq!(errors.check("a", Ok::<_, Invalid>(1)), Some(1));
        assert_eq!(errors.check::<u8>("b", Err(Invalid::new("bad"))), None);
        assert_eq!(errors.into_vec(), vec![FieldError::new("b", "bad")]);
    }

    #[test]
    fn the_unknown_field_is_read_from_a_serde_refusal() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Body {
            #[serde(rename = "title")]
            _title: Option<String>,
        }
        let err = serde_json::from_str::<Body>(r#"{"editor_id": 1}"#).unwrap_err();
        assert_eq!(unknown_field_in(&err.to_string()), Some("editor_id"));
        assert_eq!(unknown_field_in("expected a string"), None);
    }

    proptest! {
        #[test]
        fn nesting_keeps_every_violation_and_its_message(
            fields in proptest::collection::vec("[a-z]{0,5}", 0..10),
            prefix in "[a-z]{1,5}",
        ) {
            let mut errors = ValidationErrors::new();
            for field in &fields {
                errors.push(field.clone(), "m");
            }
            let nested = ValidationErrors::nested(&prefix, errors);
            prop_assert_eq!(nested.len(), fields.len());
            for error in nested.iter() {
                prop_assert!(error.field.starts_with(prefix.as_str()));
                prop_assert_eq!(error.message.as_str(), "m");
            }
        }
    }
}
