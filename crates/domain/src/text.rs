//! Shared rules for bounded text, and the boilerplate of string newtypes.
//!
//! Lengths are counted in `char`s because PostgreSQL's `char_length` (which
//! the schema's CHECK constraints use) counts code points: counting bytes
//! would refuse valid Spanish and Portuguese text, counting graphemes would
//! let the database refuse what we accepted.

use crate::error::Invalid;

/// Checks `value` is within `min..=max` characters.
pub(crate) fn check_length(value: &str, min: usize, max: usize) -> Result<(), Invalid> {
    let len = value.chars().count();
    if len == 0 && min > 0 {
        Err(Invalid::new("must not be empty"))
    } else if len < min {
        Err(Invalid::new(format!("must be at least {min} characters")))
    } else if len > max {
        Err(Invalid::new(format!("must be at most {max} characters")))
    } else {
        Ok(())
    }
}

/// Refuses control characters except those in `allowed`.
pub(crate) fn check_no_control(value: &str, allowed: &[char]) -> Result<(), Invalid> {
    if value
        .chars()
        .any(|c| c.is_control() && !allowed.contains(&c))
    {
        Err(Invalid::new(if allowed.is_empty() {
            "must not contain control characters or line breaks".to_owned()
        } else {
            "must not contain control characters".to_owned()
        }))
    } else {
        Ok(())
    }
}

/// The common rule for names and one-line text: trimmed, `1..=max`
/// characters, no control characters at all.
pub(crate) fn single_line(value: &str, max: usize) -> Result<String, Invalid> {
    let trimmed = value.trim();
    check_length(trimmed, 1, max)?;
    check_no_control(trimmed, &[])?;
    Ok(trimmed.to_owned())
}

/// Declares a validated `String` newtype: the validation function is the only
/// way in (`parse`, `TryFrom`, serde), and it serialises as a plain string.
macro_rules! string_newtype {
    ($(#[$meta:meta])* $name:ident, $validate:path) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Deserialize)]
        #[serde(try_from = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(value: &str) -> Result<Self, $crate::error::Invalid> {
                $validate(value).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::error::Invalid;

            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = $crate::error::Invalid;

            fn try_from(value: &str) -> Result<Self, Self::Error> {
                Self::parse(value)
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::error::Invalid;

            fn from_str(value: &str) -> Result<Self, Self::Err> {
                Self::parse(value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }
    };
}

/// Declares a closed set of lowercase words (`Role`, `Language`, …) with
/// `parse`, `as_str`, `ALL` and serde as the word.
macro_rules! word_enum {
    (
        $(#[$meta:meta])* $name:ident, $expected:literal,
        { $($(#[$vmeta:meta])* $variant:ident => $word:literal),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "lowercase")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$(Self::$variant),+];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $word),+
                }
            }

            /// Exact lowercase words only: the API documents them that way,
            /// and one spelling keeps cache keys and ETags stable.
            pub fn parse(value: &str) -> Result<Self, $crate::error::Invalid> {
                match value {
                    $($word => Ok(Self::$variant),)+
                    _ => Err($crate::error::Invalid::new(concat!("must be one of: ", $expected))),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::error::Invalid;

            fn from_str(value: &str) -> Result<Self, Self::Err> {
                Self::parse(value)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = $crate::error::Invalid;

            fn try_from(value: &str) -> Result<Self, Self::Error> {
                Self::parse(value)
            }
        }
    };
}

pub(crate) use string_newtype;
pub(crate) use word_enum;

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn length_is_counted_in_characters_not_bytes() {
        assert!(check_length("ñandú", 5, 5).is_ok());
        assert_eq!(
            check_length("ñandú", 1, 4).unwrap_err().message(),
            "must be at most 4 characters"
        );
    }

    #[test]
    fn single_line_text_is_trimmed_and_refuses_line_breaks() {
        assert_eq!(single_line("  Sony  ", 10).unwrap(), "Sony");
        assert!(single_line("a\nb", 10).is_err());
        assert_eq!(
            single_line("   ", 10).unwrap_err().message(),
            "must not be empty"
        );
    }

    proptest! {
        #[test]
        fn single_line_text_never_keeps_surrounding_whitespace_or_controls(s in "\\PC{0,40}|.{0,40}") {
            if let Ok(clean) = single_line(&s, 100) {
                prop_assert_eq!(clean.trim(), clean.as_str());
                prop_assert!(!clean.is_empty());
                prop_assert!(!clean.chars().any(char::is_control));
            }
        }
    }
}
