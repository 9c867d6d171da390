//! The `Idempotency-Key` header of `POST /reviews`.
//!
//! Keys are stored and compared byte for byte, so only visible ASCII is
//! accepted: no spaces or Unicode look-alikes that would make two keys a
//! client thinks are equal differ in storage, or the other way round.

use crate::error::Invalid;
use crate::text::string_newtype;

fn validate_idempotency_key(value: &str) -> Result<String, Invalid> {
    if value.is_empty() {
        return Err(Invalid::new("must not be empty"));
    }
    if value.len() > 255 {
        return Err(Invalid::new("must be at most 255 characters"));
    }
    if !value.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(Invalid::new("must contain only visible ASCII characters"));
    }
    Ok(value.to_owned())
}

string_newtype!(
    /// A client-chosen key, 1–255 visible ASCII characters, not trimmed.
    IdempotencyKey,
    validate_idempotency_key
);

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn an_idempotency_key_is_1_to_255_visible_ascii_characters() {
        assert!(IdempotencyKey::parse("a").is_ok());
        assert!(IdempotencyKey::parse("3f2c-9a~!{}").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_err());
        for bad in ["", " ", "a b", " a", "ключ", "a\tb", "\u{7f}"] {
            assert!(IdempotencyKey::parse(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn a_key_is_accepted_exactly_when_every_byte_is_visible_ascii(s in "\\PC{0,10}|[!-~]{1,300}|[\\x00-\\x7f]{0,8}") {
            crate::fuzzing::check_idempotency_key(&s);
        }
    }
}
