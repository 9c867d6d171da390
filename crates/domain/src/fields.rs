//! How aggregate parsers treat missing and `null` fields, in one place.
//!
//! Every request body is parsed field by field into a `ValidationErrors`, so
//! that one answer lists every violation. A required field that is missing
//! (or `null`) is a violation of that field, not a JSON error; in a PATCH, an
//! absent field means "unchanged" and `null` is refused unless the field can
//! be cleared (the review's rating).
//!
//! [`schema`] says the same to the generated OpenAPI documents: which text
//! the parsers accept, as patterns, and where `null` stands for "not given".

use crate::error::{Invalid, ValidationErrors};
use crate::nullable::Nullable;

pub(crate) const REQUIRED: &str = "is required";
pub(crate) const NOT_NULL: &str = "must not be null";

/// Parses a required single value, recording `is required` when missing.
pub(crate) fn required<T, U>(
    errors: &mut ValidationErrors,
    field: &str,
    value: Option<T>,
    parse: impl FnOnce(T) -> Result<U, Invalid>,
) -> Option<U> {
    match value {
        Some(value) => errors.check(field, parse(value)),
        None => {
            errors.push(field, REQUIRED);
            None
        }
    }
}

/// Parses a required value whose parser reports its own sub-paths.
pub(crate) fn required_nested<T, U>(
    errors: &mut ValidationErrors,
    field: &str,
    value: Option<T>,
    parse: impl FnOnce(T) -> Result<U, ValidationErrors>,
) -> Option<U> {
    match value {
        Some(value) => errors.check_nested(field, parse(value)),
        None => {
            errors.push(field, REQUIRED);
            None
        }
    }
}

/// Parses a PATCH field that cannot be cleared: absent is "unchanged",
/// `null` is a violation.
pub(crate) fn optional<T, U>(
    errors: &mut ValidationErrors,
    field: &str,
    value: Nullable<T>,
    parse: impl FnOnce(T) -> Result<U, Invalid>,
) -> Option<U> {
    match value {
        Nullable::Absent => None,
        Nullable::Null => {
            errors.push(field, NOT_NULL);
            None
        }
        Nullable::Value(value) => errors.check(field, parse(value)),
    }
}

/// `optional` for values whose parser reports its own sub-paths.
pub(crate) fn optional_nested<T, U>(
    errors: &mut ValidationErrors,
    field: &str,
    value: Nullable<T>,
    parse: impl FnOnce(T) -> Result<U, ValidationErrors>,
) -> Option<U> {
    match value {
        Nullable::Absent => None,
        Nullable::Null => {
            errors.push(field, NOT_NULL);
            None
        }
        Nullable::Value(value) => errors.check_nested(field, parse(value)),
    }
}

/// Pieces of the request-body schemas (`#[schema(schema_with = …)]` in
/// `review` and `subject`): the text rules as patterns and bounds, so that
/// a client — and the contract fuzzer — can tell a value the parsers accept
/// from one they refuse before sending it.
pub(crate) mod schema {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};

    /// What `char::is_control` refuses: C0, DEL and C1, as a character
    /// class body.
    pub(crate) const CONTROLS: &str = r"\x00-\x1f\x7f-\x9f";

    /// `kind`, or `kind` or `null` where `null` means "not given".
    pub(crate) fn types(kind: Type, nullable: bool) -> SchemaType {
        if nullable {
            SchemaType::from_iter([kind, Type::Null])
        } else {
            SchemaType::new(kind)
        }
    }

    /// `text::single_line(value, max)`: once trimmed, 1 to `max` characters
    /// and no control characters. Whitespace around the text is allowed
    /// (it is trimmed), inside it only what is not a control character.
    pub(crate) fn single_line(max: usize, nullable: bool) -> ObjectBuilder {
        let c = CONTROLS;
        let inner = max.saturating_sub(2);
        ObjectBuilder::new()
            .schema_type(types(Type::String, nullable))
            .pattern(Some(format!(
                r"^[^\S{c}]*[^\s{c}]([^{c}]{{0,{inner}}}[^\s{c}])?[^\S{c}]*$"
            )))
            .description(Some(format!(
                "1 to {max} characters once surrounding whitespace is trimmed; no control characters"
            )))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_missing_required_field_is_reported_as_required() {
        let mut errors = ValidationErrors::new();
        let parsed = required(&mut errors, "title", None::<&str>, Ok::<_, Invalid>);
        assert_eq!(parsed, None);
        assert_eq!(errors.into_vec()[0].message, REQUIRED);
    }

    #[test]
    fn an_absent_patch_field_is_unchanged_and_null_is_refused() {
        let mut errors = ValidationErrors::new();
        let ok = |s: &str| Ok::<_, Invalid>(s.len());
        assert_eq!(optional(&mut errors, "a", Nullable::Absent, ok), None);
        assert!(errors.is_empty());
        assert_eq!(optional(&mut errors, "a", Nullable::Null, ok), None);
        assert_eq!(errors.iter().next().unwrap().message, NOT_NULL);
    }

    proptest! {
        #[test]
        fn a_present_value_goes_through_its_parser(s in ".*") {
            let mut errors = ValidationErrors::new();
            let parsed = optional(&mut errors, "a", Nullable::Value(s.as_str()), |s| Ok::<_, Invalid>(s.len()));
            prop_assert_eq!(parsed, Some(s.len()));
            prop_assert!(errors.is_empty());
        }
    }
}
